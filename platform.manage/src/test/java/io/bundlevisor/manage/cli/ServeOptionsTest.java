package io.bundlevisor.manage.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import io.bundlevisor.core.partition.DeviceSpec;

import org.junit.jupiter.api.Test;

class ServeOptionsTest {

    @Test
    void theDeviceComesFromOneOfDiskNetOrDevice() {
        ServeArguments a = Cli.parseServe(List.of("--socket", "/tmp/x.sock", "--disk", "/d.img,serial=s"));
        assertEquals(Path.of("/tmp/x.sock"), a.socket());
        assertEquals(new DeviceSpec("virtio-blk", "/d.img,serial=s"), a.device());
        assertEquals(new DeviceSpec("virtio-blk", "/d.img"), Cli.parseServe(List.of("--socket=/tmp/x.sock",
                "--device", "virtio-blk", "--disk=/d.img")).device());
        assertEquals(new DeviceSpec("echo", "a=1"),
                Cli.parseServe(List.of("--socket", "/tmp/x", "--device", "echo,a=1")).device());
        assertEquals(new DeviceSpec("virtio-net", "tap=bv0,queues=2"),
                Cli.parseServe(List.of("--socket", "/tmp/x", "--net", "tap=bv0,queues=2", "-v")).device());
    }

    @Test
    void mistakesAreOneLine() {
        Map<List<String>, String> bads = new java.util.LinkedHashMap<>();
        bads.put(List.of(), "--socket PATH is required");
        bads.put(List.of("--socket"), "missing required parameter for option '--socket' (PATH)");
        bads.put(List.of("--disk", "/d.img"), "--socket PATH is required");
        bads.put(List.of("--socket", "/tmp/x"), "no device: give --disk IMAGE, --net tap=NAME or --device TYPE,OPTIONS");
        bads.put(List.of("--socket", "/tmp/x", "--device", "echo", "--disk", "a"),
                "--disk is a virtio-blk device; it does not combine with --device echo");
        bads.put(List.of("--socket", "/tmp/x", "--net", "tap=a", "--disk", "a"),
                "one device per back-end: --disk does not combine with --net");
        bads.put(List.of("--socket", "/no/such/dir/x", "--disk", "a"), "/no/such/dir is not a directory");
        bads.put(List.of("--socket", "/tmp/x", "--bogus"), "unknown option '--bogus'");
        bads.put(List.of("--socket", "/tmp/x", "--disks", "a"), "unknown option '--disks' (did you mean --disk?)");
        bads.put(List.of("--socket", "/tmp/x", "--disk", "a,"), "--disk options have an empty item in 'a,'");
        bads.forEach((bad, message) -> {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cli.parseServe(bad),
                    bad.toString());
            assertTrue(e.getMessage().contains(message), bad + ": " + e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        });
    }
}
