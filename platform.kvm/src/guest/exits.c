/*
 * Exit round trips, for bench/compare.sh: the same loops on every VMM (ours, QEMU's microvm, bench/c's bare KVM
 * loop), timed by the host between the markers.
 *   BENCH-BEGIN pio .. BENCH-END pio n=N     N one-byte OUTs to a port no device claims (EXITS_PORT)
 *   BENCH-BEGIN mmio .. BENCH-END mmio n=N   N 4-byte stores to an address no device or RAM claims (EXITS_MMIO)
 *   EXITS-DONE, then ACPI power-off (a VMM without ACPI stops at the marker)
 * Options: exits.n=N (100000), exits.warmup=N (20000 unmeasured exits first, enough for a JIT to have compiled the
 * VMM's exit path: the figure is the steady state; start-up is measured on its own), exits.cpl=3|0 (3: the MMIO loop runs at CPL 3, natively on a software KVM where
 * guest kernel mode is emulated; 0: in kernel mode, to show what the emulator costs). The PIO loop runs at CPL 0
 * whatever the option: kvm_pvm does not honour IOPL for guest user mode (an OUT at CPL 3 with IOPL 3 raises #GP
 * there, under QEMU as under ours), so port IO cannot leave the emulator on this host.
 */
#include "kit.h"

#define EXITS_PORT 0x80
#define EXITS_MMIO 0xC8000000ull

static uint64_t pio_loop(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        outb(EXITS_PORT, (uint8_t)i);
    }
    return n;
}

static uint64_t mmio_loop(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        mmio_write32(EXITS_MMIO, (uint32_t)i);
    }
    return n;
}

static void run(const char *name, uint64_t (*loop)(uint64_t), uint64_t n, uint64_t warm_up, bool user) {
    if (user) {
        user_call(loop, warm_up);
    } else {
        loop(warm_up);
    }
    kprintf("BENCH-BEGIN %s\n", name);
    uint64_t done = user ? user_call(loop, n) : loop(n);
    kprintf("BENCH-END %s n=%lu\n", name, done);
}

int main(void) {
    uint64_t n = cmdline_number("exits.n", 100000);
    uint64_t warm_up = cmdline_number("exits.warmup", 20000);
    bool user = cmdline_number("exits.cpl", 3) == 3;
    idt_init();
    if (user) {
        user_init();
    }
    kprintf("exits: n=%lu cpl=%d\n", n, user ? 3 : 0);
    run("pio", pio_loop, n, warm_up, false);
    run("mmio", mmio_loop, n, warm_up, user);
    kprintf("EXITS-DONE\n");
    poweroff();
    return 0;
}
