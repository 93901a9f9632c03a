/*
 * The local APIC in xAPIC (MMIO) mode and the I/O APIC. References: Intel SDM vol. 3A, chapter "Advanced
 * Programmable Interrupt Controller (APIC)" (local APIC register map, "Spurious-Interrupt Vector Register",
 * "APIC Timer", "Interrupt Command Register (ICR)", "Local Vector Table"); and the Intel 82093AA I/O APIC
 * datasheet (IOREGSEL/IOWIN, IOAPICVER, IOREDTBL).
 */
#include "kit.h"

#define IA32_APIC_BASE_MSR 0x1B
#define APIC_BASE_ENABLE (1u << 11)

/* Local APIC register offsets. */
#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0B0
#define LAPIC_SVR 0x0F0
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3E0

#define SVR_APIC_ENABLE (1u << 8)
#define LVT_MASKED (1u << 16)
#define LVT_TIMER_PERIODIC (1u << 17) /* timer mode bits 18:17 = 01; 00 is one-shot */

#define ICR_DELIVERY_INIT (5u << 8)
#define ICR_DELIVERY_STARTUP (6u << 8)
#define ICR_DELIVERY_PENDING (1u << 12) /* delivery status: send pending */
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_TRIGGER_LEVEL (1u << 15)

/* I/O APIC: an index register and a data window; redirection entry n is registers 0x10 + 2n (low), + 1 (high). */
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WINDOW 0x10
#define IOAPIC_VER 0x01
#define IOREDTBL(pin) (0x10 + 2 * (pin))
#define IORED_POLARITY_LOW (1u << 13)
#define IORED_TRIGGER_LEVEL (1u << 15)
#define IORED_MASKED (1u << 16)

/* The legacy 8259 PICs' data ports: outside an initialization sequence a write there sets the mask (OCW1). */
#define PIC1_DATA 0x21
#define PIC2_DATA 0xA1

static uint64_t rdmsr(uint32_t msr) {
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

static void wrmsr(uint32_t msr, uint64_t value) {
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

/* The local APIC's base from IA32_APIC_BASE (bits 12 and up); the same on every CPU here. */
static uint64_t lapic_base(void) {
    uint64_t base = rdmsr(IA32_APIC_BASE_MSR) & 0x000FFFFFFFFFF000ull;
    return base ? base : LAPIC_DEFAULT_BASE;
}

static uint32_t lapic_read(uint32_t reg) {
    return mmio_read32(lapic_base() + reg);
}

static void lapic_write(uint32_t reg, uint32_t value) {
    mmio_write32(lapic_base() + reg, value);
}

void lapic_enable(void) {
    uint64_t msr = rdmsr(IA32_APIC_BASE_MSR);
    if (!(msr & APIC_BASE_ENABLE)) {
        wrmsr(IA32_APIC_BASE_MSR, msr | APIC_BASE_ENABLE);
    }
    /* Everything arrives through the I/O APIC or the local timer: mask the 8259s and LINT0 (virtual wire). */
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
    lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_SVR, SVR_APIC_ENABLE | SPURIOUS_VECTOR);
}

void lapic_eoi(void) {
    lapic_write(LAPIC_EOI, 0);
}

uint8_t lapic_id(void) {
    return (uint8_t)(lapic_read(LAPIC_ID) >> 24);
}

/* Divide configuration register bits 3,1,0: 000 = 2, 001 = 4, ... 110 = 128, 111 = 1. */
static uint32_t divide_bits(unsigned divide) {
    unsigned e = 7; /* divide by 1 */
    for (unsigned d = 2, i = 0; d <= 128; d <<= 1, i++) {
        if (divide == d) {
            e = i;
        }
    }
    return (e & 3) | (e & 4) << 1;
}

static void timer_start(uint32_t lvt, uint32_t count, unsigned divide) {
    lapic_write(LAPIC_TIMER_INITIAL, 0); /* stops a running timer */
    lapic_write(LAPIC_TIMER_DIVIDE, divide_bits(divide));
    lapic_write(LAPIC_LVT_TIMER, lvt);
    lapic_write(LAPIC_TIMER_INITIAL, count); /* writing the initial count starts it */
}

void lapic_timer_oneshot(uint8_t vector, uint32_t count, unsigned divide) {
    timer_start(vector, count, divide);
}

void lapic_timer_periodic(uint8_t vector, uint32_t count, unsigned divide) {
    timer_start(LVT_TIMER_PERIODIC | vector, count, divide);
}

void lapic_timer_stop(void) {
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
    lapic_write(LAPIC_TIMER_INITIAL, 0);
}

uint32_t lapic_timer_current(void) {
    return lapic_read(LAPIC_TIMER_CURRENT);
}

uint32_t lapic_timer_calibrate(unsigned divide) {
    /* A masked one-shot count-down from the top, timed over 10 ms of PIT. */
    timer_start(LVT_MASKED, 0xFFFFFFFFu, divide);
    pit_delay_us(10000);
    uint32_t left = lapic_timer_current();
    lapic_timer_stop();
    uint32_t per_ms = (0xFFFFFFFFu - left) / 10;
    return per_ms ? per_ms : 1;
}

/* Waits (bounded) until the ICR's delivery status reads idle. */
static bool icr_idle(void) {
    for (int i = 0; i < 1000000; i++) {
        if (!(lapic_read(LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING)) {
            return true;
        }
        cpu_relax();
    }
    return false;
}

static bool send_ipi(uint8_t apic_id, uint32_t low) {
    if (!icr_idle()) {
        return false;
    }
    lapic_write(LAPIC_ESR, 0);
    lapic_write(LAPIC_ICR_HIGH, (uint32_t)apic_id << 24); /* destination field, bits 63:56 */
    lapic_write(LAPIC_ICR_LOW, low);                      /* writing the low half sends it */
    return icr_idle();
}

bool lapic_send_init(uint8_t apic_id) {
    /* INIT level assert, then de-assert (older processors need the de-assert; newer ones ignore it). */
    bool ok = send_ipi(apic_id, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL);
    return send_ipi(apic_id, ICR_DELIVERY_INIT | ICR_TRIGGER_LEVEL) && ok;
}

bool lapic_send_sipi(uint8_t apic_id, uint8_t vector) {
    /* The AP starts in real mode at CS:IP = (vector << 8):0000, i.e. physical vector << 12. */
    return send_ipi(apic_id, ICR_DELIVERY_STARTUP | ICR_LEVEL_ASSERT | vector);
}

static uint64_t ioapic_base(void) {
    const struct acpi_info *a = acpi_init();
    return a->have_madt && a->ioapic_base ? a->ioapic_base : IOAPIC_DEFAULT_BASE;
}

static uint32_t ioapic_read(uint32_t reg) {
    uint64_t base = ioapic_base();
    mmio_write32(base + IOAPIC_REGSEL, reg);
    return mmio_read32(base + IOAPIC_WINDOW);
}

static void ioapic_write(uint32_t reg, uint32_t value) {
    uint64_t base = ioapic_base();
    mmio_write32(base + IOAPIC_REGSEL, reg);
    mmio_write32(base + IOAPIC_WINDOW, value);
}

unsigned ioapic_pins(void) {
    return ((ioapic_read(IOAPIC_VER) >> 16) & 0xFF) + 1; /* bits 23:16: maximum redirection entry */
}

void ioapic_route(unsigned pin, uint8_t vector, uint8_t apic_id, bool active_low, bool level, bool masked) {
    uint32_t low = vector; /* fixed delivery (bits 10:8 = 000), physical destination mode (bit 11 = 0) */
    if (active_low) {
        low |= IORED_POLARITY_LOW;
    }
    if (level) {
        low |= IORED_TRIGGER_LEVEL;
    }
    if (masked) {
        low |= IORED_MASKED;
    }
    /* Mask first, so that the entry never fires half-written. */
    ioapic_write(IOREDTBL(pin), IORED_MASKED);
    ioapic_write(IOREDTBL(pin) + 1, (uint32_t)apic_id << 24); /* destination, bits 63:56 */
    ioapic_write(IOREDTBL(pin), low);
}

void ioapic_mask(unsigned pin, bool masked) {
    uint32_t low = ioapic_read(IOREDTBL(pin));
    ioapic_write(IOREDTBL(pin), masked ? low | IORED_MASKED : low & ~IORED_MASKED);
}
