/*
 * The Linux boot_params "zero page" (Documentation/arch/x86/zero-page.rst, struct boot_params): the e820 table,
 * the ACPI RSDP address and the command line, at the offsets the x86 boot protocol fixes.
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
