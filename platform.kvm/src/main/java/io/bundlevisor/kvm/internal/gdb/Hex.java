package io.bundlevisor.kvm.internal.gdb;

import java.nio.charset.StandardCharsets;

/** Hex text as the gdb protocol writes it: lower-case digits, values little-endian in register and memory data. */
final class Hex {

    static final byte[] DIGITS = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    /** The value of hex digit {@code c}, or -1. */
    static int digit(int c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    }

    /**
     * A non-negative hex number of at most 16 digits (an address, a length, a register number).
     *
     * @throws IllegalArgumentException for anything else (the packet gets an error reply)
     */
    static long number(String text) {
        if (text.isEmpty() || text.length() > 16) {
            throw new IllegalArgumentException("not a hex number: '" + text + "'");
        }
        long v = 0;
        for (int i = 0; i < text.length(); i++) {
            int d = digit(text.charAt(i));
            if (d < 0) {
                throw new IllegalArgumentException("not a hex number: '" + text + "'");
            }
            v = (v << 4) | d;
        }
        return v;
    }

    /** A hex number that fits an int of at most {@code max}. */
    static int small(String text, int max) {
        long v = number(text);
        if (v > max) {
            throw new IllegalArgumentException(text + " is more than " + max);
        }
        return (int) v;
    }

    /** {@code hex} (an even number of digits) as bytes. */
    static byte[] bytes(String hex) {
        if ((hex.length() & 1) != 0) {
            throw new IllegalArgumentException("an odd number of hex digits");
        }
        byte[] b = new byte[hex.length() / 2];
        for (int i = 0; i < b.length; i++) {
            int hi = digit(hex.charAt(2 * i));
            int lo = digit(hex.charAt(2 * i + 1));
            if (hi < 0 || lo < 0) {
                throw new IllegalArgumentException("not hex: '" + hex + "'");
            }
            b[i] = (byte) ((hi << 4) | lo);
        }
        return b;
    }

    static String of(byte[] bytes, int offset, int length) {
        StringBuilder s = new StringBuilder(length * 2);
        for (int i = offset; i < offset + length; i++) {
            s.append((char) DIGITS[(bytes[i] >> 4) & 0xF]).append((char) DIGITS[bytes[i] & 0xF]);
        }
        return s.toString();
    }

    /** The low {@code size} bytes of {@code value}, little-endian, as hex. */
    static String littleEndian(long value, int size) {
        StringBuilder s = new StringBuilder(size * 2);
        for (int i = 0; i < size; i++) {
            int b = (int) (value >>> (8 * i)) & 0xFF;
            s.append((char) DIGITS[b >> 4]).append((char) DIGITS[b & 0xF]);
        }
        return s.toString();
    }

    /** {@code size} little-endian bytes from {@code hex} at {@code offset}, as a value. */
    static long littleEndian(String hex, int offset, int size) {
        long v = 0;
        byte[] b = bytes(hex.substring(offset, offset + size * 2));
        for (int i = size - 1; i >= 0; i--) {
            v = (v << 8) | (b[i] & 0xFF);
        }
        return v;
    }

    private Hex() {
    }
}
