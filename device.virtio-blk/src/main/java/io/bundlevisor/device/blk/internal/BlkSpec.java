package io.bundlevisor.device.blk.internal;

/** The numbers of the virtio block device (virtio 1.x section 5.2), in one place. */
final class BlkSpec {

    /** Section 5.2.1. */
    static final int DEVICE_ID = 2;

    // Section 5.2.3: feature bits.
    static final long F_SIZE_MAX = 1L << 1;
    static final long F_SEG_MAX = 1L << 2;
    static final long F_RO = 1L << 5;
    static final long F_BLK_SIZE = 1L << 6;
    static final long F_FLUSH = 1L << 9;
    static final long F_MQ = 1L << 12;
    static final long F_DISCARD = 1L << 13;
    static final long F_WRITE_ZEROES = 1L << 14;

    // Section 5.2.6: request types.
    static final int T_IN = 0;
    static final int T_OUT = 1;
    static final int T_FLUSH = 4;
    static final int T_GET_ID = 8;
    static final int T_DISCARD = 11;
    static final int T_WRITE_ZEROES = 13;

    // Section 5.2.6: the status byte.
    static final byte S_OK = 0;
    static final byte S_IOERR = 1;
    static final byte S_UNSUPP = 2;

    /** Section 5.2.6: {@code sector} counts 512-byte units whatever {@code blk_size} says. */
    static final int SECTOR_SHIFT = 9;
    static final int SECTOR_SIZE = 1 << SECTOR_SHIFT;
    /** {@code struct virtio_blk_req} before {@code data}: le32 type, le32 reserved, le64 sector. */
    static final int HEADER_SIZE = 16;
    static final int HEADER_TYPE = 0;
    static final int HEADER_SECTOR = 8;
    /** {@code struct virtio_blk_discard_write_zeroes}: le64 sector, le32 num_sectors, le32 flags. */
    static final int SEGMENT_SIZE = 16;
    static final int SEGMENT_SECTOR = 0;
    static final int SEGMENT_NUM_SECTORS = 8;
    static final int SEGMENT_FLAGS = 12;
    /** The {@code unmap} bit of a segment's flags; the other 31 are reserved. */
    static final int FLAG_UNMAP = 1;
    /** {@code VIRTIO_BLK_ID_BYTES}: the device ID string of GET_ID, NUL-padded. */
    static final int ID_BYTES = 20;

    private BlkSpec() {
    }
}
