/*
 * The Linux boot_params "zero page" (Documentation/arch/x86/zero-page.rst, struct boot_params): the e820 table,
 * the ACPI RSDP address and the command line, at the offsets the x86 boot protocol fixes; and "key=value" words
 * of the command line, for guests that take options.
 */
#include "kit.h"

#define BP_ACPI_RSDP_ADDR 0x070     /* u64 */
#define BP_EXT_CMD_LINE_PTR 0x0C8   /* u32: bits 63:32 of the command line's address */
#define BP_E820_ENTRIES 0x1E8       /* u8 */
#define BP_CMD_LINE_PTR 0x228       /* u32, in the setup header */
#define BP_E820_TABLE 0x2D0         /* 128 entries of 20 bytes */
#define E820_MAX_ENTRIES 128

static const uint8_t *bp(void) {
    return (const uint8_t *)(uintptr_t)boot_params_addr;
}

unsigned e820_count(void) {
    if (!boot_params_addr) {
        return 0;
    }
    unsigned n = bp()[BP_E820_ENTRIES];
    return n > E820_MAX_ENTRIES ? E820_MAX_ENTRIES : n;
}

const struct e820_entry *e820_entry(unsigned i) {
    return (const struct e820_entry *)(bp() + BP_E820_TABLE + 20 * i);
}

uint64_t e820_ram_bytes(void) {
    uint64_t total = 0;
    for (unsigned i = 0; i < e820_count(); i++) {
        const struct e820_entry *e = e820_entry(i);
        if (e->type == E820_RAM) {
            total += e->size;
        }
    }
    return total;
}

uint64_t bootparams_rsdp(void) {
    if (!boot_params_addr) {
        return 0;
    }
    uint64_t v;
    memcpy(&v, bp() + BP_ACPI_RSDP_ADDR, sizeof v);
    return v;
}

const char *bootparams_cmdline(void) {
    if (!boot_params_addr) {
        return "";
    }
    uint32_t lo, hi;
    memcpy(&lo, bp() + BP_CMD_LINE_PTR, sizeof lo);
    memcpy(&hi, bp() + BP_EXT_CMD_LINE_PTR, sizeof hi);
    uint64_t addr = (uint64_t)hi << 32 | lo;
    /* Only the identity-mapped first 4 GiB is reachable. */
    if (addr == 0 || addr >= (1ull << 32)) {
        return "";
    }
    return (const char *)(uintptr_t)addr;
}

/* The value of the first word "key=..." of the command line, or NULL; *len gets its length. */
static const char *find_value(const char *key, size_t *len) {
    size_t klen = strlen(key);
    const char *p = bootparams_cmdline();
    while (*p) {
        while (*p == ' ') {
            p++;
        }
        const char *word = p;
        while (*p && *p != ' ') {
            p++;
        }
        if ((size_t)(p - word) > klen && memcmp(word, key, klen) == 0 && word[klen] == '=') {
            *len = (size_t)(p - word) - klen - 1;
            return word + klen + 1;
        }
    }
    return NULL;
}

bool cmdline_value(const char *key, char *out, size_t size) {
    size_t len;
    const char *v = find_value(key, &len);
    if (size == 0) {
        return false;
    }
    out[0] = '\0';
    if (!v || len >= size) {
        return false;
    }
    memcpy(out, v, len);
    out[len] = '\0';
    return true;
}

uint64_t cmdline_number(const char *key, uint64_t fallback) {
    size_t len;
    const char *v = find_value(key, &len);
    if (!v || len == 0) {
        return fallback;
    }
    unsigned base = 10;
    if (len > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        base = 16;
        v += 2;
        len -= 2;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        unsigned d;
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (base == 16 && c >= 'a' && c <= 'f') {
            d = (unsigned)(c - 'a' + 10);
        } else if (base == 16 && c >= 'A' && c <= 'F') {
            d = (unsigned)(c - 'A' + 10);
        } else {
            return fallback;
        }
        if (n > (UINT64_MAX - d) / base) {
            return fallback; /* overflows 64 bits */
        }
        n = n * base + d;
    }
    return n;
}
