/*
 * A triple fault: prints "triple: now", loads an IDT with limit 0 and executes UD2. The #UD gate lies outside the
 * IDT, so #GP; its gate is outside too, so #DF; and a fault while delivering #DF shuts the processor down (Intel
 * SDM vol. 3A, 6.15 "Interrupt 8—Double Fault Exception (#DF)", table 6-5), which KVM reports as
 * KVM_EXIT_SHUTDOWN. UD2 rather than INT3: a fault raised by the CPU itself, where some software hypervisors
 * (kvm_pvm) emulate INT3 and fail on it with KVM_EXIT_INTERNAL_ERROR instead.
 */
#include "kit.h"

int main(void) {
    kprintf("triple: now\n");
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) empty = {0, 0};
    __asm__ volatile("lidt %0\n\tud2" : : "m"(empty) : "memory");
    kprintf("triple: FAILED\n");
    return 0;
}
