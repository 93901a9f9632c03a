package io.bundlevisor.kvm.internal.acpi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.kvm.internal.acpi.AcpiTables.Image;
import io.bundlevisor.kvm.internal.acpi.AcpiTables.IsaDevice;
import io.bundlevisor.kvm.internal.acpi.AcpiTables.MmioDevice;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Our ACPI tables, checked by our own reading (checksums, pointers) and by ACPICA's disassembler: `iasl -d` must
 * report no error and no warning for any table. (`./bundlevisor test` installs acpica-tools when missing.)
 */
class AcpiTablesTest {

    private static final long BASE = 0xE0000;
    private static final IsaDevice COM1 = new IsaDevice("COM1", "PNP0501", 0x3F8, 8, 4);
    private static final List<MmioDevice> VIRTIO = List.of(
            new MmioDevice("VRT0", "LNRO0005", 0, 0xD000_0000L, 0x1000, 16),
            new MmioDevice("VRT1", "LNRO0005", 1, 0xD000_1000L, 0x1000, 17));

    @TempDir
    Path dir;

    @Test
    void everyTableIsChecksummedAndLinked() {
        Image image = AcpiTables.build(BASE, 4, List.of(COM1));
        ByteBuffer b = ByteBuffer.wrap(image.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        int rsdp = (int) (image.rsdp() - BASE);
        assertEquals("RSD PTR ", new String(image.bytes(), rsdp, 8, StandardCharsets.US_ASCII));
        assertEquals(0, sum(image.bytes(), rsdp, 20), "RSDP checksum");
        assertEquals(0, sum(image.bytes(), rsdp, 36), "RSDP extended checksum");
        assertEquals(image.xsdt(), b.getLong(rsdp + 24));
        for (long table : new long[] {image.xsdt(), image.fadt(), image.madt(), image.dsdt()}) {
            int at = (int) (table - BASE);
            assertEquals(0, sum(image.bytes(), at, b.getInt(at + 4)), "checksum of table at " + table);
        }
        int xsdt = (int) (image.xsdt() - BASE);
        assertEquals(image.fadt(), b.getLong(xsdt + 36));
        assertEquals(image.madt(), b.getLong(xsdt + 44));
        int fadt = (int) (image.fadt() - BASE);
        assertEquals(image.dsdt(), b.getLong(fadt + 140), "X_DSDT");
        assertEquals(1 << 20, b.getInt(fadt + 112) & (1 << 20), "hardware-reduced");
    }

    @Test
    void iaslDisassemblesEveryTableWithoutErrorOrWarning() throws Exception {
        Image image = AcpiTables.build(BASE, 4, List.of(COM1));
        ByteBuffer b = ByteBuffer.wrap(image.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        String madt = null;
        String dsdt = null;
        for (String name : List.of("xsdt", "facp", "apic", "dsdt")) {
            long address = switch (name) {
                case "xsdt" -> image.xsdt();
                case "facp" -> image.fadt();
                case "apic" -> image.madt();
                default -> image.dsdt();
            };
            int at = (int) (address - BASE);
            byte[] table = Arrays.copyOfRange(image.bytes(), at, at + b.getInt(at + 4));
            String listing = disassemble(name, table);
            if (name.equals("apic")) {
                madt = listing;
            } else if (name.equals("dsdt")) {
                dsdt = listing;
            }
        }
        // The RSDP has no table header, and iasl -d cannot read one from a file of its own; its checksums and
        // its pointer are checked in everyTableIsChecksummedAndLinked.

        assertEquals(4, madt.lines().filter(l -> l.contains("Subtable Type : 00 [Processor Local APIC]")).count(),
                madt);
        assertTrue(madt.contains("[I/O APIC]"), madt);
        assertTrue(dsdt.contains("EisaId (\"PNP0501\")"), dsdt);
        assertTrue(dsdt.contains("IO (Decode16,") && dsdt.contains("0x03F8"), dsdt);
        assertTrue(dsdt.contains("IRQNoFlags ()") && dsdt.contains("{4}"), dsdt);
        assertTrue(dsdt.contains("Name (\\_S5, Package (0x02)"), dsdt);
    }

    /** Runs `iasl -d` on one table; returns the disassembly, failing on any error or warning. */
    private String disassemble(String name, byte[] table) throws IOException, InterruptedException {
        Path file = dir.resolve(name + ".dat");
        Files.write(file, table);
        Process p;
        try {
            p = new ProcessBuilder("iasl", "-d", file.getFileName().toString()).directory(dir.toFile())
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new AssertionError("iasl not found: install acpica-tools (./bundlevisor test does)", e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        String lower = out.toLowerCase();
        assertFalse(lower.contains("error") && !lower.contains("0 errors"), name + ": " + out);
        assertFalse(lower.contains("warning"), name + ": " + out);
        assertFalse(lower.contains("incorrect checksum"), name + ": " + out);
        Path dsl = dir.resolve(name + ".dsl");
        String listing = Files.readString(dsl);
        assertFalse(listing.contains("**** "), name + " listing flags a problem:\n" + listing);
        return listing;
    }

    @Test
    void virtioMmioDevicesAreInTheDsdtInDeclarationOrder() throws Exception {
        Image image = AcpiTables.build(BASE, 2, List.of(COM1), VIRTIO);
        ByteBuffer b = ByteBuffer.wrap(image.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        int at = (int) (image.dsdt() - BASE);
        byte[] dsdt = Arrays.copyOfRange(image.bytes(), at, at + b.getInt(at + 4));
        assertEquals(0, sum(dsdt, 0, dsdt.length), "DSDT checksum");
        // Device (VRT1) { Name (_HID, "LNRO0005"); Name (_UID, 1); Name (_CRS, ResourceTemplate {...}) }, byte for
        // byte: ACPI 6.5 20.2.5.2 (DefDevice), 20.2.3 (String, Integer), 6.4.3.4 and 6.4.3.6 (the descriptors).
        byte[] vrt1 = concat(
                new byte[] {0x5B, (byte) 0x82, 0x3A, 'V', 'R', 'T', '1'},     // DeviceOp, PkgLength 58, name
                new byte[] {0x08, '_', 'H', 'I', 'D', 0x0D, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00},
                new byte[] {0x08, '_', 'U', 'I', 'D', 0x01},                   // Name (_UID, One)
                new byte[] {0x08, '_', 'C', 'R', 'S', 0x11, 0x1A, 0x0A, 0x17}, // Buffer, PkgLength 26, size 23
                new byte[] {(byte) 0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, (byte) 0xD0, 0x00, 0x10, 0x00, 0x00},
                new byte[] {(byte) 0x89, 0x06, 0x00, 0x01, 0x01, 0x11, 0x00, 0x00, 0x00}, // consumer, level, high
                new byte[] {0x79, 0x00});
        int vrt1At = indexOf(dsdt, vrt1);
        assertTrue(vrt1At > 0, "VRT1 encoded as the specification says");
        int vrt0At = indexOf(dsdt, new byte[] {0x5B, (byte) 0x82, 0x3A, 'V', 'R', 'T', '0'});
        int com1At = indexOf(dsdt, new byte[] {'C', 'O', 'M', '1'});
        assertTrue(com1At < vrt0At && vrt0At < vrt1At, "COM1, then VRT0, then VRT1");

        String listing = disassemble("dsdt", dsdt);
        int first = listing.indexOf("Device (VRT0)");
        int second = listing.indexOf("Device (VRT1)");
        assertTrue(first > 0 && second > first, listing);
        String vrt0 = listing.substring(first, second);
        assertTrue(vrt0.contains("Name (_HID, \"LNRO0005\")"), vrt0);
        assertTrue(vrt0.contains("Name (_UID, Zero)"), vrt0);
        assertTrue(vrt0.contains("Memory32Fixed (ReadWrite,") && vrt0.contains("0xD0000000,")
                && vrt0.contains("0x00001000,"), vrt0);
        assertTrue(vrt0.contains("Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )"), vrt0);
        assertTrue(vrt0.contains("0x00000010,"), vrt0);
        assertTrue(listing.substring(second).contains("0xD0001000,")
                && listing.substring(second).contains("0x00000011,"), listing);
    }

    @Test
    void amlEncodingsMatchTheSpecification() {
        assertArrayEquals(new byte[] {0x0C, 0x41, (byte) 0xD0, 0x05, 0x01}, Aml.eisaId("PNP0501"));
        assertArrayEquals(new byte[] {0x5C, '_', 'S', 'B', '_'}, Aml.nameString("\\_SB"));
        assertArrayEquals(new byte[] {0x2E, '_', 'S', 'B', '_', 'C', 'O', 'M', '1'},
                Aml.nameString("_SB.COM1"));
        // PkgLength: 63 bytes fit one byte; 64 need two (ACPI 6.5, 20.2.4).
        assertEquals(1 + 1 + 62, Aml.withPkgLength(new byte[] {0x10}, new byte[62]).length);
        byte[] two = Aml.withPkgLength(new byte[] {0x10}, new byte[100]);
        assertEquals(0x40 | (102 & 0x0F), two[1] & 0xFF);
        assertEquals(102 >> 4, two[2] & 0xFF);
        assertArrayEquals(new byte[] {0x0B, 0x34, 0x12}, Aml.integer(0x1234));
        assertThrows(IllegalArgumentException.class, () -> Aml.eisaId("pnp0501"));
        assertThrows(IllegalArgumentException.class, () -> Aml.nameString("TOOLONG"));
        assertThrows(IllegalArgumentException.class, () -> Aml.nameString(".."), "no segments at all");
        assertThrows(IllegalArgumentException.class, () -> Aml.nameString("_SB."), "an empty last segment");
        assertThrows(IllegalArgumentException.class, () -> Aml.irqNoFlags(16));
        assertThrows(IllegalArgumentException.class, () -> AcpiTables.build(BASE, 0, List.of()));
        assertThrows(IllegalArgumentException.class, () -> AcpiTables.build(BASE + 1, 1, List.of()));
        assertArrayEquals(new byte[] {(byte) 0x86, 0x09, 0x00, 0x01, 0, 0x30, 0, (byte) 0xD0, 0, 0x10, 0, 0},
                Aml.memory32Fixed(0xD000_3000L, 0x1000));
        assertArrayEquals(new byte[] {(byte) 0x89, 0x06, 0x00, 0x01, 0x01, 23, 0, 0, 0}, Aml.interrupt(23, true));
        assertArrayEquals(new byte[] {(byte) 0x89, 0x06, 0x00, 0x03, 0x01, 5, 0, 0, 0}, Aml.interrupt(5, false));
        assertThrows(IllegalArgumentException.class, () -> Aml.memory32Fixed(0xFFFF_F000L, 0x2000));
        assertThrows(IllegalArgumentException.class, () -> Aml.interrupt(-1, true));
    }

    private static byte[] concat(byte[]... parts) {
        return Aml.concat(parts);
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static int sum(byte[] b, int from, int length) {
        int s = 0;
        for (int i = from; i < from + length; i++) {
            s += b[i];
        }
        return s & 0xFF;
    }
}
