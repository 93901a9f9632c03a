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

    /** {@code struct kvm_cpuid_entry2}: 40 bytes; {@code struct kvm_cpuid2} is a u32 nent, padding, entries[]. */
    static final StructLayout CPUID_ENTRY = structLayout(
            JAVA_INT.withName("function"), JAVA_INT.withName("index"), JAVA_INT.withName("flags"),
            JAVA_INT.withName("eax"), JAVA_INT.withName("ebx"), JAVA_INT.withName("ecx"), JAVA_INT.withName("edx"),
            sequenceLayout(3, JAVA_INT).withName("padding"));

    /** {@code struct kvm_msr_entry}: 16 bytes; {@code struct kvm_msrs} is a u32 nmsrs, pad, entries[]. */
    static final StructLayout MSR_ENTRY = structLayout(
            JAVA_INT.withName("index"), JAVA_INT.withName("reserved"), JAVA_LONG.withName("data"));

    /** {@code struct kvm_irq_level}: 8 bytes. */
    static final StructLayout IRQ_LEVEL = structLayout(JAVA_INT.withName("irq"), JAVA_INT.withName("level"));

    /** {@code struct kvm_irqfd}: 32 bytes. */
    static final StructLayout IRQFD = structLayout(
            JAVA_INT.withName("fd"), JAVA_INT.withName("gsi"), JAVA_INT.withName("flags"),
            JAVA_INT.withName("resamplefd"), sequenceLayout(16, JAVA_BYTE).withName("pad"));

    /** {@code struct kvm_ioeventfd}: 64 bytes. */
    static final StructLayout IOEVENTFD = structLayout(
            JAVA_LONG.withName("datamatch"), JAVA_LONG.withName("addr"), JAVA_INT.withName("len"),
            JAVA_INT.withName("fd"), JAVA_INT.withName("flags"), sequenceLayout(36, JAVA_BYTE).withName("pad"));

    /** {@code struct kvm_irq_routing_entry}: 48 bytes, its union (irqchip or msi) at 16. */
    static final StructLayout ROUTING_ENTRY = structLayout(
            JAVA_INT.withName("gsi"), JAVA_INT.withName("type"), JAVA_INT.withName("flags"),
            JAVA_INT.withName("pad"), JAVA_INT.withName("u_lo"), JAVA_INT.withName("u_hi"),
            JAVA_INT.withName("u_data"), sequenceLayout(5, JAVA_INT).withName("u_rest"));

    /** {@code struct kvm_msi}: 32 bytes. */
    static final StructLayout MSI = structLayout(
            JAVA_INT.withName("address_lo"), JAVA_INT.withName("address_hi"), JAVA_INT.withName("data"),
            JAVA_INT.withName("flags"), JAVA_INT.withName("devid"), sequenceLayout(12, JAVA_BYTE).withName("pad"));

    /** {@code struct kvm_irqchip}: chip id, then a 512-byte union (PIC or IOAPIC state); 520 bytes. */
    static final StructLayout IRQCHIP = structLayout(
            JAVA_INT.withName("chip_id"), JAVA_INT.withName("pad"), sequenceLayout(512, JAVA_BYTE).withName("chip"));

    /** {@code struct kvm_pit_state2}: three 24-byte channel states, flags, reserved; 112 bytes. */
    static final StructLayout PIT_STATE2 = structLayout(
            sequenceLayout(72, JAVA_BYTE).withName("channels"), JAVA_INT.withName("flags"),
            sequenceLayout(9, JAVA_INT).withName("reserved"));

    /** {@code struct kvm_pit_config}: 64 bytes. */
    static final StructLayout PIT_CONFIG = structLayout(
            JAVA_INT.withName("flags"), sequenceLayout(15, JAVA_INT).withName("pad"));

    /** {@code struct kvm_clock_data}: 48 bytes. */
    static final StructLayout CLOCK_DATA = structLayout(
            JAVA_LONG.withName("clock"), JAVA_INT.withName("flags"), JAVA_INT.withName("pad0"),
            JAVA_LONG.withName("realtime"), JAVA_LONG.withName("host_tsc"),
            sequenceLayout(4, JAVA_INT).withName("pad"));

    /** {@code struct kvm_xcrs}: nr_xcrs, flags, 16 {@code struct kvm_xcr} of 16 bytes, padding; 392 bytes. */
    static final StructLayout XCRS = structLayout(
            JAVA_INT.withName("nr_xcrs"), JAVA_INT.withName("flags"), sequenceLayout(256, JAVA_BYTE).withName("xcrs"),
            sequenceLayout(16, JAVA_LONG).withName("padding"));

    /**
     * {@code struct kvm_vcpu_events}: the exception (injected, nr, has_error_code, pending, error_code), the rest
     * only as far as this binding names it; 64 bytes.
     */
    static final StructLayout VCPU_EVENTS = structLayout(
            JAVA_BYTE.withName("exception_injected"), JAVA_BYTE.withName("exception_nr"),
            JAVA_BYTE.withName("exception_has_error_code"), JAVA_BYTE.withName("exception_pending"),
            JAVA_INT.withName("exception_error_code"),
            sequenceLayout(8, JAVA_BYTE).withName("interrupt_nmi"), JAVA_INT.withName("sipi_vector"),
            JAVA_INT.withName("flags"), sequenceLayout(4, JAVA_BYTE).withName("smi"),
            sequenceLayout(28, JAVA_BYTE).withName("reserved"), JAVA_LONG.withName("exception_payload"));

    /**
     * {@code struct kvm_fpu}: the x87 registers, fcw, fsw, ftwx, last opcode, ip and dp, the XMM registers and
     * MXCSR; 416 bytes.
     */
    static final StructLayout FPU = structLayout(
            sequenceLayout(128, JAVA_BYTE).withName("fpr"), JAVA_SHORT.withName("fcw"), JAVA_SHORT.withName("fsw"),
            JAVA_BYTE.withName("ftwx"), JAVA_BYTE.withName("pad1"), JAVA_SHORT.withName("last_opcode"),
            JAVA_LONG.withName("last_ip"), JAVA_LONG.withName("last_dp"), sequenceLayout(256, JAVA_BYTE).withName("xmm"),
            JAVA_INT.withName("mxcsr"), JAVA_INT.withName("pad2"));

    /** {@code struct kvm_translation}: 24 bytes. */
    static final StructLayout TRANSLATION = structLayout(
            JAVA_LONG.withName("linear_address"), JAVA_LONG.withName("physical_address"), JAVA_BYTE.withName("valid"),
            JAVA_BYTE.withName("writeable"), JAVA_BYTE.withName("usermode"), paddingLayout(5));

    /**
     * {@code struct kvm_guest_debug}: control ({@code KVM_GUESTDBG_*}), pad, then {@code struct
     * kvm_guest_debug_arch}: debugreg[8] (DR0-DR3 addresses, DR7 at index 7); 72 bytes.
     */
    static final StructLayout GUEST_DEBUG = structLayout(
            JAVA_INT.withName("control"), JAVA_INT.withName("pad"),
            sequenceLayout(8, JAVA_LONG).withName("debugreg"));

    /** {@code struct kvm_lapic_state}: the APIC register page as KVM keeps it; 1024 bytes. */
    static final StructLayout LAPIC = structLayout(sequenceLayout(1024, JAVA_BYTE).withName("regs"));

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

    static final long CPUID_FUNCTION = offset(CPUID_ENTRY, 0, "function");
    static final long CPUID_INDEX = offset(CPUID_ENTRY, 4, "index");
    static final long CPUID_FLAGS = offset(CPUID_ENTRY, 8, "flags");
    static final long CPUID_EAX = offset(CPUID_ENTRY, 12, "eax");
    static final long CPUID_EBX = offset(CPUID_ENTRY, 16, "ebx");
    static final long CPUID_ECX = offset(CPUID_ENTRY, 20, "ecx");
    static final long CPUID_EDX = offset(CPUID_ENTRY, 24, "edx");
    static final long CPUID_ENTRY_SIZE = size(CPUID_ENTRY, 40);
    /** offsetof(struct kvm_cpuid2, entries); the same header (u32 count, u32 pad) fronts kvm_msrs. */
    static final long CPUID2_ENTRIES = 8;
    static final long MSRS_ENTRIES = 8;
    /** offsetof(struct kvm_msr_list, indices). */
    static final long MSR_LIST_INDICES = 4;
    /** KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the entry applies to its index only. */
    static final int CPUID_FLAG_SIGNIFICANT_INDEX = 1;

    static final long MSR_INDEX = offset(MSR_ENTRY, 0, "index");
    static final long MSR_DATA = offset(MSR_ENTRY, 8, "data");
    static final long MSR_ENTRY_SIZE = size(MSR_ENTRY, 16);

    static final long IRQ_LEVEL_IRQ = offset(IRQ_LEVEL, 0, "irq");
    static final long IRQ_LEVEL_LEVEL = offset(IRQ_LEVEL, 4, "level");

    static final long IRQFD_FD = offset(IRQFD, 0, "fd");
    static final long IRQFD_GSI = offset(IRQFD, 4, "gsi");
    static final long IRQFD_FLAGS = offset(IRQFD, 8, "flags");
    static final long IRQFD_RESAMPLEFD = offset(IRQFD, 12, "resamplefd");
    static final long IRQFD_SIZE = size(IRQFD, 32);
    static final int IRQFD_FLAG_DEASSIGN = 1;
    /** KVM_IRQFD_FLAG_RESAMPLE: a level-triggered line, lowered at the guest's EOI, which signals resamplefd. */
    static final int IRQFD_FLAG_RESAMPLE = 2;

    static final long IOEVENTFD_DATAMATCH = offset(IOEVENTFD, 0, "datamatch");
    static final long IOEVENTFD_ADDR = offset(IOEVENTFD, 8, "addr");
    static final long IOEVENTFD_LEN = offset(IOEVENTFD, 16, "len");
    static final long IOEVENTFD_FD = offset(IOEVENTFD, 20, "fd");
    static final long IOEVENTFD_FLAGS = offset(IOEVENTFD, 24, "flags");
    static final long IOEVENTFD_SIZE = size(IOEVENTFD, 64);
    static final int IOEVENTFD_FLAG_DATAMATCH = 1;
    static final int IOEVENTFD_FLAG_PIO = 2;
    static final int IOEVENTFD_FLAG_DEASSIGN = 4;

    /** offsetof(struct kvm_irq_routing, entries), after u32 nr and u32 flags. */
    static final long ROUTING_ENTRIES = 8;
    static final long ROUTING_GSI = offset(ROUTING_ENTRY, 0, "gsi");
    static final long ROUTING_TYPE = offset(ROUTING_ENTRY, 4, "type");
    /** u.irqchip.irqchip and u.msi.address_lo share offset 16. */
    static final long ROUTING_IRQCHIP = offset(ROUTING_ENTRY, 16, "u_lo");
    static final long ROUTING_MSI_ADDRESS_LO = ROUTING_IRQCHIP;
    /** u.irqchip.pin and u.msi.address_hi share offset 20. */
    static final long ROUTING_PIN = offset(ROUTING_ENTRY, 20, "u_hi");
    static final long ROUTING_MSI_ADDRESS_HI = ROUTING_PIN;
    static final long ROUTING_MSI_DATA = offset(ROUTING_ENTRY, 24, "u_data");
    static final long ROUTING_ENTRY_SIZE = size(ROUTING_ENTRY, 48);
    static final int IRQ_ROUTING_IRQCHIP = 1;
    static final int IRQ_ROUTING_MSI = 2;
    /** KVM_MAX_IRQ_ROUTES (virt/kvm/irqchip.c is bounded by it; not in the uapi header). */
    static final int MAX_IRQ_ROUTES = 4096;

    static final long MSI_ADDRESS_LO = offset(MSI, 0, "address_lo");
    static final long MSI_ADDRESS_HI = offset(MSI, 4, "address_hi");
    static final long MSI_DATA = offset(MSI, 8, "data");
    static final long MSI_SIZE = size(MSI, 32);

    static final long IRQCHIP_ID = offset(IRQCHIP, 0, "chip_id");
    static final long IRQCHIP_CHIP = offset(IRQCHIP, 8, "chip");
    static final long IRQCHIP_SIZE = size(IRQCHIP, 520);
    static final long PIT_STATE2_FLAGS = offset(PIT_STATE2, 72, "flags");
    static final long PIT_STATE2_SIZE = size(PIT_STATE2, 112);
    static final long PIT_CONFIG_FLAGS = offset(PIT_CONFIG, 0, "flags");
    static final long PIT_CONFIG_SIZE = size(PIT_CONFIG, 64);
    static final long CLOCK_CLOCK = offset(CLOCK_DATA, 0, "clock");
    static final long CLOCK_FLAGS = offset(CLOCK_DATA, 8, "flags");
    static final long CLOCK_REALTIME = offset(CLOCK_DATA, 16, "realtime");
    static final long CLOCK_DATA_SIZE = size(CLOCK_DATA, 48);

    static final long TRANSLATION_LINEAR = offset(TRANSLATION, 0, "linear_address");
    static final long TRANSLATION_PHYSICAL = offset(TRANSLATION, 8, "physical_address");
    static final long TRANSLATION_VALID = offset(TRANSLATION, 16, "valid");
    static final long TRANSLATION_SIZE = size(TRANSLATION, 24);

    static final long XCRS_NR = offset(XCRS, 0, "nr_xcrs");
    static final long XCRS_SIZE = size(XCRS, 392);
    static final long EVENTS_EXCEPTION_INJECTED = offset(VCPU_EVENTS, 0, "exception_injected");
    static final long EVENTS_EXCEPTION_NR = offset(VCPU_EVENTS, 1, "exception_nr");
    static final long EVENTS_EXCEPTION_HAS_ERROR_CODE = offset(VCPU_EVENTS, 2, "exception_has_error_code");
    static final long EVENTS_EXCEPTION_PENDING = offset(VCPU_EVENTS, 3, "exception_pending");
    static final long EVENTS_EXCEPTION_ERROR_CODE = offset(VCPU_EVENTS, 4, "exception_error_code");
    static final long EVENTS_FLAGS = offset(VCPU_EVENTS, 20, "flags");
    static final long EVENTS_PAYLOAD = offset(VCPU_EVENTS, 56, "exception_payload");
    static final long VCPU_EVENTS_SIZE = size(VCPU_EVENTS, 64);
    static final long LAPIC_SIZE = size(LAPIC, 1024);
    static final long GUEST_DEBUG_CONTROL = offset(GUEST_DEBUG, 0, "control");
    static final long GUEST_DEBUG_DEBUGREG = offset(GUEST_DEBUG, 8, "debugreg");
    static final long GUEST_DEBUG_SIZE = size(GUEST_DEBUG, 72);
    static final long FPU_FSW = offset(FPU, 130, "fsw");
    static final long FPU_SIZE = size(FPU, 416);
    /** sizeof(struct kvm_xsave): the legacy KVM_GET_XSAVE buffer; KVM_CAP_XSAVE2 reports the size it needs. */
    static final int XSAVE_LEGACY_SIZE = 4096;

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
    static final long SREGS_CR2 = offset(SREGS, 232, "cr2");
    static final long SREGS_CR3 = offset(SREGS, 240, "cr3");
    static final long SREGS_CR4 = offset(SREGS, 248, "cr4");
    static final long SREGS_CR8 = offset(SREGS, 256, "cr8");
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
    static final long RUN_INTERNAL_NDATA = 36;
    static final long RUN_INTERNAL_DATA = 40;
    /** kvm_run.internal.data is a u64[16]. */
    static final int RUN_INTERNAL_DATA_MAX = 16;
    static final long RUN_FAIL_ENTRY_REASON = 32;
    static final long RUN_SYSTEM_EVENT_TYPE = 32;
    // kvm_run.debug.arch, struct kvm_debug_exit_arch (x86): exception, pad, pc, dr6, dr7.
    static final long RUN_DEBUG_EXCEPTION = 32;
    static final long RUN_DEBUG_PC = 40;
    static final long RUN_DEBUG_DR6 = 48;
    static final long RUN_DEBUG_DR7 = 56;
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
    static final long KVM_GET_MSR_INDEX_LIST = 0xC004AE02L;
    static final long KVM_GET_SUPPORTED_CPUID = 0xC008AE05L;
    static final long KVM_CREATE_IRQCHIP = 0xAE60L;
    static final long KVM_IRQ_LINE = 0x4008AE61L;
    static final long KVM_GET_IRQCHIP = 0xC208AE62L;
    static final long KVM_SET_IRQCHIP = 0x8208AE63L;
    static final long KVM_SET_GSI_ROUTING = 0x4008AE6AL;
    static final long KVM_IRQFD = 0x4020AE76L;
    static final long KVM_CREATE_PIT2 = 0x4040AE77L;
    static final long KVM_IOEVENTFD = 0x4040AE79L;
    static final long KVM_SET_CLOCK = 0x4030AE7BL;
    static final long KVM_GET_CLOCK = 0x8030AE7CL;
    static final long KVM_GET_PIT2 = 0x8070AE9FL;
    static final long KVM_SET_PIT2 = 0x4070AEA0L;
    static final long KVM_SIGNAL_MSI = 0x4020AEA5L;
    static final long KVM_TRANSLATE = 0xC018AE85L;
    static final long KVM_GET_FPU = 0x81A0AE8CL;
    static final long KVM_GET_MSRS = 0xC008AE88L;
    static final long KVM_SET_MSRS = 0x4008AE89L;
    static final long KVM_GET_LAPIC = 0x8400AE8EL;
    static final long KVM_SET_LAPIC = 0x4400AE8FL;
    static final long KVM_SET_CPUID2 = 0x4008AE90L;
    static final long KVM_GET_CPUID2 = 0xC008AE91L;
    static final long KVM_GET_MP_STATE = 0x8004AE98L;
    static final long KVM_SET_MP_STATE = 0x4004AE99L;
    static final long KVM_GET_VCPU_EVENTS = 0x8040AE9FL;
    static final long KVM_SET_VCPU_EVENTS = 0x4040AEA0L;
    static final long KVM_GET_XSAVE = 0x9000AEA4L;
    static final long KVM_SET_XSAVE = 0x5000AEA5L;
    static final long KVM_GET_XCRS = 0x8188AEA6L;
    static final long KVM_SET_XCRS = 0x4188AEA7L;
    static final long KVM_GET_XSAVE2 = 0x9000AECFL;
    /** _IOW(KVMIO, 0x9b, struct kvm_guest_debug). */
    static final long KVM_SET_GUEST_DEBUG = 0x4048AE9BL;

    static final int KVM_API_VERSION = 12;
    /** errno E2BIG: a KVM_GET_* list buffer is too small. */
    static final int E2BIG = 7;
    // KVM_CAP_*
    static final int CAP_USER_MEMORY = 3;
    static final int CAP_SET_TSS_ADDR = 4;
    static final int CAP_EXT_CPUID = 7;
    static final int CAP_IMMEDIATE_EXIT = 136;
    static final int CAP_IRQCHIP = 0;
    static final int CAP_MP_STATE = 14;
    static final int CAP_IRQ_ROUTING = 25;
    static final int CAP_IRQFD = 32;
    static final int CAP_PIT2 = 33;
    static final int CAP_IOEVENTFD = 36;
    static final int CAP_ADJUST_CLOCK = 39;
    static final int CAP_VCPU_EVENTS = 41;
    static final int CAP_XSAVE = 55;
    static final int CAP_XCRS = 56;
    static final int CAP_SIGNAL_MSI = 77;
    static final int CAP_IRQFD_RESAMPLE = 82;
    static final int CAP_XSAVE2 = 208;

    private KvmLayout() {
    }

    private static long offset(StructLayout layout, long headerValue, String field) {
        return HeaderLayouts.offset("kvm.h", layout, headerValue, field);
    }

    private static long size(MemoryLayout layout, long headerSize) {
        return HeaderLayouts.size("kvm.h", layout, headerSize);
    }
}
