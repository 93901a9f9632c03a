package io.bundlevisor.manage.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

class ConsoleEscapesTest {

    private final ByteArrayOutputStream help = new ByteArrayOutputStream();
    private final AtomicInteger quits = new AtomicInteger();

    private byte[] through(String typed) throws Exception {
        ConsoleEscapes e = new ConsoleEscapes(new ByteArrayInputStream(typed.getBytes(StandardCharsets.ISO_8859_1)),
                new PrintStream(help, true, StandardCharsets.US_ASCII), quits::incrementAndGet);
        return e.readAllBytes();
    }

    @Test
    void everyKeyButTheEscapesReachesTheGuest() throws Exception {
        assertArrayEquals("ls\r\u0003\u0004\u001b[A".getBytes(StandardCharsets.ISO_8859_1),
                through("ls\r\u0003\u0004\u001b[A"), "Ctrl-C, Ctrl-D and arrows are the guest's");
        assertArrayEquals("a\u0001b".getBytes(StandardCharsets.ISO_8859_1), through("a\u0001\u0001b"),
                "Ctrl-A Ctrl-A sends one Ctrl-A");
        assertArrayEquals("ab".getBytes(StandardCharsets.ISO_8859_1), through("a\u0001zb"), "unknown escapes dropped");
        assertEquals(0, quits.get());
        assertEquals("", help.toString(StandardCharsets.US_ASCII));
    }

    @Test
    void ctrlAHListsTheEscapesAndCtrlAXQuitsAndEndsTheInput() throws Exception {
        assertArrayEquals("ab".getBytes(StandardCharsets.ISO_8859_1), through("a\u0001hb"));
        assertTrue(help.toString(StandardCharsets.US_ASCII).contains("C-a x    exit"), help.toString());
        assertTrue(help.toString(StandardCharsets.US_ASCII).contains("\r\n"), "raw terminal: CR LF");
        byte[] rest = through("ok\u0001xnever");
        assertArrayEquals("ok".getBytes(StandardCharsets.ISO_8859_1), rest, "nothing after the quit");
        assertEquals(1, quits.get());
        assertFalse(new String(rest, StandardCharsets.ISO_8859_1).contains("never"));
    }
}
