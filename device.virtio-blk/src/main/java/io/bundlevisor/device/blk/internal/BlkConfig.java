package io.bundlevisor.device.blk.internal;

/**
 * The device's limits, feature bits and config space ({@code struct virtio_blk_config}, virtio 1.x section 5.2.4),
 * fixed at creation: immutable, so VP threads read it without locks.
 *
 * <p>The space ends after {@code unused1} (60 bytes): the secure-erase and zoned fields that follow belong to
 * features this device does not offer. Fields whose feature is not offered read as 0, as do
 * {@code geometry} and {@code topology}; {@code unused0}/{@code unused1} are 0 as section 5.2.5.2 requires.
 */
final class BlkConfig {

    /** Largest queue size: 256 descriptors. */
    static final int MAX_QUEUE_SIZE = 256;
    /** seg_max: a chain holds the header and the status besides its data segments. */
    static final int SEG_MAX = MAX_QUEUE_SIZE - 2;
    /** size_max: bytes of one data segment. */
    static final int SIZE_MAX = 1 << 20;
    /** The most data one IN/OUT request may carry: seg_max segments of size_max (254 MiB). */
    static final long MAX_TRANSFER = (long) SEG_MAX * SIZE_MAX;
    /** blk_size of an image file: 512-byte logical blocks (sector addressing is 512 regardless). */
    static final int FILE_BLOCK_SIZE = 512;
    /** max_discard_sectors and max_write_zeroes_sectors: 2 GiB per segment. */
    static final int MAX_RANGE_SECTORS = 1 << 22;
    /** max_discard_seg and max_write_zeroes_seg: one segment a request. */
    static final int MAX_RANGE_SEGMENTS = 1;
    /** discard_sector_alignment: file systems free whole 4 KiB blocks; a smaller hole only zeroes. */
    static final int DISCARD_ALIGNMENT_SECTORS = 8;

    // Section 5.2.4: field offsets of struct virtio_blk_config.
    static final int CAPACITY = 0;                  // le64
    static final int SIZE_MAX_FIELD = 8;            // le32
    static final int SEG_MAX_FIELD = 12;            // le32
    static final int GEOMETRY = 16;                 // le16 cylinders, u8 heads, u8 sectors
    static final int BLK_SIZE_FIELD = 20;           // le32
    static final int TOPOLOGY = 24;                 // u8 physical_block_exp, u8 alignment_offset, le16, le32
    static final int WRITEBACK = 32;                // u8
    static final int UNUSED0 = 33;                  // u8
    static final int NUM_QUEUES = 34;               // le16
    static final int MAX_DISCARD_SECTORS = 36;      // le32
    static final int MAX_DISCARD_SEG = 40;          // le32
    static final int DISCARD_SECTOR_ALIGNMENT = 44; // le32
    static final int MAX_WRITE_ZEROES_SECTORS = 48; // le32
    static final int MAX_WRITE_ZEROES_SEG = 52;     // le32
    static final int WRITE_ZEROES_MAY_UNMAP = 56;   // u8
    static final int UNUSED1 = 57;                  // u8[3]
    static final int SIZE = 60;

    private final long capacity;
    private final int queues;
    private final boolean readOnly;
    private final long features;
    private final byte[] space = new byte[SIZE];

    /**
     * @param capacity  sectors of 512 bytes
     * @param queues    request queues (num_queues)
     * @param readOnly  offer VIRTIO_BLK_F_RO and neither DISCARD nor WRITE_ZEROES
     * @param blockSize blk_size: {@value #FILE_BLOCK_SIZE} for an image file, a block device's logical block size
     *                  (a 4Kn disk refuses smaller IO through O_DIRECT and fallocate)
     */
    BlkConfig(long capacity, int queues, boolean readOnly, int blockSize) {
        this.capacity = capacity;
        this.queues = queues;
        this.readOnly = readOnly;
        long f = BlkSpec.F_SIZE_MAX | BlkSpec.F_SEG_MAX | BlkSpec.F_BLK_SIZE | BlkSpec.F_FLUSH | BlkSpec.F_MQ;
        f |= readOnly ? BlkSpec.F_RO : BlkSpec.F_DISCARD | BlkSpec.F_WRITE_ZEROES;
        this.features = f;
        putLe(CAPACITY, 8, capacity);
        putLe(SIZE_MAX_FIELD, 4, SIZE_MAX);
        putLe(SEG_MAX_FIELD, 4, SEG_MAX);
        putLe(BLK_SIZE_FIELD, 4, blockSize);
        // Without VIRTIO_BLK_F_CONFIG_WCE the driver infers a writeback cache from FLUSH (5.2.5.1); say the same.
        putLe(WRITEBACK, 1, 1);
        putLe(NUM_QUEUES, 2, queues);
        if (!readOnly) {
            putLe(MAX_DISCARD_SECTORS, 4, MAX_RANGE_SECTORS);
            putLe(MAX_DISCARD_SEG, 4, MAX_RANGE_SEGMENTS);
            putLe(DISCARD_SECTOR_ALIGNMENT, 4, Math.max(DISCARD_ALIGNMENT_SECTORS, blockSize >> BlkSpec.SECTOR_SHIFT));
            putLe(MAX_WRITE_ZEROES_SECTORS, 4, MAX_RANGE_SECTORS);
            putLe(MAX_WRITE_ZEROES_SEG, 4, MAX_RANGE_SEGMENTS);
            // Write zeroes with unmap punches a hole (5.2.6.2: reads still return zeroes).
            putLe(WRITE_ZEROES_MAY_UNMAP, 1, 1);
        }
    }

    /** Sectors of 512 bytes. */
    long capacity() {
        return capacity;
    }

    int queues() {
        return queues;
    }

    boolean readOnly() {
        return readOnly;
    }

    /** Device feature bits (0-23) offered. */
    long features() {
        return features;
    }

    /** {@code size} (1, 2 or 4) bytes at {@code offset}, little-endian; 0 outside the space (never throws). */
    int read(int offset, int size) {
        if (offset < 0 || (size != 1 && size != 2 && size != 4) || offset > SIZE - size) {
            return 0;
        }
        int v = 0;
        for (int i = size - 1; i >= 0; i--) {
            v = (v << 8) | (space[offset + i] & 0xFF);
        }
        return v;
    }

    private void putLe(int offset, int size, long value) {
        for (int i = 0; i < size; i++) {
            space[offset + i] = (byte) (value >>> (8 * i));
        }
    }
}
