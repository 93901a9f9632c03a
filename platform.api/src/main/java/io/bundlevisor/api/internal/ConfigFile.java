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
 * Firecracker's {@code --config-file}: the JSON of {@code GET /vm/config}, each section applied through the API's own
 * routes as a client would send it ({@code PUT /logger}, {@code /metrics}, {@code /boot-source},
 * {@code /machine-config}, each {@code /drives/{id}} and {@code /network-interfaces/{id}} in their order), then
 * {@code InstanceStart}. So a file is checked exactly as the API checks a request. A section we do not serve, a file
 * too large or unreadable, or any refusal is one line.
 */
final class ConfigFile {

    /** Larger is no VM configuration. */
    static final long MAX_BYTES = 1 << 20;

    private ConfigFile() {
    }

    /**
     * Configures the microVM of {@code routes} from {@code file} and starts it.
     *
     * @throws ApiException with one line naming what is wrong
     */
    static void boot(Path file, ApiRoutes routes) throws ApiException {
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
        if (c.logger() != null) {
            put(routes, "logger", "/logger", c.logger());
        }
        if (c.metrics() != null) {
            put(routes, "metrics", "/metrics", c.metrics());
        }
        put(routes, "boot-source", "/boot-source", c.bootSource());
        if (c.machineConfig() != null) {
            put(routes, "machine-config", "/machine-config", c.machineConfig());
        }
        if (c.drives() != null) {
            for (Drive d : c.drives()) {
                if (d == null || d.driveId() == null) {
                    throw new ApiException("every drive needs a drive_id");
                }
                put(routes, "drives", "/drives/" + d.driveId(), d);
            }
        }
        if (c.networkInterfaces() != null) {
            for (NetworkInterface n : c.networkInterfaces()) {
                if (n == null || n.ifaceId() == null) {
                    throw new ApiException("every network interface needs an iface_id");
                }
                put(routes, "network-interfaces", "/network-interfaces/" + n.ifaceId(), n);
            }
        }
        put(routes, "InstanceStart", "/actions", new ApiTypes.InstanceActionInfo("InstanceStart"));
    }

    private static void put(ApiRoutes routes, String section, String path, Object body) throws ApiException {
        try {
            routes.apply("PUT", path, Json.write(body));
        } catch (ApiException e) {
            throw new ApiException("\"" + section + "\": " + e.getMessage());
        }
    }
}
