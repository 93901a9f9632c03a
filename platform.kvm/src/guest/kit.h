/*
 * The test-guest kit: port IO, a 16550 serial console on COM1, a small printf, and (one file each) interrupts,
 * the local and I/O APICs, the PIT, boot_params and command-line options, an ACPI walker, SMP start-up and ACPI
 * power control. The virtio driver has its own headers (virtio.h, virtio_blk.h).
 */
#ifndef KIT_H
#define KIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- CPU helpers ------------------------------------------------------------------------------------------- */

static inline void outb(uint16_t port, uint8_t value) {
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t value) {
    __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t inb(uint16_t port) {
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static inline void cli(void) {
    __asm__ volatile("cli" : : : "memory");
}

static inline void sti(void) {
    __asm__ volatile("sti" : : : "memory");
}

/* STI's one-instruction interrupt shadow makes "sti; hlt" wait without losing a wake-up (SDM vol. 2, STI). */
static inline void sti_hlt(void) {
    __asm__ volatile("sti; hlt" : : : "memory");
}

static inline void cpu_relax(void) {
    __asm__ volatile("pause" : : : "memory");
}

static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static inline uint64_t read_cr3(void) {
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

static inline uint32_t mmio_read32(uint64_t addr) {
    return *(volatile uint32_t *)(uintptr_t)addr;
}

static inline void mmio_write32(uint64_t addr, uint32_t value) {
    *(volatile uint32_t *)(uintptr_t)addr = value;
}

static inline uint16_t mmio_read16(uint64_t addr) {
    return *(volatile uint16_t *)(uintptr_t)addr;
}

static inline uint8_t mmio_read8(uint64_t addr) {
    return *(volatile uint8_t *)(uintptr_t)addr;
}

/* Stops this CPU for good: interrupts off, then HLT in a loop. */
__attribute__((noreturn)) void halt_forever(void);

/* ---- kit.c: serial console and printf ------------------------------------------------------------------------ */

#define COM1 0x3F8

void serial_putc(char c);
void serial_puts(const char *s);
/* %s %c %d %u %x %lx %lu %ld %% — enough for test output. */
void kprintf(const char *fmt, ...);
/* Prints the message and halts. */
__attribute__((noreturn)) void panic(const char *msg);

/* Freestanding string helpers (gcc may also emit calls to memcpy/memset/memcmp itself). */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
const char *strstr(const char *haystack, const char *needle);

/* ---- bootparams.c: the Linux boot_params "zero page" the VMM passed in RSI ------------------------------------ */

/* Set by start.S from RSI before main runs. */
extern uint64_t boot_params_addr;

struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed));

#define E820_RAM 1

/* Number of entries in boot_params.e820_table (clamped to the table's 128 slots) and entry i. */
unsigned e820_count(void);
const struct e820_entry *e820_entry(unsigned i);
/* Bytes of type-1 (RAM) memory in the e820 table. */
uint64_t e820_ram_bytes(void);
/* boot_params.acpi_rsdp_addr, or 0. */
uint64_t bootparams_rsdp(void);
/* The kernel command line (cmd_line_ptr, ext_cmd_line_ptr), or "" if there is none. */
const char *bootparams_cmdline(void);
/* The value of the first "key=value" word of the command line (words are separated by spaces), copied with a
 * terminating NUL into out; false, with out = "", if there is no such word or its value does not fit. */
bool cmdline_value(const char *key, char *out, size_t size);
/* The value of "key=N" (decimal, or hexadecimal after 0x); fallback if absent or not a number. */
uint64_t cmdline_number(const char *key, uint64_t fallback);

/* ---- idt.c + isr.S: interrupts ------------------------------------------------------------------------------- */

/* What isr.S pushed: the general registers, then the vector, error code and the CPU's interrupt frame. */
struct interrupt_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*interrupt_handler)(struct interrupt_frame *frame);

/* Loads a 256-entry IDT whose every vector goes through the C dispatcher (unexpected ones print and halt). */
void idt_init(void);
/* Loads the table idt_init built on this CPU too (an AP starts without one). */
void idt_load(void);
/* Installs handler for vector (NULL to remove it). */
void idt_set_handler(uint8_t vector, interrupt_handler handler);

/* ---- user.c + user.S: CPL 3 ------------------------------------------------------------------------------------ */

/* Once on each CPU that calls user_call, after idt_init on the BSP: user segments, user pages and the way back (the
 * #UD handler, vector 6) the first time; this CPU's TSS, interrupt stack and user stack, the GDT and the IDT loaded
 * here (an AP needs both). Up to 8 CPUs. */
void user_init(void);
/* Runs fn(arg) at CPL 3 on this CPU's user stack with IOPL 3 (port IO and MMIO allowed; HLT, CR and MSR access
 * fault) and returns its result. Interrupts taken meanwhile run their handlers at CPL 0 and return to it. */
uint64_t user_call(uint64_t (*fn)(uint64_t), uint64_t arg);
/* What user_call returns after user_exit(USER_FAILED), by convention a failure kept for CPL 0 to report. */
#define USER_FAILED (~0ull)
/* Leaves user_call at once from any depth at CPL 3, which returns result. */
__attribute__((noreturn)) void user_exit(uint64_t result);

static inline bool user_mode(void) {
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    return (cs & 3) == 3;
}

/* ---- pit.c: the 8254 programmable interval timer --------------------------------------------------------------- */

#define PIT_HZ 1193182u

/* Busy-waits on PIT channel 0 (one-shot, interrupt masked by the caller's routing); channel 0 is reprogrammed. */
void pit_delay_us(uint32_t us);
/* Programs channel 0 as a rate generator (mode 2) at about hz interrupts a second. */
void pit_periodic(uint32_t hz);
/* Stops channel 0's interrupts (one-shot mode with the longest count, never re-armed). */
void pit_stop(void);
/* Calibrates the TSC against the PIT once; then tsc_us() gives microseconds for time-outs. */
void time_init(void);
uint64_t tsc_us(void);

/* ---- apic.c: local APIC (xAPIC, MMIO) and I/O APIC --------------------------------------------------------------- */

#define LAPIC_DEFAULT_BASE 0xFEE00000ull
#define IOAPIC_DEFAULT_BASE 0xFEC00000ull
#define SPURIOUS_VECTOR 0xFF

/* Enables this CPU's local APIC (spurious vector 0xFF), masks LINT0 and the legacy 8259 PICs. */
void lapic_enable(void);
void lapic_eoi(void);
uint8_t lapic_id(void);
/* Divide values are 1, 2, 4, ..., 128. */
void lapic_timer_oneshot(uint8_t vector, uint32_t count, unsigned divide);
void lapic_timer_periodic(uint8_t vector, uint32_t count, unsigned divide);
void lapic_timer_stop(void);
uint32_t lapic_timer_current(void);
/* Counts of the timer (at the given divide) per millisecond, measured against the PIT. */
uint32_t lapic_timer_calibrate(unsigned divide);
/* INIT and STARTUP IPIs; false if the ICR never reported the IPI sent. */
bool lapic_send_init(uint8_t apic_id);
bool lapic_send_sipi(uint8_t apic_id, uint8_t vector);

/* Routes I/O APIC pin to vector on the CPU with apic_id, physical destination, fixed delivery; masked if asked. */
void ioapic_route(unsigned pin, uint8_t vector, uint8_t apic_id, bool active_low, bool level, bool masked);
void ioapic_mask(unsigned pin, bool masked);
unsigned ioapic_pins(void);

/* ---- acpi.c: the ACPI table walker --------------------------------------------------------------------------- */

#define ACPI_MAX_TABLES 32
#define ACPI_MAX_CPUS 64

/* A Generic Address Structure (ACPI 6.5, 5.2.3.2). */
struct acpi_gas {
    uint8_t space; /* 0 system memory, 1 system IO */
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size;
    uint64_t address;
} __attribute__((packed));

struct acpi_info {
    bool found;          /* an RSDP was found */
    bool checksums_ok;   /* every table's checksum held */
    unsigned table_count;
    char signatures[ACPI_MAX_TABLES][5]; /* in the order found: RSDP, XSDT (or RSDT), each entry, then DSDT */
    /* MADT */
    bool have_madt;
    uint64_t lapic_base;
    unsigned cpu_count;
    uint8_t apic_ids[ACPI_MAX_CPUS]; /* enabled processors only */
    uint64_t ioapic_base;
    uint32_t ioapic_gsi_base;
    uint32_t isa_irq0_gsi;   /* from an interrupt source override, else 0 */
    uint16_t isa_irq0_flags; /* MPS INTI flags of that override */
    /* FADT */
    bool have_fadt;
    bool hw_reduced;
    bool reset_supported;
    struct acpi_gas reset_reg;
    uint8_t reset_value;
    struct acpi_gas sleep_control;
    struct acpi_gas sleep_status;
    uint32_t pm1a_control; /* port of PM1a_CNT_BLK (non-hardware-reduced machines), or 0 */
    uint64_t dsdt;
    uint8_t s5_sleep_type; /* from \_S5 in the DSDT, else 5 */
};

/* Walks the tables once (quietly, except for errors such as "ACPI: bad checksum in APIC") and caches them. */
const struct acpi_info *acpi_init(void);
/* Prints "acpi: tables RSDP XSDT ..." and then "acpi: checksums ok" (or the failure). */
void acpi_print_tables(void);

/* ---- mp.c + trampoline.S: application processors ------------------------------------------------------------- */

/* Starts every enabled processor in the MADT but this one; returns how many CPUs run, this one included. */
unsigned smp_start_aps(void);
/* Work for the APs that smp_start_aps starts afterwards: each calls work(index), index 0, 1, ... in the order they
 * came up, once it has counted itself in, and halts when it returns. NULL (the default): they just halt. Runs on
 * the AP's 4 KiB stack with interrupts off, the kit's kernel selectors (CS 0x10, SS 0x18) and no IDT loaded:
 * user_init loads it (or idt_load alone). */
void smp_set_ap_work(void (*work)(unsigned index));

/* ---- power.c: ACPI power control ---------------------------------------------------------------------------- */

/* Powers off through the FADT's sleep control register (S5); returns only if the machine is still running. */
void poweroff(void);
/* Resets through the FADT's reset register; returns only if the machine is still running. */
void reset(void);
/* Resets through the 8042 keyboard controller's pulse-reset command; returns only if that failed. */
void reset_i8042(void);

#endif
