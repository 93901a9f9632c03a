package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.Partition;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.kvm.internal.MemoryMap;
import io.bundlevisor.uring.sys.SyscallFilter;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The partition on real KVM, driven by the C test guests of src/guest. */
class PartitionTest {

    private static final String COUNTED = countedOutput();

    @Test
    void powerOffThroughTheFadtSleepRegister() throws Exception {
        try (GuestRun run = GuestRun.start("poweroff", 1)) {
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt());
            assertEquals("poweroff: now\n", run.output());
            assertEquals(0, run.partition.halt().orElseThrow().exitStatus());
        }
    }

    @Test
    void theConsoleGoesToAFileOrAUnixSocketClient(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("console.log");
        Files.writeString(log, "earlier\n");
        try (KvmPartition p = KvmPartition.create(GuestRun.kvm(),
                GuestRun.config("poweroff", 1, 32L << 20).withConsole(Console.file(log)), TestVirtio.NONE,
                Runnable::run, x -> { })) {
            p.start();
            assertInstanceOf(HaltReason.PowerOff.class, p.awaitHalt(GuestRun.TIMEOUT));
        }
        assertEquals("earlier\npoweroff: now\n", Files.readString(log), "appended, and flushed by the halt");

        Path socket = dir.resolve("console.sock");
        try (KvmPartition p = KvmPartition.create(GuestRun.kvm(),
                GuestRun.config("poweroff", 1, 32L << 20).withConsole(Console.socket(socket)), TestVirtio.NONE,
                Runnable::run, x -> { });
                SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            Thread.sleep(100); // let the console accept the client before the guest prints
            p.start();
            assertInstanceOf(HaltReason.PowerOff.class, p.awaitHalt(GuestRun.TIMEOUT));
            ByteBuffer got = ByteBuffer.allocate(64);
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (got.position() < "poweroff: now\n".length() && System.nanoTime() < deadline) {
                client.read(got);
            }
            assertEquals("poweroff: now\n", new String(got.array(), 0, got.position(), StandardCharsets.US_ASCII));
        }
        assertFalse(Files.exists(socket), "the socket file is removed with the VM");
        GuestRun.expectRefused(GuestRun.config("poweroff", 1, 32L << 20)
                .withConsole(Console.file(dir.resolve("no/such/dir/log"))), "console file");
    }

    @Test
    void lapicTimerAndPitInterrupts() throws Exception {
        try (GuestRun run = GuestRun.start("timer", 1)) {
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
            assertTrue(count(run.output(), "timer: (\\d+) ticks") >= 3, run.output());
            assertTrue(count(run.output(), "pit: (\\d+) ticks") >= 3, run.output());
        }
    }

    @Test
    void everyVcpuComesUpThroughInitSipiAndTheAcpiTablesCheckOut() throws Exception {
        for (int cpus : new int[] {1, 2, 4}) {
            try (GuestRun run = GuestRun.start("smp", cpus)) {
                assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
                String out = run.output();
                assertTrue(out.contains("acpi: tables RSDP XSDT FACP APIC DSDT\n"), out);
                assertTrue(out.contains("acpi: checksums ok\n"), out);
                assertTrue(out.contains("madt: cpus=" + cpus + "\n"), out);
                assertTrue(out.contains("smp: " + cpus + " cpus up\n"), out);
            }
        }
    }

    @Test
    void theGuestSeesTheE820MapWeGave() throws Exception {
        long memory = 256L << 20;
        try (GuestRun run = GuestRun.create(GuestRun.config("e820", 1, memory))) {
            run.partition.start();
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
            long ram = MemoryMap.of(memory).e820().stream().filter(e -> e.type() == MemoryMap.E820.RAM)
                    .mapToLong(MemoryMap.E820::size).sum();
            assertTrue(run.output().contains("e820: ram=" + ram + "\n"), run.output());
            for (MemoryMap.E820 e : MemoryMap.of(memory).e820()) {
                String line = "e820: 0x" + Long.toHexString(e.address()) + " 0x" + Long.toHexString(e.size()) + " "
                        + e.type() + "\n";
                assertTrue(run.output().contains(line), line + " missing from " + run.output());
            }
        }
    }

    @Test
    void resetRegisterAndI8042ResetAndTheVmBootsAgainAfterReset() throws Exception {
        try (GuestRun run = GuestRun.start("reboot", 2)) {
            assertInstanceOf(HaltReason.Reset.class, run.awaitHalt(), run.output());
            run.partition.stop();
            run.partition.reset();
            assertTrue(run.partition.halt().isEmpty());
            run.partition.start();
            run.awaitOutput("reboot: now\nreboot: now\n");
            assertInstanceOf(HaltReason.Reset.class, run.awaitHalt(), run.output());
            assertEquals(2, run.partition.haltCount());
        }
        try (GuestRun run = GuestRun.create(GuestRun.config("reboot", 1, 64L << 20).withCmdline("i8042"))) {
            run.partition.start();
            assertInstanceOf(HaltReason.Reset.class, run.awaitHalt(), run.output());
        }
    }

    @Test
    void aTripleFaultIsReportedOnce() throws Exception {
        try (GuestRun run = GuestRun.start("triple", 2)) {
            HaltReason reason = run.awaitHalt();
            HaltReason.TripleFault t = assertInstanceOf(HaltReason.TripleFault.class, reason, run.output());
            assertEquals(0, t.vp());
            // The guest's UD2 (0f 0b) is where the fault chain began; RIP still points at it.
            assertTrue(t.rip() != -1 && t.instruction().length >= 2 && t.instruction()[0] == 0x0f
                    && t.instruction()[1] == 0x0b, t.describe());
            assertTrue(t.describe().startsWith("triple fault on VP 0 at rip 0x"), t.describe());
            assertEquals(1, reason.exitStatus());
            Thread.sleep(100);
            assertEquals(1, run.partition.haltCount());
            assertEquals("triple: now\n", run.output());
        }
    }

    @Test
    void stopParksEveryVpAndStartResumesExactlyThere() throws Exception {
        try (GuestRun run = GuestRun.start("counter", 1)) {
            run.awaitOutput("tick 5\n");
            run.partition.stop();
            assertFalse(run.partition.isStarted());
            String stopped = run.output();
            Thread.sleep(150); // 30 ticks' worth: none may be printed while stopped
            assertEquals(stopped, run.output());
            run.partition.start();
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
            assertEquals(COUNTED, run.output());
        }
    }

    /** Each VP thread runs under the system-call filter (seccomp mode 2); the test's own thread does not. */
    @Test
    void vpThreadsRunUnderTheSystemCallFilter() throws Exception {
        try (GuestRun run = GuestRun.start("counter", 2)) {
            run.awaitOutput("tick 3\n");
            Map<String, Integer> vps = new TreeMap<>(SyscallFilter.threadModes());
            vps.keySet().removeIf(name -> !name.startsWith("vp-"));
            assertEquals(2, vps.size(), "two VP threads: " + SyscallFilter.threadModes());
            assertEquals(Set.of(2), Set.copyOf(vps.values()), "filtered: " + vps);
            assertTrue(SyscallFilter.currentRole().isEmpty());
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
        }
    }

    @Test
    void temporarilyStoppedVpsResumeWhenTheLastGuardCloses() throws Exception {
        try (GuestRun run = GuestRun.start("counter", 1)) {
            run.awaitOutput("tick 3\n");
            Partition.StopGuard outer = run.partition.temporarilyStopVps();
            Partition.StopGuard inner = run.partition.temporarilyStopVps();
            String stopped = run.output();
            inner.close();
            Thread.sleep(60);
            assertEquals(stopped, run.output());
            outer.close();
            outer.close(); // closing twice is harmless
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
            assertEquals(COUNTED, run.output());
        }
    }

    @Test
    void saveRestoreIntoAFreshPartitionContinuesTheGuest() throws Exception {
        ByteArrayOutputStream saved = new ByteArrayOutputStream();
        String first;
        MachineConfig config = GuestRun.config("counter", 2, 64L << 20);
        try (GuestRun run = GuestRun.create(config)) {
            run.partition.start();
            run.awaitOutput("tick 12\n");
            run.partition.stop();
            assertThrows(IllegalStateException.class, () -> {
                run.partition.start();
                try {
                    run.partition.save(new ByteArrayOutputStream());
                } finally {
                    run.partition.stop();
                }
            });
            run.partition.save(saved);
            first = run.output();
        }
        try (GuestRun run = GuestRun.create(config)) {
            run.partition.restore(new ByteArrayInputStream(saved.toByteArray()));
            run.partition.start();
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), first + "|" + run.output());
            assertEquals(COUNTED, first + run.output());
        }
    }

    /**
     * A snapshot to files: the state (no RAM in it) and a sparse memory file, restored into a fresh partition: the
     * guest goes on exactly where it was; a memory file of another size or truncated state is refused in one line.
     */
    @Test
    void aSnapshotToFilesRestoresIntoAFreshPartition(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        ByteArrayOutputStream state = new ByteArrayOutputStream();
        java.nio.file.Path memory = dir.resolve("memory");
        String first;
        MachineConfig config = GuestRun.config("counter", 2, 64L << 20);
        try (GuestRun run = GuestRun.create(config)) {
            run.partition.start();
            run.awaitOutput("tick 12\n");
            run.partition.stop();
            run.partition.snapshot(state, memory);
            first = run.output();
        }
        assertEquals(64L << 20, java.nio.file.Files.size(memory));
        Process du = new ProcessBuilder("du", "--block-size=1", memory.toString()).start();
        long allocated = Long.parseLong(new String(du.getInputStream().readAllBytes()).split("\\s")[0]);
        assertTrue(allocated < (8L << 20), "sparse: " + allocated + " bytes allocated of 64 MiB");
        ByteArrayOutputStream full = new ByteArrayOutputStream();
        try (GuestRun run = GuestRun.create(config)) {
            run.partition.save(full);
        }
        assertTrue(state.size() < full.size() - (60L << 20), "the state holds no RAM: " + state.size());
        try (GuestRun run = GuestRun.create(config)) {
            run.partition.restoreSnapshot(new ByteArrayInputStream(state.toByteArray()), memory);
            // Firecracker's model: the memory file is mapped (read as the guest touches it), not read in.
            assertTrue(mappings().contains(memory.toString()), "the memory file is mapped:\n" + mappings());
            run.partition.start();
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), first + "|" + run.output());
            assertEquals(COUNTED, first + run.output());
            // A reset gives the guest its own zeroed RAM back: the file is no longer mapped and the guest counts
            // from the start again.
            run.partition.stop();
            run.partition.reset();
            assertFalse(mappings().contains(memory.toString()), "the memory file is unmapped:\n" + mappings());
            String before = run.output();
            run.partition.start();
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
            assertEquals(COUNTED, run.output().substring(before.length()));
        }
        try (GuestRun run = GuestRun.create(GuestRun.config("counter", 2, 32L << 20))) {
            String m = assertThrows(PartitionException.class, () -> run.partition.restoreSnapshot(
                    new ByteArrayInputStream(state.toByteArray()), memory)).getMessage();
            assertTrue(m.contains("saved machine has 2 VPs and 64 MiB"), m);
        }
        java.nio.file.Path small = java.nio.file.Files.write(dir.resolve("small"), new byte[4096]);
        try (GuestRun run = GuestRun.create(config)) {
            String m = assertThrows(PartitionException.class, () -> run.partition.restoreSnapshot(
                    new ByteArrayInputStream(state.toByteArray()), small)).getMessage();
            assertTrue(m.contains("memory file " + small + " has 4096 bytes"), m);
            byte[] cut = java.util.Arrays.copyOf(state.toByteArray(), state.size() / 2);
            m = assertThrows(PartitionException.class, () -> run.partition.restoreSnapshot(
                    new ByteArrayInputStream(cut), memory)).getMessage();
            assertTrue(m.contains("truncated"), m);
        }
    }

    private static String mappings() throws java.io.IOException {
        return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/maps"));
    }

    @Test
    void restoreRefusesAForeignOrCorruptStream() throws Exception {
        ByteArrayOutputStream saved = new ByteArrayOutputStream();
        try (GuestRun run = GuestRun.create(GuestRun.config("counter", 1, 64L << 20))) {
            run.partition.save(saved);
        }
        byte[] good = saved.toByteArray();
        try (GuestRun other = GuestRun.create(GuestRun.config("counter", 2, 64L << 20))) {
            PartitionException e = assertThrows(PartitionException.class,
                    () -> other.partition.restore(new ByteArrayInputStream(good)));
            assertTrue(e.getMessage().contains("1 VPs and 64 MiB, this one 2 and 64"), e.getMessage());
        }
        try (GuestRun same = GuestRun.create(GuestRun.config("counter", 1, 64L << 20))) {
            byte[] bad = good.clone();
            bad[0] ^= 1;
            assertTrue(assertThrows(PartitionException.class,
                    () -> same.partition.restore(new ByteArrayInputStream(bad))).getMessage()
                    .contains("not a Bundlevisor saved machine"));
            byte[] truncated = java.util.Arrays.copyOf(good, good.length / 2);
            assertTrue(assertThrows(PartitionException.class,
                    () -> same.partition.restore(new ByteArrayInputStream(truncated))).getMessage()
                    .contains("truncated"));
            byte[] hugeBlob = good.clone();
            hugeBlob[24] = 0x7F; // the VM blob's length
            assertTrue(assertThrows(PartitionException.class,
                    () -> same.partition.restore(new ByteArrayInputStream(hugeBlob))).getMessage()
                    .contains("state blob of"));
        }
    }

    @Test
    void badImagesAndSizesAreOneLineRefusals(@TempDir Path dir) throws Exception {
        Path junk = Files.write(dir.resolve("junk.bin"), new byte[] {1, 2, 3});
        GuestRun.expectRefused(MachineConfig.of("junk", 1, 64L << 20, junk), "junk.bin");
        GuestRun.expectRefused(MachineConfig.of("gone", 1, 64L << 20, dir.resolve("missing")), "missing");
        assertThrows(IllegalArgumentException.class, () -> MachineConfig.of("x", 0, 64L << 20, junk));
        assertThrows(IllegalArgumentException.class, () -> MachineConfig.of("x", 1, 1L << 20, junk));
    }

    private static int count(String out, String regex) {
        Matcher m = Pattern.compile(regex).matcher(out);
        assertTrue(m.find(), regex + " not in " + out);
        return Integer.parseInt(m.group(1));
    }

    private static String countedOutput() {
        StringBuilder b = new StringBuilder("counter: start\n");
        for (int i = 1; i <= 40; i++) {
            b.append("tick ").append(i).append('\n');
        }
        return b.append("counter: done\n").toString();
    }
}
