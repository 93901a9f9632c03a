package io.bundlevisor.uring.host;

import io.bundlevisor.uring.sys.Native;

/**
 * memfd_create(2) (MFD_CLOEXEC) sized with ftruncate: anonymous shared memory with a descriptor, for tests and
 * in-process vhost-user frontends. Map it with {@link MappedRegion#map}; pass it with {@link UnixSocket#send}.
 */
public final class MemFd implements AutoCloseable {

    private final int fd;
    private final long size;
    private volatile boolean closed;

    private MemFd(int fd, long size) {
        this.fd = fd;
        this.size = size;
    }

    /** A memfd named {@code name} (shown in /proc/self/fd, no NUL) of {@code size} zero bytes (sparse). */
    public static MemFd create(String name, long size) throws SyscallException {
        if (size < 0) {
            throw new IllegalArgumentException("negative memfd size " + size);
        }
        if (name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("a NUL in a memfd name");
        }
        int fd = Native.memfdCreate(name);
        if (fd < 0) {
            throw new SyscallException("memfd_create " + name, -fd);
        }
        int r = Native.ftruncate(fd, size);
        if (r < 0) {
            Native.close(fd);
            throw new SyscallException("ftruncate memfd " + name, -r);
        }
        return new MemFd(fd, size);
    }

    public int fd() {
        return fd;
    }

    /** The size it was created with. */
    public long size() {
        return size;
    }

    /** Closes the descriptor; mappings made from it stay valid until unmapped. Idempotent. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Native.close(fd);
        }
    }
}
