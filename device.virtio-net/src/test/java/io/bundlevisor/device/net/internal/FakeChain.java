package io.bundlevisor.device.net.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import io.bundlevisor.core.virtio.DescChain;

/**
 * A descriptor chain over native memory: a readable part in one buffer (a transmit frame or a control command), a
 * writable part in buffers of the given sizes (receive buffers, an ack byte). {@link #describe} gives real iovecs over
 * them, as the platform's chain does.
 */
final class FakeChain implements DescChain {

    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final int head;
    private final MemorySegment readable;
    private final MemorySegment[] writable;
    private final int writableBytes;
    private final MemorySegment iovecs;

    FakeChain(Arena arena, int head, byte[] readable, int... writableSizes) {
        this.head = head;
        this.readable = arena.allocate(Math.max(1, readable.length)).asSlice(0, readable.length);
        MemorySegment.copy(readable, 0, this.readable, JAVA_BYTE, 0, readable.length);
        this.writable = new MemorySegment[writableSizes.length];
        int n = 0;
        for (int i = 0; i < writableSizes.length; i++) {
            writable[i] = arena.allocate(writableSizes[i]);
            n += writableSizes[i];
        }
        this.writableBytes = n;
        this.iovecs = arena.allocate(16L * (writableSizes.length + 1), 8);
    }

    /** A transmit chain: header and frame, nothing writable. */
    static FakeChain tx(Arena arena, int head, byte[] bytes) {
        return new FakeChain(arena, head, bytes);
    }

    /** A receive chain of buffers of these sizes. */
    static FakeChain rx(Arena arena, int head, int... sizes) {
        return new FakeChain(arena, head, new byte[0], sizes);
    }

    /** The writable part's bytes now. */
    byte[] written() {
        byte[] out = new byte[writableBytes];
        int at = 0;
        for (MemorySegment w : writable) {
            MemorySegment.copy(w, JAVA_BYTE, 0, out, at, (int) w.byteSize());
            at += (int) w.byteSize();
        }
        return out;
    }

    @Override
    public int head() {
        return head;
    }

    @Override
    public int readableBytes() {
        return (int) readable.byteSize();
    }

    @Override
    public int writableBytes() {
        return writableBytes;
    }

    @Override
    public byte readByte(int offset) {
        return readable.get(JAVA_BYTE, offset);
    }

    @Override
    public int readInt(int offset) {
        return readable.get(LE_INT, offset);
    }

    @Override
    public long readLong(int offset) {
        return readable.get(LE_LONG, offset);
    }

    @Override
    public void read(int offset, MemorySegment dst, long dstOffset, int length) {
        MemorySegment.copy(readable, offset, dst, dstOffset, length);
    }

    @Override
    public void writeByte(int offset, byte value) {
        locate(offset, 1).set(JAVA_BYTE, 0, value);
    }

    @Override
    public void write(int offset, MemorySegment src, long srcOffset, int length) {
        for (int i = 0; i < length; i++) {
            writeByte(offset + i, src.get(JAVA_BYTE, srcOffset + i));
        }
    }

    @Override
    public void fill(int offset, int length, byte value) {
        for (int i = 0; i < length; i++) {
            writeByte(offset + i, value);
        }
    }

    private MemorySegment locate(int offset, int length) {
        if (offset < 0 || offset + length > writableBytes) {
            throw new IndexOutOfBoundsException(offset + " outside a writable part of " + writableBytes);
        }
        int o = offset;
        for (MemorySegment w : writable) {
            if (o < w.byteSize()) {
                return w.asSlice(o);
            }
            o -= (int) w.byteSize();
        }
        throw new AssertionError();
    }

    @Override
    public int describe(boolean wantWritable, int offset, int length) {
        if (!wantWritable) {
            iovecs.set(JAVA_LONG, 0, readable.address() + offset);
            iovecs.set(JAVA_LONG, 8, length);
            return 1;
        }
        int n = 0;
        int skip = offset;
        int left = length;
        for (MemorySegment w : writable) {
            if (left == 0) {
                break;
            }
            if (skip >= w.byteSize()) {
                skip -= (int) w.byteSize();
                continue;
            }
            int take = (int) Math.min(left, w.byteSize() - skip);
            iovecs.set(JAVA_LONG, 16L * n, w.address() + skip);
            iovecs.set(JAVA_LONG, 16L * n + 8, take);
            n++;
            left -= take;
            skip = 0;
        }
        return n;
    }

    @Override
    public MemorySegment iovecs() {
        return iovecs;
    }
}
