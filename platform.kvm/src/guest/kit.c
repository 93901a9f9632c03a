/* Serial console, printf and the freestanding string helpers. */
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

void halt_forever(void) {
    for (;;) {
        __asm__ volatile("cli; hlt" : : : "memory");
    }
}

void panic(const char *msg) {
    kprintf("PANIC: %s\n", msg);
    halt_forever();
}

void *memcpy(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) {
        *d++ = *s++;
    }
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    unsigned char *d = dst;
    while (n--) {
        *d++ = (unsigned char)c;
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++) {
        if (*x != *y) {
            return *x < *y ? -1 : 1;
        }
    }
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) {
        n++;
    }
    return n;
}

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

const char *strstr(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (; *haystack; haystack++) {
        if (memcmp(haystack, needle, n) == 0) {
            return haystack;
        }
    }
    return n == 0 ? haystack : NULL;
}
