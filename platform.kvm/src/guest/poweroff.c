/* ACPI power off: prints "poweroff: now", writes S5 to the FADT's sleep control register; "poweroff: FAILED" if
 * the machine is still running a moment later. */
#include "kit.h"

int main(void) {
    kprintf("poweroff: now\n");
    poweroff();
    kprintf("poweroff: FAILED\n");
    return 0;
}
