package io.bundlevisor.core.internal.virtio;

import static io.bundlevisor.core.internal.virtio.VringLayout.AVAIL_ALIGN;
import static io.bundlevisor.core.internal.virtio.VringLayout.AVAIL_FLAGS;
import static io.bundlevisor.core.internal.virtio.VringLayout.AVAIL_F_NO_INTERRUPT;
import static io.bundlevisor.core.internal.virtio.VringLayout.AVAIL_IDX;
import static io.bundlevisor.core.internal.virtio.VringLayout.DESC_ALIGN;
import static io.bundlevisor.core.internal.virtio.VringLayout.IDX_ACQUIRE_RELEASE;
import static io.bundlevisor.core.internal.virtio.VringLayout.LE16;
import static io.bundlevisor.core.internal.virtio.VringLayout.LE32;
import static io.bundlevisor.core.internal.virtio.VringLayout.USED_ALIGN;
import static io.bundlevisor.core.internal.virtio.VringLayout.USED_ELEM_ID;
import static io.bundlevisor.core.internal.virtio.VringLayout.USED_ELEM_LEN;
import static io.bundlevisor.core.internal.virtio.VringLayout.USED_FLAGS;
import static io.bundlevisor.core.internal.virtio.VringLayout.USED_F_NO_NOTIFY;
import static io.bundlevisor.core.internal.virtio.VringLayout.USED_IDX;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.core.virtio.ChainTracker;

/**
 * The device side of one split virtqueue (virtio 1.x section 2.7): takes the chains the driver makes available,
 * returns them through the used ring, and decides when the driver wants an interrupt.
 *
 * <p><b>Threads.</b> Used from the device's worker thread only; the driver runs concurrently in the guest, and
 * everything it writes is read once and checked (see {@link DescriptorWalker}). Nothing here throws on a driver's
 * mistake except {@link QueueException}, after which the transport sets DEVICE_NEEDS_RESET.
 *
 * <p><b>Memory.</b> The three ring areas are checked to lie in guest RAM at {@link #configure}; from then on they
 * are addressed by host offsets into {@link GuestRam#memory()}. Buffers are checked per descriptor. The only guest
 * memory this class writes is the used ring (elements, idx, flags and avail_event).
 *
 * <p><b>Indices.</b> avail.idx and used.idx are free-running 16-bit counters (section 2.7.13.3: "idx always
 * increments, and wraps naturally at 65536"); this class keeps its own copies as ints in [0, 65535] and does all
 * index arithmetic modulo 65536. The queue size is a power of two, so {@code idx & (size - 1)} is the slot.
 *
 * <p>Allocates nothing per chain: Chains are pooled per head, the rest is primitive fields.
 */
public final class SplitQueue {

    private static final int INDEX_MASK = 0xFFFF;

    private final GuestRam ram;
    private final MemorySegment memory;
    private final int index;
    private final int maxSize;
    private final Chain[] pool;
    private final DescriptorWalker walker;

    /** 0 while not configured. */
    private int size;
    private long descTable;
    private long availRing;
    private long usedRing;
    private boolean eventIdx;
    private boolean indirect;

    /** The next avail.ring entry to take. */
    private int lastAvail;
    /** The next used.ring entry to fill; published to used.idx by {@link #publishUsed}. */
    private int usedIdx;
    /** The used.idx value the driver last saw, for the EVENT_IDX decision. */
    private int publishedUsed;
    private int pushedSincePublish;
    private int inFlight;
    /** A backend transport's in-flight tracking, told of every take, give-back, use and publish; null for machines. */
    private ChainTracker tracker;

    /**
     * @param ram     the machine's RAM
     * @param index   the queue's index, for messages
     * @param maxSize the device's largest queue size, a power of two up to 32768
     */
    public SplitQueue(GuestRam ram, int index, int maxSize) {
        if (maxSize < 1 || maxSize > VringLayout.MAX_QUEUE_SIZE || Integer.bitCount(maxSize) != 1) {
            throw new IllegalArgumentException("maximum queue size " + maxSize + " is not a power of two in 1.."
                    + VringLayout.MAX_QUEUE_SIZE);
        }
        this.ram = ram;
        this.memory = ram.memory();
        this.index = index;
        this.maxSize = maxSize;
        this.pool = new Chain[maxSize];
        this.walker = new DescriptorWalker(ram, index);
    }

    /**
     * Sets the queue up as the driver described it (section 4.2.3.2 for MMIO) and forgets any previous state:
     * indices back to 0, nothing in flight.
     *
     * @param size     the queue size the driver chose: a power of two in [1, maxSize] (section 2.7: "Queue Size
     *                 value is always a power of 2")
     * @param desc     guest-physical address of the descriptor table (16-byte aligned, 16 * size bytes)
     * @param avail    guest-physical address of the available ring (2-byte aligned, 6 + 2 * size bytes)
     * @param used     guest-physical address of the used ring (4-byte aligned, 6 + 8 * size bytes)
     * @param eventIdx VIRTIO_F_EVENT_IDX was negotiated
     * @param indirect VIRTIO_F_INDIRECT_DESC was negotiated
     * @throws QueueException if the size, an alignment or a ring area is wrong; the queue is then unconfigured
     */
    public void configure(int size, long desc, long avail, long used, boolean eventIdx, boolean indirect)
            throws QueueException {
        reset();
        if (size < 1 || size > maxSize || Integer.bitCount(size) != 1) {
            throw new QueueException(index, "size " + size + " is not a power of two in 1.." + maxSize);
        }
        long descHost = area("descriptor table", desc, VringLayout.descTableSize(size), DESC_ALIGN);
        long availHost = area("available ring", avail, VringLayout.availSize(size), AVAIL_ALIGN);
        long usedHost = area("used ring", used, VringLayout.usedSize(size), USED_ALIGN);
        this.descTable = descHost;
        this.availRing = availHost;
        this.usedRing = usedHost;
        this.eventIdx = eventIdx;
        this.indirect = indirect;
        this.size = size;
    }

    /** Checks one ring area (section 2.7: alignment and size table) and returns its host offset. */
    private long area(String what, long address, long bytes, long alignment) throws QueueException {
        if ((address & (alignment - 1)) != 0) {
            throw new QueueException(index, String.format("%s at 0x%x is not %d-byte aligned", what, address,
                    alignment));
        }
        long host = ram.hostOffset(address, bytes);
        if (host < 0) {
            throw new QueueException(index, String.format("%s [0x%x, +0x%x) is not guest RAM", what, address, bytes));
        }
        // The index fields are accessed with acquire/release, which needs them aligned in the host mapping too.
        // Guest RAM is mapped page-aligned, so this holds whenever the guest address is aligned; checked anyway.
        if (((memory.address() + host) & (alignment - 1)) != 0) {
            throw new QueueException(index, String.format("%s at 0x%x is misaligned in the host mapping", what,
                    address));
        }
        return host;
    }

    /**
     * Takes the next chain the driver made available (section 2.7.13), walked and checked, and marks its head in
     * flight until {@link #pushUsed}. Returns null when nothing is available or the queue is not configured.
     *
     * @throws QueueException if the driver broke the protocol; nothing is then marked in flight, no index moves and
     *                        nothing is written to guest memory
     */
    public Chain pop() throws QueueException {
        if (size == 0) {
            return null;
        }
        int again = tracker == null ? -1 : tracker.resubmit();
        int head;
        if (again >= 0) {
            head = again; // a chain a previous backend had in flight: taken again first, the avail index stays
            if (head >= size) {
                throw new QueueException(index, "in-flight head " + head + " is outside the queue size " + size);
            }
        } else {
            int availIdx = availIdxAcquire();
            int pending = (availIdx - lastAvail) & INDEX_MASK;
            if (pending == 0) {
                return null;
            }
            if (pending > size) {
                throw new QueueException(index, String.format(
                        "avail.idx %d is %d entries ahead of the device's %d, more than the queue size %d", availIdx,
                        pending, lastAvail, size));
            }
            // Read after the acquire of avail.idx: the driver wrote this entry before publishing the index.
            head = Short.toUnsignedInt(memory.get(LE16, availRing + VringLayout.availEntry(lastAvail & (size - 1))));
            if (head >= size) {
                throw new QueueException(index, String.format(
                        "avail.ring[%d] names head %d, outside the queue size %d", lastAvail & (size - 1), head, size));
            }
        }
        Chain chain = pool[head];
        if (chain == null) {
            chain = new Chain(memory, head);
            pool[head] = chain;
        } else if (chain.inFlight) {
            throw new QueueException(index, "head " + head + " was made available again while still in flight");
        }
        walker.walk(chain, descTable, size, Math.max(size, maxSize), indirect);
        chain.inFlight = true;
        inFlight++;
        if (again < 0) {
            lastAvail = (lastAvail + 1) & INDEX_MASK;
        }
        if (tracker != null) {
            tracker.taken(head);
        }
        return chain;
    }

    /**
     * Puts a chain from {@link #pop} in the used ring with the bytes the device wrote (section 2.7.8), clamped to
     * [0, the chain's writable bytes]: a device's mistake must not make the driver trust bytes nobody wrote. The
     * driver sees it only after {@link #publishUsed}. The chain must not be used afterwards.
     *
     * @throws IllegalStateException if the chain is not in flight on this queue (a platform bug, not the guest's)
     */
    public void pushUsed(Chain chain, int written) {
        int head = chain.head();
        if (size == 0 || head >= size || pool[head] != chain || !chain.inFlight) {
            throw new IllegalStateException("queue " + index + ": chain " + head + " is not in flight");
        }
        int len = Math.clamp(written, 0, chain.writableBytes());
        long element = usedRing + VringLayout.usedElem(usedIdx & (size - 1));
        memory.set(LE32, element + USED_ELEM_ID, head);
        memory.set(LE32, element + USED_ELEM_LEN, len);
        usedIdx = (usedIdx + 1) & INDEX_MASK;
        pushedSincePublish++;
        chain.inFlight = false;
        inFlight--;
        if (tracker != null) {
            chain.reportWritable(tracker); // after the device's IO and the element: dirty-page logging
            tracker.wroteUsed((int) (element - usedRing), (int) (VringLayout.usedElem(1) - VringLayout.usedElem(0)));
            tracker.used(head);
        }
    }

    /**
     * Gives back the last {@code chains.length} chains {@link #pop} took, unused (Linux's vhost_discard_vq_desc): they
     * are no longer in flight and the next pops take the same avail entries again. The caller checked that these are
     * exactly the chains taken most recently.
     *
     * @throws IllegalStateException if a chain is not in flight on this queue (a platform bug, not the guest's)
     */
    public void unpop(Chain[] chains, int count) {
        for (int i = 0; i < count; i++) {
            Chain chain = chains[i];
            int head = chain.head();
            if (size == 0 || head >= size || pool[head] != chain || !chain.inFlight) {
                throw new IllegalStateException("queue " + index + ": chain " + head + " is not in flight");
            }
        }
        int fromAvail = count;
        for (int i = 0; i < count; i++) {
            chains[i].inFlight = false;
            if (tracker != null && tracker.returned(chains[i].head())) {
                fromAvail--; // a resubmitted chain: the tracker hands it out again
            }
        }
        inFlight -= count;
        lastAvail = (lastAvail - fromAvail) & INDEX_MASK;
    }

    /**
     * Publishes the used elements pushed since the last call by storing used.idx with release semantics (section
     * 2.7.8: len before idx), and says whether the driver wants a used-buffer notification for them (section 2.7.7):
     * with EVENT_IDX when used.idx passed used_event, else when avail.flags lacks VRING_AVAIL_F_NO_INTERRUPT.
     * Returns false when nothing was pushed since the last call.
     */
    public boolean publishUsed() {
        if (size == 0 || pushedSincePublish == 0) {
            return false;
        }
        int old = publishedUsed;
        int now = usedIdx;
        IDX_ACQUIRE_RELEASE.setRelease(memory, usedRing + USED_IDX, (short) now);
        publishedUsed = now;
        pushedSincePublish = 0;
        if (tracker != null) {
            tracker.wroteUsed((int) USED_IDX, 2);
            tracker.published(now);
        }
        // The driver writes used_event/flags and then reads used.idx; we write used.idx and then read them. Without
        // a full fence the load could pass the store and both sides would miss the other's update.
        VarHandle.fullFence();
        if (eventIdx) {
            int usedEvent = Short.toUnsignedInt(memory.get(LE16, availRing + VringLayout.usedEvent(size)));
            return needEvent(usedEvent, now, old);
        }
        return (memory.get(LE16, availRing + AVAIL_FLAGS) & AVAIL_F_NO_INTERRUPT) == 0;
    }

    /**
     * vring_need_event (section 2.7.7 and Linux {@code include/uapi/linux/virtio_ring.h}): true when {@code event}
     * lies in the window of indices (old, now] that this publish moved used.idx over, in 16-bit arithmetic.
     */
    static boolean needEvent(int event, int now, int old) {
        return ((now - event - 1) & INDEX_MASK) < ((now - old) & INDEX_MASK);
    }

    /**
     * Asks the driver for available-buffer notifications again (section 2.7.10): with EVENT_IDX by writing
     * avail_event = the next index we will take, else by clearing VRING_USED_F_NO_NOTIFY. Then re-reads avail.idx
     * after a full fence: returns true when chains are already available, which the driver may have added before it
     * saw our request, so the caller must keep popping instead of sleeping.
     */
    public boolean enableNotifications() {
        if (size == 0) {
            return false;
        }
        if (eventIdx) {
            memory.set(LE16, usedRing + VringLayout.availEvent(size), (short) lastAvail);
        } else {
            memory.set(LE16, usedRing + USED_FLAGS, (short) 0);
        }
        if (tracker != null) {
            tracker.wroteUsed((int) (eventIdx ? VringLayout.availEvent(size) : USED_FLAGS), 2);
        }
        // Our store of avail_event/flags must be visible before we read avail.idx (the mirror of the driver's
        // barrier in section 2.7.13.4), or a chain added in between would be announced to nobody.
        VarHandle.fullFence();
        return availIdxAcquire() != lastAvail;
    }

    /**
     * Tells the driver notifications are not needed while we are popping anyway (section 2.7.10): sets
     * VRING_USED_F_NO_NOTIFY; with EVENT_IDX does nothing, as avail_event simply stays behind.
     */
    public void disableNotifications() {
        if (size != 0 && !eventIdx) {
            memory.set(LE16, usedRing + USED_FLAGS, (short) USED_F_NO_NOTIFY);
            if (tracker != null) {
                tracker.wroteUsed((int) USED_FLAGS, 2);
            }
        }
    }

    /**
     * The in-flight tracking of a backend transport's queue (null for none): kept until replaced, through
     * {@link #configure} and {@link #reset}.
     */
    public void track(ChainTracker next) {
        this.tracker = next;
    }

    /** Whether the driver has made a chain available that we have not popped (no notification needed to see it). */
    public boolean hasAvailable() {
        return size != 0 && availIdxAcquire() != lastAvail;
    }

    private int availIdxAcquire() {
        return Short.toUnsignedInt((short) IDX_ACQUIRE_RELEASE.getAcquire(memory, availRing + AVAIL_IDX));
    }

    /** Chains popped and not yet pushed. */
    public int inFlight() {
        return inFlight;
    }

    /** The configured size, 0 when not configured. */
    public int size() {
        return size;
    }

    public boolean isConfigured() {
        return size != 0;
    }

    /** The queue's index. */
    public int index() {
        return index;
    }

    /** The next avail.ring index the device will take (16 bits). */
    public int lastAvail() {
        return lastAvail;
    }

    /** The next used.ring index the device will fill (16 bits); published or not. */
    public int usedIndex() {
        return usedIdx;
    }

    /**
     * The used ring's idx as it is in guest memory now (0 when not configured): where a backend transport resumes a
     * queue the frontend set up, since vhost-user hands over only the avail side (vhost-user.rst, "Starting and
     * stopping rings").
     */
    public int usedIndexInRing() {
        return size == 0 ? 0 : Short.toUnsignedInt(memory.get(LE16, usedRing + VringLayout.USED_IDX));
    }

    /**
     * Sets the indices from a saved state (taken with nothing in flight, everything published). Afterwards nothing
     * is in flight.
     *
     * @throws IllegalArgumentException if an index is not a 16-bit value
     */
    public void restoreIndices(int lastAvail, int usedIdx) {
        if ((lastAvail & ~INDEX_MASK) != 0 || (usedIdx & ~INDEX_MASK) != 0) {
            throw new IllegalArgumentException("queue " + index + ": indices " + lastAvail + ", " + usedIdx
                    + " are not 16-bit values");
        }
        dropInFlight();
        this.lastAvail = lastAvail;
        this.usedIdx = usedIdx;
        this.publishedUsed = usedIdx;
    }

    /** Forgets everything (device reset, section 2.4): unconfigured, chains in flight dropped, indices 0. */
    public void reset() {
        dropInFlight();
        size = 0;
        descTable = 0;
        availRing = 0;
        usedRing = 0;
        eventIdx = false;
        indirect = false;
        lastAvail = 0;
        usedIdx = 0;
        publishedUsed = 0;
    }

    private void dropInFlight() {
        if (inFlight != 0) {
            for (Chain chain : pool) {
                if (chain != null) {
                    chain.inFlight = false;
                }
            }
        }
        inFlight = 0;
        pushedSincePublish = 0;
    }

    @Override
    public String toString() {
        return "SplitQueue[" + index + ", size=" + size + ", lastAvail=" + lastAvail + ", used=" + usedIdx
                + ", inFlight=" + inFlight + "]";
    }
}
