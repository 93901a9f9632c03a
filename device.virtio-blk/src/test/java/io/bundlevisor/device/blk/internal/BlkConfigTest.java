package io.bundlevisor.device.blk.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** struct virtio_blk_config as a driver reads it (virtio 1.x section 5.2.4), little-endian. */
class BlkConfigTest {

    private final BlkConfig rw = new BlkConfig(0x1_2345_6789L, 4, false, 512);
    private final BlkConfig ro = new BlkConfig(2048, 1, true, 512);

    @Test
    void layout() {
        assertEquals(0x2345_6789, rw.read(0, 4), "capacity, low half");
        assertEquals(0x1, rw.read(4, 4), "capacity, high half");
        assertEquals(0x6789, rw.read(0, 2));
        assertEquals(0x89, rw.read(0, 1));
        assertEquals(1 << 20, rw.read(8, 4), "size_max");
        assertEquals(254, rw.read(12, 4), "seg_max = queue size - 2");
        assertEquals(0, rw.read(16, 4), "geometry: not offered");
        assertEquals(512, rw.read(20, 4), "blk_size");
        assertEquals(0, rw.read(24, 4), "topology: not offered");
        assertEquals(0, rw.read(28, 4));
        assertEquals(1, rw.read(32, 1), "writeback");
        assertEquals(0, rw.read(33, 1), "unused0");
        assertEquals(4, rw.read(34, 2), "num_queues");
        assertEquals(1 << 22, rw.read(36, 4), "max_discard_sectors");
        assertEquals(1, rw.read(40, 4), "max_discard_seg");
        assertEquals(8, rw.read(44, 4), "discard_sector_alignment");
        assertEquals(1 << 22, rw.read(48, 4), "max_write_zeroes_sectors");
        assertEquals(1, rw.read(52, 4), "max_write_zeroes_seg");
        assertEquals(1, rw.read(56, 1), "write_zeroes_may_unmap");
        assertEquals(0, rw.read(57, 2), "unused1");
        assertEquals(0, rw.read(58, 2), "unused1");
        assertEquals(60, BlkConfig.SIZE);
    }

    @Test
    void readOnlyHasNoDiscardOrWriteZeroes() {
        assertEquals(2048, ro.read(0, 4));
        assertEquals(1, ro.read(34, 2));
        for (int off = 36; off < 60; off += 4) {
            assertEquals(0, ro.read(off, 4), "offset " + off);
        }
    }

    @Test
    void aBlockDeviceAnnouncesItsLogicalBlockSize() {
        BlkConfig fourK = new BlkConfig(8, 1, false, 4096);
        assertEquals(4096, fourK.read(20, 4), "blk_size");
        assertEquals(8, fourK.read(44, 4), "discard_sector_alignment: one block");
        assertEquals(16, new BlkConfig(16, 1, false, 8192).read(44, 4));
    }

    @Test
    void features() {
        long base = BlkSpec.F_SIZE_MAX | BlkSpec.F_SEG_MAX | BlkSpec.F_BLK_SIZE | BlkSpec.F_FLUSH | BlkSpec.F_MQ;
        assertEquals(base | BlkSpec.F_DISCARD | BlkSpec.F_WRITE_ZEROES, rw.features());
        assertEquals(base | BlkSpec.F_RO, ro.features());
        assertEquals(0x7246, rw.features(), "bits 1, 2, 6, 9, 12, 13, 14");
        assertEquals(0, rw.features() & ~((1L << 24) - 1), "device bits only");
    }

    @Test
    void outsideTheSpaceReadsZeroWithoutThrowing() {
        assertEquals(0, rw.read(58, 4));
        assertEquals(0, rw.read(60, 1));
        assertEquals(0, rw.read(-1, 1));
        assertEquals(0, rw.read(0, 3));
        assertEquals(0, rw.read(Integer.MAX_VALUE, 4));
    }
}
