/*
 * The 8254 programmable interval timer (Intel 8254 datasheet; PC ports 0x40-0x43, 1.193182 MHz input clock), used
 * for short busy-wait delays (channel 0 in mode 0, polled through the read-back command's OUT status) and as a
 * periodic interrupt source (channel 0 in mode 2, ISA IRQ 0). The TSC is calibrated against it, for time-outs.
 */
#include "kit.h"

#define PIT_CH0 0x40
#define PIT_CMD 0x43
/* Control word: counter 0 (bits 7:6 = 00), LSB then MSB (bits 5:4 = 11), mode in bits 3:1, binary. */
#define PIT_CH0_MODE0 0x30
#define PIT_CH0_MODE2 0x34
/* Read-back command (bits 7:6 = 11): COUNT# = 1 (no count latch), STATUS# = 0 (latch status), counter 0 (bit 1). */
#define PIT_READBACK_STATUS_CH0 0xE2
/* Status byte bit 7: the counter's OUT pin. */
#define PIT_STATUS_OUT 0x80

static uint64_t tsc_per_ms;

static void pit_oneshot_wait(uint16_t count) {
    outb(PIT_CMD, PIT_CH0_MODE0);
    outb(PIT_CH0, (uint8_t)count);
    outb(PIT_CH0, (uint8_t)(count >> 8));
    /* Mode 0: OUT goes low when the mode is set and high at terminal count. */
    for (;;) {
        outb(PIT_CMD, PIT_READBACK_STATUS_CH0);
        if (inb(PIT_CH0) & PIT_STATUS_OUT) {
            return;
        }
    }
}

void pit_delay_us(uint32_t us) {
    uint64_t ticks = (uint64_t)us * PIT_HZ / 1000000;
    while (ticks) {
        uint16_t chunk = ticks > 0xFFFF ? 0xFFFF : (uint16_t)ticks;
        if (chunk < 2) {
            chunk = 2;
        }
        pit_oneshot_wait(chunk);
        ticks -= ticks > 0xFFFF ? 0xFFFF : ticks;
    }
}

void pit_periodic(uint32_t hz) {
    uint32_t count = PIT_HZ / hz;
    if (count > 0xFFFF) {
        count = 0; /* 0 means 65536 */
    }
    outb(PIT_CMD, PIT_CH0_MODE2);
    outb(PIT_CH0, (uint8_t)count);
    outb(PIT_CH0, (uint8_t)(count >> 8));
}

void pit_stop(void) {
    /* Mode 0 with the longest count: it reaches terminal count once (~55 ms) and is not re-armed. */
    outb(PIT_CMD, PIT_CH0_MODE0);
    outb(PIT_CH0, 0);
    outb(PIT_CH0, 0);
}

void time_init(void) {
    if (tsc_per_ms) {
        return;
    }
    uint64_t t0 = rdtsc();
    pit_delay_us(20000);
    uint64_t t1 = rdtsc();
    tsc_per_ms = (t1 - t0) / 20;
    if (tsc_per_ms == 0) {
        tsc_per_ms = 1;
    }
}

uint64_t tsc_us(void) {
    uint64_t t = rdtsc();
    return t / tsc_per_ms * 1000 + t % tsc_per_ms * 1000 / tsc_per_ms;
}
