package io.bundlevisor.uring.host;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.bundlevisor.uring.sys.Native;

/** A pipe(2): bytes written to one end are read from the other. Close-on-exec; blocking. */
public final class Pipe implements AutoCloseable {

    private final int readFd;
    private final int writeFd;
    private volatile boolean closed;

    private Pipe(int readFd, int writeFd) {
        this.readFd = readFd;
        this.writeFd = writeFd;
    }

    public static Pipe create() throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(ValueLayout.JAVA_INT, 2);
            Native.check("pipe2", Native.pipe2(fds, Native.O_CLOEXEC));
            return new Pipe(fds.getAtIndex(ValueLayout.JAVA_INT, 0), fds.getAtIndex(ValueLayout.JAVA_INT, 1));
        }
    }

    public int readFd() {
        return readFd;
    }

    public int writeFd() {
        return writeFd;
    }

    /** Writes all of {@code bytes} to the write end; returns the count written. */
    public int write(byte[] bytes) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(Math.max(1, bytes.length));
            MemorySegment.copy(bytes, 0, buffer, ValueLayout.JAVA_BYTE, 0, bytes.length);
            return (int) Native.check("write pipe", Native.write(writeFd, buffer, bytes.length));
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Native.close(readFd);
            Native.close(writeFd);
        }
    }
}
