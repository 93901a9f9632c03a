package io.bundlevisor.device.blk.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import io.bundlevisor.core.virtio.DescChain;

/**
 * A descriptor chain over native memory, laid out as Linux's virtio_blk driver builds one: the 16-byte header in
 * its own descriptor, the data in another, the status byte in a third. Data buffers sit at a 4096-aligned address
 * plus {@code misalign}; {@link #describe} cuts ranges at descriptor boundaries and into iovecs of at most
 * {@code segment} bytes, as a chain of several data descriptors would.
 */
final class FakeChain implements DescChain {

    /** One side of the chain: its descriptors' buffers, in order. */
    private static final class Part {
        final MemorySegment[] buffers;
        final long size;

        Part(MemorySegment... buffers) {
            this.buffers = buffers;
            long n = 0;
            for (MemorySegment b : buffers) {
                n += b.byteSize();
            }
            this.size = n;
        }

        byte get(long offset) {
            long o = inside(offset);
            for (MemorySegment b : buffers) {
                if (o < b.byteSize()) {
                    return b.get(JAVA_BYTE, o);
                }
                o -= b.byteSize();
            }
            throw new AssertionError();
        }

        void set(long offset, byte value) {
            long o = inside(offset);
            for (MemorySegment b : buffers) {
                if (o < b.byteSize()) {
                    b.set(JAVA_BYTE, o, value);
                    return;
                }
                o -= b.byteSize();
            }
            throw new AssertionError();
        }

        private long inside(long offset) {
            if (offset < 0 || offset >= size) {
                throw new IndexOutOfBoundsException(offset + " outside a part of " + size + " bytes");
            }
            return offset;
        }

        void check(long offset, long length) {
            if (offset < 0 || length < 0 || offset + length > size) {
                throw new IndexOutOfBoundsException("[" + offset + ", +" + length + ") outside " + size + " bytes");
            }
        }

        byte[] bytes() {
            byte[] out = new byte[(int) size];
            for (int i = 0; i < out.length; i++) {
                out[i] = get(i);
            }
            return out;
        }
    }

    private final int head;
    private final Part readable;
    private final Part writable;
    private final MemorySegment iovecs;
    private final int segment;

    /**
     * @param misalign bytes added to a 4096-aligned address for the data buffers (0: page-aligned)
     * @param segment  largest iovec, as one data descriptor's length
     */
    FakeChain(Arena arena, int head, byte[] readableBytes, int writableBytes, int misalign, int segment) {
        this.head = head;
        int headerBytes = Math.min(BlkSpec.HEADER_SIZE, readableBytes.length);
        MemorySegment header = copy(arena.allocate(headerBytes + 1L, 8).asSlice(0, headerBytes), readableBytes, 0);
        MemorySegment out = copy(buffer(arena, readableBytes.length - headerBytes, misalign), readableBytes,
                headerBytes);
        this.readable = out.byteSize() == 0 ? new Part(header) : new Part(header, out);
        if (writableBytes <= 1) {
            this.writable = new Part(arena.allocate(1).asSlice(0, writableBytes));
        } else {
            this.writable = new Part(buffer(arena, writableBytes - 1, misalign), arena.allocate(1));
        }
        for (MemorySegment b : writable.buffers) {
            b.fill((byte) 0xEE); // so a test sees what the device did not write
        }
        this.iovecs = arena.allocate(16L * 1024, 8);
        this.segment = segment;
    }

    FakeChain(Arena arena, int head, byte[] readableBytes, int writableBytes) {
        this(arena, head, readableBytes, writableBytes, 0, 1 << 20);
    }

    private static MemorySegment buffer(Arena arena, int bytes, int misalign) {
        return arena.allocate(bytes + misalign + 1L, 4096).asSlice(misalign, bytes);
    }

    private static MemorySegment copy(MemorySegment to, byte[] from, int offset) {
        MemorySegment.copy(from, offset, to, JAVA_BYTE, 0, (int) to.byteSize());
        return to;
    }

    /** A 16-byte request header, then {@code data}. */
    static byte[] request(int type, long sector, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(16 + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(type).putInt(0).putLong(sector).put(data);
        return b.array();
    }

    /** One discard/write-zeroes segment. */
    static byte[] segment(long sector, int sectors, int flags) {
        return ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(sector).putInt(sectors).putInt(flags)
                .array();
    }

    /** The writable part now. */
    byte[] written() {
        return writable.bytes();
    }

    /** The status byte: the last writable one. */
    int status() {
        return writable.get(writable.size - 1);
    }

    @Override
    public int head() {
        return head;
    }

    @Override
    public int readableBytes() {
        return (int) readable.size;
    }

    @Override
    public int writableBytes() {
        return (int) writable.size;
    }

    @Override
    public byte readByte(int offset) {
        return readable.get(offset);
    }

    @Override
    public int readInt(int offset) {
        readable.check(offset, 4);
        int v = 0;
        for (int i = 3; i >= 0; i--) {
            v = (v << 8) | (readable.get(offset + i) & 0xFF);
        }
        return v;
    }

    @Override
    public long readLong(int offset) {
        readable.check(offset, 8);
        return (readInt(offset) & 0xFFFF_FFFFL) | ((long) readInt(offset + 4) << 32);
    }

    @Override
    public void read(int offset, MemorySegment dst, long dstOffset, int length) {
        readable.check(offset, length);
        for (int i = 0; i < length; i++) {
            dst.set(JAVA_BYTE, dstOffset + i, readable.get(offset + i));
        }
    }

    @Override
    public void writeByte(int offset, byte value) {
        writable.set(offset, value);
    }

    @Override
    public void write(int offset, MemorySegment src, long srcOffset, int length) {
        writable.check(offset, length);
        for (int i = 0; i < length; i++) {
            writable.set(offset + i, src.get(JAVA_BYTE, srcOffset + i));
        }
    }

    @Override
    public void fill(int offset, int length, byte value) {
        writable.check(offset, length);
        for (int i = 0; i < length; i++) {
            writable.set(offset + i, value);
        }
    }

    @Override
    public int describe(boolean toWritable, int offset, int length) {
        Part part = toWritable ? writable : readable;
        part.check(offset, length);
        int count = 0;
        long start = 0;
        for (MemorySegment b : part.buffers) {
            long from = Math.max(offset, start);
            long to = Math.min((long) offset + length, start + b.byteSize());
            for (long at = from; at < to; at += segment) {
                long len = Math.min(segment, to - at);
                iovecs.set(JAVA_LONG, 16L * count, b.address() + (at - start));
                iovecs.set(JAVA_LONG, 16L * count + 8, len);
                count++;
            }
            start += b.byteSize();
        }
        return count;
    }

    @Override
    public MemorySegment iovecs() {
        return iovecs;
    }
}
