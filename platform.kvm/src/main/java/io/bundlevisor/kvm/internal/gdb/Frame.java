package io.bundlevisor.kvm.internal.gdb;

/**
 * One thing read off a gdb connection (GDB manual, "Remote Protocol", "Overview"): a packet whose checksum held, a
 * packet whose checksum did not (answered with {@code -} while acknowledgments are on), the interrupt byte
 * (0x03, Ctrl-C), or an acknowledgment.
 */
sealed interface Frame {

    /** {@code $data#cs} with a good checksum; {@code data} with {@code }} escapes undone. */
    record Packet(byte[] data) implements Frame {

        /** The data as ISO-8859-1 text (every byte one character). */
        String text() {
            return new String(data, java.nio.charset.StandardCharsets.ISO_8859_1);
        }
    }

    /** A packet whose checksum was wrong. */
    record BadChecksum() implements Frame {
    }

    /** The interrupt byte, 0x03, outside a packet. */
    record Interrupt() implements Frame {
    }

    /** {@code +} or {@code -}. */
    record Ack(boolean positive) implements Frame {
    }
}
