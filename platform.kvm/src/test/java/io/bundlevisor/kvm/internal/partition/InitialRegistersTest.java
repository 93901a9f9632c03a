package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.InitialRegisters;
import io.bundlevisor.core.partition.InitialRegisters.Register;
import io.bundlevisor.core.partition.MachineConfig;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The partition's loader API (issue 18, OpenVMM's set_initial_regs with its scrub rule) and clearing a halt. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class InitialRegistersTest {

    private static KvmPartition partition(Path elf, ByteArrayOutputStream out) throws Exception {
        return KvmPartition.create(GuestRun.kvm(),
                MachineConfig.of("regs", 1, 32L << 20, elf).withConsole(Console.streams(null, out)),
                TestVirtio.NONE, Runnable::run, x -> { });
    }

    private static String text(ByteArrayOutputStream out) {
        return out.toString(StandardCharsets.ISO_8859_1);
    }

    @Test
    void aVpStartsWhereItIsPutAndNothingOfAnEarlierRunLeaksIn(@TempDir Path dir) throws Exception {
        Path elf = TinyElf.write(dir.resolve("regs.elf"), TinyGuests.REGISTERS);
        long second = TinyElf.ENTRY + TinyGuests.REGISTERS_SECOND_ENTRY;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (KvmPartition p = partition(elf, out)) {
            p.start();
            assertInstanceOf(HaltReason.PowerOff.class, p.awaitHalt(GuestRun.TIMEOUT));
            assertEquals("xC", text(out), "from the ELF entry: BL 'x', the TPR set to 'C'");

            assertThrows(IllegalStateException.class,
                    () -> p.setInitialRegisters(0, InitialRegisters.at(second)), "a started partition refuses");
            p.stop();
            p.clearHalt();
            p.setInitialRegisters(0, InitialRegisters.at(second).with(Register.RBX, 'A'));
            p.start();
            long deadline = System.nanoTime() + GuestRun.TIMEOUT.toNanos();
            while (p.haltCount() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            assertEquals(2, p.haltCount(), text(out));
            assertEquals("xCA\0", text(out), "RBX as given, and the LAPIC scrubbed: the partition had run");
            assertThrows(IllegalArgumentException.class,
                    () -> p.setInitialRegisters(1, InitialRegisters.at(second)), "one VP only");
        }

        ByteArrayOutputStream fresh = new ByteArrayOutputStream();
        try (KvmPartition p = partition(elf, fresh)) {
            p.setInitialRegisters(0, InitialRegisters.at(second).with(Register.RBX, 'B').with(Register.RCX, 'z'));
            p.start();
            assertInstanceOf(HaltReason.PowerOff.class, p.awaitHalt(GuestRun.TIMEOUT));
            assertEquals("B\0", text(fresh), "never ran: set as given, RCX overwritten from the TPR (0)");
        }
    }

    @Test
    void initialRegistersAreValidated() {
        assertThrows(IllegalArgumentException.class, () -> new InitialRegisters(Map.of(Register.RAX, 1L)),
                "RIP is required");
        assertThrows(IllegalArgumentException.class, () -> InitialRegisters.at(0x0000_8000_0000_0000L),
                "non-canonical RIP");
        assertThrows(IllegalArgumentException.class,
                () -> InitialRegisters.at(0x1000).with(Register.RSP, 0x0001_0000_0000_0000L));
        assertThrows(IllegalArgumentException.class, () -> InitialRegisters.at(0x1000).with(Register.RFLAGS, 0),
                "RFLAGS bit 1 is always set");
        assertThrows(IllegalArgumentException.class,
                () -> InitialRegisters.at(0x1000).with(Register.RFLAGS, 0x2 | 1L << 40));
        InitialRegisters r = InitialRegisters.at(0xFFFF_FFFF_8100_0000L).with(Register.RFLAGS, 0x202);
        assertEquals(0x202, r.get(Register.RFLAGS));
        assertEquals(0, r.get(Register.R15));
        assertEquals(2, InitialRegisters.at(0).get(Register.RFLAGS));
    }

    @Test
    void clearingAHaltLetsStartedVpsRunOnFromWhereTheyStopped(@TempDir Path dir) throws Exception {
        Path elf = TinyElf.write(dir.resolve("twice.elf"), TinyGuests.TWO_POWER_OFFS);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (KvmPartition p = partition(elf, out)) {
            p.start();
            assertInstanceOf(HaltReason.PowerOff.class, p.awaitHalt(GuestRun.TIMEOUT));
            Thread.sleep(50);
            assertEquals("a", text(out), "parked by the halt: nothing runs after the first power-off");
            assertEquals(1, p.haltCount());
            assertTrue(p.isStarted(), "a halt leaves the partition started");

            p.clearHalt();
            long deadline = System.nanoTime() + GuestRun.TIMEOUT.toNanos();
            while (p.haltCount() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            assertEquals("ab", text(out), "the VP went on after the power-off port write");
            assertEquals(2, p.haltCount());
            assertInstanceOf(HaltReason.PowerOff.class, p.halt().orElseThrow());

            p.stop();
            p.clearHalt();
            Thread.sleep(50);
            assertTrue(p.halt().isEmpty(), "cleared");
            assertEquals("ab", text(out), "a stopped partition stays stopped after clearHalt");
        }
    }
}
