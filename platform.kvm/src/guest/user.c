/*
 * CPL 3 for the kit (user.S runs a function there), on every CPU that asks: a GDT with user segments and one 64-bit
 * TSS per CPU, every identity-mapped page marked user, and a #UD handler to come back by. The GDT keeps our boot
 * GDT's kernel selectors (0x10 code, 0x18 data; the AP trampoline uses the same), so nothing loaded before changes
 * meaning. References: Intel SDM vol. 3A, 3.4.5 "Segment Descriptors", 7.2.3 "TSS Descriptor in 64-bit mode",
 * 7.7 "Task Management in 64-bit Mode", 4.5 "4-Level Paging" (U/S, bit 2).
 *
 * Per CPU (struct user_cpu, a slot given out in the order CPUs call user_init): a TSS whose RSP0 is that CPU's
 * interrupt stack, the CPU's kernel stack pointer saved by user_call, and its user stack. user_call finds its slot
 * from the local APIC ID (an MMIO read at CPL 0, once a call); the #UD handler from the interrupt stack it runs
 * on, which the CPU took from that CPU's TSS on the way in from CPL 3.
 *
 * What a software KVM (kvm_pvm) does with this: CPL 3 code runs natively while CPL 0 is emulated; it ignores IOPL
 * (port IO at CPL 3 raises #GP), answers INT n at CPL 3 with #UD, and honours the TSS's RSP0 on the way in; hence
 * the way back is a UD2 at a known address (user.S).
 */
#include "kit.h"

#define VECTOR_UD 6
#define KERNEL_CS 0x10
#define TSS_SELECTOR_FIRST 0x30 /* CPU slot i: 0x30 + 16 * i (a 64-bit TSS descriptor takes two GDT entries) */
#define USER_MAX_CPUS 8
#define USER_STACK_BYTES 16384
#define PTE_PRESENT 0x1ull
#define PTE_USER 0x4ull
#define PTE_LARGE 0x80ull
#define PTE_ADDRESS 0x000FFFFFFFFFF000ull

struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

_Static_assert(sizeof(struct tss64) == 104, "the 64-bit TSS is 104 bytes");

struct user_cpu {
    struct tss64 tss __attribute__((aligned(16)));
    uint64_t kernel_rsp; /* user_call's stack, where the #UD handler resumes it */
    uint8_t interrupt_stack[USER_STACK_BYTES] __attribute__((aligned(16)));
    uint8_t user_stack[USER_STACK_BYTES] __attribute__((aligned(16)));
};

static struct user_cpu cpus[USER_MAX_CPUS];
static uint64_t gdt[6 + 2 * USER_MAX_CPUS] __attribute__((aligned(16)));
static uint8_t slot_of_apic[256]; /* slot + 1 of the CPU with that local APIC ID, 0 before its user_init */
static uint32_t slots_taken;
static uint32_t shared_state; /* 0 nothing, 1 being set up by one CPU, 2 the GDT's user part, pages and handler set */

extern const char user_resume[], user_return_point[];
uint64_t user_enter(uint64_t (*fn)(uint64_t), uint64_t arg, uint64_t *kernel_rsp, void *user_stack_top);

/* The CPU whose interrupt stack holds frame, or NULL (an exception at CPL 0 runs on the interrupted stack). */
static struct user_cpu *cpu_of_frame(const struct interrupt_frame *frame) {
    uintptr_t at = (uintptr_t)frame;
    for (unsigned i = 0; i < USER_MAX_CPUS; i++) {
        uintptr_t low = (uintptr_t)cpus[i].interrupt_stack;
        if (at >= low && at < low + USER_STACK_BYTES) {
            return &cpus[i];
        }
    }
    return NULL;
}

/* Back from user_call: IRETQ to user_resume at CPL 0 on user_call's stack, with the result in RAX. Any other #UD
 * is a fault, reported as the dispatcher reports one. */
static void on_invalid_opcode(struct interrupt_frame *frame) {
    struct user_cpu *cpu = cpu_of_frame(frame);
    if (frame->rip != (uint64_t)(uintptr_t)user_return_point || (frame->cs & 3) != 3 || !cpu) {
        kprintf("EXCEPTION vector=%lu rip=0x%lx error=0x%lx\n", frame->vector, frame->rip, frame->error);
        halt_forever();
    }
    frame->rip = (uint64_t)(uintptr_t)user_resume;
    frame->cs = KERNEL_CS;
    frame->ss = 0x18;
    frame->rsp = cpu->kernel_rsp;
    frame->rflags = 0x2; /* interrupts stay off until user_resume's POPFQ restores the caller's flags */
}

/* Sets U/S on every present entry of the current identity map, down to its 2 MiB (or 4 KiB) pages. */
static void mark_user(uint64_t table, int level) {
    uint64_t *e = (uint64_t *)(uintptr_t)table;
    for (int i = 0; i < 512; i++) {
        if (!(e[i] & PTE_PRESENT)) {
            continue;
        }
        e[i] |= PTE_USER;
        if (level > 1 && !(level < 4 && (e[i] & PTE_LARGE))) {
            mark_user(e[i] & PTE_ADDRESS, level - 1);
        }
    }
}

/* What every CPU shares, set up by the first to call user_init while any others wait. */
static void shared_init(void) {
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&shared_state, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&shared_state, __ATOMIC_ACQUIRE) != 2) {
            cpu_relax();
        }
        return;
    }
    gdt[2] = 0x00AF9B000000FFFFull; /* 0x10: 64-bit code, DPL 0 */
    gdt[3] = 0x00CF93000000FFFFull; /* 0x18: data, DPL 0 */
    gdt[4] = 0x00CFF3000000FFFFull; /* 0x20: data, DPL 3 */
    gdt[5] = 0x00AFFB000000FFFFull; /* 0x28: 64-bit code, DPL 3 */
    mark_user(read_cr3() & PTE_ADDRESS, 4);
    idt_set_handler(VECTOR_UD, on_invalid_opcode);
    __atomic_store_n(&shared_state, 2, __ATOMIC_RELEASE);
}

void user_init(void) {
    uint8_t apic = lapic_id();
    if (__atomic_load_n(&slot_of_apic[apic], __ATOMIC_ACQUIRE)) {
        return;
    }
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    if (cs != KERNEL_CS) {
        kprintf("user_init: CS is 0x%x, not the kit's 0x%x\n", cs, KERNEL_CS);
        halt_forever();
    }
    shared_init();
    uint32_t slot = __atomic_fetch_add(&slots_taken, 1, __ATOMIC_RELAXED);
    if (slot >= USER_MAX_CPUS) {
        kprintf("user_init: more than %u CPUs\n", USER_MAX_CPUS);
        halt_forever();
    }
    struct user_cpu *cpu = &cpus[slot];
    uint64_t base = (uint64_t)(uintptr_t)&cpu->tss, limit = sizeof cpu->tss - 1;
    gdt[6 + 2 * slot] = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x89ull << 40 /* present, DPL 0, available */
                        | ((limit >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56;
    gdt[7 + 2 * slot] = base >> 32;
    cpu->tss.rsp[0] = (uint64_t)(uintptr_t)(cpu->interrupt_stack + USER_STACK_BYTES);
    cpu->tss.iomap_base = sizeof cpu->tss; /* no I/O bitmap: IOPL alone decides */
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) p = {.limit = sizeof gdt - 1, .base = (uint64_t)(uintptr_t)gdt};
    __asm__ volatile("lgdt %0" : : "m"(p) : "memory");
    idt_load(); /* an AP has had no IDT; on the first CPU this loads the same table again */
    __asm__ volatile("ltr %w0" : : "r"((uint16_t)(TSS_SELECTOR_FIRST + 16 * slot)) : "memory");
    /* Flushes the TLB: on this CPU the user pages may be cached from before another CPU marked them. */
    __asm__ volatile("mov %0, %%cr3" : : "r"(read_cr3()) : "memory");
    __atomic_store_n(&slot_of_apic[apic], (uint8_t)(slot + 1), __ATOMIC_RELEASE);
}

uint64_t user_call(uint64_t (*fn)(uint64_t), uint64_t arg) {
    uint8_t slot = __atomic_load_n(&slot_of_apic[lapic_id()], __ATOMIC_ACQUIRE);
    if (!slot) {
        kprintf("user_call: user_init has not run on this CPU\n");
        halt_forever();
    }
    struct user_cpu *cpu = &cpus[slot - 1];
    return user_enter(fn, arg, &cpu->kernel_rsp, cpu->user_stack + USER_STACK_BYTES);
}
