package io.bundlevisor.manage.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

class RunOptionsTest {

    @TempDir
    Path dir;

    @Test
    void everyOptionLandsInTheConfig() throws Exception {
        Path k = Files.writeString(dir.resolve("k"), "x");
        Path i = Files.writeString(dir.resolve("i"), "y");
        RunArguments a = parse(List.of("--kernel", k.toString(), "--initrd", i.toString(), "--cmdline",
                "console=ttyS0 quiet", "--cpus", "3", "--memory", "1G", "--console", "file:" + dir.resolve("log"),
                "--name", "web-1", "--no-reboot"), 2);
        MachineConfig c = a.config();
        assertEquals(k, c.kernel());
        assertEquals(i, c.initrd().orElseThrow());
        assertEquals("console=ttyS0 quiet", c.cmdline());
        assertEquals(3, c.cpus());
        assertEquals(1L << 30, c.memoryBytes());
        assertEquals(Console.file(dir.resolve("log")), c.console());
        assertEquals("web-1", c.name());
        assertFalse(a.reboot());
        assertTrue(parse(List.of("--kernel", k.toString()), 2).reboot());
        assertEquals(List.of(), c.devices());
    }

    @Test
    void disksAndDevicesAreDeclaredInCommandLineOrder() throws Exception {
        String kernel = Files.writeString(dir.resolve("k"), "x").toString();
        MachineConfig c = parse(List.of("--kernel", kernel, "--disk", "/img/root.raw",
                "--device", "virtio-net,tap=tap0,mac=52:54:00:12:34:56", "--disk", "/img/data.raw,readonly,serial=D1",
                "--net", "tap=tap1,queues=2", "--device", "virtio-rng"), 2).config();
        assertEquals(List.of(new DeviceSpec("virtio-blk", "/img/root.raw"),
                new DeviceSpec("virtio-net", "tap=tap0,mac=52:54:00:12:34:56"),
                new DeviceSpec("virtio-blk", "/img/data.raw,readonly,serial=D1"),
                new DeviceSpec("virtio-net", "tap=tap1,queues=2"),
                new DeviceSpec("virtio-rng", "")), c.devices());
        List<String> eight = new java.util.ArrayList<>(List.of("--kernel", kernel));
        for (int i = 0; i < MachineConfig.MAX_DEVICES; i++) {
            eight.addAll(List.of(i % 2 == 0 ? "--disk" : "--device", i % 2 == 0 ? "d" + i : "virtio-rng"));
        }
        assertEquals(MachineConfig.MAX_DEVICES, parse(eight, 2).config().devices().size());
        List<String> nine = new java.util.ArrayList<>(eight);
        nine.addAll(List.of("--disk", "one-too-many"));
        expect("at most 8 --disk, --net and --device in all, not 9", nine);
        expect("--net needs tap=NAME", List.of("--kernel", kernel, "--net", ",mac=02:00:00:00:00:01"));
        expect("missing required parameter for option '--disk' (PATH[,OPTIONS])", List.of("--kernel", kernel, "--disk"));
        expect("--disk needs PATH[,readonly][,serial=ID], not ''", List.of("--kernel", kernel, "--disk", ""));
        expect("--disk needs PATH", List.of("--kernel", kernel, "--disk", ",readonly"));
        expect("--device: device type 'Virtio Blk' must be", List.of("--kernel", kernel, "--device", "Virtio Blk"));
        expect("--device: device type '' must be", List.of("--kernel", kernel, "--device", ",x"));
        expect("--disk: options of virtio-blk hold a control character",
                List.of("--kernel", kernel, "--disk", "a\tb"));
    }

    @Test
    void gdbTakesAPortOrASocketAndMayWait() throws Exception {
        String kernel = Files.writeString(dir.resolve("k"), "x").toString();
        assertEquals(java.util.Optional.empty(), parse(List.of("--kernel", kernel), 2).config().gdb());
        io.bundlevisor.core.partition.GdbEndpoint port = parse(List.of("--kernel", kernel, "--gdb", "1234"), 2)
                .config().gdb().orElseThrow();
        assertEquals(1234, port.port());
        assertEquals(false, port.waitForAttach());
        io.bundlevisor.core.partition.GdbEndpoint socket = parse(List.of("--kernel", kernel, "--gdb",
                dir.resolve("gdb.sock") + ",wait"), 2).config().gdb().orElseThrow();
        assertEquals(java.util.Optional.of(dir.resolve("gdb.sock")), socket.socket());
        assertEquals(true, socket.waitForAttach());
        expect("--gdb port must be 1..65535, not 0", List.of("--kernel", kernel, "--gdb", "0"));
        expect("unknown --gdb option 'stop'", List.of("--kernel", kernel, "--gdb", "1234,stop"));
    }

    @Test
    void vpAffinityPinsEachNamedVpToItsCpuList() throws Exception {
        String kernel = Files.writeString(dir.resolve("k"), "x").toString();
        assertTrue(parse(List.of("--kernel", kernel, "--cpus", "2"), 2).config().vpAffinity().isEmpty());
        MachineConfig c = parse(List.of("--kernel", kernel, "--cpus", "3", "--vp-affinity", "0=0-1,3,2=2"), 4)
                .config();
        java.util.BitSet vp0 = new java.util.BitSet();
        vp0.set(0, 2);
        vp0.set(3);
        assertEquals(java.util.Optional.of(vp0), c.vpAffinity().cpus(0));
        assertEquals(java.util.Optional.empty(), c.vpAffinity().cpus(1), "a VP not named stays unpinned");
        assertEquals(java.util.Optional.of(java.util.BitSet.valueOf(new long[] {4})), c.vpAffinity().cpus(2));
        assertEquals("0=0-1,3,2=2", c.vpAffinity().toString());
        assertEquals(c.vpAffinity(), parse(List.of("--kernel", kernel, "--cpus", "3", "--vp-affinity=2=2, 0=3,0-1"), 4)
                .config().vpAffinity(), "spaces and order do not matter");
        List<String> again = new java.util.ArrayList<>(RunOptions.arguments(c));
        assertEquals(c.vpAffinity(), parse(again, 4).config().vpAffinity(), "a snapshot's arguments keep it");

        List<String> two = List.of("--kernel", kernel, "--cpus", "2", "--vp-affinity");
        expect("--vp-affinity names VP 2, but the machine has VPs 0..1", concat(two, "0=0,2=1"));
        expect("--vp-affinity pins VP 1 to CPU 2, but this host has CPUs 0..1", concat(two, "0=0,1=1-2"));
        expect("--vp-affinity names VP 0 twice", concat(two, "0=0,0=1"));
        expect("--vp-affinity lists CPU 1 twice for VP 0", concat(two, "0=0-1,1"));
        expect("--vp-affinity: the CPU range 1-0 runs backwards", concat(two, "0=1-0"));
        expect("--vp-affinity needs VP=CPUS[,VP=CPUS...], e.g. 0=0-1,1=2, not '0'", concat(two, "0"));
        expect("--vp-affinity needs VP=CPUS", concat(two, "1,0=0"));
        expect("--vp-affinity: a CPU is missing in '0='", concat(two, "0="));
        expect("--vp-affinity: a CPU is missing in '0=0,,1'", concat(two, "0=0,,1"));
        expect("--vp-affinity: VP 'x' is not a number", concat(two, "x=0"));
        expect("--vp-affinity: a CPU is missing", concat(two, "0=-1"));
        expect("--vp-affinity: CPU '[0]' is not a number", concat(two, "0=[0]"));
    }

    private static List<String> concat(List<String> head, String last) {
        List<String> all = new java.util.ArrayList<>(head);
        all.add(last);
        return all;
    }

    @Test
    void mistakesAreOneLine() throws Exception {
        Path k = Files.writeString(dir.resolve("k"), "x");
        String kernel = k.toString();
        expect("--kernel FILE is required", List.of("--cpus", "1"));
        expect("no such file", List.of("--kernel", dir.resolve("missing").toString()));
        expect("--cpus must be 1..16 on this host, not 0", List.of("--kernel", kernel, "--cpus", "0"));
        expect("--cpus must be 1..16 on this host, not 17", List.of("--kernel", kernel, "--cpus", "17"));
        expect("invalid value for option '--cpus': 'two' is not an int", List.of("--kernel", kernel, "--cpus", "two"));
        expect("--memory must be 16 MiB", List.of("--kernel", kernel, "--memory", "8M"));
        expect("'lots' is not a size", List.of("--kernel", kernel, "--memory", "lots"));
        expect("'512' has no unit: say 512M for 512 MiB, or 512B for bytes", List.of("--kernel", kernel, "--memory", "512"));
        expect("'1.0000001M' is not a whole number of bytes", List.of("--kernel", kernel, "--memory", "1.0000001M"));
        expect("multiple of 2 MiB", List.of("--kernel", kernel, "--memory", "33M"));
        expect("--console must be", List.of("--kernel", kernel, "--console", "tcp:1"));
        expect("printable ASCII", List.of("--kernel", kernel, "--cmdline", "a\nb"));
        expect("missing required parameter for option '--name' (NAME)", List.of("--kernel", kernel, "--name"));
        expect("unknown option '-x'", List.of("--kernel", kernel, "-x"));
        expect("machine name", List.of("--kernel", kernel, "--name", "a b"));
        // What the path is when it is no file (a red-team finding: all of them used to be "no such file").
        expect("--kernel " + dir + ": is a directory, not a file", List.of("--kernel", dir.toString()));
        expect("--kernel /dev/zero: not a regular file (a device, a FIFO or a socket)",
                List.of("--kernel", "/dev/zero"));
        Path loop = dir.resolve("loop");
        Files.createSymbolicLink(loop, loop);
        expect("a symbolic link that leads nowhere", List.of("--kernel", kernel, "--initrd", loop.toString()));
        expect("machine name 'a\\u0007\\u001b[2Jb' must be", List.of("--kernel", kernel, "--name", "a\u0007\u001b[2Jb"));
        expect("--kernel", List.of("--kernel", kernel, "--kernel", kernel));
        expect("should be specified only once", List.of("--kernel", kernel, "--memory", "64M", "--memory", "128M"));
    }

    @Test
    void sizesAreReadAsPeopleTypeThem() {
        java.util.Map<String, Long> sizes = java.util.Map.of("512M", 512L << 20, "512MiB", 512L << 20, "512mb",
                512L << 20, "1G", 1L << 30, "1.5G", 3L << 29, "2GiB", 2L << 30, "65536K", 64L << 20, "1T", 1L << 40,
                "4096B", 4096L, " 64 M ", 64L << 20);
        sizes.forEach((text, bytes) -> assertEquals(bytes, MachineConfig.parseSize(text), text));
        for (String bad : List.of("", "M", "-1G", "1.5", "1Q", "0M", "1GB1", "99999999999T")) {
            assertThrows(IllegalArgumentException.class, () -> MachineConfig.parseSize(bad), bad);
        }
    }

    @Test
    void aConsoleSocketMayWaitForItsClient() throws Exception {
        Path k = Files.writeString(dir.resolve("k"), "x");
        assertEquals(Console.socket(Path.of("/run/c,1.sock"), true), parse(List.of("--kernel",
                k.toString(), "--console", "socket:/run/c,,1.sock,wait"), 2).config().console());
        assertEquals(Console.socket(Path.of("c.sock")), parse(List.of("--kernel", k.toString(),
                "--console", "socket:c.sock"), 2).config().console());
        expect("unknown --console socket option 'later'", List.of("--kernel", k.toString(), "--console",
                "socket:c.sock,later"));
        expect("--console socket needs a path", List.of("--kernel", k.toString(), "--console", "socket:wait"));
    }

    @Test
    void optionsTakeTheirValueAfterAnEqualsSignToo() throws Exception {
        Path k = Files.writeString(dir.resolve("k"), "x");
        RunArguments a = parse(List.of("--kernel=" + k, "--cpus=2", "--memory=1G", "--name=web",
                "--cmdline=console=ttyS0 quiet"), 2);
        assertEquals(k, a.config().kernel());
        assertEquals(2, a.config().cpus());
        assertEquals(1L << 30, a.config().memoryBytes());
        assertEquals("web", a.config().name());
        assertEquals("console=ttyS0 quiet", a.config().cmdline(), "only the first '=' splits");
        assertEquals("--x=y init=/bin/sh", parse(List.of("--kernel", k.toString(), "--cmdline",
                "--x=y init=/bin/sh"), 2).config().cmdline(), "a value is taken as it is");
        expect("invalid value for option '--no-reboot': 'yes' is not a boolean", List.of("--kernel", k.toString(), "--no-reboot=yes"));
        expect("invalid value for option '--cpus': '' is not an int", List.of("--kernel", k.toString(), "--cpus="));
    }

    @Test
    void aMisspeltOptionGetsASuggestion() throws Exception {
        String kernel = Files.writeString(dir.resolve("k"), "x").toString();
        expect("unknown option '--cpu' (did you mean --cpus?)", List.of("--kernel", kernel, "--cpu", "2"));
        expect("unknown option '--kernal' (did you mean --kernel?)", List.of("--kernal", kernel));
        expect("--disk options have an empty item in 'a.img,'", List.of("--kernel", kernel, "--disk", "a.img,"));
    }

    private static RunArguments parse(List<String> args, int hostCpus) {
        return Cli.parseRun(args, hostCpus);
    }

    private static void expect(String message, List<String> args) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(args, 2));
        assertTrue(e.getMessage().contains(message), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
}
