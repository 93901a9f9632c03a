/* The console's input: prints "echo: ready", then echoes every byte it receives on COM1 as "echo: <hex>" (so a test
 * sees that a key, Ctrl-C included, reached the guest rather than the VMM), and powers off on 'q'. Polls the line
 * status register's data-ready bit (16550 datasheet: LSR bit 0, RBR at offset 0). */
#include "kit.h"

#define LSR_DR 0x01

int main(void) {
    kprintf("echo: ready\n");
    for (;;) {
        while (!(inb(COM1 + 5) & LSR_DR)) {
            cpu_relax();
        }
        uint8_t c = inb(COM1);
        kprintf("echo: %x\n", c);
        if (c == 'q') {
            kprintf("echo: bye\n");
            poweroff();
        }
    }
}
