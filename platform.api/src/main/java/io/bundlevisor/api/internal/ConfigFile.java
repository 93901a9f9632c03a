package io.bundlevisor.api.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import io.bundlevisor.api.internal.ApiTypes.Drive;
import io.bundlevisor.api.internal.ApiTypes.NetworkInterface;

/**
 * Firecracker's {@code --config-file}: the JSON of {@code GET /vm/config} applied to a {@link Microvm} as the API
 * would apply each section (boot source, machine configuration, drives and interfaces in their order), then started.
 * A section we do not serve, a file too large or unreadable, or any refusal of the API is one line.
 */
final class ConfigFile {

    /** Larger is no VM configuration. */
    static final long MAX_BYTES = 1 << 20;

    private ConfigFile() {
    }

    /**
     * Configures {@code vm} from {@code file} and starts it.
     *
     * @throws ApiException with one line naming what is wrong
     */
    static void boot(Path file, Microvm vm) throws ApiException {
        String json;
        try {
            if (Files.size(file) > MAX_BYTES) {
                throw new ApiException("larger than " + MAX_BYTES + " bytes");
            }
            json = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ApiException("cannot be read: " + e.getMessage());
        }
        ApiTypes.ConfigFile c = Json.read(json, ApiTypes.ConfigFile.class);
        Map<String, Object> unsupported = new LinkedHashMap<>();
        unsupported.put("balloon", c.balloon());
        unsupported.put("cpu-config", c.cpuConfig());
        unsupported.put("logger", c.logger());
        unsupported.put("metrics", c.metrics());
        unsupported.put("mmds-config", c.mmdsConfig());
        unsupported.put("vsock", c.vsock());
        unsupported.put("entropy", c.entropy());
        unsupported.put("pmem", c.pmem());
        unsupported.put("memory-hotplug", c.memoryHotplug());
        for (Map.Entry<String, Object> e : unsupported.entrySet()) {
            if (e.getValue() != null) {
                throw new ApiException("\"" + e.getKey() + "\" is not supported by Bundlevisor");
            }
        }
        if (c.bootSource() == null) {
            throw new ApiException("\"boot-source\" is required");
        }
        vm.putBootSource(c.bootSource());
        if (c.machineConfig() != null) {
            vm.putMachineConfig(c.machineConfig());
        }
        if (c.drives() != null) {
            for (Drive d : c.drives()) {
                if (d == null || d.driveId() == null) {
                    throw new ApiException("every drive needs a drive_id");
                }
                vm.putDrive(d.driveId(), d);
            }
        }
        if (c.networkInterfaces() != null) {
            for (NetworkInterface n : c.networkInterfaces()) {
                if (n == null || n.ifaceId() == null) {
                    throw new ApiException("every network interface needs an iface_id");
                }
                vm.putNetworkInterface(n.ifaceId(), n);
            }
        }
        vm.start();
    }
}
