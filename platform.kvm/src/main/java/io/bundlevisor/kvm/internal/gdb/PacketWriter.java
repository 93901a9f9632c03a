package io.bundlevisor.kvm.internal.gdb;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Frames replies for gdb (GDB manual, "Remote Protocol", "Overview"): {@code $data#cc}, with {@code $}, {@code #},
 * {@code }} and {@code *} (which would start a run-length encoding) escaped as {@code }} and the byte XORed with
 * 0x20, and the checksum taken over the bytes as sent. Thread-safe: one frame is written at a time.
 */
final class PacketWriter {

    private final OutputStream out;

    PacketWriter(OutputStream out) {
        this.out = out;
    }

    /** {@code data} as one frame. */
    static byte[] frame(byte[] data) {
        ByteArrayOutputStream b = new ByteArrayOutputStream(data.length + 4);
        b.write('$');
        int sum = 0;
        for (byte d : data) {
            int c = d & 0xFF;
            if (c == '$' || c == '#' || c == '}' || c == '*') {
                b.write('}');
                sum += '}';
                c ^= 0x20;
            }
            b.write(c);
            sum += c;
        }
        b.write('#');
        b.write(Hex.DIGITS[(sum >> 4) & 0xF]);
        b.write(Hex.DIGITS[sum & 0xF]);
        return b.toByteArray();
    }

    synchronized void packet(byte[] data) throws IOException {
        out.write(frame(data));
        out.flush();
    }

    void packet(String text) throws IOException {
        packet(text.getBytes(StandardCharsets.ISO_8859_1));
    }

    /** An acknowledgment, {@code +} or {@code -}. */
    synchronized void ack(boolean positive) throws IOException {
        out.write(positive ? '+' : '-');
        out.flush();
    }
}
