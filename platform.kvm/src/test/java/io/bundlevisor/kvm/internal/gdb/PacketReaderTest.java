package io.bundlevisor.kvm.internal.gdb;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** The framing: checksums, escapes, acknowledgments, the interrupt byte, and what a hostile peer can send. */
class PacketReaderTest {

    private static PacketReader reader(String wire) {
        return reader(wire.getBytes(StandardCharsets.ISO_8859_1));
    }

    private static PacketReader reader(byte[] wire) {
        return new PacketReader(new ByteArrayInputStream(wire), 64);
    }

    @Test
    void readsAPacketWithItsChecksum() throws IOException {
        Frame f = reader("$qSupported#37").next();
        assertEquals("qSupported", assertInstanceOf(Frame.Packet.class, f).text());
        // The manual's example: "$g#67" reads all registers.
        assertEquals("g", ((Frame.Packet) reader("$g#67").next()).text());
    }

    @Test
    void aWrongChecksumIsReportedNotThrown() throws IOException {
        PacketReader r = reader("$g#68$g#67");
        assertInstanceOf(Frame.BadChecksum.class, r.next());
        assertEquals("g", ((Frame.Packet) r.next()).text());
    }

    @Test
    void acksInterruptsAndNoise() throws IOException {
        PacketReader r = reader("+-\u0003xyz$?#3f");
        assertEquals(new Frame.Ack(true), r.next());
        assertEquals(new Frame.Ack(false), r.next());
        assertInstanceOf(Frame.Interrupt.class, r.next());
        assertEquals("?", ((Frame.Packet) r.next()).text());
        assertThrows(EOFException.class, r::next);
    }

    @Test
    void escapesAreUndoneAndCountInTheChecksum() throws IOException {
        byte[] data = {'X', '1', ',', '4', ':', '$', '#', '}', '*'};
        byte[] wire = PacketWriter.frame(data);
        assertEquals("$X1,4:}\u0004}\u0003}]}\n#", new String(wire, 0, wire.length - 2, StandardCharsets.ISO_8859_1));
        assertArrayEquals(data, ((Frame.Packet) reader(wire).next()).data());
    }

    @Test
    void writerChecksumsAsTheManualDoes() {
        assertEquals("$OK#9a", new String(PacketWriter.frame("OK".getBytes(StandardCharsets.US_ASCII)),
                StandardCharsets.US_ASCII));
        assertEquals("$#00", new String(PacketWriter.frame(new byte[0]), StandardCharsets.US_ASCII));
    }

    @Test
    void malformedFramesDropTheConnection() {
        assertThrows(PacketReader.ProtocolException.class, () -> reader("$g$g#67").next());
        assertThrows(PacketReader.ProtocolException.class, () -> reader("$g#zz").next());
        assertThrows(PacketReader.ProtocolException.class, () -> reader("$g}#00").next());
        assertThrows(PacketReader.ProtocolException.class, () -> reader("$" + "m".repeat(65) + "#00").next());
        assertThrows(EOFException.class, () -> reader("$g#6").next());
        assertThrows(EOFException.class, () -> reader("$ggg").next());
    }

    @Test
    void randomBytesEndInFramesOrTheTwoExceptions() {
        Random random = new Random(18);
        for (int i = 0; i < 5000; i++) {
            byte[] wire = new byte[random.nextInt(200)];
            random.nextBytes(wire);
            if (wire.length > 0 && random.nextBoolean()) {
                wire[0] = '$';
            }
            PacketReader r = reader(wire);
            try {
                while (true) {
                    r.next();
                }
            } catch (EOFException | PacketReader.ProtocolException expected) {
                // The connection ends; nothing else may escape.
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }
    }
}
