package io.bundlevisor.kvm.internal.gdb;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;

/**
 * Reads gdb remote-protocol frames off a byte stream (GDB manual, "Remote Protocol", "Overview" and "Binary Data"):
 * {@code $data#cc}, where {@code cc} is the modulo-256 sum of the bytes between {@code $} and {@code #} as two hex
 * digits, and {@code }} escapes the next byte (XORed with 0x20). Outside a packet, 0x03 is an interrupt and
 * {@code +}/{@code -} are acknowledgments; other bytes are skipped, as the protocol asks.
 *
 * <p>The peer is not trusted: a packet longer than the limit, a {@code $} inside a packet, or a checksum that is not
 * hex ends the connection with a {@link ProtocolException}; a well-formed packet with a wrong checksum comes back as
 * {@link Frame.BadChecksum} (to be answered with {@code -}). Not thread-safe: one reader thread.
 */
final class PacketReader {

    /** A malformed frame: the connection is dropped. */
    static final class ProtocolException extends IOException {
        private static final long serialVersionUID = 1L;

        ProtocolException(String message) {
            super(message);
        }
    }

    private final InputStream in;
    private final int maxPacket;

    /** @param maxPacket the most data bytes one packet may have, before escapes are undone */
    PacketReader(InputStream in, int maxPacket) {
        this.in = in;
        this.maxPacket = maxPacket;
    }

    /**
     * The next frame.
     *
     * @throws EOFException at the end of the stream
     * @throws ProtocolException for a frame that cannot be read (the connection should be dropped)
     */
    Frame next() throws IOException {
        while (true) {
            int b = read();
            switch (b) {
                case '$' -> {
                    return packet();
                }
                case 0x03 -> {
                    return new Frame.Interrupt();
                }
                case '+' -> {
                    return new Frame.Ack(true);
                }
                case '-' -> {
                    return new Frame.Ack(false);
                }
                default -> {
                    // Noise between packets: skipped.
                }
            }
        }
    }

    private Frame packet() throws IOException {
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        int sum = 0;
        int raw = 0;
        boolean escaped = false;
        while (true) {
            int b = read();
            if (b == '#') {
                if (escaped) {
                    throw new ProtocolException("a packet ends inside an escape");
                }
                break;
            }
            if (b == '$') {
                throw new ProtocolException("a '$' inside a packet");
            }
            if (++raw > maxPacket) {
                throw new ProtocolException("a packet longer than " + maxPacket + " bytes");
            }
            sum += b;
            if (escaped) {
                data.write(b ^ 0x20);
                escaped = false;
            } else if (b == '}') {
                escaped = true;
            } else {
                data.write(b);
            }
        }
        int hi = Hex.digit(read());
        int lo = Hex.digit(read());
        if (hi < 0 || lo < 0) {
            throw new ProtocolException("a packet checksum that is not two hex digits");
        }
        if (((hi << 4) | lo) != (sum & 0xFF)) {
            return new Frame.BadChecksum();
        }
        return new Frame.Packet(data.toByteArray());
    }

    private int read() throws IOException {
        int b = in.read();
        if (b < 0) {
            throw new EOFException("the debugger closed the connection");
        }
        return b;
    }
}
