/*
 * A 256-entry IDT of 64-bit interrupt gates (Intel SDM vol. 3A, 6.14.1 "64-Bit Mode IDT"), all entering the stubs
 * of isr.S, which call isr_dispatch. Exceptions without a handler print and halt; so do unexpected interrupts.
 */
#include "kit.h"

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;       /* bits 2:0: interrupt stack table index, 0 = none */
    uint8_t type_attr; /* P (bit 7), DPL (6:5), type (3:0): 0xE = 64-bit interrupt gate */
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
} __attribute__((packed));

struct idt_pointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

extern const uint64_t isr_stub_table[256];

static struct idt_gate idt[256] __attribute__((aligned(16)));
static interrupt_handler handlers[256];

void idt_init(void) {
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    for (int v = 0; v < 256; v++) {
        uint64_t target = isr_stub_table[v];
        idt[v] = (struct idt_gate){
            .offset_low = (uint16_t)target,
            .selector = cs,
            .ist = 0,
            .type_attr = 0x8E, /* present, DPL 0, 64-bit interrupt gate (IF cleared on entry) */
            .offset_mid = (uint16_t)(target >> 16),
            .offset_high = (uint32_t)(target >> 32),
            .reserved = 0,
        };
    }
    idt_load();
}

void idt_load(void) {
    struct idt_pointer p = {.limit = sizeof idt - 1, .base = (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

void idt_set_handler(uint8_t vector, interrupt_handler handler) {
    handlers[vector] = handler;
}

void isr_dispatch(struct interrupt_frame *frame);

void isr_dispatch(struct interrupt_frame *frame) {
    interrupt_handler h = handlers[frame->vector & 0xFF];
    if (h) {
        h(frame);
        return;
    }
    if (frame->vector == SPURIOUS_VECTOR) {
        return; /* a spurious local APIC interrupt needs no EOI (SDM vol. 3A, APIC chapter, "Spurious Interrupt") */
    }
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    kprintf("EXCEPTION vector=%lu rip=0x%lx error=0x%lx cr2=0x%lx\n", frame->vector, frame->rip, frame->error, cr2);
    halt_forever();
}
