package io.bundlevisor.core.internal.virtio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import io.bundlevisor.core.virtio.DescChain;

/**
 * One validated descriptor chain (virtio 1.x section 2.7.5) as a copied list of segments of guest RAM: host offsets
 * into {@link io.bundlevisor.core.partition.GuestRam#memory()} and lengths, device-readable ones first, then the
 * device-writable ones (section 2.7.4). The list is a copy, so a driver rewriting its descriptors after we walked
 * them changes nothing here; the bytes themselves are guest memory and may change under us, which is the driver's
 * own business.
 *
 * <p>{@link SplitQueue} keeps one Chain per possible head and reuses it: its arrays and its iovec memory grow on
 * demand (powers of two, never beyond the queue size because a chain has at most that many descriptors) and are
 * kept, so a queue in steady state allocates nothing per chain. Used on the queue's worker thread only.
 */
public final class Chain implements DescChain {

    private static final int INITIAL_CAPACITY = 4;
    /** {@code struct iovec} on x86-64 ({@code include/uapi/linux/uio.h}): void *iov_base, size_t iov_len. */
    private static final long IOVEC_SIZE = 16;
    private static final long IOVEC_LEN = 8;

    private final MemorySegment memory;
    private final long memoryAddress;
    private final int head;

    /** Segment i: host offset, length (> 0), and its start within its part (readable or writable). */
    private long[] offsets = new long[INITIAL_CAPACITY];
    private int[] lengths = new int[INITIAL_CAPACITY];
    private int[] starts = new int[INITIAL_CAPACITY];
    private int count;
    private int readableCount;
    private int readableBytes;
    private int writableBytes;

    /**
     * Native because the kernel reads it for readv/writev; automatic so that a queue needs no close: a Chain lives as
     * long as its queue, and an in-flight IO keeps its chain (and so this memory) reachable through the queue's pool.
     */
    private MemorySegment iovecs = MemorySegment.NULL;

    /** Set by {@link SplitQueue} between pop and pushUsed. */
    boolean inFlight;

    Chain(MemorySegment memory, int head) {
        this.memory = memory;
        this.memoryAddress = memory.address();
        this.head = head;
    }

    // ---- building (SplitQueue's walk) ----

    /** Forgets the segments, before a new walk. */
    void clear() {
        count = 0;
        readableCount = 0;
        readableBytes = 0;
        writableBytes = 0;
    }

    /**
     * Appends a segment the caller checked: {@code [hostOffset, hostOffset + length)} lies in guest RAM, length is
     * positive, the part's total stays within int, and readable segments come before writable ones.
     */
    void add(long hostOffset, int length, boolean writable) {
        if (count == offsets.length) {
            grow();
        }
        offsets[count] = hostOffset;
        lengths[count] = length;
        if (writable) {
            starts[count] = writableBytes;
            writableBytes += length;
        } else {
            if (readableCount != count) {
                throw new IllegalStateException("readable segment after a writable one");
            }
            starts[count] = readableBytes;
            readableBytes += length;
            readableCount++;
        }
        count++;
    }

    private void grow() {
        int capacity = offsets.length * 2;
        offsets = Arrays.copyOf(offsets, capacity);
        lengths = Arrays.copyOf(lengths, capacity);
        starts = Arrays.copyOf(starts, capacity);
    }

    /** Tells {@code tracker} of each device-writable segment (dirty-page logging; allocates nothing). */
    void reportWritable(io.bundlevisor.core.virtio.ChainTracker tracker) {
        for (int i = readableCount; i < count; i++) {
            tracker.wroteBuffer(offsets[i], lengths[i]);
        }
    }

    /** Segments in the chain (zero-length descriptors are not kept). */
    int segmentCount() {
        return count;
    }

    // ---- DescChain ----

    @Override
    public int head() {
        return head;
    }

    @Override
    public int readableBytes() {
        return readableBytes;
    }

    @Override
    public int writableBytes() {
        return writableBytes;
    }

    @Override
    public byte readByte(int offset) {
        checkRange(false, offset, 1);
        int i = segmentAt(0, readableCount, offset);
        return memory.get(ValueLayout.JAVA_BYTE, offsets[i] + (offset - starts[i]));
    }

    @Override
    public int readInt(int offset) {
        checkRange(false, offset, Integer.BYTES);
        int i = segmentAt(0, readableCount, offset);
        int within = offset - starts[i];
        if (lengths[i] - within >= Integer.BYTES) {
            return memory.get(VringLayout.LE32, offsets[i] + within);
        }
        return (int) gather(i, within, Integer.BYTES);
    }

    @Override
    public long readLong(int offset) {
        checkRange(false, offset, Long.BYTES);
        int i = segmentAt(0, readableCount, offset);
        int within = offset - starts[i];
        if (lengths[i] - within >= Long.BYTES) {
            return memory.get(VringLayout.LE64, offsets[i] + within);
        }
        return gather(i, within, Long.BYTES);
    }

    /** A little-endian value of {@code bytes} bytes that straddles segments, byte by byte. */
    private long gather(int segment, int within, int bytes) {
        long value = 0;
        int i = segment;
        int at = within;
        for (int b = 0; b < bytes; b++) {
            if (at == lengths[i]) {
                i++;
                at = 0;
            }
            value |= (memory.get(ValueLayout.JAVA_BYTE, offsets[i] + at) & 0xFFL) << (8 * b);
            at++;
        }
        return value;
    }

    @Override
    public void read(int offset, MemorySegment dst, long dstOffset, int length) {
        checkRange(false, offset, length);
        if (length == 0) {
            return;
        }
        int i = segmentAt(0, readableCount, offset);
        int within = offset - starts[i];
        long to = dstOffset;
        int left = length;
        while (left > 0) {
            int n = Math.min(lengths[i] - within, left);
            MemorySegment.copy(memory, offsets[i] + within, dst, to, n);
            to += n;
            left -= n;
            within = 0;
            i++;
        }
    }

    @Override
    public void writeByte(int offset, byte value) {
        checkRange(true, offset, 1);
        int i = segmentAt(readableCount, count, offset);
        memory.set(ValueLayout.JAVA_BYTE, offsets[i] + (offset - starts[i]), value);
    }

    @Override
    public void write(int offset, MemorySegment src, long srcOffset, int length) {
        checkRange(true, offset, length);
        if (length == 0) {
            return;
        }
        int i = segmentAt(readableCount, count, offset);
        int within = offset - starts[i];
        long from = srcOffset;
        int left = length;
        while (left > 0) {
            int n = Math.min(lengths[i] - within, left);
            MemorySegment.copy(src, from, memory, offsets[i] + within, n);
            from += n;
            left -= n;
            within = 0;
            i++;
        }
    }

    @Override
    public void fill(int offset, int length, byte value) {
        checkRange(true, offset, length);
        if (length == 0) {
            return;
        }
        int i = segmentAt(readableCount, count, offset);
        int within = offset - starts[i];
        int left = length;
        while (left > 0) {
            int n = Math.min(lengths[i] - within, left);
            // The slice is a view the JIT scalar-replaces; fill itself is a bulk set.
            memory.asSlice(offsets[i] + within, n).fill(value);
            left -= n;
            within = 0;
            i++;
        }
    }

    @Override
    public int describe(boolean writable, int offset, int length) {
        checkRange(writable, offset, length);
        if (length == 0) {
            return 0;
        }
        int first = writable ? readableCount : 0;
        int end = writable ? count : readableCount;
        int i = segmentAt(first, end, offset);
        ensureIovecs(end - i);
        int within = offset - starts[i];
        int left = length;
        int n = 0;
        while (left > 0) {
            int take = Math.min(lengths[i] - within, left);
            long entry = n * IOVEC_SIZE;
            // iov_base is a host address inside guest RAM: the segment was checked to lie in memory() when the
            // chain was walked, and [within, within + take) lies in the segment.
            iovecs.set(ValueLayout.JAVA_LONG, entry, memoryAddress + offsets[i] + within);
            iovecs.set(ValueLayout.JAVA_LONG, entry + IOVEC_LEN, take);
            n++;
            left -= take;
            within = 0;
            i++;
        }
        return n;
    }

    /**
     * The iovec array {@link #describe} filled, {@code 16} bytes an entry; its size is the capacity, not the count.
     * It may be replaced by a larger one on the next {@link #describe}, so ask for it after describing.
     */
    @Override
    public MemorySegment iovecs() {
        return iovecs;
    }

    private void ensureIovecs(int entries) {
        long capacity = iovecs.byteSize() / IOVEC_SIZE;
        if (capacity >= entries) {
            return;
        }
        long grown = Math.max(INITIAL_CAPACITY, capacity);
        while (grown < entries) {
            grown *= 2;
        }
        iovecs = Arena.ofAuto().allocate(grown * IOVEC_SIZE, Long.BYTES);
    }

    /** The segment of [first, end) whose part range holds {@code offset}; the caller checked the offset is in it. */
    private int segmentAt(int first, int end, int offset) {
        int lo = first;
        int hi = end - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (starts[mid] <= offset) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    private void checkRange(boolean writable, int offset, int length) {
        int total = writable ? writableBytes : readableBytes;
        if (offset < 0 || length < 0 || offset > total - length) {
            throw new IndexOutOfBoundsException(String.format(
                    "chain %d: %s range [%d, %d + %d) is outside its %d bytes", head,
                    writable ? "writable" : "readable", offset, offset, length, total));
        }
    }

    @Override
    public String toString() {
        return "Chain[head=" + head + ", readable=" + readableBytes + ", writable=" + writableBytes + ", segments="
                + count + "]";
    }
}
