/*
 * Starting the application processors with the INIT-SIPI-SIPI sequence (Intel SDM vol. 3A, "MP Initialization",
 * "Typical BSP Initialization Sequence": INIT, wait 10 ms, STARTUP, wait 200 us, STARTUP again) to every enabled
 * processor in the MADT but this one. Each AP runs trampoline.S from TRAMPOLINE_BASE into 64-bit mode and then
 * ap_main, which counts itself in, runs the work smp_set_ap_work gave (if any) and halts.
 */
#include "kit.h"

#define TRAMPOLINE_BASE 0x8000
#define AP_STACK_SIZE 4096

extern const uint8_t trampoline_start[], trampoline_end[];
extern uint64_t trampoline_cr3, trampoline_stacks, trampoline_stack_size, trampoline_entry;
extern uint32_t trampoline_next, trampoline_max;

static uint8_t ap_stacks[ACPI_MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));
static uint32_t aps_up;
static void (*ap_work)(unsigned index);

void smp_set_ap_work(void (*work)(unsigned index)) {
    __atomic_store_n(&ap_work, work, __ATOMIC_SEQ_CST);
}

/* Where a trampoline variable lives in the copy at TRAMPOLINE_BASE. */
static void *in_copy(const void *variable) {
    return (void *)(uintptr_t)(TRAMPOLINE_BASE + ((uintptr_t)variable - (uintptr_t)trampoline_start));
}

void ap_main(uint64_t index);

void ap_main(uint64_t index) {
    __atomic_fetch_add(&aps_up, 1, __ATOMIC_SEQ_CST);
    void (*work)(unsigned) = __atomic_load_n(&ap_work, __ATOMIC_SEQ_CST);
    if (work) {
        work((unsigned)index);
    }
    halt_forever();
}

unsigned smp_start_aps(void) {
    const struct acpi_info *a = acpi_init();
    if (!a->have_madt) {
        return 1;
    }
    lapic_enable();
    uint8_t self = lapic_id();

    memcpy((void *)(uintptr_t)TRAMPOLINE_BASE, trampoline_start, (size_t)(trampoline_end - trampoline_start));
    *(uint64_t *)in_copy(&trampoline_cr3) = read_cr3();
    *(uint64_t *)in_copy(&trampoline_stacks) = (uint64_t)(uintptr_t)ap_stacks;
    *(uint64_t *)in_copy(&trampoline_stack_size) = AP_STACK_SIZE;
    *(uint64_t *)in_copy(&trampoline_entry) = (uint64_t)(uintptr_t)ap_main;
    *(uint32_t *)in_copy(&trampoline_next) = 0;
    *(uint32_t *)in_copy(&trampoline_max) = ACPI_MAX_CPUS;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);

    unsigned expected = 0;
    for (unsigned i = 0; i < a->cpu_count; i++) {
        if (a->apic_ids[i] != self) {
            if (!lapic_send_init(a->apic_ids[i])) {
                kprintf("smp: INIT to APIC %u not delivered\n", a->apic_ids[i]);
            }
            expected++;
        }
    }
    pit_delay_us(10000);
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < a->cpu_count; i++) {
            if (a->apic_ids[i] != self && !lapic_send_sipi(a->apic_ids[i], TRAMPOLINE_BASE >> 12)) {
                kprintf("smp: STARTUP to APIC %u not delivered\n", a->apic_ids[i]);
            }
        }
        pit_delay_us(200);
    }
    /* Wait up to a second for the APs to check in. */
    for (int ms = 0; ms < 1000 && __atomic_load_n(&aps_up, __ATOMIC_SEQ_CST) < expected; ms++) {
        pit_delay_us(1000);
    }
    return 1 + __atomic_load_n(&aps_up, __ATOMIC_SEQ_CST);
}
