package io.bundlevisor.kvm.internal.acpi;

import static io.bundlevisor.kvm.internal.acpi.Aml.concat;
import static io.bundlevisor.kvm.internal.acpi.Aml.le;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The ACPI tables of a Bundlevisor machine (ACPI 6.5, chapter 5): RSDP, XSDT, a hardware-reduced FADT with sleep
 * control/status and reset registers, a MADT with one local APIC per vCPU and the I/O APIC, and a DSDT from our
 * AML encoder. {@link #build} lays them out contiguously from a guest-physical base, each checksummed.
 */
public final class AcpiTables {

    /** Ports of the FADT's registers (GAS in system IO space), served by the machine's power device. */
    public static final int SLEEP_CONTROL_PORT = 0x600;
    public static final int SLEEP_STATUS_PORT = 0x601;
    public static final int RESET_PORT = 0x602;
    public static final int RESET_VALUE = 0x01;
    /** The SLP_TYP the DSDT's \_S5 names: written with SLP_EN to the sleep control register to power off. */
    public static final int S5_SLEEP_TYPE = 5;

    public static final long LOCAL_APIC_ADDRESS = 0xFEE0_0000L;
    public static final long IO_APIC_ADDRESS = 0xFEC0_0000L;

    private static final byte[] OEM_ID = ascii("BNDVSR", 6);
    private static final byte[] OEM_TABLE_ID = ascii("BVMACHIN", 8);
    private static final byte[] CREATOR_ID = ascii("BVSR", 4);
    private static final int HEADER = 36;

    private AcpiTables() {
    }

    /** Where each table landed, and the bytes to copy to guest memory at {@code base}. */
    public record Image(long base, long rsdp, long xsdt, long fadt, long madt, long dsdt, byte[] bytes) {
    }

    /** A legacy ISA device for the DSDT: e.g. COM1 is ("COM1", "PNP0501", 0x3F8, 8, 4). */
    public record IsaDevice(String name, String hid, int ioBase, int ioLength, int irq) {
    }

    /**
     * A device in a fixed 32-bit MMIO window with a level-triggered, active-high interrupt on {@code gsi}, such as
     * a virtio-mmio transport: ("VRT0", "LNRO0005", 0, 0xD0000000, 0x1000, 16). Its {@code hid} is an ACPI or PNP
     * id written as a string (virtio-mmio's "LNRO0005" is no EISA id).
     */
    public record MmioDevice(String name, String hid, int uid, long base, long length, int gsi) {
    }

    /** The tables with no MMIO devices. */
    public static Image build(long base, int cpus, List<IsaDevice> devices) {
        return build(base, cpus, devices, List.of());
    }

    /**
     * Builds the tables for {@code cpus} vCPUs (APIC ids 0..cpus-1), the ISA {@code devices} and the
     * {@code mmioDevices} (in that order in the DSDT), starting at {@code base} (16-byte aligned, below 4 GiB: the
     * RSDP's addresses are 32 bits where they must be).
     */
    public static Image build(long base, int cpus, List<IsaDevice> devices, List<MmioDevice> mmioDevices) {
        if (cpus < 1 || cpus > 255) {
            throw new IllegalArgumentException("1..255 vCPUs (8-bit APIC ids), got " + cpus);
        }
        if (base % 16 != 0 || base < 0 || base + 0x10000 > 0x1_0000_0000L) {
            throw new IllegalArgumentException("ACPI tables need a 16-byte aligned base below 4 GiB");
        }
        byte[] dsdt = dsdt(devices, mmioDevices);
        byte[] madt = madt(cpus);
        long rsdpAt = base;
        long dsdtAt = align(rsdpAt + 36);
        long madtAt = align(dsdtAt + dsdt.length);
        long fadtAt = align(madtAt + madt.length);
        byte[] fadt = fadt(dsdtAt);
        long xsdtAt = align(fadtAt + fadt.length);
        byte[] xsdt = xsdt(List.of(fadtAt, madtAt));
        byte[] rsdp = rsdp(xsdtAt);

        byte[] image = new byte[(int) (xsdtAt + xsdt.length - base)];
        place(image, base, rsdpAt, rsdp);
        place(image, base, dsdtAt, dsdt);
        place(image, base, madtAt, madt);
        place(image, base, fadtAt, fadt);
        place(image, base, xsdtAt, xsdt);
        return new Image(base, rsdpAt, xsdtAt, fadtAt, madtAt, dsdtAt, image);
    }

    /** RSDP revision 2 (5.2.5.3): 36 bytes, the first 20 checksummed, then all 36. */
    static byte[] rsdp(long xsdt) {
        byte[] t = new byte[36];
        put(t, 0, "RSD PTR ".getBytes(StandardCharsets.US_ASCII));
        put(t, 9, OEM_ID);
        t[15] = 2; // revision
        put(t, 20, le(36, 4));
        put(t, 24, le(xsdt, 8));
        t[8] = checksum(t, 0, 20);
        t[32] = checksum(t, 0, 36);
        return t;
    }

    /** XSDT (5.2.8): 64-bit pointers to every table but the DSDT (the FADT points at that). */
    static byte[] xsdt(List<Long> tables) {
        byte[] body = new byte[8 * tables.size()];
        for (int i = 0; i < tables.size(); i++) {
            put(body, 8 * i, le(tables.get(i), 8));
        }
        return table("XSDT", 1, body);
    }

    /** FADT revision 6 (5.2.9, table 5.9): hardware-reduced, so only the fields below are set. */
    static byte[] fadt(long dsdt) {
        byte[] t = new byte[276 - HEADER];
        int o = -HEADER; // offsets below are the specification's, from the start of the table
        put(t, o + 40, le(dsdt, 4));                  // DSDT (32-bit)
        put(t, o + 109, le(1 << 2, 2));               // IAPC_BOOT_ARCH: VGA not present
        put(t, o + 112, le(1 << 20 | 1 << 10, 4));    // Flags: HW_REDUCED_ACPI, RESET_REG_SUP
        put(t, o + 116, gas(RESET_PORT));             // RESET_REG
        t[o + 128] = RESET_VALUE;                     // RESET_VALUE
        t[o + 131] = 3;                               // FADT minor version (ACPI 6.3)
        put(t, o + 140, le(dsdt, 8));                 // X_DSDT
        put(t, o + 244, gas(SLEEP_CONTROL_PORT));     // SLEEP_CONTROL_REG
        put(t, o + 256, gas(SLEEP_STATUS_PORT));      // SLEEP_STATUS_REG
        put(t, o + 268, ascii("BNDLVSR", 8));         // Hypervisor Vendor Identity
        return table("FACP", 6, t);
    }

    /** A Generic Address Structure (5.2.3.2) for one byte-wide register in system IO space. */
    private static byte[] gas(int port) {
        return concat(new byte[] {1 /* SystemIO */, 8 /* bit width */, 0 /* bit offset */, 1 /* byte access */},
                le(port, 8));
    }

    /**
     * MADT revision 5 (5.2.12): a Processor Local APIC per vCPU (enabled), the I/O APIC with GSI base 0, the ISA
     * timer routed to GSI 2, and LINT1 as NMI on every processor.
     */
    static byte[] madt(int cpus) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(le(LOCAL_APIC_ADDRESS, 4));
        b.writeBytes(le(1, 4)); // PCAT_COMPAT: 8259s present (masked by the guest)
        for (int i = 0; i < cpus; i++) {
            b.writeBytes(new byte[] {0, 8, (byte) i, (byte) i});   // type 0, length 8, UID, APIC id
            b.writeBytes(le(1, 4));                                // enabled
        }
        b.writeBytes(new byte[] {1, 12, 0, 0});                    // I/O APIC, id 0
        b.writeBytes(le(IO_APIC_ADDRESS, 4));
        b.writeBytes(le(0, 4));                                    // GSI base
        b.writeBytes(new byte[] {2, 10, 0, 0});                    // override: ISA bus 0, IRQ 0
        b.writeBytes(le(2, 4));                                    // -> GSI 2
        b.writeBytes(le(0, 2));                                    // conforming polarity and trigger
        b.writeBytes(new byte[] {4, 6, (byte) 0xFF, 0, 0, 1});    // local APIC NMI: all CPUs, LINT1
        return table("APIC", 5, b.toByteArray());
    }

    /**
     * DSDT revision 2 (64-bit integers): \_S5 for power-off, then under \_SB each ISA device and each MMIO device.
     * An MMIO device is what Linux's virtio_mmio driver probes by ACPI (drivers/virtio/virtio_mmio.c matches _HID
     * "LNRO0005"): its _CRS is the window (Memory32Fixed, 6.4.3.4) and its interrupt (Extended Interrupt,
     * 6.4.3.6: level, active high, exclusive), which the driver reads as its memory resource and IRQ 0.
     */
    static byte[] dsdt(List<IsaDevice> devices, List<MmioDevice> mmioDevices) {
        List<byte[]> sb = new ArrayList<>();
        for (IsaDevice d : devices) {
            sb.add(Aml.device(d.name(),
                    Aml.name("_HID", Aml.eisaId(d.hid())),
                    Aml.name("_UID", Aml.integer(0)),
                    Aml.name("_CRS", Aml.resourceTemplate(Aml.io(d.ioBase(), d.ioLength()),
                            Aml.irqNoFlags(d.irq())))));
        }
        for (MmioDevice d : mmioDevices) {
            sb.add(Aml.device(d.name(),
                    Aml.name("_HID", Aml.string(d.hid())),
                    Aml.name("_UID", Aml.integer(d.uid())),
                    Aml.name("_CRS", Aml.resourceTemplate(Aml.memory32Fixed(d.base(), d.length()),
                            Aml.interrupt(d.gsi(), true)))));
        }
        byte[] aml = concat(
                Aml.name("\\_S5", Aml.packageOf(Aml.integer(S5_SLEEP_TYPE), Aml.integer(0))),
                Aml.scope("\\_SB", sb.toArray(byte[][]::new)));
        return table("DSDT", 2, aml);
    }

    /** A System Description Table header (5.2.6) followed by {@code body}, checksummed. */
    private static byte[] table(String signature, int revision, byte[] body) {
        byte[] t = new byte[HEADER + body.length];
        put(t, 0, signature.getBytes(StandardCharsets.US_ASCII));
        put(t, 4, le(t.length, 4));
        t[8] = (byte) revision;
        put(t, 10, OEM_ID);
        put(t, 16, OEM_TABLE_ID);
        put(t, 24, le(1, 4));          // OEM revision
        put(t, 28, CREATOR_ID);
        put(t, 32, le(1, 4));          // creator revision
        put(t, HEADER, body);
        t[9] = checksum(t, 0, t.length);
        return t;
    }

    /** The byte that makes {@code length} bytes from {@code from} sum to zero (mod 256). */
    static byte checksum(byte[] t, int from, int length) {
        int sum = 0;
        for (int i = from; i < from + length; i++) {
            sum += t[i];
        }
        return (byte) -sum;
    }

    private static void put(byte[] into, int at, byte[] what) {
        System.arraycopy(what, 0, into, at, what.length);
    }

    private static void place(byte[] image, long base, long at, byte[] table) {
        put(image, (int) (at - base), table);
    }

    private static long align(long address) {
        return (address + 15) & ~15L;
    }

    private static byte[] ascii(String s, int length) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) ' ');
        byte[] src = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(src, 0, b, 0, Math.min(src.length, length));
        return b;
    }
}
