/*
 * The gdb stub's test guest (built with debug information): main calls gdb_bump five times, each adding its
 * argument to the global gdb_counter, prints the total ("gdbtarget: counter 15") and powers off. A debugger breaks
 * at gdb_bump, steps, reads gdb_counter (0, 1, 3, 6, 10 at the successive hits) and continues to the power-off.
 */
#include "kit.h"

volatile unsigned gdb_counter;

/* noipa: the call stays a real call to this symbol, with its argument in a register, whatever -O2 would do. */
__attribute__((noipa)) unsigned gdb_bump(unsigned by) {
    unsigned before = gdb_counter;
    gdb_counter = before + by;
    return gdb_counter;
}

int main(void) {
    kprintf("gdbtarget: start\n");
    for (unsigned i = 1; i <= 5; i++) {
        gdb_bump(i);
    }
    kprintf("gdbtarget: counter %u\n", gdb_counter);
    poweroff();
    kprintf("gdbtarget: poweroff FAILED\n");
    return 1;
}
