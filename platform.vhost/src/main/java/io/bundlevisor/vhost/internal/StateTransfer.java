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
 * until the front-end closes its end. Blocking, on a thread of its own.
 */
final class StateTransfer implements AutoCloseable {

    private static final int CHUNK = 64 * 1024;

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(CHUNK);

    StateTransfer(int fd) {
        this.fd = fd;
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
