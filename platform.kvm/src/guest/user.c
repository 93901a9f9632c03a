/*
 * CPL 3 for the kit (user.S runs a function there): a GDT with user segments and a 64-bit TSS, every identity-mapped
 * page marked user, and a #UD handler to come back by. The GDT keeps our boot GDT's kernel selectors (0x10 code,
 * 0x18 data), so nothing loaded before changes meaning. References: Intel SDM vol. 3A, 3.4.5 "Segment Descriptors",
 * 7.2.3 "TSS Descriptor in 64-bit mode", 7.7 "Task Management in 64-bit Mode", 4.5 "4-Level Paging" (U/S, bit 2).
 */
#include "kit.h"

#define VECTOR_UD 6
#define TSS_SELECTOR 0x30
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

static struct tss64 tss __attribute__((aligned(16)));
static uint8_t interrupt_stack[16384] __attribute__((aligned(16)));
static uint64_t gdt[8] __attribute__((aligned(16)));
static bool ready;

extern uint64_t user_kernel_rsp;
extern const char user_resume[], user_return_point[];

/* Back from user_call: IRETQ to user_resume at CPL 0 on user_call's stack, with the result in RAX. Any other #UD
 * is a fault, reported as the dispatcher reports one. */
static void on_invalid_opcode(struct interrupt_frame *frame) {
    if (frame->rip != (uint64_t)(uintptr_t)user_return_point || (frame->cs & 3) != 3) {
        kprintf("EXCEPTION vector=%lu rip=0x%lx error=0x%lx\n", frame->vector, frame->rip, frame->error);
        halt_forever();
    }
    frame->rip = (uint64_t)(uintptr_t)user_resume;
    frame->cs = 0x10;
    frame->ss = 0x18;
    frame->rsp = user_kernel_rsp;
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

void user_init(void) {
    if (ready) {
        return;
    }
    gdt[2] = 0x00AF9B000000FFFFull; /* 0x10: 64-bit code, DPL 0 */
    gdt[3] = 0x00CF93000000FFFFull; /* 0x18: data, DPL 0 */
    gdt[4] = 0x00CFF3000000FFFFull; /* 0x20: data, DPL 3 */
    gdt[5] = 0x00AFFB000000FFFFull; /* 0x28: 64-bit code, DPL 3 */
    uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof tss - 1;
    gdt[6] = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x89ull << 40 /* present, DPL 0, available 64-bit TSS */
             | ((limit >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56;
    gdt[7] = base >> 32;
    tss.rsp[0] = (uint64_t)(uintptr_t)(interrupt_stack + sizeof interrupt_stack);
    tss.iomap_base = sizeof tss; /* no I/O bitmap: IOPL alone decides */
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) p = {.limit = sizeof gdt - 1, .base = (uint64_t)(uintptr_t)gdt};
    __asm__ volatile("lgdt %0" : : "m"(p) : "memory");
    __asm__ volatile("ltr %w0" : : "r"((uint16_t)TSS_SELECTOR) : "memory");
    mark_user(read_cr3() & PTE_ADDRESS, 4);
    __asm__ volatile("mov %0, %%cr3" : : "r"(read_cr3()) : "memory"); /* flush the TLB */
    idt_set_handler(VECTOR_UD, on_invalid_opcode);
    ready = true;
}
