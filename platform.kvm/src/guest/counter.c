/*
 * A guest whose output depends only on its own progress: it counts LAPIC timer interrupts and prints one line
 * per tick, then powers off. The save/restore test stops it mid-count, saves, restores into a fresh partition
 * and checks that the two halves of the output join into exactly the uninterrupted sequence: RAM, registers and
 * the LAPIC timer (else no more ticks arrive) all came across.
 */
#include "kit.h"

#define TICK_VECTOR 0x40
#define TICKS 40

static volatile unsigned ticks;

static void on_tick(struct interrupt_frame *frame) {
    (void)frame;
    ticks++;
    lapic_eoi();
}

int main(void) {
    idt_init();
    lapic_enable();
    idt_set_handler(TICK_VECTOR, on_tick);
    uint32_t per_ms = lapic_timer_calibrate(16);
    kprintf("counter: start\n");
    lapic_timer_periodic(TICK_VECTOR, per_ms * 5, 16);
    unsigned seen = 0;
    while (seen < TICKS) {
        sti_hlt();
        cli();
        while (seen < ticks && seen < TICKS) {
            seen++;
            kprintf("tick %u\n", seen);
        }
    }
    lapic_timer_stop();
    kprintf("counter: done\n");
    poweroff();
    return 1;
}
