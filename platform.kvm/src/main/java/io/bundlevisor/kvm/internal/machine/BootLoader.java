package io.bundlevisor.kvm.internal.machine;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import io.bundlevisor.core.partition.InitialRegisters;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.kvm.internal.KvmVcpu;
import io.bundlevisor.kvm.internal.LongMode;
import io.bundlevisor.kvm.internal.MemoryMap;
import io.bundlevisor.kvm.internal.boot.LinuxLoader;
import io.bundlevisor.uring.host.SyscallException;

/**
 * Loads the boot image a machine names, telling an ELF (vmlinux or a test guest) from a bzImage by its first
 * bytes, and enters it the same way for both: the 64-bit boot protocol, with identity page tables for the first
 * 4 GiB (so the LAPIC and IOAPIC windows are reachable too), the boot GDT, and RSI = boot_params.
 */
final class BootLoader {

    private static final int ELF_MAGIC = 0x464C_457F; // "\x7fELF", little endian
    /** Identity-map 4 GiB: the kernel, boot data and the APIC windows below 4 GiB. */
    private static final int IDENTITY_GIB = 4;
    private static final long REGS_RSI = 32; // struct kvm_regs: rax rbx rcx rdx rsi (kvm.h)

    record Entry(long rip, long bootParams) {
    }

    private BootLoader() {
    }

    /** Loads the machine's boot image with {@code cmdline} (the configured one, with what the machine adds). */
    static Entry load(MachineConfig config, String cmdline, MemoryMap map, MemorySegment ram, long rsdp)
            throws PartitionException {
        Path kernel = config.kernel();
        try {
            LinuxLoader.Loaded loaded = isElf(kernel)
                    ? LinuxLoader.loadElf(map, ram, kernel, config.initrd(), cmdline, rsdp)
                    : LinuxLoader.load(map, ram, kernel, config.initrd(), cmdline, rsdp);
            return new Entry(loaded.entry(), loaded.bootParams());
        } catch (IOException e) {
            throw new PartitionException(e.getMessage(), e);
        }
    }

    /** Puts {@code bsp} at the entry in 64-bit mode with the boot GDT and page tables written to RAM. */
    static void enter(KvmVcpu bsp, MemorySegment ram, Entry entry) throws SyscallException {
        LongMode.buildPageTables(ram, IDENTITY_GIB);
        LongMode.writeGdt(ram);
        LongMode.enter(bsp, entry.rip());
        MemorySegment regs = bsp.getRegs();
        regs.set(JAVA_LONG, REGS_RSI, entry.bootParams());
        bsp.setRegs();
    }

    /**
     * Puts {@code vcpu} in 64-bit mode with the boot GDT and page tables written to RAM, and its general registers
     * as given: {@code struct kvm_regs} holds them in {@link InitialRegisters.Register}'s order, 8 bytes each
     * (arch/x86/include/uapi/asm/kvm.h).
     */
    static void enter(KvmVcpu vcpu, MemorySegment ram, InitialRegisters registers) throws SyscallException {
        LongMode.buildPageTables(ram, IDENTITY_GIB);
        LongMode.writeGdt(ram);
        LongMode.enter(vcpu, registers.get(InitialRegisters.Register.RIP));
        MemorySegment regs = vcpu.getRegs();
        for (InitialRegisters.Register r : InitialRegisters.Register.values()) {
            regs.set(JAVA_LONG, (long) r.ordinal() * Long.BYTES, registers.get(r));
        }
        vcpu.setRegs();
    }

    private static boolean isElf(Path file) throws PartitionException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            java.nio.ByteBuffer head = java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(head, 0);
            return head.position() == 4 && head.getInt(0) == ELF_MAGIC;
        } catch (IOException e) {
            throw new PartitionException(file + ": " + e.getMessage(), e);
        }
    }
}
