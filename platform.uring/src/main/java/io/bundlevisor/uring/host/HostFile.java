package io.bundlevisor.uring.host;

import java.nio.file.Path;

import io.bundlevisor.uring.sys.Native;

/** An open host file, for IO through the ring. Closing it twice is harmless. */
public final class HostFile implements AutoCloseable {

    /** Open for reading only. */
    public static final int READ_ONLY = Native.O_RDONLY;
    /** Open for reading and writing. */
    public static final int READ_WRITE = Native.O_RDWR;
    /** Create the file if missing (mode 0600). */
    public static final int CREATE = Native.O_CREAT;
    /** Truncate it to zero length. */
    public static final int TRUNCATE = Native.O_TRUNC;
    /** Bypass the page cache: buffers, offsets and lengths must be aligned to the logical block size. */
    public static final int DIRECT = Native.O_DIRECT;

    private final Path path;
    private final int fd;
    private volatile boolean closed;

    private HostFile(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /**
     * Opens {@code path} with {@link #READ_ONLY} or {@link #READ_WRITE}, optionally with {@link #CREATE},
     * {@link #TRUNCATE} and {@link #DIRECT}. Always close-on-exec.
     */
    public static HostFile open(Path path, int flags) throws SyscallException {
        int allowed = READ_ONLY | READ_WRITE | CREATE | TRUNCATE | DIRECT;
        if ((flags & ~allowed) != 0) {
            throw new IllegalArgumentException("unsupported open flags 0x" + Integer.toHexString(flags & ~allowed));
        }
        int fd = Native.open(path.toString(), flags | Native.O_CLOEXEC, 0600);
        if (fd < 0) {
            throw new SyscallException("open " + path, -fd);
        }
        return new HostFile(path, fd);
    }

    public Path path() {
        return path;
    }

    /** The file descriptor, for {@link io.bundlevisor.core.ring.Sqe}s. */
    public int fd() {
        return fd;
    }

    /** The file's size in bytes. */
    public long size() throws SyscallException {
        return Native.check("lseek " + path, Native.lseek(fd, 0, 2 /* SEEK_END */));
    }

    /** Sets the file's size, sparse when growing. */
    public void truncate(long length) throws SyscallException {
        Native.check("ftruncate " + path, Native.ftruncate(fd, length));
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Native.close(fd);
        }
    }
}
