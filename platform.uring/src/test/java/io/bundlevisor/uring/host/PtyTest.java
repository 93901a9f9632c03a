package io.bundlevisor.uring.host;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import io.bundlevisor.uring.sys.Native;
import io.bundlevisor.uring.sys.TermiosLayout;

import org.junit.jupiter.api.Test;

/** Pseudo terminals and raw mode, on real ptys of this kernel. */
class PtyTest {

    @Test
    void bytesCrossThePairUnchangedAndNothingIsEchoed() throws Exception {
        try (Pty pty = Pty.open()) {
            assertTrue(pty.path().toString().startsWith("/dev/pts/"), pty.path().toString());
            byte[] buffer = new byte[64];
            assertEquals(0, pty.read(buffer), "no one attached: nothing to read, no error");
            byte[] lost = "before anyone attached\n".getBytes(StandardCharsets.US_ASCII);
            pty.write(lost, 0, lost.length);
            try (FileInputStream slaveIn = new FileInputStream(pty.path().toFile());
                    FileOutputStream slaveOut = new FileOutputStream(pty.path().toFile())) {
                byte[] guest = "a\rb\nc\u0003".getBytes(StandardCharsets.US_ASCII);
                assertEquals(guest.length, pty.write(guest, 0, guest.length));
                byte[] seen = slaveIn.readNBytes(lost.length + guest.length);
                assertArrayEquals(guest, Arrays.copyOfRange(seen, lost.length, seen.length),
                        "raw: no CR/LF rewriting, Ctrl-C is a byte");
                slaveOut.write("x\n\u0003".getBytes(StandardCharsets.US_ASCII));
                slaveOut.flush();
                StringBuilder typed = new StringBuilder();
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (typed.length() < 3 && System.nanoTime() < deadline) {
                    int n = pty.read(buffer);
                    typed.append(new String(buffer, 0, n, StandardCharsets.US_ASCII));
                    if (n == 0) {
                        Thread.sleep(10);
                    }
                }
                assertEquals("x\n\u0003", typed.toString(),
                        "what the person typed, unprocessed and not echoed back with the guest's output");
            }
            assertEquals(0, pty.read(buffer), "the person went away: EIO is 'nothing now'");
        }
    }

    @Test
    void rawModeIsRestoredAndANonTerminalIsRefused() throws Exception {
        try (Pty pty = Pty.open(); Arena arena = Arena.ofConfined()) {
            int slave = Native.open(pty.path().toString(), Native.O_RDWR | TermiosLayout.O_NOCTTY, 0);
            assertTrue(slave >= 0);
            try {
                assertTrue(Terminal.isTerminal(slave));
                MemorySegment before = arena.allocate(TermiosLayout.SIZE);
                MemorySegment after = arena.allocate(TermiosLayout.SIZE);
                MemorySegment during = arena.allocate(TermiosLayout.SIZE);
                // A cooked terminal first, as a login shell has it: take the pair out of raw mode.
                Native.tcgetattr(slave, before);
                before.set(java.lang.foreign.ValueLayout.JAVA_INT, 12, 0x8a3b); // c_lflag: ISIG ICANON ECHO ... IEXTEN
                assertEquals(0, Native.tcsetattr(slave, TermiosLayout.TCSANOW, before));
                Native.tcgetattr(slave, before);
                Terminal raw = Terminal.raw(slave);
                Native.tcgetattr(slave, during);
                assertEquals(0, during.get(java.lang.foreign.ValueLayout.JAVA_INT, 12) & 0x000b,
                        "no ISIG, ICANON, ECHO while raw");
                raw.close();
                raw.close();
                Native.tcgetattr(slave, after);
                assertEquals(-1, before.asSlice(0, 60).mismatch(after.asSlice(0, 60)), "restored as it was");
            } finally {
                Native.close(slave);
            }
            assertFalse(Terminal.isTerminal(-1));
        }
        try (Pipe pipe = Pipe.create()) {
            SyscallException e = assertThrows(SyscallException.class, () -> Terminal.raw(pipe.readFd()));
            assertTrue(e.getMessage().contains("tcgetattr"), e.getMessage());
            assertTrue(e.getMessage().contains("ENOTTY"), e.getMessage());
        }
    }
}
