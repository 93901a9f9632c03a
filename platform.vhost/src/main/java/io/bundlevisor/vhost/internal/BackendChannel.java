package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.VhostUserLayout.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.Native;

/**
 * The back-end's request channel (vhost-user.rst, "Back-end communication"): the stream socket the front-end gave
 * with SET_BACKEND_REQ_FD, on which we send requests and read the front-end's acknowledgements. Only
 * CONFIG_CHANGE_MSG is sent. The descriptor is non-blocking and every exchange has a deadline, so a front-end
 * that never reads or never answers costs the caller at most {@link VhostConnection#stallLimit}. Requests go one at a
 * time (the lock); the connection's thread never sends here, so the front-end can ask GET_CONFIG on the main socket
 * before it answers, as QEMU does.
 */
final class BackendChannel implements AutoCloseable {

    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** <asm-generic/fcntl.h>: F_GETFL, F_SETFL. */
    private static final int F_GETFL = 3;
    private static final int F_SETFL = 4;

    private final int fd;
    private boolean closed;

    private BackendChannel(int fd) {
        this.fd = fd;
    }

    /**
     * Takes {@code fd} (closed on failure): it must be a socket; it is made non-blocking.
     *
     * @throws SyscallException if it is not a socket or its flags cannot be set
     */
    static BackendChannel adopt(int fd) throws SyscallException {
        try {
            String target;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment link = arena.allocate(256);
                long n = Native.readlink("/proc/self/fd/" + fd, link);
                if (n < 0) {
                    throw new SyscallException("adopt socket", (int) -n, "readlink /proc/self/fd/" + fd);
                }
                target = new String(link.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE),
                        java.nio.charset.StandardCharsets.UTF_8);
            }
            // proc(5): a socket's link reads "socket:[inode]".
            if (!target.startsWith("socket:")) {
                throw new SyscallException("adopt socket", Errno.EINVAL, "fd " + fd + " is " + target);
            }
            int flags = Native.fcntl(fd, F_GETFL, 0);
            int r = flags < 0 ? flags : Native.fcntl(fd, F_SETFL, flags | Native.O_NONBLOCK);
            if (r < 0) {
                throw new SyscallException("fcntl", -r, "O_NONBLOCK on fd " + fd);
            }
            return new BackendChannel(fd);
        } catch (SyscallException | RuntimeException e) {
            Native.close(fd);
            throw e;
        }
    }

    /**
     * Sends CONFIG_CHANGE_MSG; with {@code ack}, asks for REPLY_ACK and waits for the answer. Returns null on success,
     * else why not (one line): the channel is closed, the front-end did not read or answer in time, or answered
     * with a failure.
     */
    synchronized String configChanged(boolean ack, Duration limit) {
        if (closed) {
            return "the back-end channel is closed";
        }
        long deadline = System.nanoTime() + limit.toNanos();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(HEADER_SIZE + U64_SIZE);
            m.set(LE32, HEADER_REQUEST, BACKEND_CONFIG_CHANGE_MSG);
            m.set(LE32, HEADER_FLAGS, FLAG_VERSION | (ack ? FLAG_NEED_REPLY : 0));
            m.set(LE32, HEADER_SIZE_FIELD, 0);
            String failure = transfer(true, m, HEADER_SIZE, deadline);
            if (failure != null || !ack) {
                return failure;
            }
            failure = transfer(false, m, HEADER_SIZE + U64_SIZE, deadline);
            if (failure != null) {
                return failure;
            }
            int request = m.get(LE32, HEADER_REQUEST);
            int flags = m.get(LE32, HEADER_FLAGS);
            int size = m.get(LE32, HEADER_SIZE_FIELD);
            if (request != BACKEND_CONFIG_CHANGE_MSG || (flags & FLAG_REPLY) == 0 || size != U64_SIZE) {
                return String.format("the front-end answered CONFIG_CHANGE_MSG with request %d, flags 0x%x, %d bytes",
                        request, flags, size);
            }
            long result = m.get(LE64, HEADER_SIZE);
            return result == 0 ? null : "the front-end answered CONFIG_CHANGE_MSG with failure " + result;
        }
    }

    /** Writes or reads exactly {@code length} bytes of {@code m} before {@code deadline}; null, or why not. */
    private String transfer(boolean write, MemorySegment m, int length, long deadline) {
        int done = 0;
        while (done < length) {
            MemorySegment rest = m.asSlice(done, length - done);
            long n = write ? Native.write(fd, rest, length - done) : Native.read(fd, rest, length - done);
            if (n > 0) {
                done += (int) n;
            } else if (n == 0) {
                return "the front-end closed the back-end channel";
            } else if (n != -Errno.EAGAIN && n != -Errno.EINTR) {
                return (write ? "write" : "read") + " on the back-end channel failed: errno " + -n;
            } else if (System.nanoTime() - deadline > 0) {
                return "the front-end did not " + (write ? "read" : "answer") + " CONFIG_CHANGE_MSG in time";
            } else {
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return "interrupted";
                }
            }
        }
        return null;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Native.close(fd);
        }
    }
}
