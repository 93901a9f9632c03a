package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;

import io.bundlevisor.core.partition.DeviceSlot;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.IoHandler;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.Notifier;
import io.bundlevisor.core.partition.Partition;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.partition.PartitionService;
import io.bundlevisor.kvm.internal.machine.VirtioMmioSlot;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Device slots on real KVM, seen from the host and from a guest: the window and GSI each declared device gets,
 * guest RAM translation, the doorbell ioeventfd, the resampling irqfd, the MMIO claim, and the bindings' place in
 * the partition's lifecycle (attach, reset, save, restore, close).
 */
class DeviceSlotTest {

    private static final long MIB = 1L << 20;
    private static final DeviceSpec DISK = new DeviceSpec("virtio-blk", "/img/root.raw,readonly");
    private static final DeviceSpec TEST = new DeviceSpec("test-dev", "");
    /** "virt": the first register of a virtio-mmio window (MagicValue, virtio 1.x 4.2.2). */
    private static final int MAGIC = 0x7472_6976;

    @TempDir
    Path dir;

    @Test
    void eachDeviceGetsItsWindowGsiAndRam() throws Exception {
        TestVirtio virtio = new TestVirtio();
        MachineConfig config = GuestRun.config("poweroff", 2, 64 * MIB).withDevice(DISK).withDevice(TEST);
        try (GuestRun run = GuestRun.create(config, virtio)) {
            assertEquals(2, virtio.slots.size());
            for (int i = 0; i < 2; i++) {
                DeviceSlot slot = virtio.slots.get(i);
                assertEquals(i, slot.index());
                assertEquals(0xD000_0000L + i * 0x1000L, slot.mmioBase());
                assertEquals(0x1000, slot.mmioSize());
                assertEquals(16 + i, slot.interrupt().gsi());
                assertEquals("poweroff", slot.machineName());
                assertEquals(2, slot.vpCount());
                assertEquals(config.devices().get(i), slot.spec());
            }
            assertEquals(List.of("poweroff/virtio-blk0", "poweroff/test-dev1"),
                    run.partition.devices().stream().map(d -> d.name()).toList());
            io.bundlevisor.core.partition.DeviceInfo disk = run.partition.devices().getFirst();
            assertEquals(new io.bundlevisor.core.partition.DeviceInfo("poweroff/virtio-blk0", "virtio-blk",
                    io.bundlevisor.core.partition.DeviceInfo.Binding.BOUND, -1, 0, 0, List.of(), 0, 0), disk);

            GuestRam ram = virtio.slots.get(0).ram();
            assertSame(ram, virtio.slots.get(1).ram());
            assertEquals(64 * MIB, ram.memory().byteSize());
            assertEquals(0x1000, ram.hostOffset(0x1000, 512));
            assertEquals(64 * MIB - 16, ram.hostOffset(64 * MIB - 16, 16), "the last bytes of RAM");
            assertEquals(-1, ram.hostOffset(64 * MIB - 8, 16), "runs past the end");
            assertEquals(-1, ram.hostOffset(0xD000_0000L, 4), "a device window is not RAM");
            assertEquals(-1, ram.hostOffset(0xC000_0000L, 1), "the hole");
            assertEquals(-1, ram.hostOffset(0x1_0000_0000L, 1), "no RAM above 4 GiB in a 64 MiB machine");
            assertEquals(-1, ram.hostOffset(-4096, 16));
            assertEquals(-1, ram.hostOffset(0, -1));
            assertEquals(-1, ram.hostOffset(Long.MAX_VALUE - 4, 16), "overflow");
        }
        assertTrue(virtio.bindings.stream().allMatch(b -> b.closed), "closing the partition closes the bindings");
        for (DeviceSlot slot : virtio.slots) {
            assertTrue(((VirtioMmioSlot) slot).isClosed());
            assertDoesNotThrow(() -> slot.interrupt().assertLine(), "a closed line drops the assertion");
            assertEquals(0, slot.interrupt().resample().drain());
        }
    }

    @Test
    void theDoorbellIsAnIoeventfdAndTheRestOfTheWindowGoesToTheClaim() throws Exception {
        TestVirtio virtio = new TestVirtio();
        Path guest = TinyElf.write(dir.resolve("doorbell.elf"), TinyGuests.DOORBELL);
        MachineConfig config = MachineConfig.of("doorbell", 1, 64 * MIB, guest).withDevice(TEST);
        List<String> accesses = new CopyOnWriteArrayList<>();
        IoHandler window = new IoHandler() {
            @Override
            public long read(long offset, int size) {
                accesses.add("read " + offset + "/" + size);
                return MAGIC;
            }

            @Override
            public void write(long offset, int size, long value) {
                accesses.add("write " + offset + "/" + size + "=" + value);
            }
        };
        VirtioMmioSlot slot;
        Notifier doorbell;
        try (GuestRun run = GuestRun.create(config, virtio)) {
            slot = (VirtioMmioSlot) virtio.slots.getFirst();
            doorbell = slot.notifyOnWrite(0x50, 4, OptionalLong.of(0));
            assertTrue(doorbell.fd() >= 0);
            assertEquals(0, doorbell.drain(), "nothing written yet");
            PartitionException taken = assertThrows(PartitionException.class,
                    () -> slot.notifyOnWrite(0x50, 4, OptionalLong.of(0)));
            assertTrue(taken.getMessage().startsWith("doorbell/test-dev0: KVM_IOEVENTFD mmio 0xd0000050"),
                    taken.getMessage());
            assertFalse(taken.getMessage().contains("\n"));
            assertThrows(IllegalArgumentException.class, () -> slot.notifyOnWrite(0x50, 3, OptionalLong.empty()));
            assertThrows(IllegalArgumentException.class, () -> slot.notifyOnWrite(0xFFE, 4, OptionalLong.empty()));
            assertThrows(IllegalArgumentException.class, () -> slot.notifyOnWrite(-4, 4, OptionalLong.empty()));
            assertThrows(IllegalArgumentException.class, () -> slot.notifyOnWrite(0x50, 2, OptionalLong.of(0x10000)));
            Notifier spare = slot.notifyOnWrite(0x50, 4, OptionalLong.of(5));
            assertEquals(2, slot.openNotifiers());
            spare.close();
            spare.close();
            assertEquals(1, slot.openNotifiers(), "closing deassigns");

            AutoCloseable claim = slot.claim(window);
            assertThrows(IllegalStateException.class, () -> slot.claim(window));
            claim.close();
            assertFalse(slot.isClaimed());
            slot.claim(window);
            assertTrue(slot.isClaimed());

            slot.interrupt().assertLine(); // the guest runs with its IOAPIC masked: the line is just high
            slot.interrupt().assertLine();
            assertEquals(0, slot.interruptFailures());
            assertEquals(0, slot.interrupt().resample().drain(), "no EOI yet");
            slot.interrupt().resample().close(); // the resample fd belongs to the line
            assertEquals(0, slot.interrupt().resample().drain());

            run.partition.start();
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
            assertEquals("v", run.output(), "the claim's read reached the guest");
            assertEquals(List.of("write 80/4=1", "read 0/4"), accesses, "the matching write did not exit");
            assertEquals(1, doorbell.drain(), "the matching write signalled the doorbell");
            assertEquals(0, doorbell.drain());
        }
        assertTrue(slot.isClosed());
        assertFalse(slot.isClaimed());
        assertEquals(0, slot.openNotifiers(), "the machine closes the doorbells the device left open");
        assertEquals(0, doorbell.drain(), "a closed doorbell drains nothing and does not throw");
    }

    @Test
    void aLevelInterruptReachesTheGuestAndItsEoiSignalsTheResampleFd() throws Exception {
        TestVirtio virtio = new TestVirtio();
        Path guest = TinyElf.write(dir.resolve("irq.elf"), TinyGuests.LEVEL_IRQ);
        try (GuestRun run = GuestRun.create(MachineConfig.of("irq", 1, 64 * MIB, guest).withDevice(TEST), virtio)) {
            DeviceSlot slot = virtio.slots.getFirst();
            Notifier resample = slot.interrupt().resample();
            run.partition.start();
            run.awaitOutput("r");
            assertEquals(0, resample.drain());
            slot.interrupt().assertLine();
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
            assertEquals("ri", run.output(), "one interrupt on IOAPIC pin 16, handled once");
            assertEquals(1, resample.drain(), "the guest's EOI lowered the line and signalled the resample fd");
        }
    }

    @Test
    void resetSaveAndRestoreCarryTheDevices() throws Exception {
        TestVirtio virtio = new TestVirtio();
        MachineConfig config = GuestRun.config("poweroff", 1, 32 * MIB).withDevice(TEST).withDevice(DISK);
        ByteArrayOutputStream saved = new ByteArrayOutputStream();
        try (GuestRun run = GuestRun.create(config, virtio)) {
            virtio.bindings.get(0).state = 1;
            run.partition.reset();
            assertEquals(List.of("reset poweroff/test-dev0", "reset poweroff/virtio-blk1"), virtio.events);
            assertEquals(0, virtio.bindings.get(0).state);
            virtio.bindings.get(0).state = 7;
            virtio.bindings.get(1).state = 9;
            run.partition.save(saved);
        }
        byte[] good = saved.toByteArray();

        TestVirtio fresh = new TestVirtio();
        try (GuestRun run = GuestRun.create(config, fresh)) {
            run.partition.restore(new ByteArrayInputStream(good));
            assertEquals(List.of("reset poweroff/test-dev0", "reset poweroff/virtio-blk1",
                    "restore poweroff/test-dev0", "restore poweroff/virtio-blk1"), fresh.events,
                    "reset before RAM is read, restored after");
            assertEquals(7, fresh.bindings.get(0).state);
            assertEquals(9, fresh.bindings.get(1).state);
            run.partition.start();
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
        }

        expectRefused(GuestRun.config("poweroff", 1, 32 * MIB).withDevice(TEST), good,
                "saved machine has 2 devices, this one 1");
        expectRefused(GuestRun.config("poweroff", 1, 32 * MIB).withDevice(DISK).withDevice(TEST), good,
                "saved machine's device 0 is 'test-dev', this one's virtio-blk");
        byte[] corrupt = good.clone();
        int tag = indexOf(corrupt, new byte[] {0x7E, 0x57, 0x00, 0x01});
        assertTrue(tag > 0);
        corrupt[tag] ^= 1;
        expectRefused(config, corrupt, "poweroff/test-dev0 refused its saved state: not a test device's state");
    }

    @Test
    void aDeviceThatCannotBeAttachedUndoesTheMachine() throws Exception {
        TestVirtio virtio = new TestVirtio();
        virtio.refuseIndex = 1;
        MachineConfig config = GuestRun.config("poweroff", 1, 32 * MIB).withDevice(DISK).withDevice(TEST);
        PartitionException e = assertThrows(PartitionException.class, () -> GuestRun.create(config, virtio));
        assertEquals("poweroff: no device bundle provides test-dev", e.getMessage());
        assertTrue(virtio.bindings.getFirst().closed, "the device attached before is closed");
        assertTrue(((VirtioMmioSlot) virtio.slots.getFirst()).isClosed());
        GuestRun.expectRefused(GuestRun.config("poweroff", 1, 32 * MIB).withDevice(DISK),
                "no device bundle provides virtio-blk");
    }

    @Test
    void theGuestWalksTablesWithDevicesInThem() throws Exception {
        MachineConfig config = GuestRun.config("smp", 2, 64 * MIB);
        for (int i = 0; i < MachineConfig.MAX_DEVICES; i++) {
            config = config.withDevice(TEST);
        }
        try (GuestRun run = GuestRun.create(config, new TestVirtio())) {
            run.partition.start();
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), run.output());
            assertTrue(run.output().contains("acpi: checksums ok\n"), run.output());
            assertTrue(run.output().contains("smp: 2 cpus up\n"), run.output());
        }
    }

    @Test
    void theHotPathsAllocateNothingOnceCompiled() throws Exception {
        TestVirtio virtio = new TestVirtio();
        try (GuestRun run = GuestRun.create(GuestRun.config("poweroff", 1, 32 * MIB).withDevice(TEST), virtio)) {
            DeviceSlot slot = virtio.slots.getFirst();
            GuestRam ram = slot.ram();
            Notifier doorbell = slot.notifyOnWrite(0x50, 4, OptionalLong.of(0));
            Notifier resample = slot.interrupt().resample();
            long sink = 0;
            long least = Long.MAX_VALUE;
            // The interpreter allocates in the FFM call path until the JIT compiles it: take the best of a few
            // rounds of 20,000 (reading the counter itself costs under 1 KiB).
            for (int round = 0; round < 10 && least >= 2048; round++) {
                long before = allocated();
                for (int i = 0; i < 20_000; i++) {
                    sink += ram.hostOffset(i * 64L, 64) + ram.hostOffset(0xD000_0000L, 4);
                    sink += doorbell.drain() + resample.drain();
                    slot.interrupt().assertLine();
                }
                least = Math.min(least, allocated() - before);
            }
            assertTrue(least < 2048, least + " bytes allocated by 20,000 rounds of the hot paths");
            assertTrue(sink != 0);
        }
    }

    private static long allocated() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    private static void expectRefused(MachineConfig config, byte[] stream, String message) throws Exception {
        try (GuestRun run = GuestRun.create(config, new TestVirtio())) {
            PartitionException e = assertThrows(PartitionException.class,
                    () -> run.partition.restore(new ByteArrayInputStream(stream)));
            assertTrue(e.getMessage().contains(message), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
