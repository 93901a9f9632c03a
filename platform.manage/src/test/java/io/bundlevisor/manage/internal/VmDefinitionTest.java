package io.bundlevisor.manage.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.EmulationPolicy;
import io.bundlevisor.core.partition.MachineConfig;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A VM defined in Config Admin reads as run's command line, with its refusals. */
class VmDefinitionTest {

    @TempDir
    Path dir;

    private Map<String, Object> props(Object... kv) throws Exception {
        Map<String, Object> p = new HashMap<>();
        p.put("kernel", Files.writeString(dir.resolve("k"), "x").toString());
        p.put("service.pid", "io.bundlevisor.vm~web");
        p.put("service.factoryPid", "io.bundlevisor.vm");
        p.put("felix.fileinstall.filename", "file:/x/io.bundlevisor.vm-web.cfg");
        p.put("component.id", 7L);
        p.put("osgi.ds.satisfying.condition.target", "(osgi.condition.id=true)");
        for (int i = 0; i < kv.length; i += 2) {
            p.put((String) kv[i], kv[i + 1]);
        }
        return p;
    }

    @Test
    void propertiesAreRunsOptionsAndDevicesKeepTheirOrder() throws Exception {
        MachineConfig c = VmDefinition.of("io.bundlevisor.vm~web", props("cpus", "2", "memory", "64M",
                "cmdline", "console=ttyS0 quiet", "emulation", "halt", "device.10", "virtio-net,tap=bv0",
                "device.2", "virtio-blk,path=/img/a,,b.raw,ro")).config();
        assertEquals("web", c.name());
        assertEquals(2, c.cpus());
        assertEquals(64L << 20, c.memoryBytes());
        assertEquals("console=ttyS0 quiet", c.cmdline());
        assertEquals(EmulationPolicy.HALT, c.emulation());
        assertEquals(List.of(new DeviceSpec("virtio-blk", "path=/img/a,,b.raw,ro"),
                new DeviceSpec("virtio-net", "tap=bv0")), c.devices(), "device.2 before device.10");
        assertEquals(Console.file(Path.of("web.console.log")), c.console());
        // Numbers from a typed configuration, devices as an array, the name given.
        c = VmDefinition.of("io.bundlevisor.vm~x", props("cpus", 1, "name", "db", "device",
                new String[] {"virtio-blk,/d1", "virtio-blk,/d2"}, "console", "none")).config();
        assertEquals("db", c.name());
        assertEquals(List.of(new DeviceSpec("virtio-blk", "/d1"), new DeviceSpec("virtio-blk", "/d2")), c.devices());
        assertEquals(Console.none(), c.console());
    }

    @Test
    void mistakesAreOneLineNamingTheProperty() throws Exception {
        expect("unknown property 'cpu' (known: name, cmdline, console, cpus, emulation, initrd, kernel, memory, "
                + "device.N)", props("cpu", "2"));
        expect("invalid value for property 'memory': '512' has no unit", props("memory", "512"));
        expect("--kernel " + dir.resolve("none") + ": no such file", props("kernel", dir.resolve("none").toString()));
        expect("--device: device type 'Bad Type' must be", props("device.0", "Bad Type"));
        expect("console socket:PATH,wait would hold the configuration thread", props("console", "socket:/s,wait"));
        expect("console stdio is the shell's terminal", props("console", "stdio"));
        Map<String, Object> noName = props();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VmDefinition.of("io.bundlevisor.vm", noName));
        assertTrue(e.getMessage().startsWith("no name"), e.getMessage());
    }

    private static void expect(String message, Map<String, Object> p) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VmDefinition.of("io.bundlevisor.vm~web", p));
        assertTrue(e.getMessage().contains(message), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
}
