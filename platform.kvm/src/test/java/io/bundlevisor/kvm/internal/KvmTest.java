package io.bundlevisor.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The KVM binding on the real /dev/kvm: a hand-assembled guest entered in 64-bit mode writes two bytes to the
 * COM1 port and halts. Skips (loudly) only where /dev/kvm does not exist; `./bundlevisor test` fails if it
 * exists and any test was skipped.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class KvmTest {

    private static final long CODE = 0x10000;

    @BeforeAll
    static void requireKvm() {
        TestGuest.requireKvm();
    }

    @Test
    void guestInLongModeWritesToAPortAndHalts() throws Exception {
        byte[] program = {
            (byte) 0x66, (byte) 0xBA, (byte) 0xF8, 0x03, // mov dx, 0x3f8
            (byte) 0xB0, 'H',                           // mov al, 'H'
            (byte) 0xEE,                                 // out dx, al
            (byte) 0xB0, 'i',                           // mov al, 'i'
            (byte) 0xEE,                                 // out dx, al
            (byte) 0xF4                                  // hlt
        };
        try (Kvm kvm = Kvm.open();
                KvmVm vm = kvm.createVm();
                GuestMemory ram = GuestMemory.allocate(2 << 20)) {
            vm.setSystemPages();
            vm.mapMemory(0, 0, ram);
            MemorySegment mem = ram.segment();
            LongMode.buildPageTables(mem, 1);
            MemorySegment.copy(program, 0, mem, JAVA_BYTE, CODE, program.length);
            try (KvmVcpu vcpu = vm.createVcpu(0)) {
                LongMode.enter(vcpu, CODE);

                StringBuilder out = new StringBuilder();
                int exit;
                while ((exit = vcpu.run()) == KvmVcpu.EXIT_IO) {
                    assertTrue(vcpu.ioIsOut());
                    assertEquals(0x3F8, vcpu.ioPort());
                    assertEquals(1, vcpu.ioSize());
                    out.append((char) vcpu.ioData().get(JAVA_BYTE, 0));
                }
                assertEquals(KvmVcpu.EXIT_HLT, exit, "the guest halts after its output");
                assertEquals("Hi", out.toString());
                assertEquals(CODE + program.length, vcpu.rip(), "RIP is past the HLT");
            }
        }
    }

    @Test
    void theGuestSeesTheCpuidTableSet() throws Exception {
        byte[] program = {
            (byte) 0x66, (byte) 0xBA, (byte) 0xF8, 0x03,    // mov dx, 0x3f8
            (byte) 0xB8, 0x00, 0x00, 0x00, 0x40,            // mov eax, 0x40000000
            0x0F, (byte) 0xA2,                               // cpuid
            (byte) 0x88, (byte) 0xD8,                        // mov al, bl: 'K' of "KVMKVMKVM"
            (byte) 0xEE,                                     // out dx, al
            (byte) 0xB8, 0x01, 0x00, 0x00, 0x00,            // mov eax, 1
            0x0F, (byte) 0xA2,                               // cpuid
            (byte) 0xC1, (byte) 0xEB, 0x18,                  // shr ebx, 24: the initial APIC id
            (byte) 0x88, (byte) 0xD8,                        // mov al, bl
            (byte) 0xEE,                                     // out dx, al
            (byte) 0xC1, (byte) 0xE9, 0x18,                  // shr ecx, 24: bit 31 (hypervisor) is now bit 7
            (byte) 0x88, (byte) 0xC8,                        // mov al, cl
            (byte) 0xEE,                                     // out dx, al
            (byte) 0xF4                                      // hlt
        };
        try (Kvm kvm = Kvm.open();
                KvmVm vm = kvm.createVm();
                GuestMemory ram = GuestMemory.allocate(2 << 20)) {
            vm.setSystemPages();
            vm.mapMemory(0, 0, ram);
            LongMode.buildPageTables(ram.segment(), 1);
            MemorySegment.copy(program, 0, ram.segment(), JAVA_BYTE, CODE, program.length);
            try (KvmVcpu vcpu = vm.createVcpu(0)) {
                vcpu.setCpuid(CpuidPolicy.defaults().forVcpu(kvm.supportedCpuid(), 0x2A, 64));
                LongMode.enter(vcpu, CODE);
                byte[] out = new byte[3];
                for (int i = 0; i < 3; i++) {
                    assertEquals(KvmVcpu.EXIT_IO, vcpu.run());
                    out[i] = vcpu.ioData().get(JAVA_BYTE, 0);
                }
                assertEquals('K', out[0], "the KVM signature leaf");
                assertEquals(0x2A, out[1], "the APIC id in leaf 1");
                assertEquals(0x80, out[2] & 0x80, "the hypervisor bit");
                assertEquals(KvmVcpu.EXIT_HLT, vcpu.run());
            }
        }
    }

    @Test
    void immediateExitReturnsBeforeRunningTheGuest() throws Exception {
        try (Kvm kvm = Kvm.open();
                KvmVm vm = kvm.createVm();
                GuestMemory ram = GuestMemory.allocate(2 << 20)) {
            vm.setSystemPages();
            vm.mapMemory(0, 0, ram);
            LongMode.buildPageTables(ram.segment(), 1);
            ram.segment().set(JAVA_BYTE, CODE, (byte) 0xF4); // hlt
            try (KvmVcpu vcpu = vm.createVcpu(0)) {
                LongMode.enter(vcpu, CODE);
                vcpu.requestExit();
                assertEquals(KvmVcpu.EXIT_INTR, vcpu.run());
                assertEquals(CODE, vcpu.rip(), "nothing ran");
                assertEquals(KvmVcpu.EXIT_HLT, vcpu.run(), "the request was consumed");
            }
        }
    }

    @Test
    void aKickGetsASpinningGuestOutOfKvmRun() throws Exception {
        try (Kvm kvm = Kvm.open();
                KvmVm vm = kvm.createVm();
                GuestMemory ram = GuestMemory.allocate(2 << 20)) {
            vm.setSystemPages();
            vm.mapMemory(0, 0, ram);
            LongMode.buildPageTables(ram.segment(), 1);
            ram.segment().set(JAVA_BYTE, CODE, (byte) 0xEB); // jmp $ : spins forever
            ram.segment().set(JAVA_BYTE, CODE + 1, (byte) 0xFE);
            try (KvmVcpu vcpu = vm.createVcpu(0)) {
                LongMode.enter(vcpu, CODE);
                java.util.concurrent.BlockingQueue<Object> exits = new java.util.concurrent.LinkedBlockingQueue<>();
                java.util.concurrent.CountDownLatch bound = new java.util.concurrent.CountDownLatch(1);
                Thread vp = Thread.ofPlatform().name("vp0").start(() -> {
                    try {
                        vcpu.bindToCurrentThread();
                        bound.countDown();
                        for (int i = 0; i < 3; i++) {
                            exits.add(vcpu.run()); // each kick ends one run; the guest is still spinning
                        }
                    } catch (Throwable t) {
                        exits.add(t);
                    }
                });
                assertTrue(bound.await(10, TimeUnit.SECONDS));
                for (int i = 0; i < 3; i++) {
                    Thread.sleep(100); // let it enter KVM_RUN and spin
                    assertEquals(null, exits.poll(), "still running before the kick");
                    vcpu.kick();
                    assertEquals(KvmVcpu.EXIT_INTR, exits.poll(10, TimeUnit.SECONDS), "kick " + i);
                }
                vp.join(10_000);
                long rip = vcpu.rip();
                assertTrue(rip == CODE, "the guest was interrupted in its loop, at " + Long.toHexString(rip));
            }
        }
    }

    @Test
    void ramAboveTheHoleContinuesTheMemfd() throws Exception {
        MemoryMap map = MemoryMap.of(MemoryMap.HOLE_START + (64L << 20)); // 3 GiB + 64 MiB, sparse
        try (Kvm kvm = Kvm.open();
                KvmVm vm = kvm.createVm();
                GuestMemory ram = GuestMemory.allocate(map.ramBytes())) {
            vm.setSystemPages();
            vm.mapRam(map, ram);
            long high = map.toHostOffset(MemoryMap.HIGH_START, 8);
            assertEquals(MemoryMap.HOLE_START, high);
            ram.segment().set(JAVA_LONG, high, 0x1234_5678L);
            assertEquals(0x1234_5678L, ram.segment().get(JAVA_LONG, map.toHostOffset(MemoryMap.HIGH_START, 8)));
            assertThrows(IllegalArgumentException.class, () -> vm.mapRam(MemoryMap.of(32L << 20), ram));
        }
    }

    @Test
    void badArgumentsGetOneLineErrors() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> GuestMemory.allocate(1000));
        try (Kvm kvm = Kvm.open(); KvmVm vm = kvm.createVm(); GuestMemory ram = GuestMemory.allocate(4096)) {
            assertThrows(IllegalArgumentException.class, () -> vm.mapMemory(0, 123, ram));
            var e = assertThrows(io.bundlevisor.uring.host.SyscallException.class, () -> vm.createVcpu(-1));
            assertTrue(e.getMessage().startsWith("KVM_CREATE_VCPU -1 failed: E"), e.getMessage());
        }
    }
}
