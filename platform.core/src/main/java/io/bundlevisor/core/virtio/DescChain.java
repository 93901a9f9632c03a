package io.bundlevisor.core.virtio;

import java.lang.foreign.MemorySegment;

import org.osgi.annotation.versioning.ProviderType;

/**
 * One descriptor chain the driver made available (virtio 1.x section 2.7.5), already validated: every buffer lies
 * wholly in guest RAM, device-readable buffers come before device-writable ones, the chain neither loops nor
 * exceeds the queue size, and indirect tables do not nest. Its buffers are seen as two byte strings: the
 * device-readable part and the device-writable part.
 *
 * <p>Valid from {@link VirtioDevice#handleDesc} until {@link VirtioDevice#completeDesc} returns, on the worker
 * thread only. Offsets and lengths outside a part throw {@link IndexOutOfBoundsException}; the platform turns any
 * exception out of a device into DEVICE_NEEDS_RESET, so a device checks lengths it can answer with an error status.
 */
@ProviderType
public interface DescChain {

    /** The head descriptor's index: unique among the queue's chains in flight (below the queue size). */
    int head();

    /** Bytes the device may read. */
    int readableBytes();

    /** Bytes the device may write. */
    int writableBytes();

    /** Little-endian reads of the readable part. */
    byte readByte(int offset);

    int readInt(int offset);

    long readLong(int offset);

    /** Copies {@code length} readable bytes from {@code offset} to {@code dst} at {@code dstOffset}. */
    void read(int offset, MemorySegment dst, long dstOffset, int length);

    /** Writes one byte of the writable part. */
    void writeByte(int offset, byte value);

    /** Copies {@code length} bytes from {@code src} at {@code srcOffset} into the writable part at {@code offset}. */
    void write(int offset, MemorySegment src, long srcOffset, int length);

    /** Fills {@code length} writable bytes from {@code offset} with {@code value}. */
    void fill(int offset, int length, byte value);

    /**
     * Describes {@code [offset, offset + length)} of the readable ({@code writable == false}) or writable part as
     * {@code struct iovec}s over guest RAM in {@link #iovecs()}, for a readv/writev SQE, and returns their count.
     * Each call replaces the previous description.
     */
    int describe(boolean writable, int offset, int length);

    /**
     * The iovec array {@link #describe} filled (16 bytes an entry), native and owned by the chain. A larger
     * description may move it: fetch it after each {@link #describe} and use the count that returned.
     */
    MemorySegment iovecs();
}
