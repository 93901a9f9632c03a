package io.bundlevisor.core.internal.virtio;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The driver side of one split virtqueue, written from the spec (virtio 1.x section 2.7.13) rather than from
 * {@link SplitQueue}: lays the three rings out in a {@link FakeGuestRam}, writes descriptors and offers chains. It
 * does not defend itself; tests use it to build hostile rings too.
 */
final class FakeDriver {

    static final int NEXT = 1;
    static final int WRITE = 2;
    static final int INDIRECT = 4;

    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One buffer of a chain: guest address, length, device-writable or not. */
    record Seg(long addr, int len, boolean write) {
        static Seg in(long addr, int len) {
            return new Seg(addr, len, false);
        }

        static Seg out(long addr, int len) {
            return new Seg(addr, len, true);
        }
    }

    final FakeGuestRam ram;
    final MemorySegment memory;
    final int size;
    final long desc;
    final long avail;
    final long used;
    private long nextBuffer;
    private long nextHigh;
    private int availIdx;

    /** Rings at guest {@code ringsAt} (page aligned), buffers handed out from the next page on. */
    FakeDriver(FakeGuestRam ram, int size, long ringsAt) {
        this.ram = ram;
        this.memory = ram.memory();
        this.size = size;
        this.desc = ringsAt;
        this.avail = desc + 16L * size;
        this.used = align(avail + 6 + 2L * size, 4);
        this.nextBuffer = align(used + 6 + 8L * size, 4096);
        this.nextHigh = ram.highStart();
    }

    FakeDriver(FakeGuestRam ram, int size) {
        this(ram, size, FakeGuestRam.BASE);
    }

    /** A configured queue on these rings. */
    SplitQueue queue(int maxSize, boolean eventIdx, boolean indirect) throws QueueException {
        SplitQueue q = new SplitQueue(ram, 0, maxSize);
        q.configure(size, desc, avail, used, eventIdx, indirect);
        return q;
    }

    static long align(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }

    /** A fresh buffer of {@code bytes} in RAM (16-byte aligned), filled with a pattern derived from its address. */
    long buffer(int bytes) {
        long addr = nextBuffer;
        nextBuffer = align(addr + bytes, 16);
        for (int i = 0; i < bytes; i++) {
            memory.set(ValueLayout.JAVA_BYTE, host(addr + i, 1), pattern(addr + i));
        }
        return addr;
    }

    /** Like {@link #buffer} but above the hole, where guest address and host offset differ by more. */
    long highBuffer(int bytes) {
        long addr = nextHigh;
        nextHigh = align(addr + bytes, 16);
        for (int i = 0; i < bytes; i++) {
            memory.set(ValueLayout.JAVA_BYTE, host(addr + i, 1), pattern(addr + i));
        }
        return addr;
    }

    static byte pattern(long guestAddress) {
        return (byte) (guestAddress * 31 + 7);
    }

    long host(long guest, long length) {
        long h = ram.hostOffset(guest, length);
        if (h < 0) {
            throw new IllegalArgumentException("test bug: 0x" + Long.toHexString(guest) + " is not RAM");
        }
        return h;
    }

    /** Writes descriptor {@code i} of the table at guest {@code table}. */
    void descAt(long table, int i, long addr, long len, int flags, int next) {
        long at = host(table + 16L * i, 16);
        memory.set(LE64, at, addr);
        memory.set(LE32, at + 8, (int) len);
        memory.set(LE16, at + 12, (short) flags);
        memory.set(LE16, at + 14, (short) next);
    }

    void desc(int i, long addr, long len, int flags, int next) {
        descAt(desc, i, addr, len, flags, next);
    }

    /** Writes {@code segs} as a chain in descriptors first, first + 1, ... of the table at guest {@code table}. */
    void chainAt(long table, int first, Seg... segs) {
        for (int k = 0; k < segs.length; k++) {
            boolean last = k == segs.length - 1;
            int flags = (segs[k].write() ? WRITE : 0) | (last ? 0 : NEXT);
            descAt(table, first + k, segs[k].addr(), segs[k].len(), flags, last ? 0 : first + k + 1);
        }
    }

    /** Writes a chain at descriptors first.. and offers it; returns the head. */
    int offerChain(int first, Seg... segs) {
        chainAt(desc, first, segs);
        offer(first);
        return first;
    }

    /** Puts {@code head} in the next avail.ring slot and publishes avail.idx (with release, as the spec asks). */
    void offer(int head) {
        memory.set(LE16, host(avail + 4 + 2L * (availIdx % size), 2), (short) head);
        availIdx = (availIdx + 1) & 0xFFFF;
        VringLayout.IDX_ACQUIRE_RELEASE.setRelease(memory, host(avail + 2, 2), (short) availIdx);
    }

    /** Sets avail.idx (and the driver's own copy) without offering anything, e.g. to start near a wrap. */
    void setAvailIdx(int idx) {
        availIdx = idx & 0xFFFF;
        memory.set(LE16, host(avail + 2, 2), (short) availIdx);
    }

    int availIdx() {
        return availIdx;
    }

    void availFlags(int flags) {
        memory.set(LE16, host(avail, 2), (short) flags);
    }

    void usedEvent(int event) {
        memory.set(LE16, host(avail + 4 + 2L * size, 2), (short) event);
    }

    int usedFlags() {
        return Short.toUnsignedInt(memory.get(LE16, host(used, 2)));
    }

    int usedIdx() {
        return Short.toUnsignedInt(memory.get(LE16, host(used + 2, 2)));
    }

    int usedId(int slot) {
        return memory.get(LE32, host(used + 4 + 8L * slot, 4));
    }

    int usedLen(int slot) {
        return memory.get(LE32, host(used + 8 + 8L * slot, 4));
    }

    int availEvent() {
        return Short.toUnsignedInt(memory.get(LE16, host(used + 4 + 8L * size, 2)));
    }

    byte byteAt(long guest) {
        return memory.get(ValueLayout.JAVA_BYTE, host(guest, 1));
    }

    void put(long guest, byte[] bytes) {
        MemorySegment.copy(bytes, 0, memory, ValueLayout.JAVA_BYTE, host(guest, bytes.length), bytes.length);
    }

    byte[] get(long guest, int length) {
        byte[] out = new byte[length];
        MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, host(guest, length), out, 0, length);
        return out;
    }

    /** A copy of all guest RAM, to prove what a refusal did not write. */
    byte[] snapshot() {
        return memory.toArray(ValueLayout.JAVA_BYTE);
    }

    /** Host offsets [from, to) of the used ring, which the device owns. */
    long usedHostStart() {
        return host(used, 1);
    }

    long usedHostEnd() {
        return host(used, 6 + 8L * size) + 6 + 8L * size;
    }
}
