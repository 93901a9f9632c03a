/*
 * The ACPI table walker (ACPI 6.5, chapter 5 "ACPI Software Programming Model"): finds the RSDP (boot_params, else
 * the legacy scan of 5.2.5.1), follows the XSDT (or the RSDT of an ACPI 1.0 RSDP), verifies every checksum, and
 * reads what the kit needs from the MADT (5.2.12) and the FADT (5.2.9), plus \_S5 from the DSDT's AML (7.4.2).
 * Only the identity-mapped first 4 GiB is reachable, so tables above that are reported and skipped.
 */
#include "kit.h"

#define HEADER_LEN 36 /* the System Description Table Header, 5.2.6 */
#define MAX_TABLE_LEN (1u << 20)
#define FOUR_GIB (1ull << 32)

static struct acpi_info info;
static bool walked;

static uint8_t u8_at(const uint8_t *p, unsigned off) {
    return p[off];
}

static uint16_t u16_at(const uint8_t *p, unsigned off) {
    uint16_t v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

static uint32_t u32_at(const uint8_t *p, unsigned off) {
    uint32_t v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

static uint64_t u64_at(const uint8_t *p, unsigned off) {
    uint64_t v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

/* All bytes of a table, its checksum byte included, sum to zero modulo 256 (5.2.6, "Checksum"). */
static bool checksum_ok(const uint8_t *p, uint32_t len) {
    uint8_t sum = 0;
    for (uint32_t i = 0; i < len; i++) {
        sum = (uint8_t)(sum + p[i]);
    }
    return sum == 0;
}

static void note_signature(const char *sig) {
    if (info.table_count < ACPI_MAX_TABLES) {
        memcpy(info.signatures[info.table_count], sig, 4);
        info.signatures[info.table_count][4] = '\0';
        info.table_count++;
    }
}

static void bad_checksum(const char *sig) {
    kprintf("ACPI: bad checksum in %c%c%c%c\n", sig[0], sig[1], sig[2], sig[3]);
    info.checksums_ok = false;
}

/* A valid-looking RSDP at p: the signature and the ACPI 1.0 checksum over its first 20 bytes (5.2.5.3). */
static bool rsdp_at(const uint8_t *p) {
    return memcmp(p, "RSD PTR ", 8) == 0 && checksum_ok(p, 20);
}

static const uint8_t *scan_for_rsdp(uint64_t from, uint64_t to) {
    for (uint64_t a = from; a + 36 <= to; a += 16) {
        const uint8_t *p = (const uint8_t *)(uintptr_t)a;
        if (rsdp_at(p)) {
            return p;
        }
    }
    return NULL;
}

/* 5.2.5.1: boot_params.acpi_rsdp_addr first (the Linux boot protocol's way), then the first KiB of the EBDA
 * (its segment is the word at 0x40E) and 0xE0000-0xFFFFF, on 16-byte boundaries. */
static const uint8_t *find_rsdp(void) {
    uint64_t given = bootparams_rsdp();
    if (given && given < FOUR_GIB) {
        const uint8_t *p = (const uint8_t *)(uintptr_t)given;
        if (memcmp(p, "RSD PTR ", 8) == 0) {
            return p;
        }
        kprintf("ACPI: no RSDP at boot_params.acpi_rsdp_addr 0x%lx\n", given);
    }
    uint64_t ebda = (uint64_t)u16_at((const uint8_t *)(uintptr_t)0x40E, 0) << 4;
    if (ebda >= 0x80000 && ebda < 0xA0000) {
        const uint8_t *p = scan_for_rsdp(ebda, ebda + 1024);
        if (p) {
            return p;
        }
    }
    return scan_for_rsdp(0xE0000, 0x100000);
}

/* Maps a table's address (checking it is reachable and sane); NULL, with an error printed, if not. */
static const uint8_t *table_at(uint64_t addr) {
    if (addr == 0 || addr + HEADER_LEN > FOUR_GIB) {
        kprintf("ACPI: table at 0x%lx is out of reach\n", addr);
        info.checksums_ok = false;
        return NULL;
    }
    const uint8_t *t = (const uint8_t *)(uintptr_t)addr;
    uint32_t len = u32_at(t, 4);
    if (len < HEADER_LEN || len > MAX_TABLE_LEN || addr + len > FOUR_GIB) {
        kprintf("ACPI: table at 0x%lx has a bad length %u\n", addr, len);
        info.checksums_ok = false;
        return NULL;
    }
    return t;
}

/* Visits one table: records its signature and checks its checksum. */
static const uint8_t *visit(uint64_t addr) {
    const uint8_t *t = table_at(addr);
    if (!t) {
        return NULL;
    }
    note_signature((const char *)t);
    if (!checksum_ok(t, u32_at(t, 4))) {
        bad_checksum((const char *)t);
    }
    return t;
}

/* MADT (5.2.12): the local APIC address, then interrupt controller structures, each {type, length, ...}. */
static void parse_madt(const uint8_t *t) {
    uint32_t len = u32_at(t, 4);
    info.have_madt = true;
    info.lapic_base = u32_at(t, 36);
    for (uint32_t off = 44; off + 2 <= len;) {
        uint8_t type = u8_at(t, off), elen = u8_at(t, off + 1);
        if (elen < 2 || off + elen > len) {
            kprintf("ACPI: bad MADT entry at offset %u\n", off);
            info.checksums_ok = false;
            return;
        }
        const uint8_t *e = t + off;
        switch (type) {
        case 0: /* Processor Local APIC (5.2.12.2): flags bit 0 = Enabled */
            if (elen >= 8 && (u32_at(e, 4) & 1) && info.cpu_count < ACPI_MAX_CPUS) {
                info.apic_ids[info.cpu_count++] = u8_at(e, 3);
            }
            break;
        case 1: /* I/O APIC (5.2.12.3): the first one */
            if (elen >= 12 && !info.ioapic_base) {
                info.ioapic_base = u32_at(e, 4);
                info.ioapic_gsi_base = u32_at(e, 8);
            }
            break;
        case 2: /* Interrupt Source Override (5.2.12.5): ISA bus 0, source IRQ -> GSI */
            if (elen >= 10 && u8_at(e, 2) == 0 && u8_at(e, 3) == 0) {
                info.isa_irq0_gsi = u32_at(e, 4);
                info.isa_irq0_flags = u16_at(e, 8);
            }
            break;
        case 5: /* Local APIC Address Override (5.2.12.8) */
            if (elen >= 12) {
                info.lapic_base = u64_at(e, 4);
            }
            break;
        case 9: /* Processor Local x2APIC (5.2.12.12): usable in xAPIC mode only with an 8-bit id */
            if (elen >= 16 && (u32_at(e, 8) & 1) && u32_at(e, 4) < 0xFF && info.cpu_count < ACPI_MAX_CPUS) {
                info.apic_ids[info.cpu_count++] = (uint8_t)u32_at(e, 4);
            }
            break;
        default:
            break;
        }
        off += elen;
    }
}

static void gas_at(struct acpi_gas *g, const uint8_t *t, unsigned off) {
    memcpy(g, t + off, sizeof *g);
}

/* FADT (5.2.9, table 5.9): fields are read only where the table is long enough to hold them. */
static void parse_fadt(const uint8_t *t) {
    uint32_t len = u32_at(t, 4);
    info.have_fadt = true;
    if (len >= 44) {
        info.dsdt = u32_at(t, 40);
    }
    if (len >= 68) {
        info.pm1a_control = u32_at(t, 64);
    }
    if (len >= 116) {
        uint32_t flags = u32_at(t, 112);
        info.hw_reduced = flags & (1u << 20);      /* HW_REDUCED_ACPI */
        info.reset_supported = flags & (1u << 10); /* RESET_REG_SUP */
    }
    if (len >= 129) {
        gas_at(&info.reset_reg, t, 116);
        info.reset_value = u8_at(t, 128);
    }
    if (len >= 148 && u64_at(t, 140)) {
        info.dsdt = u64_at(t, 140); /* X_DSDT wins over DSDT */
    }
    if (len >= 256) {
        gas_at(&info.sleep_control, t, 244);
    }
    if (len >= 268) {
        gas_at(&info.sleep_status, t, 256);
    }
}

/* The SLP_TYP of S5: the first element of the package named \_S5 (ACPI 6.5, 7.4.2 "\_Sx (System States)"),
 * found by a byte scan of the AML for NameOp (0x08) [RootChar '\'] "_S5_" PackageOp (0x12) (20.2.5). */
static uint8_t find_s5(const uint8_t *t) {
    uint32_t len = u32_at(t, 4);
    for (uint32_t i = HEADER_LEN; i + 4 < len; i++) {
        if (memcmp(t + i, "_S5_", 4) != 0) {
            continue;
        }
        if (!(t[i - 1] == 0x08 || (t[i - 1] == '\\' && t[i - 2] == 0x08))) {
            continue;
        }
        uint32_t p = i + 4;
        if (p >= len || t[p] != 0x12) {
            continue;
        }
        p++;
        p += 1 + (t[p] >> 6); /* PkgLength: bits 7:6 of its lead byte count the bytes that follow */
        p++;                  /* NumElements */
        if (p + 1 >= len) {
            break;
        }
        switch (t[p]) {
        case 0x00: return 0;        /* ZeroOp */
        case 0x01: return 1;        /* OneOp */
        case 0x0A:                  /* BytePrefix */
        case 0x0B:                  /* WordPrefix */
        case 0x0C:                  /* DWordPrefix */
        case 0x0E: return t[p + 1]; /* QWordPrefix: SLP_TYP is the low bits */
        default: return t[p];       /* a bare byte, as some firmware writes it */
        }
    }
    return 5;
}

const struct acpi_info *acpi_init(void) {
    if (walked) {
        return &info;
    }
    walked = true;
    info.checksums_ok = true;
    info.s5_sleep_type = 5;
    const uint8_t *rsdp = find_rsdp();
    if (!rsdp) {
        kprintf("ACPI: no RSDP found\n");
        info.checksums_ok = false;
        return &info;
    }
    info.found = true;
    note_signature("RSDP");
    uint8_t revision = u8_at(rsdp, 15);
    if (!checksum_ok(rsdp, 20)) {
        bad_checksum("RSDP");
    }
    bool use_xsdt = false;
    if (revision >= 2) {
        uint32_t rlen = u32_at(rsdp, 20);
        if (rlen < 36 || rlen > 4096 || !checksum_ok(rsdp, rlen)) {
            kprintf("ACPI: bad extended checksum in RSDP\n");
            info.checksums_ok = false;
        }
        use_xsdt = u64_at(rsdp, 24) != 0;
    }
    const uint8_t *root = visit(use_xsdt ? u64_at(rsdp, 24) : u32_at(rsdp, 16));
    if (!root) {
        return &info;
    }
    const char *want = use_xsdt ? "XSDT" : "RSDT";
    if (memcmp(root, want, 4) != 0) {
        kprintf("ACPI: the RSDP points at no %s\n", want);
        info.checksums_ok = false;
        return &info;
    }
    unsigned width = use_xsdt ? 8 : 4;
    uint32_t rlen = u32_at(root, 4);
    for (uint32_t off = HEADER_LEN; off + width <= rlen; off += width) {
        uint64_t addr = use_xsdt ? u64_at(root, off) : u32_at(root, off);
        const uint8_t *t = visit(addr);
        if (!t) {
            continue;
        }
        if (memcmp(t, "APIC", 4) == 0) {
            parse_madt(t);
        } else if (memcmp(t, "FACP", 4) == 0) {
            parse_fadt(t);
        }
    }
    if (info.have_fadt && info.dsdt) {
        const uint8_t *d = visit(info.dsdt);
        if (d && memcmp(d, "DSDT", 4) == 0) {
            info.s5_sleep_type = find_s5(d);
        }
    }
    if (!info.have_madt) {
        kprintf("ACPI: no MADT\n");
    }
    if (!info.have_fadt) {
        kprintf("ACPI: no FADT\n");
    }
    return &info;
}

void acpi_print_tables(void) {
    const struct acpi_info *a = acpi_init();
    kprintf("acpi: tables");
    for (unsigned i = 0; i < a->table_count; i++) {
        kprintf(" %s", a->signatures[i]);
    }
    kprintf("\n");
    if (a->found && a->checksums_ok) {
        kprintf("acpi: checksums ok\n");
    } else {
        kprintf("acpi: checksums FAILED\n");
    }
}
