/*
 * Reset: prints "reboot: now", then resets through the FADT's reset register, or through the 8042 keyboard
 * controller (outb 0x64, 0xFE) when the command line contains "i8042"; "reboot: FAILED" if still running.
 */
#include "kit.h"

int main(void) {
    bool i8042 = strstr(bootparams_cmdline(), "i8042") != NULL;
    kprintf("reboot: now\n");
    if (i8042) {
        reset_i8042();
    } else {
        reset();
    }
    kprintf("reboot: FAILED\n");
    return 0;
}
