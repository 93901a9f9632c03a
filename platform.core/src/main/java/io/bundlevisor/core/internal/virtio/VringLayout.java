package io.bundlevisor.core.internal.virtio;

import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The split virtqueue structures of virtio 1.x section 2.7 (virtio 1.2 numbering; {@code virtio_ring.h} in Linux's
 * uapi headers carries the same layout) as named offsets and sizes. Every offset is computed from an FFM layout of
 * the spec's struct and checked against the spec's number when the class loads, so a slip fails at once.
 *
 * <p>All fields are little-endian (section 2.7.3: only legacy devices use the guest's order, "opposed to
 * little-endian for non-legacy interface"); the accessors below say the order explicitly even though the host is
 * x86. Guest memory may be unaligned where the spec does not promise alignment (an indirect table, a buffer), so
 * plain accesses use the unaligned layouts; the two index fields whose ordering matters are accessed through
 * {@link #IDX_ACQUIRE_RELEASE}, which needs the 2-byte alignment the ring areas are checked for at configure time.
 */
final class VringLayout {

    /** Little-endian, unaligned accessors for guest-memory fields. */
    static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * avail.idx and used.idx: the driver publishes avail.idx after the ring entries and descriptors (section 2.7.13,
     * "Updating idx"), the device publishes used.idx after the used elements (section 2.7.8: "The device MUST set
     * len prior to updating the used idx"), so these two are read with acquire and written with release.
     * Coordinates: (MemorySegment, long offset); the offset must be 2-byte aligned.
     */
    static final VarHandle IDX_ACQUIRE_RELEASE =
            ValueLayout.JAVA_SHORT.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    /** {@code struct virtq_desc} (section 2.7.5): 16 bytes. */
    static final StructLayout DESC = structLayout(
            ValueLayout.JAVA_LONG.withName("addr"), ValueLayout.JAVA_INT.withName("len"),
            ValueLayout.JAVA_SHORT.withName("flags"), ValueLayout.JAVA_SHORT.withName("next"));

    /** The fixed head of {@code struct virtq_avail} (section 2.7.6); {@code le16 ring[size]} and used_event follow. */
    static final StructLayout AVAIL_HEAD = structLayout(
            ValueLayout.JAVA_SHORT.withName("flags"), ValueLayout.JAVA_SHORT.withName("idx"));

    /** The fixed head of {@code struct virtq_used} (section 2.7.8); the elements and avail_event follow. */
    static final StructLayout USED_HEAD = structLayout(
            ValueLayout.JAVA_SHORT.withName("flags"), ValueLayout.JAVA_SHORT.withName("idx"));

    /** {@code struct virtq_used_elem} (section 2.7.8): le32 id, le32 len. */
    static final StructLayout USED_ELEM = structLayout(
            ValueLayout.JAVA_INT.withName("id"), ValueLayout.JAVA_INT.withName("len"));

    static final long DESC_SIZE = check(DESC.byteSize(), 16, "sizeof(struct virtq_desc)");
    static final long DESC_ADDR = offset(DESC, 0, "addr");
    static final long DESC_LEN = offset(DESC, 8, "len");
    static final long DESC_FLAGS = offset(DESC, 12, "flags");
    static final long DESC_NEXT = offset(DESC, 14, "next");

    /** Descriptor flags (section 2.7.5). */
    static final int DESC_F_NEXT = 1;
    static final int DESC_F_WRITE = 2;
    static final int DESC_F_INDIRECT = 4;

    static final long AVAIL_FLAGS = offset(AVAIL_HEAD, 0, "flags");
    static final long AVAIL_IDX = offset(AVAIL_HEAD, 2, "idx");
    static final long AVAIL_RING = check(AVAIL_HEAD.byteSize(), 4, "offsetof(struct virtq_avail, ring)");
    static final long AVAIL_ENTRY_SIZE = 2;
    /** VRING_AVAIL_F_NO_INTERRUPT (section 2.7.7): the driver wants no used-buffer notification. */
    static final int AVAIL_F_NO_INTERRUPT = 1;

    static final long USED_FLAGS = offset(USED_HEAD, 0, "flags");
    static final long USED_IDX = offset(USED_HEAD, 2, "idx");
    static final long USED_RING = check(USED_HEAD.byteSize(), 4, "offsetof(struct virtq_used, ring)");
    static final long USED_ELEM_SIZE = check(USED_ELEM.byteSize(), 8, "sizeof(struct virtq_used_elem)");
    static final long USED_ELEM_ID = offset(USED_ELEM, 0, "id");
    static final long USED_ELEM_LEN = offset(USED_ELEM, 4, "len");
    /** VRING_USED_F_NO_NOTIFY (section 2.7.10): the device wants no available-buffer notification. */
    static final int USED_F_NO_NOTIFY = 1;

    /** Minimum alignment of each part (section 2.7, the table under "Split Virtqueues"). */
    static final long DESC_ALIGN = 16;
    static final long AVAIL_ALIGN = 2;
    static final long USED_ALIGN = 4;

    /** Section 2.7: "Queue Size value is always a power of 2. The maximum Queue Size value is 32768." */
    static final int MAX_QUEUE_SIZE = 32768;

    static {
        // The sizes of the whole areas, for one queue of 8 entries, against the table of section 2.7.
        check(descTableSize(8), 128, "descriptor table of 8");
        check(availSize(8), 6 + 2 * 8, "available ring of 8");
        check(usedSize(8), 6 + 8 * 8, "used ring of 8");
        check(sequenceLayout(8, DESC).byteSize(), 128, "desc[8]");
    }

    private VringLayout() {
    }

    /** Bytes of the descriptor table: 16 * size. */
    static long descTableSize(int size) {
        return DESC_SIZE * size;
    }

    /** Bytes of the available ring: flags, idx, ring[size], used_event (6 + 2 * size). */
    static long availSize(int size) {
        return AVAIL_RING + AVAIL_ENTRY_SIZE * size + 2;
    }

    /** Bytes of the used ring: flags, idx, ring[size], avail_event (6 + 8 * size). */
    static long usedSize(int size) {
        return USED_RING + USED_ELEM_SIZE * size + 2;
    }

    /** Offset of avail.ring[slot] in the available ring. */
    static long availEntry(int slot) {
        return AVAIL_RING + AVAIL_ENTRY_SIZE * slot;
    }

    /** Offset of used_event, which follows avail.ring[size] (section 2.7.6). */
    static long usedEvent(int size) {
        return AVAIL_RING + AVAIL_ENTRY_SIZE * size;
    }

    /** Offset of used.ring[slot] in the used ring. */
    static long usedElem(int slot) {
        return USED_RING + USED_ELEM_SIZE * slot;
    }

    /** Offset of avail_event, which follows used.ring[size] (section 2.7.8). */
    static long availEvent(int size) {
        return USED_RING + USED_ELEM_SIZE * size;
    }

    private static long offset(MemoryLayout layout, long expected, String field) {
        return check(layout.byteOffset(MemoryLayout.PathElement.groupElement(field)), expected, field);
    }

    private static long check(long actual, long expected, String what) {
        if (actual != expected) {
            throw new AssertionError(what + " is " + actual + ", virtio 1.x section 2.7 says " + expected);
        }
        return actual;
    }
}
