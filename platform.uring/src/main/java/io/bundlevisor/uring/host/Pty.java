package io.bundlevisor.uring.host;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import io.bundlevisor.uring.sys.Native;
import io.bundlevisor.uring.sys.TermiosLayout;

/**
 * A pseudo terminal whose master side we hold (since 1.4): a person attaches to {@link #path()} (the slave side,
 * e.g. {@code screen /dev/pts/3}) and talks to a guest's serial console, as with QEMU's {@code -serial pty}. The pair
 * is raw (cfmakeraw on the master sets the slave's termios), so the line discipline neither echoes the guest's output
 * back to it nor rewrites bytes. The master is non-blocking: with no one attached, output the kernel cannot buffer is
 * dropped, as on a disconnected serial line, and never stalls the guest.
 */
public final class Pty implements AutoCloseable {

    private static final int EAGAIN = 11;
    /** Reading a master whose slave no one holds open fails with EIO (drivers/tty/pty.c). */
    private static final int EIO = 5;

    private final int fd;
    private final Path path;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment in = arena.allocate(4096);
    private final MemorySegment out = arena.allocate(4096);
    private volatile boolean closed;

    private Pty(int fd, Path path) {
        this.fd = fd;
        this.path = path;
    }

    /**
     * Opens a new pseudo terminal.
     *
     * @throws SyscallException naming the step that failed (posix_openpt, grantpt/unlockpt, ptsname_r, tcsetattr)
     */
    public static Pty open() throws SyscallException {
        int fd = Native.posixOpenpt(Native.O_RDWR | TermiosLayout.O_NOCTTY | Native.O_CLOEXEC | Native.O_NONBLOCK);
        if (fd < 0) {
            throw new SyscallException("posix_openpt", -fd);
        }
        try {
            Native.check("grantpt/unlockpt", Native.grantAndUnlockpt(fd));
            Path path = Path.of(Native.ptsname(fd));
            try (Arena scratch = Arena.ofConfined()) {
                MemorySegment termios = scratch.allocate(TermiosLayout.SIZE);
                Native.check("tcgetattr", Native.tcgetattr(fd, termios));
                Native.cfmakeraw(termios);
                Native.check("tcsetattr", Native.tcsetattr(fd, TermiosLayout.TCSANOW, termios));
            }
            return new Pty(fd, path);
        } catch (SyscallException | RuntimeException e) {
            Native.close(fd);
            throw e;
        }
    }

    /** The slave side a person opens, e.g. {@code /dev/pts/3}. */
    public Path path() {
        return path;
    }

    /**
     * Reads what the person typed into {@code buffer}: the bytes read, 0 when nothing is there or no one is attached
     * (the caller waits a little and asks again), -1 once closed.
     *
     * @throws SyscallException on any other failure of read(2)
     */
    public synchronized int read(byte[] buffer) throws SyscallException {
        if (closed) {
            return -1;
        }
        long n = Native.read(fd, in, Math.min(buffer.length, in.byteSize()));
        if (n == -EAGAIN || n == -EIO) {
            return 0;
        }
        if (n < 0) {
            throw new SyscallException("read pty", (int) -n, path.toString());
        }
        MemorySegment.copy(in, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, buffer, 0, (int) n);
        return (int) n;
    }

    /**
     * Writes the guest's output; what the kernel cannot take now (no one reading, its buffer full) is dropped.
     *
     * @return the bytes written
     */
    public synchronized int write(byte[] bytes, int offset, int length) {
        if (closed) {
            return 0;
        }
        int done = 0;
        while (done < length) {
            int n = (int) Math.min(length - done, out.byteSize());
            MemorySegment.copy(bytes, offset + done, out, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, n);
            long w = Native.write(fd, out, n);
            if (w <= 0) {
                break; // EAGAIN (full), EIO (no one attached): dropped
            }
            done += (int) w;
        }
        return done;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Native.close(fd);
        arena.close();
    }
}
