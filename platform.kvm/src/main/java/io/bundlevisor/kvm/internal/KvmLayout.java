package io.bundlevisor.kvm.internal;

import static java.lang.foreign.MemoryLayout.paddingLayout;
import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

import io.bundlevisor.uring.sys.HeaderLayouts;

/**
 * The KVM structures of {@code include/uapi/linux/kvm.h} and {@code arch/x86/include/uapi/asm/kvm.h} (x86_64)
 * as FFM layouts, with every offset used as a named constant checked at class load against the header's value
 * (read off the header with offsetof on Linux 6.x).
 */
final class KvmLayout {

    /** {@code struct kvm_userspace_memory_region}: 32 bytes. */
    static final StructLayout MEMORY_REGION = structLayout(
            JAVA_INT.withName("slot"), JAVA_INT.withName("flags"), JAVA_LONG.withName("guest_phys_addr"),
            JAVA_LONG.withName("memory_size"), JAVA_LONG.withName("userspace_addr"));

    /** {@code struct kvm_regs}: 16 general registers, rip, rflags; 144 bytes. */
    static final StructLayout REGS = structLayout(
            JAVA_LONG.withName("rax"), JAVA_LONG.withName("rbx"), JAVA_LONG.withName("rcx"),
            JAVA_LONG.withName("rdx"), JAVA_LONG.withName("rsi"), JAVA_LONG.withName("rdi"),
            JAVA_LONG.withName("rsp"), JAVA_LONG.withName("rbp"), JAVA_LONG.withName("r8"),
            JAVA_LONG.withName("r9"), JAVA_LONG.withName("r10"), JAVA_LONG.withName("r11"),
            JAVA_LONG.withName("r12"), JAVA_LONG.withName("r13"), JAVA_LONG.withName("r14"),
            JAVA_LONG.withName("r15"), JAVA_LONG.withName("rip"), JAVA_LONG.withName("rflags"));

    /** {@code struct kvm_segment}: 24 bytes. */
    static final StructLayout SEGMENT = structLayout(
            JAVA_LONG.withName("base"), JAVA_INT.withName("limit"), JAVA_SHORT.withName("selector"),
            JAVA_BYTE.withName("type"), JAVA_BYTE.withName("present"), JAVA_BYTE.withName("dpl"),
            JAVA_BYTE.withName("db"), JAVA_BYTE.withName("s"), JAVA_BYTE.withName("l"), JAVA_BYTE.withName("g"),
            JAVA_BYTE.withName("avl"), JAVA_BYTE.withName("unusable"), JAVA_BYTE.withName("padding"));

    /** {@code struct kvm_dtable}: 16 bytes. */
    static final StructLayout DTABLE = structLayout(
            JAVA_LONG.withName("base"), JAVA_SHORT.withName("limit"), paddingLayout(6));

    /** {@code struct kvm_sregs}: 312 bytes. */
    static final StructLayout SREGS = structLayout(
            SEGMENT.withName("cs"), SEGMENT.withName("ds"), SEGMENT.withName("es"), SEGMENT.withName("fs"),
            SEGMENT.withName("gs"), SEGMENT.withName("ss"), SEGMENT.withName("tr"), SEGMENT.withName("ldt"),
            DTABLE.withName("gdt"), DTABLE.withName("idt"), JAVA_LONG.withName("cr0"), JAVA_LONG.withName("cr2"),
            JAVA_LONG.withName("cr3"), JAVA_LONG.withName("cr4"), JAVA_LONG.withName("cr8"),
            JAVA_LONG.withName("efer"), JAVA_LONG.withName("apic_base"),
            sequenceLayout(4, JAVA_LONG).withName("interrupt_bitmap"));

    static final long REGION_SLOT = offset(MEMORY_REGION, 0, "slot");
    static final long REGION_FLAGS = offset(MEMORY_REGION, 4, "flags");
    static final long REGION_GPA = offset(MEMORY_REGION, 8, "guest_phys_addr");
    static final long REGION_SIZE = offset(MEMORY_REGION, 16, "memory_size");
    static final long REGION_HVA = offset(MEMORY_REGION, 24, "userspace_addr");

    static final long REGS_RAX = offset(REGS, 0, "rax");
    static final long REGS_RSI = offset(REGS, 32, "rsi");
    static final long REGS_RSP = offset(REGS, 48, "rsp");
    static final long REGS_RIP = offset(REGS, 128, "rip");
    static final long REGS_RFLAGS = offset(REGS, 136, "rflags");

    static final long SEG_BASE = offset(SEGMENT, 0, "base");
    static final long SEG_LIMIT = offset(SEGMENT, 8, "limit");
    static final long SEG_SELECTOR = offset(SEGMENT, 12, "selector");
    static final long SEG_TYPE = offset(SEGMENT, 14, "type");
    static final long SEG_PRESENT = offset(SEGMENT, 15, "present");
    static final long SEG_DPL = offset(SEGMENT, 16, "dpl");
    static final long SEG_DB = offset(SEGMENT, 17, "db");
    static final long SEG_S = offset(SEGMENT, 18, "s");
    static final long SEG_L = offset(SEGMENT, 19, "l");
    static final long SEG_G = offset(SEGMENT, 20, "g");

    static final long SREGS_CS = offset(SREGS, 0, "cs");
    static final long SREGS_DS = offset(SREGS, 24, "ds");
    static final long SREGS_ES = offset(SREGS, 48, "es");
    static final long SREGS_FS = offset(SREGS, 72, "fs");
    static final long SREGS_GS = offset(SREGS, 96, "gs");
    static final long SREGS_SS = offset(SREGS, 120, "ss");
    static final long SREGS_TR = offset(SREGS, 144, "tr");
    static final long SREGS_GDT = offset(SREGS, 192, "gdt");
    static final long SREGS_CR0 = offset(SREGS, 224, "cr0");
    static final long SREGS_CR3 = offset(SREGS, 240, "cr3");
    static final long SREGS_CR4 = offset(SREGS, 248, "cr4");
    static final long SREGS_EFER = offset(SREGS, 264, "efer");

    // struct kvm_run (mapped from the vCPU fd); its union starts at 32.
    static final long RUN_IMMEDIATE_EXIT = 1;
    static final long RUN_EXIT_REASON = 8;
    static final long RUN_IO_DIRECTION = 32;
    static final long RUN_IO_SIZE = 33;
    static final long RUN_IO_PORT = 34;
    static final long RUN_IO_COUNT = 36;
    static final long RUN_IO_DATA_OFFSET = 40;
    static final long RUN_MMIO_PHYS_ADDR = 32;
    static final long RUN_MMIO_DATA = 40;
    static final long RUN_MMIO_LEN = 48;
    static final long RUN_MMIO_IS_WRITE = 52;
    static final long RUN_INTERNAL_SUBERROR = 32;
    static final long RUN_FAIL_ENTRY_REASON = 32;
    static final long RUN_SYSTEM_EVENT_TYPE = 32;
    /** sizeof(struct kvm_run) in Linux 6.x; the mapping is KVM_GET_VCPU_MMAP_SIZE, which is at least this. */
    static final long RUN_SIZE = 2352;

    static final long REGS_SIZE = size(REGS, 144);
    static final long SREGS_SIZE = size(SREGS, 312);
    static final long SEGMENT_SIZE = size(SEGMENT, 24);
    static final long REGION_SIZEOF = size(MEMORY_REGION, 32);

    // ioctl numbers (_IO/_IOR/_IOW(KVMIO = 0xAE, nr, size)) as the header computes them.
    static final long KVM_GET_API_VERSION = 0xAE00L;
    static final long KVM_CREATE_VM = 0xAE01L;
    static final long KVM_CHECK_EXTENSION = 0xAE03L;
    static final long KVM_GET_VCPU_MMAP_SIZE = 0xAE04L;
    static final long KVM_CREATE_VCPU = 0xAE41L;
    static final long KVM_SET_USER_MEMORY_REGION = 0x4020AE46L;
    static final long KVM_SET_TSS_ADDR = 0xAE47L;
    static final long KVM_SET_IDENTITY_MAP_ADDR = 0x4008AE48L;
    static final long KVM_RUN = 0xAE80L;
    static final long KVM_GET_REGS = 0x8090AE81L;
    static final long KVM_SET_REGS = 0x4090AE82L;
    static final long KVM_GET_SREGS = 0x8138AE83L;
    static final long KVM_SET_SREGS = 0x4138AE84L;

    static final int KVM_API_VERSION = 12;
    // KVM_CAP_*
    static final int CAP_USER_MEMORY = 3;
    static final int CAP_SET_TSS_ADDR = 4;
    static final int CAP_EXT_CPUID = 7;
    static final int CAP_IMMEDIATE_EXIT = 136;

    private KvmLayout() {
    }

    private static long offset(StructLayout layout, long headerValue, String field) {
        return HeaderLayouts.offset("kvm.h", layout, headerValue, field);
    }

    private static long size(MemoryLayout layout, long headerSize) {
        return HeaderLayouts.size("kvm.h", layout, headerSize);
    }
}
