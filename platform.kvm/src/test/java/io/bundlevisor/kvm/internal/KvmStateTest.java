package io.bundlevisor.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.SyscallException;

/**
 * The in-kernel irqchip and PIT, interrupts, ioeventfds, CPUID, MSRs and saved state on the real /dev/kvm. Skips
 * (loudly) only where /dev/kvm does not exist.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class KvmStateTest {

    private static final long CODE = 0x10000;
    private static final int COM1 = 0x3F8;

    @BeforeAll
    static void requireKvm() {
        TestGuest.requireKvm();
    }

    /** A VM with the in-kernel irqchip and PIT and 2 MiB of RAM holding the page tables and {@code program}. */
    private static KvmVm vmWithIrqchip(Kvm kvm, GuestMemory ram, byte[] program) throws Exception {
        KvmVm vm = kvm.createVm();
        vm.setSystemPages();
        vm.createIrqchip();
        vm.createPit();
        vm.mapMemory(0, 0, ram);
        LongMode.buildPageTables(ram.segment(), 1);
        MemorySegment.copy(program, 0, ram.segment(), JAVA_BYTE, CODE, program.length);
        return vm;
    }

    private static int[] savedMsrs(Kvm kvm) throws SyscallException {
        int[] available = kvm.msrIndexList();
        return Arrays.stream(KvmVcpu.DEFAULT_SAVED_MSRS)
                .filter(m -> Arrays.stream(available).anyMatch(a -> a == m)).toArray();
    }

    @Test
    void irqchipPitRoutingAndInterruptsTakeEffect() throws Exception {
        try (Kvm kvm = Kvm.open(); GuestMemory ram = GuestMemory.allocate(2 << 20);
                KvmVm vm = vmWithIrqchip(kvm, ram, new byte[] {(byte) 0xF4})) {
            assertTrue(vm.checkExtension(KvmLayout.CAP_IRQCHIP) > 0);
            List<IrqRoute> routes = new ArrayList<>(IrqRoute.defaultRouting());
            routes.add(new IrqRoute.Msi(24, 0xFEE0_0000L, 0x31));
            vm.setGsiRouting(routes);
            vm.irqLine(4, true);
            vm.irqLine(4, false);
            assertFalse(vm.signalMsi(0xFEE0_0000L, 0x30), "no LAPIC yet: nobody takes it");
            try (KvmVcpu vcpu = vm.createVcpu(0)) {
                assertFalse(vm.signalMsi(0xFEE0_0000L, 0x30), "LAPIC 0 is software-disabled after reset");
                assertThrows(IllegalStateException.class, vm::createIrqchip, "too late once a vCPU exists");
                assertEquals(KvmVcpu.MP_STATE_RUNNABLE, vcpu.getMpState(), "vCPU 0 is the BSP");
                vcpu.setMpState(KvmVcpu.MP_STATE_HALTED);
                assertEquals(KvmVcpu.MP_STATE_HALTED, vcpu.getMpState());
            }
            var e = assertThrows(IllegalArgumentException.class, () -> new IrqRoute.Irqchip(1, IrqRoute.PIC_MASTER, 8));
            assertFalse(e.getMessage().contains("\n"));
        }
    }

    @Test
    void defaultRoutingIsQemusLegacyLayout() {
        List<IrqRoute> r = IrqRoute.defaultRouting();
        assertTrue(r.contains(new IrqRoute.Irqchip(0, IrqRoute.IOAPIC, 2)), "the PIT's GSI 0 on IOAPIC pin 2");
        assertTrue(r.contains(new IrqRoute.Irqchip(0, IrqRoute.PIC_MASTER, 0)));
        assertTrue(r.contains(new IrqRoute.Irqchip(9, IrqRoute.PIC_SLAVE, 1)));
        assertTrue(r.contains(new IrqRoute.Irqchip(23, IrqRoute.IOAPIC, 23)));
        assertTrue(r.stream().noneMatch(x -> x.gsi() == 2), "GSI 2 is the cascade");
        assertEquals(15 + 23, r.size());
    }

    @Test
    void irqfdAndIoeventfdRegisterAndUnregister() throws Exception {
        // mov dx, 0x510; out dx, al (to the ioeventfd: no exit); mov dx, 0x3f8; out dx, al
        byte[] program = {
            0x66, (byte) 0xBA, 0x10, 0x05, (byte) 0xEE, 0x66, (byte) 0xBA, (byte) 0xF8, 0x03, (byte) 0xEE,
        };
        try (Kvm kvm = Kvm.open(); GuestMemory ram = GuestMemory.allocate(2 << 20);
                KvmVm vm = vmWithIrqchip(kvm, ram, program); EventFd irq = EventFd.create();
                EventFd doorbell = EventFd.create()) {
            vm.registerIrqfd(5, irq.fd());
            vm.unregisterIrqfd(5, irq.fd());
            vm.unregisterIrqfd(5, irq.fd()); // the kernel accepts a pair that is not registered
            var bad = assertThrows(SyscallException.class, () -> vm.unregisterIrqfd(5, -1));
            assertTrue(bad.getMessage().startsWith("KVM_IRQFD deassign gsi 5"), bad.getMessage());

            vm.registerIoeventfd(0xD000_0000L, 4, false, OptionalLong.of(7), doorbell.fd());
            vm.registerIoeventfd(0xD000_1000L, 0, false, OptionalLong.empty(), doorbell.fd());
            vm.unregisterIoeventfd(0xD000_0000L, 4, false, OptionalLong.of(7), doorbell.fd());
            vm.unregisterIoeventfd(0xD000_1000L, 0, false, OptionalLong.empty(), doorbell.fd());
            var twice = assertThrows(SyscallException.class,
                    () -> vm.unregisterIoeventfd(0xD000_0000L, 4, false, OptionalLong.of(7), doorbell.fd()));
            assertTrue(twice.getMessage().startsWith("KVM_IOEVENTFD deassign mmio 0xd0000000 failed: ENOENT"),
                    twice.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> vm.registerIoeventfd(0x510, 3, true, OptionalLong.empty(), doorbell.fd()));
            assertThrows(IllegalArgumentException.class,
                    () -> vm.registerIoeventfd(0x510, 0, true, OptionalLong.empty(), doorbell.fd()));

            vm.registerIoeventfd(0x510, 1, true, OptionalLong.empty(), doorbell.fd());
            try (KvmVcpu vcpu = vm.createVcpu(0)) {
                LongMode.enter(vcpu, CODE);
                assertEquals(KvmVcpu.EXIT_IO, vcpu.run());
                assertEquals(COM1, vcpu.ioPort(), "the write to 0x510 went to the eventfd, not to us");
                assertEquals(1, doorbell.drain());
            }
            vm.unregisterIoeventfd(0x510, 1, true, OptionalLong.empty(), doorbell.fd());
        }
    }

    @Test
    void cpuidSetOnAVcpuReadsBack() throws Exception {
        try (Kvm kvm = Kvm.open(); GuestMemory ram = GuestMemory.allocate(2 << 20);
                KvmVm vm = vmWithIrqchip(kvm, ram, new byte[] {(byte) 0xF4})) {
            CpuidEntries supported = kvm.supportedCpuid();
            assertTrue(supported.find(0, 0).isPresent() && supported.find(1, 0).isPresent(), supported.toString());
            CpuidEntries table = CpuidPolicy.defaults().mask(1, 0, 'c', 1 << 5 /* VMX */).forVcpu(supported, 1, 2);
            try (KvmVcpu vcpu = vm.createVcpu(1)) {
                vcpu.setCpuid(table);
                CpuidEntries back = vcpu.getCpuid();
                CpuidEntries.Entry leaf1 = back.find(1, 0).orElseThrow();
                assertEquals(1, leaf1.ebx() >>> 24);
                assertEquals(2, (leaf1.ebx() >>> 16) & 0xFF);
                assertEquals(0, leaf1.ecx() & (1 << 5));
                assertEquals(0x4B4D_564B, back.find(0x4000_0000, 0).orElseThrow().ebx());
                if (back.find(0xB, 0).isPresent()) {
                    assertEquals(1, back.find(0xB, 1).orElseThrow().edx(), "x2APIC id");
                }
            }
        }
    }

    @Test
    void msrsRoundTripAndAnUnknownOneIsNamed() throws Exception {
        try (Kvm kvm = Kvm.open(); GuestMemory ram = GuestMemory.allocate(2 << 20);
                KvmVm vm = vmWithIrqchip(kvm, ram, new byte[] {(byte) 0xF4}); KvmVcpu vcpu = vm.createVcpu(0)) {
            vcpu.setCpuid(CpuidPolicy.defaults().forVcpu(kvm.supportedCpuid(), 0, 1));
            int[] msrs = {KvmVcpu.MSR_KERNEL_GS_BASE, KvmVcpu.MSR_LSTAR};
            vcpu.setMsrs(msrs, new long[] {0xFFFF_8880_1234_5000L, 0xFFFF_FFFF_8100_0000L});
            assertArrayEquals(new long[] {0xFFFF_8880_1234_5000L, 0xFFFF_FFFF_8100_0000L}, vcpu.getMsrs(msrs));
            var e = assertThrows(IllegalStateException.class,
                    () -> vcpu.getMsrs(new int[] {KvmVcpu.MSR_LSTAR, 0x0BAD_0BAD}));
            assertTrue(e.getMessage().contains("MSR 0xbad0bad"), e.getMessage());
            assertTrue(Arrays.stream(kvm.msrIndexList()).anyMatch(m -> m == KvmVcpu.MSR_KERNEL_GS_BASE));
        }
    }

    /**
     * Runs a guest up to its first port write, saves the vCPU, restores it into vCPU 0 of a second VM (same
     * RAM, same CPUID) and checks that the state reads back the same and that the guest goes on from there.
     */
    @Test
    void vcpuStateMovesToAFreshVm() throws Exception {
        // mov dx, 0x3f8; mov al, 'A'; out dx, al; mov al, 'B'; out dx, al; jmp $
        byte[] program = {
            0x66, (byte) 0xBA, (byte) 0xF8, 0x03, (byte) 0xB0, 'A', (byte) 0xEE, (byte) 0xB0, 'B', (byte) 0xEE,
            (byte) 0xEB, (byte) 0xFE,
        };
        try (Kvm kvm = Kvm.open(); GuestMemory ramA = GuestMemory.allocate(2 << 20);
                GuestMemory ramB = GuestMemory.allocate(2 << 20);
                KvmVm a = vmWithIrqchip(kvm, ramA, program); KvmVm b = vmWithIrqchip(kvm, ramB, program)) {
            int[] msrs = savedMsrs(kvm);
            CpuidEntries cpuid = CpuidPolicy.defaults().forVcpu(kvm.supportedCpuid(), 0, 1);
            byte[] blob;
            try (KvmVcpu va = a.createVcpu(0)) {
                va.setCpuid(cpuid);
                LongMode.enter(va, CODE);
                va.setMsrs(new int[] {KvmVcpu.MSR_KERNEL_GS_BASE}, new long[] {0xFFFF_8880_0000_1000L});
                assertEquals(KvmVcpu.EXIT_IO, va.run());
                assertEquals('A', va.ioData().get(JAVA_BYTE, 0));
                // Complete the port write in the kernel (RIP past the OUT) before saving: a run that exits at once.
                va.requestExit();
                assertEquals(KvmVcpu.EXIT_INTR, va.run());
                blob = va.saveState(msrs);
            }
            try (KvmVcpu vb = b.createVcpu(0)) {
                vb.setCpuid(cpuid);
                vb.restoreState(blob);
                VcpuState saved = VcpuState.decode(blob, 0);
                VcpuState again = VcpuState.decode(vb.saveState(msrs), 0);
                assertArrayEquals(saved.regs(), again.regs(), "regs");
                assertArrayEquals(saved.sregs(), again.sregs(), "sregs");
                assertArrayEquals(saved.lapic(), again.lapic(), "LAPIC");
                assertArrayEquals(saved.xcrs(), again.xcrs(), "XCRs");
                assertArrayEquals(saved.events(), again.events(), "vCPU events");
                assertEquals(saved.mpState(), again.mpState());
                assertArrayEquals(saved.msrIndices(), again.msrIndices());
                for (int i = 0; i < msrs.length; i++) {
                    if (msrs[i] != KvmVcpu.MSR_IA32_TSC) {
                        assertEquals(saved.msrValues()[i], again.msrValues()[i],
                                "MSR 0x" + Integer.toHexString(msrs[i]));
                    }
                }
                assertEquals(0xFFFF_8880_0000_1000L, vb.getMsrs(new int[] {KvmVcpu.MSR_KERNEL_GS_BASE})[0]);

                assertEquals(KvmVcpu.EXIT_IO, vb.run(), "the guest goes on in the second VM");
                assertEquals('B', vb.ioData().get(JAVA_BYTE, 0));
            }
        }
    }

    @Test
    void vmStateMovesToAFreshVm() throws Exception {
        try (Kvm kvm = Kvm.open(); GuestMemory ramA = GuestMemory.allocate(2 << 20);
                GuestMemory ramB = GuestMemory.allocate(2 << 20);
                KvmVm a = vmWithIrqchip(kvm, ramA, new byte[] {(byte) 0xF4});
                KvmVm b = vmWithIrqchip(kvm, ramB, new byte[] {(byte) 0xF4})) {
            a.irqLine(5, true); // IOAPIC pin 5 and the master PIC's IRR bit 5 go up
            byte[] blob = a.saveState();
            byte[] fresh = b.saveState();
            assertFalse(Arrays.equals(chips(blob), chips(fresh)), "the raised line shows in the chips");
            b.restoreState(blob);
            byte[] again = b.saveState();
            assertArrayEquals(chips(blob), chips(again), "PICs and IOAPIC");
            assertArrayEquals(pitWithoutLoadTimes(blob), pitWithoutLoadTimes(again), "PIT");
            long clockA = clock(blob);
            long clockB = clock(again);
            assertTrue(clockB >= clockA && clockB - clockA < 5_000_000_000L,
                    "kvm-clock restored: " + clockA + " then " + clockB);
        }
    }

    @Test
    void hostileBlobsAreRejectedInOneLine() throws Exception {
        try (Kvm kvm = Kvm.open(); GuestMemory ram = GuestMemory.allocate(2 << 20);
                KvmVm vm = vmWithIrqchip(kvm, ram, new byte[] {(byte) 0xF4});
                KvmVcpu v0 = vm.createVcpu(0); KvmVcpu v1 = vm.createVcpu(1)) {
            CpuidEntries supported = kvm.supportedCpuid();
            v0.setCpuid(CpuidPolicy.defaults().forVcpu(supported, 0, 2));
            v1.setCpuid(CpuidPolicy.defaults().forVcpu(supported, 1, 2));
            byte[] blob = v0.saveState(savedMsrs(kvm));
            byte[] vmBlob = vm.saveState();

            rejected(() -> v1.restoreState(blob), "is for vCPU 0, not vCPU 1");
            rejected(() -> v0.restoreState(Arrays.copyOf(blob, blob.length - 3)), "truncated");
            rejected(() -> v0.restoreState(Arrays.copyOf(blob, 6)), "truncated");
            rejected(() -> v0.restoreState(Arrays.copyOf(blob, blob.length + 1)), "after its last field");
            rejected(() -> v0.restoreState(patchInt(blob, 0, 0x1234)), "magic 0x1234");
            rejected(() -> v0.restoreState(patchInt(blob, 4, 2)), "version 2");
            rejected(() -> v0.restoreState(patchInt(blob, 12, 100)), "regs is 100 bytes");
            rejected(() -> v0.restoreState(patchInt(blob, 12, Integer.MAX_VALUE)), "regs is 2147483647 bytes");
            rejected(() -> v0.restoreState(vmBlob), "magic");
            rejected(() -> vm.restoreState(blob), "magic");
            rejected(() -> vm.restoreState(Arrays.copyOf(vmBlob, 600)), "truncated");
            rejected(() -> vm.restoreState(new byte[0]), "truncated");
            v0.restoreState(blob); // the real one still goes in
            vm.restoreState(vmBlob);
        }
    }

    private interface Action {
        void run() throws Exception;
    }

    private static void rejected(Action action, String message) {
        var e = assertThrows(IllegalArgumentException.class, action::run);
        assertTrue(e.getMessage().contains(message), e.getMessage() + " (expected: " + message + ")");
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    private static byte[] patchInt(byte[] blob, int at, int value) {
        byte[] b = blob.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(at, value);
        return b;
    }

    // VM blob: magic, version, then 3 x (len 520, irqchip), (len 112, PIT), (len 48, clock).
    private static final int CHIPS_AT = 8;
    private static final int CHIPS_LEN = 3 * (4 + 520);
    private static final int PIT_AT = CHIPS_AT + CHIPS_LEN + 4;
    private static final int CLOCK_AT = PIT_AT + 112 + 4;

    private static byte[] chips(byte[] vmBlob) {
        return Arrays.copyOfRange(vmBlob, CHIPS_AT, CHIPS_AT + CHIPS_LEN);
    }

    /** The PIT state without each channel's count_load_time (at 16 in its 24 bytes), which a restore resets. */
    private static byte[] pitWithoutLoadTimes(byte[] vmBlob) {
        byte[] pit = Arrays.copyOfRange(vmBlob, PIT_AT, PIT_AT + 112);
        for (int ch = 0; ch < 3; ch++) {
            Arrays.fill(pit, ch * 24 + 16, ch * 24 + 24, (byte) 0);
        }
        return pit;
    }

    private static long clock(byte[] vmBlob) {
        return ByteBuffer.wrap(vmBlob).order(ByteOrder.LITTLE_ENDIAN).getLong(CLOCK_AT);
    }

    @Test
    void mmioAndInternalErrorAccessorsReadKvmRun() throws Exception {
        // mov dword [0x40000000], 0x11223344 (no memory there: an MMIO write exit)
        byte[] program = {
            (byte) 0xC7, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0x44, 0x33, 0x22, 0x11,
            (byte) 0x8B, 0x04, 0x25, 0x08, 0x00, 0x00, 0x40, // mov eax, [0x40000008]
            0x66, (byte) 0xBA, (byte) 0xF8, 0x03, (byte) 0xEE, // mov dx, 0x3f8; out dx, al
        };
        try (Kvm kvm = Kvm.open(); GuestMemory ram = GuestMemory.allocate(2 << 20)) {
            KvmVm vm = kvm.createVm();
            try (vm) {
                vm.setSystemPages();
                vm.mapMemory(0, 0, ram);
                LongMode.buildPageTables(ram.segment(), 2); // identity-map 2 GiB: 1 GiB (no RAM) too
                MemorySegment.copy(program, 0, ram.segment(), JAVA_BYTE, CODE, program.length);
                try (KvmVcpu vcpu = vm.createVcpu(0)) {
                    LongMode.enter(vcpu, CODE);
                    assertEquals(KvmVcpu.EXIT_MMIO, vcpu.run());
                    assertEquals(0x4000_0000L, vcpu.mmioAddress());
                    assertTrue(vcpu.mmioIsWrite());
                    assertEquals(4, vcpu.mmioLength());
                    assertEquals(0x1122_3344, vcpu.mmioData().get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0));
                    assertEquals(KvmVcpu.EXIT_MMIO, vcpu.run());
                    assertEquals(0x4000_0008L, vcpu.mmioAddress());
                    assertFalse(vcpu.mmioIsWrite());
                    vcpu.mmioData().set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0, 0x5A);
                    assertEquals(KvmVcpu.EXIT_IO, vcpu.run());
                    assertEquals(0x5A, vcpu.ioData().get(JAVA_BYTE, 0), "the read got our value");
                    assertTrue(vcpu.internalErrorData().byteSize() <= 16 * 8);
                    assertNotEquals(-1, vcpu.translate(CODE));
                    assertEquals(CODE, vcpu.translate(CODE));
                }
            }
        }
    }
}
