package io.bundlevisor.uring.host;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.sys.Native;

/**
 * An eventfd(2) counter: the notification primitive behind ioeventfd, irqfd and the ring's own polls. Non-blocking
 * and close-on-exec.
 */
public final class EventFd implements AutoCloseable {

    private static final int EFD_NONBLOCK = 0x800;
    private static final int EFD_CLOEXEC = 0x80000;

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment value = arena.allocate(ValueLayout.JAVA_LONG);
    private volatile boolean closed;

    private EventFd(int fd) {
        this.fd = fd;
    }

    public static EventFd create() throws SyscallException {
        int fd = Native.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) {
            throw new SyscallException("eventfd", -fd);
        }
        return new EventFd(fd);
    }

    public int fd() {
        return fd;
    }

    /** Adds {@code n} (at least 1) to the counter, waking pollers. */
    public synchronized void signal(long n) throws SyscallException {
        if (n < 1) {
            throw new IllegalArgumentException("an eventfd signal must be >= 1");
        }
        value.set(ValueLayout.JAVA_LONG, 0, n);
        Native.check("write eventfd", Native.write(fd, value, 8));
    }

    /** Reads and resets the counter; 0 when it was already 0. */
    public synchronized long drain() throws SyscallException {
        long r = Native.read(fd, value, 8);
        if (r == -Errno.EAGAIN) {
            return 0;
        }
        Native.check("read eventfd", r);
        return value.get(ValueLayout.JAVA_LONG, 0);
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Native.close(fd);
            arena.close();
        }
    }
}
