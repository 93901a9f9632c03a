/*
 * Turns the PVH start info (Xen's xen/include/public/arch-x86/hvm/start_info.h, struct hvm_start_info and
 * struct hvm_memmap_table_entry, version 1) into the Linux boot_params zero page the rest of the kit reads
 * (Documentation/arch/x86/zero-page.rst): the command line, the ACPI RSDP and the memory map. Called once by
 * pvh.S, before main; the start info is the loader's and is trusted no further than its bounds.
 */
#include "kit.h"

#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr; /* version 1 on */
    uint32_t memmap_entries;
    uint32_t reserved;
} __attribute__((packed));

struct hvm_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type; /* the e820 types */
    uint32_t reserved;
} __attribute__((packed));

/* The zero page's offsets, as bootparams.c reads them. */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_CMD_LINE_PTR 0x0C8
#define BP_E820_ENTRIES 0x1E8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2D0
#define E820_MAX_ENTRIES 128

static uint8_t zero_page[4096] __attribute__((aligned(4096)));

uint64_t pvh_boot_params(uint64_t start_info);

uint64_t pvh_boot_params(uint64_t start_info) {
    const struct hvm_start_info *s = (const struct hvm_start_info *)(uintptr_t)start_info;
    if (start_info == 0 || start_info >= (1ull << 32) || s->magic != HVM_START_MAGIC) {
        return (uint64_t)(uintptr_t)zero_page; /* no start info: an empty zero page (no command line, no map) */
    }
    if (s->cmdline_paddr && s->cmdline_paddr < (1ull << 32)) {
        uint32_t lo = (uint32_t)s->cmdline_paddr, hi = 0;
        memcpy(zero_page + BP_CMD_LINE_PTR, &lo, sizeof lo);
        memcpy(zero_page + BP_EXT_CMD_LINE_PTR, &hi, sizeof hi);
    }
    memcpy(zero_page + BP_ACPI_RSDP_ADDR, &s->rsdp_paddr, sizeof s->rsdp_paddr);
    if (s->version >= 1 && s->memmap_paddr && s->memmap_paddr < (1ull << 32)) {
        uint32_t n = s->memmap_entries < E820_MAX_ENTRIES ? s->memmap_entries : E820_MAX_ENTRIES;
        const struct hvm_memmap_entry *m = (const struct hvm_memmap_entry *)(uintptr_t)s->memmap_paddr;
        for (uint32_t i = 0; i < n; i++) {
            struct e820_entry e = {.addr = m[i].addr, .size = m[i].size, .type = m[i].type};
            memcpy(zero_page + BP_E820_TABLE + 20 * i, &e, sizeof e);
        }
        zero_page[BP_E820_ENTRIES] = (uint8_t)n;
    }
    return (uint64_t)(uintptr_t)zero_page;
}
