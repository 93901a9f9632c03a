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

/** Firecracker's --config-file: its sections applied as the API applies them, or one line. */
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
                  "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0"}]
                }
                """.formatted(kernel, root));
        ConfigFile.boot(file, new Microvm("cfg", vms, Console.none()));
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
        assertEquals(List.of(), vms.ran);
    }

    private void expect(String json, String message) throws Exception {
        Path file = Files.writeString(dir.resolve("bad.json"), json);
        ApiException e = assertThrows(ApiException.class,
                () -> ConfigFile.boot(file, new Microvm("bad", vms, Console.none())));
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }
}
