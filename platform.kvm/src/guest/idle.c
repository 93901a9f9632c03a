/*
 * An idle guest for density measurements: prints "idle: up", then halts with interrupts on, woken only by its
 * local APIC timer, idle.hz times a second (10 by default). With idle.io=N it also prints "idle: tick T" every N ticks
 * (light serial IO). Runs until the VMM stops it.
 */
#include "kit.h"

#define TICK_VECTOR 0x40

static volatile uint64_t ticks;

static void on_tick(struct interrupt_frame *frame) {
    (void)frame;
    ticks++;
    lapic_eoi();
}

int main(void) {
    uint64_t hz = cmdline_number("idle.hz", 10);
    uint64_t io = cmdline_number("idle.io", 0);
    if (hz < 1 || hz > 1000) {
        hz = 10;
    }
    idt_init();
    lapic_enable();
    idt_set_handler(TICK_VECTOR, on_tick);
    uint32_t per_ms = lapic_timer_calibrate(16);
    kprintf("idle: up\n");
    lapic_timer_periodic(TICK_VECTOR, per_ms * (uint32_t)(1000 / hz), 16);
    uint64_t seen = 0;
    for (;;) {
        sti_hlt();
        cli();
        if (io != 0 && ticks != seen && ticks % io == 0) {
            kprintf("idle: tick %lu\n", (unsigned long)ticks);
        }
        seen = ticks;
    }
}
