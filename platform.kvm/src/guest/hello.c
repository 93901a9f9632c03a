/* The smallest guest: proves loading, 64-bit entry, the stack, and serial output. */
#include "kit.h"

int main(void) {
    kprintf("hello from the test guest: %d + %d = %d, 0x%x, %s\n", 2, 3, 2 + 3, 0xbeefu, "ok");
    return 0;
}
