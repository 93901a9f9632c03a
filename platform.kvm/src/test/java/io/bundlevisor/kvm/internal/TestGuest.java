package io.bundlevisor.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Assumptions;

/**
 * Runs a test guest from src/guest (built into target/guests) on one vCPU until it halts: COM1 output is
 * collected, the line status register reads "transmitter empty", other port reads return all ones.
 */
final class TestGuest {

    static final Path DIR = Path.of("target", "guests");
    private static final int COM1 = 0x3F8;
    private static final int LSR = COM1 + 5;
    private static final int MAX_EXITS = 1_000_000;

    record Result(int exit, String serial, long rip) {
    }

    /**
     * Skips the calling test, loudly, where /dev/kvm does not exist; `./bundlevisor test` fails the run if it
     * exists and anything was skipped.
     */
    static void requireKvm() {
        if (!Files.exists(Kvm.DEVICE)) {
            System.err.println("*** SKIPPING KVM TESTS: " + Kvm.DEVICE + " does not exist on this host ***");
        }
        Assumptions.assumeTrue(Files.exists(Kvm.DEVICE), "/dev/kvm missing");
    }

    static Path elf(String name) {
        Path p = DIR.resolve(name + ".elf");
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException(p + " is missing: the build compiles src/guest (needs gcc and make)");
        }
        return p;
    }

    static Result run(String name) throws Exception {
        MemoryMap map = MemoryMap.of(64L << 20);
        try (Kvm kvm = Kvm.open();
                KvmVm vm = kvm.createVm();
                GuestMemory ram = GuestMemory.allocate(map.ramBytes())) {
            vm.setSystemPages();
            vm.mapRam(map, ram);
            LongMode.buildPageTables(ram.segment(), 1);
            ElfLoader.Loaded loaded = ElfLoader.load(elf(name), map, ram.segment());
            try (KvmVcpu vcpu = vm.createVcpu(0)) {
                LongMode.enter(vcpu, loaded.entry());
                StringBuilder serial = new StringBuilder();
                for (int i = 0; i < MAX_EXITS; i++) {
                    int exit = vcpu.run();
                    if (exit != KvmVcpu.EXIT_IO) {
                        return new Result(exit, serial.toString(), vcpu.rip());
                    }
                    MemorySegment data = vcpu.ioData();
                    if (vcpu.ioIsOut()) {
                        if (vcpu.ioPort() == COM1) {
                            serial.append((char) data.get(JAVA_BYTE, 0));
                        }
                    } else {
                        data.fill(vcpu.ioPort() == LSR ? (byte) 0x60 : (byte) 0xFF);
                    }
                }
                throw new AssertionError("guest " + name + " did not halt within " + MAX_EXITS + " exits: " + serial);
            }
        }
    }

    private TestGuest() {
    }
}
