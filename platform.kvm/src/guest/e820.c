/*
 * The memory map from boot_params: prints "e820: 0x<addr> 0x<size> <type>" for each entry and then
 * "e820: ram=<bytes>" (the sum of the type 1 entries), then powers off through ACPI.
 */
#include "kit.h"

int main(void) {
    for (unsigned i = 0; i < e820_count(); i++) {
        const struct e820_entry *e = e820_entry(i);
        kprintf("e820: 0x%lx 0x%lx %u\n", e->addr, e->size, e->type);
    }
    kprintf("e820: ram=%lu\n", e820_ram_bytes());
    poweroff();
    kprintf("poweroff: FAILED\n");
    return 0;
}
