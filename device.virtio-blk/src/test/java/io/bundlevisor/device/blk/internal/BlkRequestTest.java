package io.bundlevisor.device.blk.internal;

import static io.bundlevisor.device.blk.internal.FakeChain.request;
import static io.bundlevisor.device.blk.internal.FakeChain.segment;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.VirtioDevice;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every request the device answers at once, without IO: refusals (virtio 1.x section 5.2.6) with their status, and
 * GET_ID. A 64 KiB disk: 128 sectors.
 */
class BlkRequestTest {

    private static final long SECTORS = 128;

    @TempDir
    Path dir;

    private final Arena arena = Arena.ofConfined();
    private final Sqe sqe = new Sqe();
    private final BlkDeviceFactory factory = new BlkDeviceFactory();
    private BlkDevice rw;
    private BlkDevice ro;

    @BeforeEach
    void open() throws Exception {
        Path a = dir.resolve("rw.img");
        Files.write(a, new byte[(int) SECTORS * 512]);
        Path b = dir.resolve("ro.img");
        Files.write(b, new byte[(int) SECTORS * 512]);
        rw = (BlkDevice) factory.create(TestContexts.device(a + ",serial=BV-SERIAL-1"));
        ro = (BlkDevice) factory.create(TestContexts.device(b + ",readonly"));
        rw.activate(TestContexts.queues(256));
        ro.activate(TestContexts.queues(256));
    }

    @AfterEach
    void close() {
        rw.close();
        ro.close();
        arena.close();
    }

    private FakeChain chain(byte[] readable, int writable) {
        return new FakeChain(arena, 7, readable, writable);
    }

    /** Runs a chain that must be answered at once and returns its status byte. */
    private int answered(BlkDevice device, byte[] readable, int writable) {
        FakeChain c = chain(readable, writable);
        assertEquals(1, device.handleDesc(0, c, sqe), "answered at once, status only");
        return c.status();
    }

    private static byte[] sectors(int n) {
        return new byte[n * 512];
    }

    @Test
    void noStatusByteOrNoHeaderNeedsReset() {
        assertEquals(VirtioDevice.NEEDS_RESET, rw.handleDesc(0, chain(request(0, 0, new byte[0]), 0), sqe));
        assertEquals(VirtioDevice.NEEDS_RESET, rw.handleDesc(0, chain(new byte[15], 513), sqe));
        assertEquals(VirtioDevice.NEEDS_RESET, rw.handleDesc(0, chain(new byte[0], 1), sqe));
        assertEquals(3, rw.counters().errors());
    }

    @Test
    void aHeadBeyondTheQueueNeedsReset() {
        rw.activate(TestContexts.queues(4));
        FakeChain c = chain(request(BlkSpec.T_IN, 0, new byte[0]), 513); // head 7 in a queue of 4
        assertEquals(VirtioDevice.NEEDS_RESET, rw.handleDesc(0, c, sqe));
        assertEquals(VirtioDevice.NEEDS_RESET, rw.handleDesc(5, chain(request(0, 0, new byte[0]), 513), sqe),
                "a queue the device does not have");
    }

    @Test
    void readsAndWritesOfPartialSectorsAreIoErrors() {
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_IN, 0, new byte[0]), 100 + 1));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_OUT, 0, new byte[511]), 1));
    }

    @Test
    void requestsBeyondTheDiskAreIoErrors() {
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_IN, SECTORS, new byte[0]), 512 + 1));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_IN, SECTORS - 1, new byte[0]), 1024 + 1));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_OUT, SECTORS - 1, sectors(2)), 1));
        // sector * 512 + length overflows 64 bits; sector above 2^63 reads negative
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_IN, Long.MAX_VALUE / 256, new byte[0]), 513));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_IN, -1L, new byte[0]), 513));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_IN, Long.MIN_VALUE, new byte[0]), 513));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_DISCARD, 0, segment(SECTORS, 1, 0)), 1));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_WRITE_ZEROES, 0, segment(1, -1, 0)), 1));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_DISCARD, 0, segment(-1, 1, 0)), 1));
    }

    @Test
    void theLastSectorAndEmptyTransfersAreFine() {
        FakeChain c = chain(request(BlkSpec.T_IN, SECTORS - 1, new byte[0]), 513);
        assertEquals(VirtioDevice.SUBMIT, rw.handleDesc(0, c, sqe));
        assertEquals((SECTORS - 1) * 512, sqe.off());
        assertEquals(BlkSpec.S_OK, answered(rw, request(BlkSpec.T_IN, SECTORS, new byte[0]), 1), "0 bytes at the end");
        assertEquals(BlkSpec.S_OK, answered(rw, request(BlkSpec.T_OUT, 0, new byte[0]), 1));
        assertEquals(BlkSpec.S_OK, answered(rw, request(BlkSpec.T_DISCARD, 3, segment(3, 0, 0)), 1));
    }

    @Test
    void requestsOverTheTransferLimitAreIoErrors() throws Exception {
        // A disk big enough that only the limit refuses it: sparse, 512 MiB.
        Path big = dir.resolve("big.img");
        try (var f = java.nio.channels.FileChannel.open(big, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            f.truncate(512L << 20).write(java.nio.ByteBuffer.wrap(new byte[1]), (512L << 20) - 1);
        }
        try (Arena a = Arena.ofConfined()) {
            BlkDevice d = (BlkDevice) factory.create(TestContexts.device(big.toString()));
            try {
                d.activate(TestContexts.queues(256));
                int tooLong = (int) BlkConfig.MAX_TRANSFER + 512;
                FakeChain c = new FakeChain(a, 0, request(BlkSpec.T_IN, 0, new byte[0]), tooLong + 1);
                assertEquals(1, d.handleDesc(0, c, sqe));
                assertEquals(BlkSpec.S_IOERR, c.status());
                assertEquals(BlkSpec.S_IOERR, answered(d, request(BlkSpec.T_DISCARD, 0,
                        segment(0, BlkConfig.MAX_RANGE_SECTORS + 1, 0)), 1));
            } finally {
                d.close();
            }
        }
    }

    @Test
    void aReadOnlyDiskRefusesWritesDiscardsAndWriteZeroes() {
        assertEquals(BlkSpec.S_IOERR, answered(ro, request(BlkSpec.T_OUT, 0, sectors(1)), 1));
        assertEquals(BlkSpec.S_IOERR, answered(ro, request(BlkSpec.T_DISCARD, 0, segment(0, 1, 0)), 1));
        assertEquals(BlkSpec.S_IOERR, answered(ro, request(BlkSpec.T_WRITE_ZEROES, 0, segment(0, 1, 0)), 1));
        assertEquals(BlkSpec.S_OK, answered(ro, request(BlkSpec.T_FLUSH, 0, new byte[0]), 1), "nothing to flush");
        assertEquals(VirtioDevice.SUBMIT, ro.handleDesc(0, chain(request(BlkSpec.T_IN, 0, new byte[0]), 513), sqe));
        assertEquals(3, ro.counters().errors());
    }

    @Test
    void flushMustHaveSectorZeroAndNoData() {
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_FLUSH, 1, new byte[0]), 1));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_FLUSH, 0, sectors(1)), 1));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_FLUSH, 0, new byte[0]), 513));
        assertEquals(VirtioDevice.SUBMIT, rw.handleDesc(0, chain(request(BlkSpec.T_FLUSH, 0, new byte[0]), 1), sqe));
    }

    @Test
    void getIdAnswersTheSerialNulPadded() {
        FakeChain c = chain(request(BlkSpec.T_GET_ID, 0, new byte[0]), 21);
        assertEquals(21, rw.handleDesc(0, c, sqe));
        byte[] expected = Arrays.copyOf("BV-SERIAL-1".getBytes(), 21);
        expected[20] = BlkSpec.S_OK;
        assertArrayEquals(expected, c.written());

        FakeChain none = chain(request(BlkSpec.T_GET_ID, 0, new byte[0]), 21);
        assertEquals(21, ro.handleDesc(0, none, sqe));
        assertArrayEquals(new byte[21], none.written(), "no serial: 20 NULs and OK");
    }

    @Test
    void getIdMustHaveTwentyBytes() {
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_GET_ID, 0, new byte[0]), 20));
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_GET_ID, 0, new byte[0]), 22));
    }

    @Test
    void discardAndWriteZeroesTakeOneSegmentWithKnownFlags() {
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_DISCARD, 0, new byte[0]), 1), "no segment");
        byte[] two = new byte[32];
        System.arraycopy(segment(0, 1, 0), 0, two, 0, 16);
        System.arraycopy(segment(8, 1, 0), 0, two, 16, 16);
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_DISCARD, 0, two), 1), "max_discard_seg is 1");
        assertEquals(BlkSpec.S_IOERR, answered(rw, request(BlkSpec.T_WRITE_ZEROES, 0, new byte[15]), 1));
        assertEquals(BlkSpec.S_UNSUPP, answered(rw, request(BlkSpec.T_DISCARD, 0, segment(0, 1, 1)), 1),
                "5.2.6.2: unmap on a discard");
        assertEquals(BlkSpec.S_UNSUPP, answered(rw, request(BlkSpec.T_DISCARD, 0, segment(0, 1, 2)), 1),
                "5.2.6.2: unknown flags");
        assertEquals(BlkSpec.S_UNSUPP, answered(rw, request(BlkSpec.T_WRITE_ZEROES, 0, segment(0, 1, 1 << 31)), 1));
    }

    @Test
    void unknownTypesAreUnsupported() {
        for (int type : new int[] {2, 3, 5, 10, 14, 15, 16, 26, -1, 0x80000000}) {
            assertEquals(BlkSpec.S_UNSUPP, answered(rw, request(type, 0, new byte[0]), 1), "type " + type);
        }
    }

    @Test
    void refusalsAreCounted() {
        answered(rw, request(BlkSpec.T_IN, SECTORS, new byte[0]), 513);
        answered(rw, request(99, 0, new byte[0]), 1);
        BlkCounters.Snapshot c = rw.counters();
        assertEquals(2, c.requests());
        assertEquals(2, c.errors());
        assertEquals(0, c.inFlight());
    }
}
