/* The test-guest kit: port IO, a 16550 serial console on COM1, and a small printf. */
#ifndef KIT_H
#define KIT_H

#include <stdarg.h>
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t value) {
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t inb(uint16_t port) {
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

#define COM1 0x3F8

void serial_putc(char c);
void serial_puts(const char *s);
/* %s %c %d %u %x %lx %lu %ld %% — enough for test output. */
void kprintf(const char *fmt, ...);

#endif
