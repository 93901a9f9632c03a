package io.bundlevisor.api.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.MachineConfig;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Firecracker's --config-file: its sections applied through the API's routes, or one line. */
class ConfigFileTest {

    @TempDir
    Path dir;

    private final ApiRoutesTest.Vms vms = new ApiRoutesTest.Vms();

    @Test
    void theFileConfiguresAndStartsTheMicrovm() throws Exception {
        Path kernel = Files.writeString(dir.resolve("vmlinux"), "x");
        Path root = Files.writeString(dir.resolve("root.ext4"), "x");
        Path file = Files.writeString(dir.resolve("vm.json"), """
                {
                  "boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0 reboot=k panic=1"},
                  "drives": [{"drive_id": "rootfs", "path_on_host": "%s", "is_root_device": true,
                              "is_read_only": false}],
                  "machine-config": {"vcpu_count": 2, "mem_size_mib": 256, "smt": false},
                  "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0"}],
                  "logger": {"log_path": "%s", "level": "Info", "show_level": true},
                  "metrics": {"metrics_path": "%s"}
                }
                """.formatted(kernel, root, dir.resolve("fc.log"), dir.resolve("metrics.json")));
        ApiRoutes routes = routes("cfg");
        try {
            ConfigFile.boot(file, routes);
            // The metrics section is the API's PUT /metrics: FlushMetrics now writes a line to its file.
            routes.apply("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}");
            assertTrue(Files.readString(dir.resolve("metrics.json")).startsWith("{\"utc_timestamp_ms\":"),
                    Files.readString(dir.resolve("metrics.json")));
            assertTrue(Files.exists(dir.resolve("fc.log")), "the logger section opened its file");
        } finally {
            routes.close();
            ((ch.qos.logback.classic.LoggerContext) org.slf4j.LoggerFactory.getILoggerFactory())
                    .getLogger("ROOT").setLevel(ch.qos.logback.classic.Level.WARN); // the logger section set Info
        }
        MachineConfig c = vms.ran.getFirst();
        assertEquals(2, c.cpus());
        assertEquals(256L << 20, c.memoryBytes());
        assertEquals("console=ttyS0 reboot=k panic=1 root=/dev/vda rw", c.cmdline());
        assertEquals(List.of(new DeviceSpec("virtio-blk", "path=" + root + ",serial=rootfs"),
                new DeviceSpec("virtio-net", "tap=tap0")), c.devices());
    }

    @Test
    void whatWeDoNotServeIsRefusedInOneLine() throws Exception {
        Path kernel = Files.writeString(dir.resolve("vmlinux"), "x");
        expect("{\"boot-source\": {\"kernel_image_path\": \"" + kernel + "\"}, \"vsock\": {\"guest_cid\": 3}}",
                "\"vsock\" is not supported by Bundlevisor");
        expect("{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128}}", "\"boot-source\" is required");
        expect("{\"boot-source\": {\"kernel_image_path\": \"" + kernel + "\"}, \"boot_source\": {}}",
                "unknown field 'boot_source'");
        expect("{\"boot-source\": {\"kernel_image_path\": \"" + kernel + "\"}, \"drives\": [{\"is_root_device\": "
                + "true}]}", "every drive needs a drive_id");
        expect("not json", "malformed JSON");
        expect("{\"boot-source\": {\"kernel_image_path\": \"" + kernel + "\"}, \"logger\": {\"level\": \"Loud\"}}",
                "\"logger\": ");
        expect("{\"boot-source\": {\"kernel_image_path\": \"" + kernel + "\"}, \"machine-config\": {\"vcpu_count\": 0, "
                + "\"mem_size_mib\": 128}}", "\"machine-config\": ");
        expect("{\"boot-source\": {\"kernel_image_path\": \"" + kernel + "\"}, \"drives\": [{\"drive_id\": \"a/b\", "
                + "\"is_root_device\": true}]}", "\"drives\": Invalid request method and/or path");
        assertEquals(List.of(), vms.ran);
    }

    private ApiRoutes routes(String id) {
        return new ApiRoutes(new Microvm(id, vms, Console.none()), "0.1.0", ApiRoutesTest.metrics(vms));
    }

    private void expect(String json, String message) throws Exception {
        Path file = Files.writeString(dir.resolve("bad.json"), json);
        ApiException e = assertThrows(ApiException.class, () -> ConfigFile.boot(file, routes("bad")));
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }
}
