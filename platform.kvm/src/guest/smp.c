/*
 * ACPI and SMP: lists the ACPI tables and checks their checksums, counts the MADT's processors, starts every AP
 * and counts those that reach 64-bit C code. Prints "acpi: tables RSDP XSDT ...", "acpi: checksums ok",
 * "madt: cpus=N" and "smp: N cpus up" (the BSP included), then powers off through ACPI.
 */
#include "kit.h"

int main(void) {
    acpi_print_tables();
    const struct acpi_info *a = acpi_init();
    kprintf("madt: cpus=%u\n", a->cpu_count);
    unsigned up = smp_start_aps();
    kprintf("smp: %u cpus up\n", up);
    poweroff();
    kprintf("poweroff: FAILED\n");
    return 0;
}
