/*
 * Interrupts from both timers: the local APIC timer in periodic mode (calibrated against the PIT), then PIT
 * channel 0 at 100 Hz through the I/O APIC pin the MADT's interrupt source override names for ISA IRQ 0.
 * Prints "timer: N ticks" and "pit: N ticks" (N >= 5 when all is well), then powers off through ACPI.
 */
#include "kit.h"

#define PIT_VECTOR 0x30
#define TIMER_VECTOR 0x40
#define WANTED_TICKS 5
#define TIMEOUT_MS 2000

static volatile uint32_t timer_ticks, pit_ticks;

static void on_timer(struct interrupt_frame *frame) {
    (void)frame;
    timer_ticks++;
    lapic_eoi();
}

static void on_pit(struct interrupt_frame *frame) {
    (void)frame;
    pit_ticks++;
    lapic_eoi();
}

/* Lets interrupts in until *ticks reaches WANTED_TICKS or the time-out passes; returns the count. */
static uint32_t wait_for_ticks(volatile uint32_t *ticks) {
    uint64_t deadline = tsc_us() + TIMEOUT_MS * 1000ull;
    sti();
    while (*ticks < WANTED_TICKS && tsc_us() < deadline) {
        cpu_relax();
    }
    cli();
    return *ticks;
}

int main(void) {
    const struct acpi_info *a = acpi_init();
    idt_init();
    lapic_enable();
    time_init();
    idt_set_handler(TIMER_VECTOR, on_timer);
    idt_set_handler(PIT_VECTOR, on_pit);

    /* Local APIC timer: periodic every 10 ms. */
    uint32_t per_ms = lapic_timer_calibrate(16);
    lapic_timer_periodic(TIMER_VECTOR, per_ms * 10, 16);
    uint32_t n = wait_for_ticks(&timer_ticks);
    lapic_timer_stop();
    kprintf("timer: %u ticks\n", n);

    /* PIT: ISA IRQ 0 arrives at the GSI of the MADT's override (ACPI 6.5, 5.2.12.5), with its polarity and
     * trigger mode (MPS INTI flags: bits 1:0 polarity, 11 = active low; bits 3:2 trigger, 11 = level; 00 =
     * conforming to the ISA bus, i.e. active high and edge). */
    unsigned pin = a->isa_irq0_gsi - a->ioapic_gsi_base;
    bool active_low = (a->isa_irq0_flags & 3) == 3;
    bool level = ((a->isa_irq0_flags >> 2) & 3) == 3;
    ioapic_route(pin, PIT_VECTOR, lapic_id(), active_low, level, false);
    pit_periodic(100);
    n = wait_for_ticks(&pit_ticks);
    ioapic_mask(pin, true);
    pit_stop();
    kprintf("pit: %u ticks\n", n);

    poweroff();
    kprintf("poweroff: FAILED\n");
    return 0;
}
