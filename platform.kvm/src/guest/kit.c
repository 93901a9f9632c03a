#include "kit.h"

/* Line status register bit 5: the transmit holding register is empty (16550 datasheet). */
#define LSR_THRE 0x20

void serial_putc(char c) {
    while (!(inb(COM1 + 5) & LSR_THRE)) {
    }
    outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s) {
    while (*s) {
        serial_putc(*s++);
    }
}

static void put_unsigned(unsigned long v, unsigned base) {
    char buf[24];
    int i = 0;
    do {
        unsigned d = (unsigned)(v % base);
        buf[i++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    while (i) {
        serial_putc(buf[--i]);
    }
}

static void put_signed(long v) {
    if (v < 0) {
        serial_putc('-');
        put_unsigned((unsigned long)0 - (unsigned long)v, 10);
    } else {
        put_unsigned((unsigned long)v, 10);
    }
}

void kprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            serial_putc(*fmt);
            continue;
        }
        int is_long = 0;
        if (*++fmt == 'l') {
            is_long = 1;
            fmt++;
        }
        switch (*fmt) {
        case 's': serial_puts(va_arg(ap, const char *)); break;
        case 'c': serial_putc((char)va_arg(ap, int)); break;
        case 'd': put_signed(is_long ? va_arg(ap, long) : va_arg(ap, int)); break;
        case 'u': put_unsigned(is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10); break;
        case 'x': put_unsigned(is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16); break;
        case '%': serial_putc('%'); break;
        case '\0': fmt--; break;
        default: serial_putc('?'); break;
        }
    }
    va_end(ap);
}
