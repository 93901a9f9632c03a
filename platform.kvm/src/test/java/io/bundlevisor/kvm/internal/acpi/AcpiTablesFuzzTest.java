package io.bundlevisor.kvm.internal.acpi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (Jazzer) of the ACPI builder's inputs: any vCPU count, base address, and ISA and MMIO
 * devices with any names, ids, ranges and interrupts. What must hold: {@link AcpiTables#build} refuses with an
 * IllegalArgumentException or returns tables a guest can trust, checked here from the ACPI 6.5 text, not from the
 * builder: every table lies inside the image with its length and a zero checksum, the RSDP's two checksums hold,
 * the XSDT points at the FADT and MADT, the FADT at the DSDT, the MADT lists exactly the vCPUs, and the DSDT's AML
 * parses (section 20: Name, Scope and Device with PkgLengths that tile their parents exactly, valid NameSegs, data
 * objects, packages, and resource templates whose descriptors end in an End Tag at the buffer's end).
 */
class AcpiTablesFuzzTest {

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyMachineGetsTablesThatParseOrARefusal(FuzzedDataProvider data) {
        int cpus = data.consumeBoolean() ? data.consumeInt(1, 255) : data.consumeInt();
        long base = data.consumeBoolean() ? 0xE_0000L : data.consumeBoolean() ? data.consumeLong(0, 0xFFFF_0000L) & ~15L
                : data.consumeLong();
        List<AcpiTables.IsaDevice> isa = new ArrayList<>();
        for (int i = data.consumeInt(0, 3); i > 0; i--) {
            isa.add(new AcpiTables.IsaDevice(data.consumeString(6), data.consumeBoolean() ? "PNP0501"
                    : data.consumeString(8), data.consumeInt(-1, 0x10000), data.consumeInt(-1, 300),
                    data.consumeInt(-1, 16)));
        }
        List<AcpiTables.MmioDevice> mmio = new ArrayList<>();
        for (int i = data.consumeInt(0, 40); i > 0; i--) {
            mmio.add(new AcpiTables.MmioDevice(data.consumeBoolean() ? "VRT" + (i % 10) : data.consumeString(6),
                    data.consumeBoolean() ? "LNRO0005" : data.consumeString(10), data.consumeInt(),
                    data.consumeLong(-1, 0x1_0000_0001L), data.consumeLong(-1, 0x1_0000_0001L), data.consumeInt()));
        }
        AcpiTables.Image image;
        try {
            image = AcpiTables.build(base, cpus, isa, mmio);
        } catch (IllegalArgumentException refused) {
            return;
        }
        byte[] b = image.bytes();
        assertEquals(base, image.base());
        int rsdp = at(image, image.rsdp());
        assertEquals("RSD PTR ", ascii(b, rsdp, 8));
        assertEquals(0, sum(b, rsdp, 20), "RSDP checksum");
        assertEquals(0, sum(b, rsdp, 36), "RSDP extended checksum");
        assertEquals(image.xsdt(), u64(b, rsdp + 24));
        int xsdt = table(image, image.xsdt(), "XSDT");
        assertEquals(36 + 16, u32(b, xsdt + 4));
        assertEquals(image.fadt(), u64(b, xsdt + 36));
        assertEquals(image.madt(), u64(b, xsdt + 44));
        int fadt = table(image, image.fadt(), "FACP");
        assertEquals(image.dsdt(), u64(b, fadt + 140), "FADT X_DSDT");
        int madt = table(image, image.madt(), "APIC");
        int apics = 0;
        for (int p = madt + 44; p < madt + u32(b, madt + 4); p += b[p + 1] & 0xFF) {
            assertTrue((b[p + 1] & 0xFF) >= 2, "MADT entry of length " + b[p + 1]);
            if (b[p] == 0) {
                assertEquals(apics, b[p + 3] & 0xFF, "APIC ids in order");
                apics++;
            }
        }
        assertEquals(cpus, apics, "one local APIC per vCPU");
        int dsdt = table(image, image.dsdt(), "DSDT");
        try {
            new AmlWalk(b).terms(dsdt + 36, dsdt + (int) u32(b, dsdt + 4));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + " in the DSDT of " + isa + " " + mmio + ": "
                    + java.util.HexFormat.of().formatHex(b, dsdt, dsdt + (int) u32(b, dsdt + 4)), e);
        }
    }

    /** A minimal reader of the AML this builder may emit (ACPI 6.5 section 20.2); anything else fails. */
    private record AmlWalk(byte[] a) {
        void terms(int p, int end) {
            while (p < end) {
                int op = a[p] & 0xFF;
                if (op == 0x08) { // DefName
                    p = data(name(p + 1), end);
                } else if (op == 0x10 || (op == 0x5B && (a[p + 1] & 0xFF) == 0x82)) { // DefScope, DefDevice
                    int start = p + (op == 0x10 ? 1 : 2);
                    int[] len = pkgLength(start);
                    int pkgEnd = start + len[0];
                    assertTrue(pkgEnd <= end, "a package past its parent's end at " + p);
                    terms(name(len[1]), pkgEnd);
                    p = pkgEnd;
                } else {
                    throw new AssertionError("unexpected AML opcode 0x" + Integer.toHexString(op) + " at " + p);
                }
            }
            assertEquals(end, p, "terms overran their package");
        }

        int data(int p, int end) {
            assertTrue(p < end, "a data object past the end");
            int op = a[p] & 0xFF;
            return switch (op) {
                case 0x00, 0x01, 0xFF -> p + 1;
                case 0x0A -> p + 2;
                case 0x0B -> p + 3;
                case 0x0C -> p + 5;
                case 0x0E -> p + 9;
                case 0x0D -> {
                    int q = p + 1;
                    while (a[q] != 0) {
                        assertTrue(a[q] >= 0x20 && a[q] < 0x7F, "a String with a non-ASCII byte");
                        q++;
                    }
                    yield q + 1;
                }
                case 0x12 -> { // DefPackage: PkgLength NumElements elements
                    int[] len = pkgLength(p + 1);
                    int pkgEnd = p + 1 + len[0];
                    int q = len[1] + 1;
                    for (int n = a[len[1]] & 0xFF; n > 0; n--) {
                        q = data(q, pkgEnd);
                    }
                    assertEquals(pkgEnd, q, "package elements do not fill the package");
                    yield pkgEnd;
                }
                case 0x11 -> { // DefBuffer: PkgLength BufferSize bytes, here a resource template
                    int[] len = pkgLength(p + 1);
                    int bufEnd = p + 1 + len[0];
                    int q = data(len[1], bufEnd);
                    assertEquals(bufEnd - q, integer(len[1]), "BufferSize");
                    resources(q, bufEnd);
                    yield bufEnd;
                }
                default -> throw new AssertionError("unexpected data object 0x" + Integer.toHexString(op));
            };
        }

        long integer(int p) {
            return switch (a[p] & 0xFF) {
                case 0x00 -> 0;
                case 0x01 -> 1;
                case 0x0A -> a[p + 1] & 0xFF;
                case 0x0B -> (a[p + 1] & 0xFF) | (a[p + 2] & 0xFF) << 8;
                case 0x0C -> u32(a, p + 1);
                default -> throw new AssertionError("BufferSize is no small integer");
            };
        }

        /** Resource descriptors (6.4): small (tag in bits 6-3, length in bits 2-0) and large; End Tag last. */
        void resources(int p, int end) {
            while (true) {
                assertTrue(p < end, "resource template without an End Tag");
                int tag = a[p] & 0xFF;
                if (tag == 0x79) {
                    assertEquals(end, p + 2, "End Tag not at the end of the buffer");
                    return;
                }
                p += (tag & 0x80) == 0 ? 1 + (tag & 7) : 3 + ((a[p + 1] & 0xFF) | (a[p + 2] & 0xFF) << 8);
            }
        }

        /** NameString (20.2.2): root or parent prefixes, then one, two or n NameSegs, or NullName. */
        int name(int p) {
            while (a[p] == '\\' || a[p] == '^') {
                p++;
            }
            int segs = 1;
            if (a[p] == 0x2E) {
                segs = 2;
                p++;
            } else if (a[p] == 0x2F) {
                segs = a[p + 1] & 0xFF;
                p += 2;
            } else if (a[p] == 0) {
                return p + 1;
            }
            for (int s = 0; s < segs; s++, p += 4) {
                String seg = ascii(a, p, 4);
                if (!seg.matches("[A-Z_][A-Z0-9_]{3}")) {
                    fail("not a NameSeg: '" + seg + "'");
                }
            }
            return p;
        }

        /** PkgLength (20.2.4): {length, position after it}. */
        int[] pkgLength(int p) {
            int lead = a[p] & 0xFF;
            int extra = lead >> 6;
            if (extra == 0) {
                return new int[] {lead & 0x3F, p + 1};
            }
            assertEquals(0, lead & 0x30, "PkgLength lead byte bits 5-4 must be zero");
            int len = lead & 0x0F;
            for (int i = 1; i <= extra; i++) {
                len |= (a[p + i] & 0xFF) << (4 + 8 * (i - 1));
            }
            return new int[] {len, p + 1 + extra};
        }
    }

    /** The offset of a table at guest address {@code address}: inside the image, length and checksum right. */
    private static int table(AcpiTables.Image image, long address, String signature) {
        int p = at(image, address);
        byte[] b = image.bytes();
        assertEquals(signature, ascii(b, p, 4));
        long length = u32(b, p + 4);
        assertTrue(length >= 36 && p + length <= b.length, signature + " of length " + length + " leaves the image");
        assertEquals(0, sum(b, p, (int) length), signature + " checksum");
        return p;
    }

    private static int at(AcpiTables.Image image, long address) {
        long off = address - image.base();
        assertTrue(off >= 0 && off + 36 <= image.bytes().length, "address 0x" + Long.toHexString(address)
                + " outside the image");
        return (int) off;
    }

    private static int sum(byte[] b, int from, int length) {
        int s = 0;
        for (int i = from; i < from + length; i++) {
            s += b[i];
        }
        return s & 0xFF;
    }

    private static long u32(byte[] b, int p) {
        return (b[p] & 0xFFL) | (b[p + 1] & 0xFFL) << 8 | (b[p + 2] & 0xFFL) << 16 | (b[p + 3] & 0xFFL) << 24;
    }

    private static long u64(byte[] b, int p) {
        return u32(b, p) | u32(b, p + 4) << 32;
    }

    private static String ascii(byte[] b, int p, int n) {
        return new String(b, p, n, StandardCharsets.ISO_8859_1);
    }
}
