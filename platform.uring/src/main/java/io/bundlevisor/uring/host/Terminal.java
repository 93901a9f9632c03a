package io.bundlevisor.uring.host;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.bundlevisor.uring.sys.Native;
import io.bundlevisor.uring.sys.TermiosLayout;

/**
 * A terminal in raw mode until {@link #close()} restores the settings it had (since 1.4): no echo, no line editing,
 * keys such as Ctrl-C delivered as bytes rather than signals, output unprocessed. The console of {@code bundlevisor
 * run} on a terminal, as QEMU's {@code -nographic}. Closing twice, or from a shutdown hook while another thread
 * closes, is harmless.
 */
public final class Terminal implements AutoCloseable {

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment saved = arena.allocate(TermiosLayout.SIZE);
    private boolean closed;

    private Terminal(int fd) {
        this.fd = fd;
    }

    /** Whether {@code fd} is a terminal (isatty). */
    public static boolean isTerminal(int fd) {
        return Native.isatty(fd);
    }

    /**
     * Puts the terminal on {@code fd} (0 for stdin) into raw mode.
     *
     * @throws SyscallException naming tcgetattr or tcsetattr, e.g. ENOTTY when {@code fd} is not a terminal
     */
    public static Terminal raw(int fd) throws SyscallException {
        Terminal t = new Terminal(fd);
        int r = Native.tcgetattr(fd, t.saved);
        if (r < 0) {
            t.arena.close();
            throw new SyscallException("tcgetattr", -r, "fd " + fd);
        }
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment raw = scratch.allocate(TermiosLayout.SIZE);
            raw.copyFrom(t.saved);
            Native.cfmakeraw(raw);
            r = Native.tcsetattr(fd, TermiosLayout.TCSANOW, raw);
        }
        if (r < 0) {
            t.arena.close();
            throw new SyscallException("tcsetattr", -r, "fd " + fd);
        }
        return t;
    }

    /** Puts back the settings the terminal had; idempotent, never throws. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Native.tcsetattr(fd, TermiosLayout.TCSADRAIN, saved);
        arena.close();
    }
}
