/*
 * Instructions a software KVM (kvm_pvm) cannot emulate in guest kernel mode, run on purpose: the VMM's
 * emulation-failure policy decides what happens. emulate.mode= on the command line picks the case:
 *   int3    (default) int3 must raise #BP with RIP just past it ("emulate: #BP after int3 ok"), then fwait with no
 *           x87 exception pending must complete ("emulate: fwait completed"), then "emulate: done"
 *   stuck   int3 whose #BP handler steps RIP back onto it, forever: the VMM must see no progress and halt
 * Under the halt policy the first int3 halts the VM instead.
 */
#include "kit.h"

extern const char int3_at[], int3_after[];
static volatile int breakpoints;
static volatile uint64_t bp_rip;
static volatile bool rewind;

static void on_breakpoint(struct interrupt_frame *frame) {
    breakpoints++;
    bp_rip = frame->rip;
    if (rewind) {
        frame->rip--; /* back onto the int3: no progress, ever */
    }
}

int main(void) {
    char mode[16] = "int3";
    cmdline_value("emulate.mode", mode, sizeof mode);
    idt_init();
    idt_set_handler(3, on_breakpoint);
    rewind = strcmp(mode, "stuck") == 0;
    kprintf("emulate: mode %s, int3 at 0x%lx\n", mode, (uint64_t)(uintptr_t)int3_at);
    __asm__ volatile(".globl int3_at, int3_after\n"
                     "int3_at: int3\n"
                     "int3_after:\n" ::: "memory");
    if (breakpoints != 1 || bp_rip != (uint64_t)(uintptr_t)int3_after) {
        kprintf("emulate: FAILED: %d breakpoints, #BP rip 0x%lx, expected 0x%lx\n", breakpoints, bp_rip,
                (uint64_t)(uintptr_t)int3_after);
        return 1;
    }
    kprintf("emulate: #BP after int3 ok\n");
    __asm__ volatile("fwait" ::: "memory");
    kprintf("emulate: fwait completed\n");
    kprintf("emulate: done\n");
    return 0;
}
