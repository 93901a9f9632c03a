package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.VhostUserLayout.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;

import io.bundlevisor.uring.host.MappedRegion;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.UnixSocket;

/**
 * The front-end's dirty-page log (vhost-user.rst, "Migration"; protocol feature LOG_SHMFD, feature VHOST_F_LOG_ALL):
 * a bitmap in a memfd the front-end gives with SET_LOG_BASE, one bit a 4 KiB page of guest-physical address ("page =
 * addr / VHOST_LOG_PAGE; log[page / 8] |= 1 << page % 8"), which the front-end reads and clears while we set bits.
 * Bits are OR-ed atomically into little-endian 64-bit words: bit {@code p % 64} of word {@code p / 64} is bit
 * {@code p % 8} of byte {@code p / 8}, the spec's layout.
 *
 * <p>While the front-end has acknowledged LOG_ALL, the worker marks (through {@link LoggingTracker}) every page of
 * each device-writable descriptor of a chain it puts in the used ring, and the used ring's pages when the ring's
 * VHOST_VRING_F_LOG flag is set. A page beyond the log, or memory no region holds, is not marked and is counted; the
 * connection logs the counts ({@link #takeWarnings}). Marking allocates nothing.
 */
final class DirtyLog implements AutoCloseable {

    /** The spec's VHOST_LOG_PAGE. */
    static final int PAGE_SHIFT = 12;
    /** Our limit on a log's size: 4 GiB of bitmap covers 128 PiB of guest-physical space. */
    static final long MAX_LOG_BYTES = 1L << 32;
    private static final VarHandle WORD = ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    /** A mapped log: its bits and how many pages they cover. */
    private record Bitmap(MappedRegion mapping, MemorySegment bits, long pages) {
    }

    private final VhostMemory memory;
    /** LOG_ALL acknowledged (SET_FEATURES). */
    private volatile boolean logging;
    private volatile Bitmap bitmap;
    /** Pages not marked: past the log's end, or with no log. */
    private final AtomicLong outsideLog = new AtomicLong();
    /** Writes to memory no region holds now (not marked). */
    private final AtomicLong unmapped = new AtomicLong();

    DirtyLog(VhostMemory memory) {
        this.memory = memory;
    }

    /** LOG_ALL acknowledged or not. */
    void logging(boolean on) {
        logging = on;
    }

    boolean logging() {
        return logging;
    }

    /** Whether a log is mapped. */
    boolean hasLog() {
        return bitmap != null;
    }

    /**
     * SET_LOG_BASE with LOG_SHMFD: {@code struct VhostUserLog {u64 mmap_size; u64 mmap_offset}} and one descriptor
     * (closed here: the mapping keeps the file). The log must cover every guest address of the memory table, lie
     * within the file, and start 8-byte aligned. Returns the log it replaces (null if none), which the caller unmaps
     * once the worker has moved off it.
     */
    MappedRegion setBase(VhostMessage message) throws ProtocolException {
        message.expectSize(LOG_SIZE);
        message.expectFds(1);
        int fd = message.takeFds()[0];
        try {
            long size = message.u64(LOG_MMAP_SIZE);
            long offset = message.u64(LOG_MMAP_OFFSET);
            if (size <= 0 || size > MAX_LOG_BYTES || (size & 7) != 0 || offset < 0 || (offset & 7) != 0) {
                throw new ProtocolException(String.format("SET_LOG_BASE of 0x%x bytes at offset 0x%x (a multiple of "
                        + "8 bytes up to 0x%x, at an 8-byte aligned offset)", size, offset, MAX_LOG_BYTES));
            }
            long pages = size * 8;
            long needed = pagesNeeded();
            if (pages < needed) {
                throw new ProtocolException(String.format("SET_LOG_BASE of 0x%x bytes covers guest addresses below "
                        + "0x%x; the memory table reaches 0x%x", size, pages << PAGE_SHIFT, needed << PAGE_SHIFT));
            }
            // Checked against the file's size before mapping (MappedRegion.map): a log past the end is refused, so
            // the worker never touches a page the file does not have.
            MappedRegion mapping = MappedRegion.map(fd, offset, size);
            Bitmap old = bitmap;
            bitmap = new Bitmap(mapping, mapping.segment(), pages);
            return old == null ? null : old.mapping;
        } catch (SyscallException e) {
            throw new ProtocolException("SET_LOG_BASE: " + e.getMessage(), e);
        } finally {
            UnixSocket.closeFd(fd);
        }
    }

    /** Pages from guest address 0 to the end of the highest region of the memory table. */
    private long pagesNeeded() {
        long pages = 0;
        for (VhostMemory.Region r : memory.table()) {
            long last = r.guestAddress() + r.size() - 1;
            pages = Math.max(pages, (last >>> PAGE_SHIFT) + 1);
        }
        return pages;
    }

    /** Marks the pages of host memory {@code [host, host + length)}, one region's, if logging. */
    void markHost(long host, long length) {
        if (!logging || length <= 0) {
            return;
        }
        long gpa = memory.guestAddressOfHost(host, length);
        if (gpa < 0) {
            unmapped.incrementAndGet();
            return;
        }
        mark(gpa, length);
    }

    /** Marks the pages of guest-physical {@code [gpa, gpa + length)}, if logging. */
    void mark(long gpa, long length) {
        if (!logging || length <= 0) {
            return;
        }
        Bitmap b = bitmap;
        long end = gpa + length - 1;
        if (b == null || gpa < 0 || end < gpa) {
            outsideLog.incrementAndGet();
            return;
        }
        long last = end >>> PAGE_SHIFT;
        for (long page = gpa >>> PAGE_SHIFT; page <= last; page++) {
            if (page >= b.pages) {
                outsideLog.incrementAndGet();
                return;
            }
            try {
                // In bounds: page < pages = bytes * 8 and bytes is a multiple of 8, so the word at (page / 64) * 8
                // ends within the log; the mapping's segment checks it again.
                WORD.getAndBitwiseOr(b.bits, (page >>> 6) << 3, 1L << (page & 63));
            } catch (IllegalStateException e) {
                // Unmapped under us (the connection ended): not marked.
                outsideLog.incrementAndGet();
                return;
            }
        }
    }

    /** The counted warnings since the last call, as one line, or null when there were none. */
    String takeWarnings() {
        long outside = outsideLog.getAndSet(0);
        long none = unmapped.getAndSet(0);
        if (outside == 0 && none == 0) {
            return null;
        }
        return "dirty-page log: " + outside + " writes reached past the log (or came with no log), " + none
                + " were in no memory region; their pages were not marked";
    }

    @Override
    public void close() {
        Bitmap b = bitmap;
        bitmap = null;
        logging = false;
        if (b != null) {
            b.mapping.close();
        }
    }
}
