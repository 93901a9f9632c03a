package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.VhostUserLayout.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

import io.bundlevisor.core.virtio.ChainTracker;

/**
 * One queue's region of the in-flight buffer (vhost-user.rst, "Inflight I/O tracking", split virtqueue), kept in
 * memory the front-end holds across our restarts, and the worker's {@link ChainTracker} for that queue: a chain taken
 * is marked in flight with the next counter value before its IO starts; a chain used joins the batch of the next
 * publish; once the used index is published the batch is cleared and the region's used index follows. After a crash
 * {@link #open} repairs the last batch and hands the chains still marked in flight to the worker again, oldest first.
 *
 * <p>The region is untrusted (the front-end can write it): every head is checked against the queue size, and a bad
 * region only makes chains be taken again, never an access outside the region. Worker thread only after
 * {@link #open}; allocation-free.
 */
final class InflightQueue implements ChainTracker {

    private static final ValueLayout.OfShort LE16 =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment region;
    private final int size;
    /** The chains to take again: heads [next, count) of {@link #again}. */
    private final int[] again;
    private int next;
    private int count;
    private final boolean[] fromAgain;
    /** The chains used since the last publish. */
    private final int[] batch;
    private int batchCount;
    private long counter;

    private InflightQueue(MemorySegment region, int size) {
        this.region = region;
        this.size = size;
        this.again = new int[size];
        this.fromAgain = new boolean[size];
        this.batch = new int[size];
    }

    /**
     * Takes queue region {@code region} for a ring of {@code size} whose used index in guest memory is
     * {@code ringUsed}: a fresh region (version 0) is set up; one a previous back-end used is repaired and its
     * chains in flight are queued to be taken again.
     *
     * @throws ProtocolException if the region is of another version or queue size
     */
    static InflightQueue open(String what, MemorySegment region, int size, int ringUsed) throws ProtocolException {
        InflightQueue q = new InflightQueue(region, size);
        int version = u16(region, REGION_VERSION);
        if (version == 0) {
            region.fill((byte) 0);
            region.set(LE16, REGION_VERSION, (short) REGION_FORMAT_VERSION);
            region.set(LE16, REGION_DESC_NUM, (short) size);
            region.set(LE16, REGION_USED_IDX, (short) ringUsed);
            return q;
        }
        int descNum = u16(region, REGION_DESC_NUM);
        if (version != REGION_FORMAT_VERSION || descNum != size) {
            throw new ProtocolException(what + " is of version " + version + " for queues of " + descNum
                    + "; the ring has " + size);
        }
        int regionUsed = u16(region, REGION_USED_IDX);
        if (regionUsed != ringUsed) {
            // The back-end died between publishing a batch and clearing it: those chains were used.
            int batch = (ringUsed - regionUsed) & 0xFFFF;
            int head = u16(region, REGION_LAST_BATCH_HEAD);
            for (int i = 0; i < batch && i < size && head < size; i++) {
                region.set(ValueLayout.JAVA_BYTE, desc(head) + DESC_STATE_INFLIGHT, (byte) 0);
                head = u16(region, desc(head) + DESC_STATE_NEXT);
            }
            region.set(LE16, REGION_USED_IDX, (short) ringUsed);
        }
        long[] order = new long[size];
        int n = 0;
        long max = 0;
        for (int head = 0; head < size; head++) {
            long c = region.get(LE64, desc(head) + DESC_STATE_COUNTER);
            max = Math.max(max, c);
            if (region.get(ValueLayout.JAVA_BYTE, desc(head) + DESC_STATE_INFLIGHT) != 0) {
                // Sorted by counter, then head: the counter in the high bits (it grows by one a chain, so 47 bits
                // hold any real one), the head below.
                order[n++] = (Math.min(c, (1L << 47) - 1) << 16) | head;
            }
        }
        java.util.Arrays.sort(order, 0, n);
        for (int i = 0; i < n; i++) {
            int head = (int) (order[i] & 0xFFFF);
            q.again[i] = head;
            q.fromAgain[head] = true;
        }
        q.count = n;
        q.counter = max + 1;
        return q;
    }

    /** The chains to take again when the queue starts. */
    int pending() {
        return count - next;
    }

    private static int u16(MemorySegment region, long offset) {
        return Short.toUnsignedInt(region.get(LE16, offset));
    }

    private static long desc(int head) {
        return REGION_DESCS + (long) DESC_STATE_SIZE * head;
    }

    // ---- ChainTracker (worker thread) ---------------------------------------------------------------------------

    @Override
    public int resubmit() {
        return next < count ? again[next++] : -1;
    }

    @Override
    public void taken(int head) {
        region.set(LE64, desc(head) + DESC_STATE_COUNTER, counter++);
        region.set(ValueLayout.JAVA_BYTE, desc(head) + DESC_STATE_INFLIGHT, (byte) 1);
    }

    @Override
    public boolean returned(int head) {
        region.set(ValueLayout.JAVA_BYTE, desc(head) + DESC_STATE_INFLIGHT, (byte) 0);
        if (fromAgain[head] && next > 0) {
            again[--next] = head;
            return true;
        }
        return false;
    }

    @Override
    public void used(int head) {
        fromAgain[head] = false;
        region.set(LE16, desc(head) + DESC_STATE_NEXT, region.get(LE16, REGION_LAST_BATCH_HEAD));
        region.set(LE16, REGION_LAST_BATCH_HEAD, (short) head);
        if (batchCount < batch.length) {
            batch[batchCount++] = head;
        }
    }

    @Override
    public void published(int usedIdx) {
        // The used index was stored (release) just before: these stores must not become visible ahead of it, or a
        // crash in between would lose a chain the driver never saw completed.
        VarHandle.releaseFence();
        for (int i = 0; i < batchCount; i++) {
            region.set(ValueLayout.JAVA_BYTE, desc(batch[i]) + DESC_STATE_INFLIGHT, (byte) 0);
        }
        batchCount = 0;
        region.set(LE16, REGION_USED_IDX, (short) usedIdx);
    }
}
