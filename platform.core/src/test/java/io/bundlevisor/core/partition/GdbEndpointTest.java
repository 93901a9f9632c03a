package io.bundlevisor.core.partition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Optional;

import org.junit.jupiter.api.Test;

/** {@code --gdb PORT[,wait]} and {@code --gdb PATH[,wait]}. */
class GdbEndpointTest {

    @Test
    void portOrPathWithOptionalWait() {
        assertEquals(new GdbEndpoint(Optional.empty(), 1234, false), GdbEndpoint.parse("1234"));
        assertEquals(new GdbEndpoint(Optional.empty(), 1234, true), GdbEndpoint.parse("1234,wait"));
        GdbEndpoint socket = GdbEndpoint.parse("/tmp/vm,,1.gdb,wait");
        assertEquals(Optional.of(Path.of("/tmp/vm,1.gdb")), socket.socket());
        assertTrue(socket.waitForAttach());
        assertFalse(GdbEndpoint.parse("path=gdb.sock").waitForAttach());
        assertEquals("127.0.0.1:1234", GdbEndpoint.parse("1234").describe());
        assertEquals("target remote gdb.sock", GdbEndpoint.parse("gdb.sock").gdbCommand());
    }

    @Test
    void refusalsAreOneLine() {
        for (String bad : new String[] {"", "0", "65536", "99999999999", "1234,bogus", "wait", "1234,wait=maybe"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GdbEndpoint.parse(bad),
                    bad);
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }
}
