package io.bundlevisor.kvm.internal.machine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/** The console UART as Linux's 8250 driver probes and drives it (register values from the PC16550D datasheet). */
class Uart16550Test {

    private final List<Boolean> irq = new ArrayList<>();
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final Uart16550 uart = new Uart16550(irq::add, Uart16550.sinkOf(out));

    private int in(int reg) {
        return (int) uart.read(reg, 1) & 0xFF;
    }

    private void out(int reg, int value) {
        uart.write(reg, 1, value);
    }

    @Test
    void linuxIdentifiesA16550aWithAWorkingLoopback() {
        out(7, 0xA5); // scratch register
        assertEquals(0xA5, in(7));
        out(2, 0x07); // FCR: enable and clear the FIFOs
        assertEquals(0xC0, in(2) & 0xC0, "IIR says the FIFOs are enabled: a 16550A");
        out(4, 0x10 | 0x0A); // MCR: loopback, OUT2, RTS
        assertEquals(0x90, in(6) & 0xF0, "MSR in loopback: DCD (OUT2) and CTS (RTS)");
        out(0, 'x'); // looped back into the receiver, not the console
        assertEquals(0x01, in(5) & 0x01);
        assertEquals('x', in(0));
        assertEquals(0, out.size());
        out(4, 0x0B);
        assertEquals(0xB0, in(6) & 0xF0, "a connected terminal outside loopback");
    }

    @Test
    void transmitGoesToTheConsoleAndRaisesThreWhenEnabled() {
        out(1, 0x02); // IER: THRE interrupt; the transmitter is empty, so it is pending at once
        assertEquals(List.of(true), irq);
        assertEquals(0x02, in(2) & 0x0F, "IIR: THRE");
        assertEquals(0x01, in(2) & 0x0F, "reading IIR cleared it");
        assertEquals(List.of(true, false), irq);
        for (byte b : "hi\n".getBytes(StandardCharsets.US_ASCII)) {
            out(0, b);
        }
        assertEquals("hi\n", out.toString(StandardCharsets.US_ASCII));
        assertEquals(0x60, in(5) & 0x60, "LSR: THRE and TEMT");
    }

    @Test
    void hostInputRaisesTheReceiveInterruptUntilDrained() {
        out(1, 0x01);
        byte[] input = "ab".getBytes(StandardCharsets.US_ASCII);
        assertEquals(2, uart.offer(input, 0, 2));
        assertEquals(List.of(true), irq);
        assertEquals(0x04, in(2) & 0x0F);
        assertEquals('a', in(0));
        assertEquals('b', in(0));
        assertEquals(0x00, in(5) & 0x01);
        assertFalse(irq.getLast());
        assertEquals(0, in(0), "an empty receiver reads 0");
    }

    @Test
    void divisorLatchAndWideAccesses() {
        out(3, 0x80); // DLAB
        out(0, 0x01);
        out(1, 0x00);
        assertEquals(0x01, in(0));
        out(3, 0x03);
        assertEquals(-1L, uart.read(0, 4), "a 4-byte access is not a UART register");
        uart.write(0, 2, 'z');
        assertEquals(0, out.size());
    }

    @Test
    void stateSurvivesSaveAndRestoreAndBadBlobsAreRefused() {
        out(1, 0x01);
        out(7, 0x5A);
        uart.offer(new byte[] {'q'}, 0, 1);
        byte[] saved = uart.save();
        Uart16550 other = new Uart16550(level -> { }, Uart16550.sinkOf(new ByteArrayOutputStream()));
        other.restore(saved);
        assertArrayEquals(saved, other.save());
        assertEquals('q', other.read(0, 1));
        assertEquals(0x5A, other.read(7, 1));
        assertThrows(IllegalArgumentException.class, () -> other.restore(new byte[3]));
        byte[] lying = saved.clone();
        lying[lying.length - 2] = 9; // input length no longer matches
        assertTrue(assertThrows(IllegalArgumentException.class, () -> other.restore(lying)).getMessage()
                .contains("UART state"));
    }
}
