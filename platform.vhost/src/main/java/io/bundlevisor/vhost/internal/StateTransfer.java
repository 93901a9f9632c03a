package io.bundlevisor.vhost.internal;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.host.UnixSocket;
import io.bundlevisor.uring.sys.Native;

/**
 * The pipe of a device-state transfer (SET_DEVICE_STATE_FD): the device's state is written to it, or read from it
 * until the front-end closes its end. On a thread of its own, non-blocking underneath: a front-end that goes away
 * while it keeps its end open (or never reads or closes it) must not hold the next front-end, so the transfer is
 * {@linkplain #abort aborted} when the connection ends, and gives up by itself after {@link #LIMIT_NANOS}.
 */
final class StateTransfer implements AutoCloseable {

    private static final int CHUNK = 64 * 1024;
    private static final int F_GETFL = 3;
    private static final int F_SETFL = 4;
    /** The longest a transfer may take: a device's state is a few KiB. */
    static final long LIMIT_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
    /** How long to wait for the pipe between two tries. */
    private static final long IDLE_NANOS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(5);

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(CHUNK);

    private final long deadline = System.nanoTime() + LIMIT_NANOS;
    private volatile boolean aborted;

    StateTransfer(int fd) {
        this.fd = fd;
        int flags = Native.fcntl(fd, F_GETFL, 0);
        if (flags >= 0) {
            Native.fcntl(fd, F_SETFL, flags | Native.O_NONBLOCK);
        }
    }

    /** Makes the transfer give up at its next try (the connection ended); any thread. */
    void abort() {
        aborted = true;
    }

    /** After EAGAIN: waits a little, unless the transfer was aborted or took too long. */
    private void idle() throws IOException {
        if (aborted) {
            throw new IOException("the front-end went away during the transfer");
        }
        if (System.nanoTime() - deadline > 0) {
            throw new IOException("the front-end neither finished nor closed the state pipe in "
                    + java.util.concurrent.TimeUnit.NANOSECONDS.toSeconds(LIMIT_NANOS) + " s");
        }
        java.util.concurrent.locks.LockSupport.parkNanos(IDLE_NANOS);
    }

    void writeAll(byte[] bytes) throws IOException {
        int at = 0;
        while (at < bytes.length) {
            int n = Math.min(CHUNK, bytes.length - at);
            MemorySegment.copy(bytes, at, buffer, ValueLayout.JAVA_BYTE, 0, n);
            long w = Native.write(fd, buffer, n);
            if (w == -Errno.EINTR) {
                continue;
            }
            if (w == -Errno.EAGAIN) {
                idle();
                continue;
            }
            if (w <= 0) {
                throw new IOException("write to the state pipe failed: " + Errno.name((int) -w));
            }
            // A short write leaves the rest for the next round.
            at += (int) w;
        }
    }

    byte[] readAll(int limit) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            long r = Native.read(fd, buffer, CHUNK);
            if (r == -Errno.EINTR) {
                continue;
            }
            if (r == -Errno.EAGAIN) {
                idle();
                continue;
            }
            if (r < 0) {
                throw new IOException("read from the state pipe failed: " + Errno.name((int) -r));
            }
            if (r == 0) {
                return out.toByteArray();
            }
            if (out.size() + r > limit) {
                throw new IOException("the device state is larger than " + limit + " bytes");
            }
            out.write(buffer.asSlice(0, r).toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Override
    public void close() {
        UnixSocket.closeFd(fd);
        arena.close();
    }
}
