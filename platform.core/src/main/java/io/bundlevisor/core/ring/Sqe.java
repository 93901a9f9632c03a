package io.bundlevisor.core.ring;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A submission queue entry to be: a caller-owned, reusable description of one IO. The ring copies it when the
 * IO is submitted, so one {@code Sqe} per issuing thread serves any number of IOs without allocating.
 *
 * <p>Each preparing method resets every field, then sets those of its operation, following the field use in
 * {@code include/uapi/linux/io_uring.h} ({@code struct io_uring_sqe}) and liburing's {@code io_uring_prep_*}.
 * Buffers must be native segments (their address is handed to the kernel); their validity until completion is
 * what the {@link IoMemory} pushed with the IO guarantees.
 */
public final class Sqe {

    /** {@code IORING_FSYNC_DATASYNC}: sync data only, like fdatasync(2). */
    public static final int FSYNC_DATASYNC = 1;
    /** {@code IORING_POLL_ADD_MULTI}: a multishot poll, carried in the SQE's len field. */
    public static final int POLL_ADD_MULTI = 1;
    /** {@code IOSQE_IO_LINK}: the next SQE starts only after this one succeeds. */
    public static final int IOSQE_IO_LINK = 1 << 2;
    /** {@code IOSQE_ASYNC}: always issue from the io-wq worker pool. */
    public static final int IOSQE_ASYNC = 1 << 4;

    private Opcode opcode = Opcode.NOP;
    private int flags;
    private int fd = -1;
    private long off;
    private long addr;
    private int len;
    private int opFlags;

    /** An operation that does nothing but complete: measures the ring itself. */
    public Sqe nop() {
        return reset(Opcode.NOP, -1);
    }

    /** read(2) of {@code buffer.byteSize()} bytes at {@code offset} ({@code -1}: the file position). */
    public Sqe read(int fd, MemorySegment buffer, long offset) {
        return buffer(Opcode.READ, fd, buffer, offset);
    }

    /** write(2) of {@code buffer.byteSize()} bytes at {@code offset} ({@code -1}: the file position). */
    public Sqe write(int fd, MemorySegment buffer, long offset) {
        return buffer(Opcode.WRITE, fd, buffer, offset);
    }

    /** preadv(2) into {@code count} {@code struct iovec}s (16 bytes each) at {@code iovecs}. */
    public Sqe readv(int fd, MemorySegment iovecs, int count, long offset) {
        return vector(Opcode.READV, fd, iovecs, count, offset);
    }

    /** pwritev(2) from {@code count} {@code struct iovec}s (16 bytes each) at {@code iovecs}. */
    public Sqe writev(int fd, MemorySegment iovecs, int count, long offset) {
        return vector(Opcode.WRITEV, fd, iovecs, count, offset);
    }

    /** fsync(2), or fdatasync(2) when {@code datasync}. */
    public Sqe fsync(int fd, boolean datasync) {
        reset(Opcode.FSYNC, fd);
        this.opFlags = datasync ? FSYNC_DATASYNC : 0;
        return this;
    }

    /** fallocate(2) with {@code mode} ({@code FALLOC_FL_*}) over {@code length} bytes at {@code offset}. */
    public Sqe fallocate(int fd, int mode, long offset, long length) {
        reset(Opcode.FALLOCATE, fd);
        // io_uring puts fallocate's length in addr and its mode in len (io_uring_prep_fallocate).
        this.off = offset;
        this.addr = length;
        this.len = mode;
        return this;
    }

    /**
     * poll(2) for {@code events} ({@code POLLIN} ...) on {@code fd}; {@code multishot} keeps it armed, one
     * completion per event, each flagged {@link CompletionHandler#F_MORE} while it stays armed.
     */
    public Sqe pollAdd(int fd, int events, boolean multishot) {
        reset(Opcode.POLL_ADD, fd);
        this.opFlags = events;
        this.len = multishot ? POLL_ADD_MULTI : 0;
        return this;
    }

    /**
     * A timer (since 1.2): completes with {@code -ETIME} once the relative time in {@code timespec} (a
     * {@code struct __kernel_timespec}: seconds and nanoseconds, two 64-bit integers) has passed, or with 0 once
     * {@code count} other completions came first ({@code count} 0: a pure timer). liburing's
     * {@code io_uring_prep_timeout} with no flags.
     */
    public Sqe timeout(MemorySegment timespec, int count) {
        if (timespec.byteSize() < 16) {
            throw new IllegalArgumentException("a struct __kernel_timespec is 16 bytes, not " + timespec.byteSize());
        }
        reset(Opcode.TIMEOUT, -1);
        this.addr = timespec.address();
        this.len = 1;
        this.off = Integer.toUnsignedLong(count);
        return this;
    }

    /** Cancels the IO with id {@code target} (matched by its user_data), wherever it is in the kernel. */
    public Sqe cancel(long target) {
        reset(Opcode.ASYNC_CANCEL, -1);
        this.addr = target;
        return this;
    }

    /** Adds {@code IOSQE_*} flags to the prepared entry. */
    public Sqe withFlags(int sqeFlags) {
        this.flags |= sqeFlags;
        return this;
    }

    public Opcode opcode() {
        return opcode;
    }

    public int flags() {
        return flags;
    }

    public int fd() {
        return fd;
    }

    public long off() {
        return off;
    }

    public long addr() {
        return addr;
    }

    public int len() {
        return len;
    }

    public int opFlags() {
        return opFlags;
    }

    private Sqe reset(Opcode op, int fd) {
        this.opcode = op;
        this.flags = 0;
        this.fd = fd;
        this.off = 0;
        this.addr = 0;
        this.len = 0;
        this.opFlags = 0;
        return this;
    }

    private Sqe buffer(Opcode op, int fd, MemorySegment buffer, long offset) {
        requireNative(buffer);
        if (buffer.byteSize() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + " buffer of " + buffer.byteSize() + " bytes exceeds 2 GiB - 1");
        }
        reset(op, fd);
        this.off = offset;
        this.addr = buffer.address();
        this.len = (int) buffer.byteSize();
        return this;
    }

    private Sqe vector(Opcode op, int fd, MemorySegment iovecs, int count, long offset) {
        requireNative(iovecs);
        if (count < 0 || (long) count * 16 > iovecs.byteSize()) {
            throw new IllegalArgumentException(op + ": " + count + " iovecs do not fit in " + iovecs.byteSize() + " bytes");
        }
        reset(op, fd);
        this.off = offset;
        this.addr = iovecs.address();
        this.len = count;
        return this;
    }

    private static void requireNative(MemorySegment segment) {
        Objects.requireNonNull(segment, "segment");
        if (!segment.isNative()) {
            throw new IllegalArgumentException("io_uring needs native memory, not a heap segment");
        }
    }
}
