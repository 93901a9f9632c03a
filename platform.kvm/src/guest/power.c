/*
 * ACPI power control. Hardware-reduced machines (ACPI 6.5, 4.1) power off through the FADT's SLEEP_CONTROL_REG
 * (4.8.3.7: SLP_TYP in bits 4:2, SLP_EN bit 5); others through PM1a_CNT (4.8.3.2.1: SLP_TYP in bits 12:10,
 * SLP_EN bit 13). SLP_TYP for S5 comes from \_S5. Reset writes RESET_VALUE to the FADT's RESET_REG (4.8.3.6).
 * Each returns only when the machine is still running a moment after the write.
 */
#include "kit.h"

#define GAS_SYSTEM_MEMORY 0
#define GAS_SYSTEM_IO 1

#define SLEEP_CONTROL_SLP_EN (1u << 5)
#define PM1_CNT_SLP_EN (1u << 13)

/* 8042 keyboard controller: status/command port, "input buffer full" status bit, pulse-reset command. */
#define I8042_COMMAND 0x64
#define I8042_INPUT_FULL 0x02
#define I8042_PULSE_RESET 0xFE

/* Writes a byte to a GAS register in system IO or system memory space (5.2.3.2). */
static bool gas_write8(const struct acpi_gas *g, uint8_t value) {
    if (g->address == 0) {
        return false;
    }
    if (g->space == GAS_SYSTEM_IO && g->address <= 0xFFFF) {
        outb((uint16_t)g->address, value);
        return true;
    }
    if (g->space == GAS_SYSTEM_MEMORY && g->address < (1ull << 32)) {
        *(volatile uint8_t *)(uintptr_t)g->address = value;
        return true;
    }
    kprintf("power: unsupported register (space %u at 0x%lx)\n", g->space, g->address);
    return false;
}

/* Gives the VMM a moment to act on the write. */
static void settle(void) {
    pit_delay_us(50000);
}

void poweroff(void) {
    const struct acpi_info *a = acpi_init();
    uint8_t slp_typ = a->s5_sleep_type & 7;
    if (a->hw_reduced || a->sleep_control.address) {
        if (gas_write8(&a->sleep_control, (uint8_t)(slp_typ << 2 | SLEEP_CONTROL_SLP_EN))) {
            settle();
            return;
        }
    }
    if (a->pm1a_control) {
        outw((uint16_t)a->pm1a_control, (uint16_t)(slp_typ << 10 | PM1_CNT_SLP_EN));
        settle();
        return;
    }
    kprintf("power: no ACPI sleep register\n");
}

void reset(void) {
    const struct acpi_info *a = acpi_init();
    if (!a->reset_supported && !a->reset_reg.address) {
        kprintf("power: no ACPI reset register\n");
        return;
    }
    if (gas_write8(&a->reset_reg, a->reset_value)) {
        settle();
    }
}

void reset_i8042(void) {
    /* Wait (briefly) for the controller to take a command; 0xFF is a floating bus: no status to wait on. */
    for (int i = 0; i < 1000; i++) {
        uint8_t status = inb(I8042_COMMAND);
        if (status == 0xFF || !(status & I8042_INPUT_FULL)) {
            break;
        }
        cpu_relax();
    }
    outb(I8042_COMMAND, I8042_PULSE_RESET);
    settle();
}
