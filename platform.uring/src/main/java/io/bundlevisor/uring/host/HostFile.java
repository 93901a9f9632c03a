package io.bundlevisor.uring.host;

import java.nio.file.Path;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.sys.Native;

/**
 * An open host file (a regular file or a block device), for IO through the ring. Closing it twice is harmless;
 * closing releases the locks taken through it.
 */
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
    private final boolean direct;
    private volatile boolean closed;

    private HostFile(Path path, int fd, boolean direct) {
        this.path = path;
        this.fd = fd;
        this.direct = direct;
    }

    /**
     * Opens {@code path} with {@link #READ_ONLY} or {@link #READ_WRITE}, optionally with {@link #CREATE},
     * {@link #TRUNCATE} and {@link #DIRECT}. Always close-on-exec.
     */
    public static HostFile open(Path path, int flags) throws SyscallException {
        int fd = rawOpen(path, flags);
        if (fd < 0) {
            throw new SyscallException("open " + path, -fd);
        }
        return new HostFile(path, fd, (flags & DIRECT) != 0);
    }

    /**
     * Opens {@code path} as {@link #open} does, with {@link #DIRECT} added when the file system accepts it, and
     * without it when open(2) refuses it with EINVAL (tmpfs before Linux 6.6, some FUSE and network file systems);
     * {@link #isDirect()} says which. Any other failure is thrown.
     */
    public static HostFile openDirectIfSupported(Path path, int flags) throws SyscallException {
        int fd = rawOpen(path, flags | DIRECT);
        if (fd == -Errno.EINVAL) {
            return open(path, flags & ~DIRECT);
        }
        if (fd < 0) {
            throw new SyscallException("open " + path + " (O_DIRECT)", -fd);
        }
        return new HostFile(path, fd, true);
    }

    private static int rawOpen(Path path, int flags) {
        int allowed = READ_ONLY | READ_WRITE | CREATE | TRUNCATE | DIRECT;
        if ((flags & ~allowed) != 0) {
            throw new IllegalArgumentException("unsupported open flags 0x" + Integer.toHexString(flags & ~allowed));
        }
        return Native.open(path.toString(), flags | Native.O_CLOEXEC, 0600);
    }

    public Path path() {
        return path;
    }

    /** The file descriptor, for {@link io.bundlevisor.core.ring.Sqe}s. */
    public int fd() {
        return fd;
    }

    /** Whether the file was opened with {@link #DIRECT}: IO bypasses the page cache and must be aligned. */
    public boolean isDirect() {
        return direct;
    }

    /**
     * The file's type, size (a block device's too), identity and direct-IO alignment, from statx(2) and, for a
     * block device, {@code BLKGETSIZE64}/{@code BLKSSZGET}.
     */
    public FileStat stat() throws SyscallException {
        return Statx.of(fd, path.toString());
    }

    /**
     * Takes an open file description lock ({@code F_OFD_SETLK}) over the whole file without waiting: exclusive
     * (needs {@link #READ_WRITE}) or shared. Returns false when another open file description holds a conflicting
     * lock, in this process or another. The lock lasts until this file is closed.
     */
    public boolean tryLock(boolean exclusive) throws SyscallException {
        return OfdLock.tryLock(fd, exclusive, path.toString());
    }

    /** The file's size in bytes (lseek to the end; a block device's size too). */
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
