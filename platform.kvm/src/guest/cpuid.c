/*
 * Prints what CPUID returns to the guest, in kernel mode (CPL 0, where Linux detects its features), for the leaves
 * that decide what Linux uses: one line "cpuid LEAF.SUBLEAF eax ebx ecx edx" (hex) each, then "cpuid: done". The
 * test compares the lines with the table the VMM set (KVM_SET_CPUID2), and so finds out whether that table is
 * what the guest sees.
 */
#include "kit.h"

static void show(uint32_t leaf, uint32_t subleaf) {
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(subleaf));
    kprintf("cpuid %x.%x %x %x %x %x\n", leaf, subleaf, a, b, c, d);
}

int main(void) {
    static const uint32_t leaves[][2] = {
        {0x0, 0}, {0x1, 0}, {0x7, 0}, {0xd, 0}, {0xd, 1}, {0x80000000, 0}, {0x80000001, 0},
        {0x40000000, 0}, {0x40000001, 0},
    };
    for (unsigned i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
        show(leaves[i][0], leaves[i][1]);
    }
    kprintf("cpuid: done\n");
    return 0;
}
