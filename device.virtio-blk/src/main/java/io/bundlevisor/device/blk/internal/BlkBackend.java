package io.bundlevisor.device.blk.internal;

import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;

/**
 * The io_uring data path: turns a checked request into the worker's SQE. Reads and writes go straight between
 * guest RAM and the disk (readv/writev over the chain's iovecs); nothing is copied and nothing allocated.
 *
 * <p><b>Direct or buffered.</b> A read or write takes the O_DIRECT descriptor when the disk has one and the file
 * offset, every iovec address and every iovec length meet its alignment; else the buffered one. Mixing the two on
 * one file stays coherent: an O_DIRECT read first writes back dirty page-cache pages of its range, and an O_DIRECT
 * write invalidates them ({@code kiocb_write_and_wait} and {@code kiocb_invalidate_pages} in mm/filemap.c, called
 * by iomap and block/fops.c); racing overlapping requests are undefined for a disk anyway.
 *
 * <p>Flush is fdatasync, which also empties the host disk's volatile cache. Discard punches a hole; write zeroes
 * zeroes the range ({@code FALLOC_FL_ZERO_RANGE}), or punches a hole when the driver allows unmapping: reads of a
 * hole return zeroes. Both keep the file's size.
 */
final class BlkBackend {

    // include/uapi/linux/falloc.h
    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    static final int FALLOC_FL_ZERO_RANGE = 0x10;

    private static final int IOVEC_SIZE = 16; // struct iovec: void *iov_base; size_t iov_len

    private final int bufferedFd;
    private final int directFd;
    private final long memoryMask;
    private final long offsetMask;

    BlkBackend(BlkDisk disk) {
        this.bufferedFd = disk.bufferedFd();
        this.directFd = disk.directFd();
        this.memoryMask = disk.memoryAlignment() - 1L;
        this.offsetMask = disk.offsetAlignment() - 1L;
    }

    /** IN: reads {@code length} bytes at {@code offset} into the writable part; true when it went direct. */
    boolean read(Sqe sqe, DescChain chain, int length, long offset) {
        int count = chain.describe(true, 0, length);
        MemorySegment iovecs = chain.iovecs();
        boolean direct = aligned(iovecs, count, offset);
        sqe.readv(direct ? directFd : bufferedFd, iovecs, count, offset);
        return direct;
    }

    /** OUT: writes the {@code length} bytes after the header at {@code offset}; true when it went direct. */
    boolean write(Sqe sqe, DescChain chain, int length, long offset) {
        int count = chain.describe(false, BlkSpec.HEADER_SIZE, length);
        MemorySegment iovecs = chain.iovecs();
        boolean direct = aligned(iovecs, count, offset);
        sqe.writev(direct ? directFd : bufferedFd, iovecs, count, offset);
        return direct;
    }

    /** FLUSH: fdatasync, the data and what is needed to read it back. */
    void flush(Sqe sqe) {
        sqe.fsync(bufferedFd, true);
    }

    /** DISCARD: deallocates the range (5.2.6.2: the device MAY). */
    void discard(Sqe sqe, long offset, long length) {
        sqe.fallocate(bufferedFd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
    }

    /** WRITE_ZEROES: later reads of the range return zeroes (5.2.6.2), deallocated only if {@code unmap}. */
    void writeZeroes(Sqe sqe, long offset, long length, boolean unmap) {
        int mode = (unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE;
        sqe.fallocate(bufferedFd, mode, offset, length);
    }

    private boolean aligned(MemorySegment iovecs, int count, long offset) {
        if (directFd < 0 || (offset & offsetMask) != 0) {
            return false;
        }
        for (int i = 0; i < count; i++) {
            long base = iovecs.get(JAVA_LONG_UNALIGNED, (long) i * IOVEC_SIZE);
            long len = iovecs.get(JAVA_LONG_UNALIGNED, (long) i * IOVEC_SIZE + 8);
            if ((base & memoryMask) != 0 || (len & offsetMask) != 0) {
                return false;
            }
        }
        return true;
    }
}
