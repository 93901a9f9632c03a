package io.bundlevisor.uring.host;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.sys.Native;

/**
 * An eventfd(2) counter: the notification primitive behind ioeventfd, irqfd and the ring's own polls. Non-blocking
 * and close-on-exec.
 */
public final class EventFd implements AutoCloseable {

    private static final int EFD_NONBLOCK = 0x800;
    private static final int EFD_CLOEXEC = 0x80000;
    /** What readlink(2) of {@code /proc/self/fd/N} says of an eventfd (fs/eventfd.c: anon_inode "[eventfd]"). */
    private static final String EVENTFD_LINK = "anon_inode:[eventfd]";
    // <asm-generic/fcntl.h>
    private static final int F_SETFD = 2;
    private static final int F_GETFL = 3;
    private static final int F_SETFL = 4;
    private static final int FD_CLOEXEC = 1;

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

    /**
     * Takes ownership of a descriptor received from another process, after checking it is an eventfd
     * ({@code /proc/self/fd/N} reads {@code anon_inode:[eventfd]}); makes it non-blocking ({@code F_SETFL
     * O_NONBLOCK}) and close-on-exec. On refusal closes {@code fd} and throws SyscallException("adopt eventfd",
     * EINVAL, "fd N is &lt;what it is&gt;"); a failing readlink or fcntl closes it too and throws its errno.
     */
    public static EventFd adopt(int fd) throws SyscallException {
        String target;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(256);
            long n = Native.readlink("/proc/self/fd/" + fd, buffer);
            if (n < 0) {
                Native.close(fd);
                throw new SyscallException("adopt eventfd", (int) -n, "readlink /proc/self/fd/" + fd);
            }
            target = new String(buffer.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
        if (!EVENTFD_LINK.equals(target)) {
            Native.close(fd);
            throw new SyscallException("adopt eventfd", Errno.EINVAL, "fd " + fd + " is " + target);
        }
        int flags = Native.fcntl(fd, F_GETFL, 0);
        int r = flags < 0 ? flags : Native.fcntl(fd, F_SETFL, flags | Native.O_NONBLOCK);
        if (r >= 0) {
            r = Native.fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        if (r < 0) {
            Native.close(fd);
            throw new SyscallException("adopt eventfd", -r, "fcntl fd " + fd);
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
