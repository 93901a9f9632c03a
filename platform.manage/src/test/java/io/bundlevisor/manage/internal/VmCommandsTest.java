package io.bundlevisor.manage.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import io.bundlevisor.core.partition.DeviceInfo;
import io.bundlevisor.core.partition.EmulationPolicy;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.manage.VmAction;
import io.bundlevisor.manage.VmManager;
import io.bundlevisor.manage.VmSummary;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The vm: commands print the manager's records and turn every refusal into one line. */
class VmCommandsTest {

    @TempDir
    Path dir;

    /** A manager holding what it was asked to run, refusing what a partition would refuse. */
    static final class Recording implements VmManager {
        final List<MachineConfig> ran = new ArrayList<>();
        final List<String> actions = new ArrayList<>();

        @Override
        public void updateDevice(String name, String device, String options) throws PartitionException {
            throw new PartitionException("no VM named " + name);
        }

        @Override
        public List<VmSummary> list() {
            return List.of(new VmSummary("web", 2, 512L << 20, true, EmulationPolicy.INJECT, 3, "", 1, ""),
                    new VmSummary("db", 1, 1L << 30, false, EmulationPolicy.HALT, 0, "triple fault on VP 0", 0, ""));
        }

        @Override
        public Optional<VmSummary> get(String name) {
            return list().stream().filter(v -> v.name().equals(name)).findFirst();
        }

        @Override
        public VmSummary run(MachineConfig config) {
            ran.add(config);
            return new VmSummary(config.name(), config.cpus(), config.memoryBytes(), true, EmulationPolicy.HALT, 0,
                    "", config.devices().size(), config.console() instanceof io.bundlevisor.core.partition.Console.Pty
                            ? "/dev/pts/9" : "");
        }

        @Override
        public List<DeviceInfo> devices(String name) throws PartitionException {
            get(name).orElseThrow(() -> new PartitionException("no VM named " + name));
            return name.equals("db") ? List.of() : List.of(new DeviceInfo("web/virtio-blk0", "virtio-blk",
                    DeviceInfo.Binding.HANDOVER, 40, 0x0f, 12, List.of(5L, 7L), 1, 0));
        }

        @Override
        public VmSummary snapshot(String name, Path state, Path memory) throws PartitionException {
            throw new PartitionException("no snapshots in this test");
        }

        @Override
        public VmSummary restore(Path state, Path memory, io.bundlevisor.core.partition.Console console,
                boolean start) throws PartitionException {
            throw new PartitionException("no snapshots in this test");
        }

        @Override
        public VmSummary apply(String name, VmAction action) throws PartitionException {
            VmSummary v = get(name).orElseThrow(() -> new PartitionException("no VM named " + name));
            if (action == VmAction.RESET && v.started()) {
                throw new PartitionException(name + ": reset needs a stopped partition");
            }
            actions.add(action + " " + name);
            return v;
        }
    }

    @Test
    void tablesComeFromTheRecords() {
        VmCommands c = new VmCommands(new Recording());
        List<String> list = c.list().lines().toList();
        assertEquals(3, list.size(), c.list());
        assertTrue(list.get(1).matches("web +2 +512M started +inject 3 +-"), list.get(1));
        assertTrue(list.get(2).matches("db +1 +1024M stopped +halt 0 +triple fault on VP 0"), list.get(2));
        List<String> devices = c.devices("web").lines().toList();
        assertTrue(devices.get(1).matches("web/virtio-blk0 +virtio-blk +handover +0xf +12 +1 +0 q0=5 q1=7"),
                devices.get(1));
        assertEquals("db has no devices", c.devices("db"));
        assertEquals("no VM named x", c.devices("x"));
    }

    @Test
    void runTakesTheOptionsOfBundlevisorRunAndRefusesInOneLine() throws Exception {
        Recording vms = new Recording();
        VmCommands c = new VmCommands(vms);
        Path kernel = Files.writeString(dir.resolve("k"), "x");
        assertEquals("started t1 (2 VPs, 64 MiB)", c.run("t1", "--kernel", kernel.toString(), "--cpus=2", "--memory",
                "64M", "--disk", "path=a.img,ro"));
        MachineConfig config = vms.ran.getFirst();
        assertEquals("t1", config.name());
        assertEquals(io.bundlevisor.core.partition.Console.file(Path.of("t1.console.log")), config.console());
        assertEquals("vm:run: unknown option '--cpu' (did you mean --cpus?)",
                c.run("t2", "--kernel", kernel.toString(), "--cpu", "2"));
        assertEquals("vm:run: --kernel FILE is required", c.run("t2", "--cpus", "2"));
        assertEquals("vm:run: the shell owns the terminal; use --console file:PATH or socket:PATH",
                c.run("t2", "--kernel", kernel.toString(), "--console", "stdio"));
        assertEquals("started t4 (1 VPs, 512 MiB); console on /dev/pts/9",
                c.run("t4", "--kernel", kernel.toString(), "--console", "pty"));
        assertEquals("vm:run: the VM's name comes first: vm:run NAME --kernel FILE ...", c.run("--kernel", "k"));
        for (String usage : List.of(c.run(), c.run("--help"), c.run("t3", "--help"))) {
            assertTrue(usage.startsWith("Usage: vm:run NAME --kernel FILE [OPTIONS]"), usage);
            assertTrue(usage.contains("--memory=SIZE"), usage);
            assertTrue(!usage.contains("--log-level"), "the launcher's logging options are not vm:run's");
        }
        assertEquals(2, vms.ran.size());
    }

    @Test
    void lifecycleCommandsSayWhatTheyDid() {
        Recording vms = new Recording();
        VmCommands c = new VmCommands(vms);
        assertEquals("stopped web", c.pause("web"));
        assertEquals("web: reset needs a stopped partition", c.reset("web"));
        assertEquals("reset db", c.reset("db"));
        assertEquals("cleared the halt of db", c.clear("db"));
        assertEquals("started db", c.resume("db"));
        assertEquals("closed db", c.close("db"));
        assertEquals("no VM named nope", c.close("nope"));
        assertEquals("vm:change: no VM named nope", c.change("nope", "nope/virtio-blk0", "path=x"));
        assertEquals(List.of("PAUSE web", "RESET db", "CLEAR_HALT db", "RESUME db", "CLOSE db"), vms.actions);
    }
}
