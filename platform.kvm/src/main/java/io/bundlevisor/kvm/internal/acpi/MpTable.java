package io.bundlevisor.kvm.internal.acpi;

import static io.bundlevisor.kvm.internal.acpi.Aml.le;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The Intel MultiProcessor Specification 1.4 tables (chapter 4), for a guest that does not read ACPI: Linux booted
 * with {@code acpi=off} (Kata Containers' command line) finds its processors and the I/O APIC only here
 * (arch/x86/kernel/mpparse.c scans 0xF0000-0xFFFFF for the floating pointer), as on Firecracker. The tables say what
 * the MADT says: one enabled processor per vCPU (APIC ids 0..cpus-1, the first the bootstrap processor), the I/O
 * APIC at {@link AcpiTables#IO_APIC_ADDRESS}, ISA IRQ 0 on pin 2 and IRQs 1-15 on their pins (conforming: ISA edge,
 * active high), pins 16-23, where our devices' lines are, level-triggered and active high as the DSDT's _CRS says,
 * ExtINT on LINT0 and NMI on LINT1. A guest with ACPI ignores them (Linux prefers the MADT).
 */
public final class MpTable {

    /** Floating pointer (16 bytes) then the configuration table, at one 16-byte aligned address. */
    private static final int FLOATING = 16;
    private static final int HEADER = 44;
    private static final int SPEC_REV = 4;
    /** The I/O APIC's pins: the in-kernel IOAPIC has 24 (IrqRoute.IOAPIC_PINS). */
    private static final int PINS = 24;
    private static final int ISA_BUS = 0;

    // Entry types (4.3) and interrupt types (table 4-8).
    private static final int PROCESSOR = 0;
    private static final int BUS = 1;
    private static final int IO_APIC = 2;
    private static final int IO_INTERRUPT = 3;
    private static final int LOCAL_INTERRUPT = 4;
    private static final int INT = 0;
    private static final int NMI = 1;
    private static final int EXTINT = 3;
    /** Interrupt flags (table 4-9): polarity bits 0-1 (01 active high), trigger bits 2-3 (11 level). */
    private static final int CONFORMING = 0;
    private static final int LEVEL_ACTIVE_HIGH = 0b1101;

    private MpTable() {
    }

    /**
     * The floating pointer and configuration table for {@code cpus} vCPUs, to be copied to guest-physical
     * {@code base} (16-byte aligned, inside 0xF0000-0xFFFFF so the guest's scan finds it).
     */
    public static byte[] build(long base, int cpus) {
        if (base % 16 != 0 || base < 0xF_0000L || base >= 0x10_0000L) {
            throw new IllegalArgumentException("the MP floating pointer must be 16-byte aligned in 0xF0000-0xFFFFF");
        }
        if (cpus < 1 || cpus > 254) {
            throw new IllegalArgumentException("an MP table lists 1-254 processors, not " + cpus);
        }
        int ioApicId = cpus; // after the processors' APIC ids, unique as 4.3.3 asks
        ByteArrayOutputStream entries = new ByteArrayOutputStream();
        int count = 0;
        for (int i = 0; i < cpus; i++) {
            entries.writeBytes(new byte[] {PROCESSOR, (byte) i, 0x14, (byte) (i == 0 ? 0b11 : 0b01)}); // EN, BP
            entries.writeBytes(le(0x600, 4));          // CPU signature: family 6
            entries.writeBytes(le(0x201, 4));          // feature flags: FPU, on-chip APIC
            entries.writeBytes(new byte[8]);
            count++;
        }
        entries.writeBytes(new byte[] {BUS, ISA_BUS});
        entries.writeBytes("ISA   ".getBytes(StandardCharsets.US_ASCII));
        count++;
        entries.writeBytes(new byte[] {IO_APIC, (byte) ioApicId, 0x11, 1}); // version 0x11, enabled
        entries.writeBytes(le(AcpiTables.IO_APIC_ADDRESS, 4));
        count++;
        entries.writeBytes(interrupt(IO_INTERRUPT, EXTINT, CONFORMING, 0, ioApicId, 0));
        count++;
        for (int pin = 1; pin < PINS; pin++) {
            int sourceIrq = pin == 2 ? 0 : pin; // the timer's IRQ 0 is wired to pin 2, as the MADT's override says
            entries.writeBytes(interrupt(IO_INTERRUPT, INT, pin < 16 ? CONFORMING : LEVEL_ACTIVE_HIGH, sourceIrq,
                    ioApicId, pin));
            count++;
        }
        entries.writeBytes(interrupt(LOCAL_INTERRUPT, EXTINT, CONFORMING, 0, 0xFF, 0));
        entries.writeBytes(interrupt(LOCAL_INTERRUPT, NMI, CONFORMING, 0, 0xFF, 1));
        count += 2;

        byte[] body = entries.toByteArray();
        byte[] out = new byte[FLOATING + HEADER + body.length];
        long table = base + FLOATING;
        put(out, 0, "_MP_".getBytes(StandardCharsets.US_ASCII));
        put(out, 4, le(table, 4));
        out[8] = 1;                                    // length in 16-byte paragraphs
        out[9] = SPEC_REV;
        // out[11..15]: feature bytes 0: a configuration table is present, no IMCR (virtual wire mode)
        out[10] = AcpiTables.checksum(out, 0, FLOATING);
        int t = FLOATING;
        put(out, t, "PCMP".getBytes(StandardCharsets.US_ASCII));
        put(out, t + 4, le(HEADER + body.length, 2));
        out[t + 6] = SPEC_REV;
        put(out, t + 8, "BNDVSR  ".getBytes(StandardCharsets.US_ASCII));
        put(out, t + 16, "BUNDLEVISOR ".getBytes(StandardCharsets.US_ASCII));
        put(out, t + 34, le(count, 2));
        put(out, t + 36, le(AcpiTables.LOCAL_APIC_ADDRESS, 4));
        put(out, t + HEADER, body);
        out[t + 7] = AcpiTables.checksum(out, t, HEADER + body.length);
        return out;
    }

    /** An I/O or local interrupt assignment entry (4.3.4, 4.3.5): 8 bytes. */
    private static byte[] interrupt(int entry, int type, int flags, int sourceIrq, int apic, int pin) {
        return new byte[] {(byte) entry, (byte) type, (byte) flags, (byte) (flags >> 8), ISA_BUS, (byte) sourceIrq,
                (byte) apic, (byte) pin};
    }

    private static void put(byte[] to, int at, byte[] what) {
        System.arraycopy(what, 0, to, at, what.length);
    }
}
