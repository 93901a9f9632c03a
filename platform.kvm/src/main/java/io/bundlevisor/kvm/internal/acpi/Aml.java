package io.bundlevisor.kvm.internal.acpi;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A small AML encoder (ACPI 6.5, chapter 20 "ACPI Machine Language Specification"): just the terms our DSDT
 * needs. Each method returns the encoded bytes of one term, so terms nest as they do in ASL.
 */
public final class Aml {

    private static final int ZERO_OP = 0x00;
    private static final int ONE_OP = 0x01;
    private static final int NAME_OP = 0x08;
    private static final int BYTE_PREFIX = 0x0A;
    private static final int WORD_PREFIX = 0x0B;
    private static final int DWORD_PREFIX = 0x0C;
    private static final int QWORD_PREFIX = 0x0E;
    private static final int STRING_PREFIX = 0x0D;
    private static final int SCOPE_OP = 0x10;
    private static final int BUFFER_OP = 0x11;
    private static final int PACKAGE_OP = 0x12;
    private static final int EXT_OP_PREFIX = 0x5B;
    private static final int DEVICE_OP = 0x82;
    private static final int ROOT_CHAR = 0x5C;

    private Aml() {
    }

    /** Scope(name) { terms } — 20.2.5.1. */
    public static byte[] scope(String name, byte[]... terms) {
        return withPkgLength(new byte[] {SCOPE_OP}, concat(nameString(name), concat(terms)));
    }

    /** Device(name) { terms } — 20.2.5.2, DefDevice := DeviceOp PkgLength NameString TermList. */
    public static byte[] device(String name, byte[]... terms) {
        return withPkgLength(new byte[] {EXT_OP_PREFIX, (byte) DEVICE_OP}, concat(nameString(name), concat(terms)));
    }

    /** Name(name, value) — 20.2.5.1, DefName := NameOp NameString DataRefObject. */
    public static byte[] name(String name, byte[] value) {
        return concat(new byte[] {NAME_OP}, nameString(name), value);
    }

    /** The smallest integer encoding of {@code value} (ZeroOp, OneOp, Byte/Word/DWord/QWordConst). */
    public static byte[] integer(long value) {
        if (value == 0) {
            return new byte[] {ZERO_OP};
        }
        if (value == 1) {
            return new byte[] {ONE_OP};
        }
        if (value > 0 && value <= 0xFF) {
            return new byte[] {BYTE_PREFIX, (byte) value};
        }
        if (value > 0 && value <= 0xFFFF) {
            return new byte[] {WORD_PREFIX, (byte) value, (byte) (value >> 8)};
        }
        if (value > 0 && value <= 0xFFFF_FFFFL) {
            return concat(new byte[] {DWORD_PREFIX}, le(value, 4));
        }
        return concat(new byte[] {QWORD_PREFIX}, le(value, 8));
    }

    /** A string constant (ASCII, NUL-terminated). */
    public static byte[] string(String value) {
        requireAscii(value);
        return concat(new byte[] {STRING_PREFIX}, value.getBytes(StandardCharsets.US_ASCII), new byte[] {0});
    }

    /** EisaId("PNP0501"): three letters compressed to 5 bits each, then four hex digits; a DWordConst. */
    public static byte[] eisaId(String id) {
        if (!id.matches("[A-Z]{3}[0-9A-F]{4}")) {
            throw new IllegalArgumentException("not an EISA id: " + id);
        }
        int letters = ((id.charAt(0) - 0x40) << 10) | ((id.charAt(1) - 0x40) << 5) | (id.charAt(2) - 0x40);
        int product = Integer.parseInt(id.substring(3), 16);
        // Stored big-endian: letters, then product.
        return new byte[] {DWORD_PREFIX, (byte) (letters >> 8), (byte) letters, (byte) (product >> 8),
            (byte) product};
    }

    /** Package(){ elements } — 20.2.5.4, DefPackage := PackageOp PkgLength NumElements PackageElementList. */
    public static byte[] packageOf(byte[]... elements) {
        if (elements.length > 255) {
            throw new IllegalArgumentException("a Package holds at most 255 elements");
        }
        return withPkgLength(new byte[] {PACKAGE_OP}, concat(new byte[] {(byte) elements.length}, concat(elements)));
    }

    /**
     * ResourceTemplate(){ descriptors } — a Buffer of resource descriptors (6.4) closed by an End Tag whose
     * checksum byte 0 means "treat as checksummed".
     */
    public static byte[] resourceTemplate(byte[]... descriptors) {
        byte[] body = concat(concat(descriptors), new byte[] {0x79, 0x00});
        return withPkgLength(new byte[] {BUFFER_OP}, concat(integer(body.length), body));
    }

    /** IO(Decode16, base, base, 1, length) — small descriptor 6.4.2.5. */
    public static byte[] io(int base, int length) {
        if (base < 0 || base > 0xFFFF || length < 1 || length > 0xFF) {
            throw new IllegalArgumentException("bad IO range " + base + "/" + length);
        }
        return new byte[] {0x47, 0x01, (byte) base, (byte) (base >> 8), (byte) base, (byte) (base >> 8), 0x01,
            (byte) length};
    }

    /** IRQNoFlags(){irq}: edge-triggered, active-high — small descriptor 6.4.2.1. */
    public static byte[] irqNoFlags(int irq) {
        if (irq < 0 || irq > 15) {
            throw new IllegalArgumentException("ISA IRQ must be 0..15, got " + irq);
        }
        int mask = 1 << irq;
        return new byte[] {0x22, (byte) mask, (byte) (mask >> 8)};
    }

    /**
     * Memory32Fixed(ReadWrite, base, length) — large descriptor 6.4.3.4: tag 0x86, length 9 (u16), information
     * byte (bit 0: 1 = read-write), base (u32), length (u32). The range must lie below 4 GiB.
     */
    public static byte[] memory32Fixed(long base, long length) {
        if (base < 0 || length < 0 || base + length > 0x1_0000_0000L) {
            throw new IllegalArgumentException("Memory32Fixed range 0x" + Long.toHexString(base) + "+0x"
                    + Long.toHexString(length) + " is not below 4 GiB");
        }
        return concat(new byte[] {(byte) 0x86, 0x09, 0x00, 0x01}, le(base, 4), le(length, 4));
    }

    /**
     * Interrupt(ResourceConsumer, Level or Edge, ActiveHigh, Exclusive){gsi} — extended interrupt descriptor
     * 6.4.3.6: tag 0x89, length 6 (u16), flags (bit 0 consumer, bit 1 edge, bit 2 active-low, bit 3 shared: only
     * the first set here), table length 1, then the GSI (u32).
     */
    public static byte[] interrupt(int gsi, boolean level) {
        if (gsi < 0) {
            throw new IllegalArgumentException("GSI must not be negative, got " + gsi);
        }
        int flags = 0x01 /* consumer */ | (level ? 0 : 0x02) /* edge */;
        return concat(new byte[] {(byte) 0x89, 0x06, 0x00, (byte) flags, 0x01}, le(gsi, 4));
    }

    /**
     * A NameString (20.2.2): a path of 4-character segments separated by dots, optionally rooted with a
     * backslash; short segments are padded with underscores.
     */
    static byte[] nameString(String name) {
        boolean rooted = name.startsWith("\\");
        String path = rooted ? name.substring(1) : name;
        // -1 keeps empty segments: ".." must be refused below, not split into nothing (an empty NameString).
        String[] segments = path.split("\\.", -1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (rooted) {
            out.write(ROOT_CHAR);
        }
        if (segments.length == 2) {
            out.write(0x2E); // DualNamePrefix
        } else if (segments.length > 2) {
            out.write(0x2F); // MultiNamePrefix
            out.write(segments.length);
        }
        for (String segment : segments) {
            if (!segment.matches("[A-Z_][A-Z0-9_]{0,3}")) {
                throw new IllegalArgumentException("bad ACPI name segment '" + segment + "' in " + name);
            }
            String padded = (segment + "___").substring(0, 4);
            out.writeBytes(padded.getBytes(StandardCharsets.US_ASCII));
        }
        return out.toByteArray();
    }

    /**
     * Prefixes {@code body} with {@code opcode} and a PkgLength (20.2.4) that counts itself and the body: one
     * byte below 64, else a lead byte (count of following bytes in bits 7-6, low nibble in bits 3-0) and up to
     * three more bytes.
     */
    static byte[] withPkgLength(byte[] opcode, byte[] body) {
        int length = body.length + 1;
        byte[] pkg;
        if (length < 0x40) {
            pkg = new byte[] {(byte) length};
        } else {
            int extra = length + 1 < 0x1000 ? 1 : length + 2 < 0x10_0000 ? 2 : 3;
            int total = body.length + 1 + extra;
            if (total >= 0x1000_0000) {
                throw new IllegalArgumentException("AML package too large: " + total);
            }
            pkg = new byte[1 + extra];
            pkg[0] = (byte) ((extra << 6) | (total & 0x0F));
            for (int i = 1; i <= extra; i++) {
                pkg[i] = (byte) (total >> (4 + 8 * (i - 1)));
            }
        }
        return concat(opcode, pkg, body);
    }

    static byte[] le(long value, int bytes) {
        byte[] out = new byte[bytes];
        for (int i = 0; i < bytes; i++) {
            out[i] = (byte) (value >> (8 * i));
        }
        return out;
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static void requireAscii(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < 0x20 || s.charAt(i) > 0x7E) {
                throw new IllegalArgumentException("AML strings here are printable ASCII");
            }
        }
    }
}
