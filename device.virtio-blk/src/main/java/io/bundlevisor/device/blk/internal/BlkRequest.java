package io.bundlevisor.device.blk.internal;

import io.bundlevisor.core.virtio.DescChain;

/**
 * Reads and checks one request chain (virtio 1.x section 5.2.6): the 16-byte device-readable header, the data, and
 * the status byte, the last device-writable byte. One instance per device, reused for every chain on the worker
 * thread, so parsing allocates nothing.
 *
 * <p>{@link #check} returns {@link #PROCEED}, a status to answer at once ({@link BlkSpec#S_IOERR},
 * {@link BlkSpec#S_UNSUPP}), or {@link #MALFORMED} when the chain has no room for a status or a header, which no
 * status can answer. A refusal leaves its {@link BlkRefusal reason} in {@link #refusal()}.
 *
 * <p>Lenient where drivers differ and nothing is at stake: the {@code reserved} (formerly ioprio) field is ignored,
 * as are readable bytes after the header of a request that reads none, and writable bytes before the status of a
 * request that writes none.
 */
final class BlkRequest {

    /** The request is valid: carry it out. */
    static final int PROCEED = -1;
    /** No status byte or no header: the device needs a reset. */
    static final int MALFORMED = -2;

    private final long capacity;
    private final boolean readOnly;

    private int type;
    private long offset;
    private long length;
    private int statusOffset;
    private boolean unmap;
    private BlkRefusal refusal;

    /**
     * @param capacity the disk's sectors
     * @param readOnly whether writes, discards and write zeroes are refused
     */
    BlkRequest(long capacity, boolean readOnly) {
        this.capacity = capacity;
        this.readOnly = readOnly;
    }

    /** Parses and checks {@code chain}; see the class comment for the result. Never throws. */
    int check(DescChain chain) {
        int readable = chain.readableBytes();
        int writable = chain.writableBytes();
        type = -1;
        offset = 0;
        length = 0;
        unmap = false;
        refusal = null;
        if (writable < 1) {
            return malformed(BlkRefusal.NO_STATUS);
        }
        statusOffset = writable - 1;
        if (readable < BlkSpec.HEADER_SIZE) {
            return malformed(BlkRefusal.SHORT_HEADER);
        }
        type = chain.readInt(BlkSpec.HEADER_TYPE);
        long sector = chain.readLong(BlkSpec.HEADER_SECTOR);
        return switch (type) {
            case BlkSpec.T_IN -> data(sector, writable - 1);
            case BlkSpec.T_OUT -> readOnly ? refuse(BlkRefusal.READ_ONLY, BlkSpec.S_IOERR)
                    : data(sector, readable - BlkSpec.HEADER_SIZE);
            case BlkSpec.T_FLUSH -> flush(sector, readable, writable);
            case BlkSpec.T_GET_ID -> writable - 1 == BlkSpec.ID_BYTES ? PROCEED
                    : refuse(BlkRefusal.GET_ID_LENGTH, BlkSpec.S_IOERR);
            case BlkSpec.T_DISCARD, BlkSpec.T_WRITE_ZEROES -> readOnly
                    ? refuse(BlkRefusal.READ_ONLY, BlkSpec.S_IOERR) : range(chain, readable);
            default -> refuse(BlkRefusal.UNKNOWN_TYPE, BlkSpec.S_UNSUPP);
        };
    }

    /** IN and OUT: a whole number of sectors, within the disk (5.2.6.1), at most seg_max * size_max bytes. */
    private int data(long sector, int bytes) {
        if ((bytes & (BlkSpec.SECTOR_SIZE - 1)) != 0) {
            return refuse(BlkRefusal.PARTIAL_SECTOR, BlkSpec.S_IOERR);
        }
        if (bytes > BlkConfig.MAX_TRANSFER) {
            return refuse(BlkRefusal.TOO_LONG, BlkSpec.S_IOERR);
        }
        if (!within(sector, bytes >>> BlkSpec.SECTOR_SHIFT)) {
            return refuse(BlkRefusal.OUT_OF_RANGE, BlkSpec.S_IOERR);
        }
        offset = sector << BlkSpec.SECTOR_SHIFT;
        length = bytes;
        return PROCEED;
    }

    /** 5.2.6.1: the driver MUST set sector 0 and SHOULD send no data; nothing else is a flush this device knows. */
    private int flush(long sector, int readable, int writable) {
        if (sector != 0 || readable != BlkSpec.HEADER_SIZE || writable != 1) {
            return refuse(BlkRefusal.FLUSH_SHAPE, BlkSpec.S_IOERR);
        }
        return PROCEED;
    }

    /**
     * DISCARD and WRITE_ZEROES: exactly one {@code virtio_blk_discard_write_zeroes} segment (max_*_seg is 1), no
     * reserved flag, no unmap on a discard (5.2.6.2: UNSUPP), at most max_*_sectors, within the disk.
     */
    private int range(DescChain chain, int readable) {
        if (readable - BlkSpec.HEADER_SIZE != BlkSpec.SEGMENT_SIZE * BlkConfig.MAX_RANGE_SEGMENTS) {
            return refuse(BlkRefusal.SEGMENT_COUNT, BlkSpec.S_IOERR);
        }
        int base = BlkSpec.HEADER_SIZE;
        long sector = chain.readLong(base + BlkSpec.SEGMENT_SECTOR);
        long sectors = Integer.toUnsignedLong(chain.readInt(base + BlkSpec.SEGMENT_NUM_SECTORS));
        int flags = chain.readInt(base + BlkSpec.SEGMENT_FLAGS);
        if ((flags & ~BlkSpec.FLAG_UNMAP) != 0) {
            return refuse(BlkRefusal.RESERVED_FLAGS, BlkSpec.S_UNSUPP);
        }
        unmap = (flags & BlkSpec.FLAG_UNMAP) != 0;
        if (unmap && type == BlkSpec.T_DISCARD) {
            return refuse(BlkRefusal.DISCARD_UNMAP, BlkSpec.S_UNSUPP);
        }
        if (sectors > BlkConfig.MAX_RANGE_SECTORS) {
            return refuse(BlkRefusal.TOO_LONG, BlkSpec.S_IOERR);
        }
        if (!within(sector, sectors)) {
            return refuse(BlkRefusal.OUT_OF_RANGE, BlkSpec.S_IOERR);
        }
        offset = sector << BlkSpec.SECTOR_SHIFT;
        length = sectors << BlkSpec.SECTOR_SHIFT;
        return PROCEED;
    }

    /**
     * Whether {@code sectors} from {@code sector} lie within the disk. {@code sector} is a le64: above 2^63 it reads
     * negative here. Subtracting instead of adding keeps {@code sector + sectors} from overflowing.
     */
    private boolean within(long sector, long sectors) {
        return sector >= 0 && sector <= capacity && sectors <= capacity - sector;
    }

    private int refuse(BlkRefusal why, byte status) {
        refusal = why;
        return status;
    }

    private int malformed(BlkRefusal why) {
        refusal = why;
        return MALFORMED;
    }

    /** The request type read from the header; -1 when there was no header. */
    int type() {
        return type;
    }

    /** Byte offset in the disk of the data or range (valid after {@link #PROCEED}). */
    long offset() {
        return offset;
    }

    /** Bytes of data (IN, OUT) or of the range (DISCARD, WRITE_ZEROES); 0 for FLUSH and GET_ID. */
    long length() {
        return length;
    }

    /** Where the status byte is in the writable part: its last byte. */
    int statusOffset() {
        return statusOffset;
    }

    /** WRITE_ZEROES: the driver allows deallocating the range. */
    boolean unmap() {
        return unmap;
    }

    /** Why the last chain was refused; null when it was not. */
    BlkRefusal refusal() {
        return refusal;
    }
}
