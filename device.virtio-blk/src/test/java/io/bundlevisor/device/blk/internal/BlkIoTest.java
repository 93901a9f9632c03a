package io.bundlevisor.device.blk.internal;

import static io.bundlevisor.device.blk.internal.FakeChain.request;
import static io.bundlevisor.device.blk.internal.FakeChain.segment;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.uring.internal.RingServiceImpl;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Requests through a real io_uring against a temp image, as the platform's worker runs them: handleDesc fills the
 * SQE, the ring runs it as a raw IO carrying the chain's head, completeDesc writes the status.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BlkIoTest {

    private static final int DISK_BYTES = 1 << 20;

    private static RingServiceImpl rings;

    @TempDir
    Path dir;

    private final Map<Long, Integer> results = new HashMap<>();
    private final Sqe sqe = new Sqe();
    private final Arena arena = Arena.ofShared();
    private final BlkDeviceFactory factory = new BlkDeviceFactory();
    private Ring ring;
    private Path image;
    private byte[] original;

    @BeforeAll
    static void service() {
        rings = new RingServiceImpl();
    }

    @AfterAll
    static void noRingLeft() {
        assertEquals(0, rings.rings().size());
    }

    @BeforeEach
    void open() throws Exception {
        ring = rings.create("blk-test", 16, (head, res, flags) -> results.put(head, res));
        image = dir.resolve("disk.img");
        original = new byte[DISK_BYTES];
        new Random(1).nextBytes(original);
        Files.write(image, original);
    }

    @AfterEach
    void close() {
        ring.close();
        arena.close();
    }

    private BlkDevice device(String extra) throws Exception {
        BlkDevice d = (BlkDevice) factory.create(TestContexts.device(image + extra));
        d.activate(TestContexts.queues(256));
        return d;
    }

    /** One chain through the device and, if it asks, the ring: the bytes the device reports written. */
    private int run(BlkDevice d, FakeChain chain) {
        int r = d.handleDesc(0, chain, sqe);
        if (r != VirtioDevice.SUBMIT) {
            return r;
        }
        ring.submitRaw(sqe, chain.head());
        while (!results.containsKey((long) chain.head())) {
            ring.submitAndWait(1);
            ring.processCompletions();
        }
        return d.completeDesc(0, chain, results.remove((long) chain.head()));
    }

    private byte[] read(BlkDevice d, long sector, int bytes, int misalign, int segment) {
        FakeChain c = new FakeChain(arena, 3, request(BlkSpec.T_IN, sector, new byte[0]), bytes + 1, misalign,
                segment);
        assertEquals(bytes + 1, run(d, c));
        assertEquals(BlkSpec.S_OK, c.status());
        return Arrays.copyOf(c.written(), bytes);
    }

    private void write(BlkDevice d, long sector, byte[] data, int misalign, int segment) {
        FakeChain c = new FakeChain(arena, 4, request(BlkSpec.T_OUT, sector, data), 1, misalign, segment);
        assertEquals(1, run(d, c));
        assertEquals(BlkSpec.S_OK, c.status());
    }

    private int answer(BlkDevice d, int type, byte[] data) {
        FakeChain c = new FakeChain(arena, 5, request(type, 0, data), 1);
        assertEquals(1, run(d, c));
        return c.status();
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void readsWhatIsOnDisk() throws Exception {
        BlkDevice d = device("");
        try {
            assertArrayEquals(Arrays.copyOfRange(original, 4096, 4096 + 8192), read(d, 8, 8192, 0, 1 << 20));
            assertArrayEquals(Arrays.copyOfRange(original, DISK_BYTES - 512, DISK_BYTES),
                    read(d, DISK_BYTES / 512 - 1, 512, 0, 1 << 20), "the last sector");
            BlkCounters.Snapshot c = d.counters();
            assertEquals(8192 + 512, c.bytesRead());
            assertEquals(0, c.inFlight());
        } finally {
            d.close();
        }
    }

    @Test
    void writesReachTheFileAndReadBack() throws Exception {
        BlkDevice d = device("");
        byte[] data = random(16384, 2);
        try {
            write(d, 64, data, 0, 4096);
            assertArrayEquals(data, read(d, 64, 16384, 0, 4096));
            assertArrayEquals(data, read(d, 64, 16384, 512, 1000 * 512 / 512 * 512), "other iovec cuts");
            assertEquals(16384, d.counters().bytesWritten());
        } finally {
            d.close();
        }
        byte[] file = Files.readAllBytes(image);
        assertArrayEquals(data, Arrays.copyOfRange(file, 64 * 512, 64 * 512 + 16384));
        assertArrayEquals(Arrays.copyOf(original, 64 * 512), Arrays.copyOf(file, 64 * 512), "nothing else moved");
    }

    @Test
    void alignedRequestsGoDirectAndOthersThroughThePageCache() throws Exception {
        BlkDevice d = device("");
        try {
            boolean hasDirect = d.disk().directFd() >= 0;
            int align = d.disk().memoryAlignment();
            write(d, 0, random(8192, 3), 0, 4096);                // page-aligned buffers, offset 0
            long afterAligned = d.counters().directIos();
            byte[] odd = random(4096, 4);
            write(d, 8, odd, 8, 4096);                            // buffers 8 bytes off any alignment
            assertArrayEquals(odd, read(d, 8, 4096, 8, 4096));
            assertEquals(afterAligned, d.counters().directIos(), "misaligned buffers stay buffered");
            assertArrayEquals(odd, read(d, 8, 4096, 0, 4096), "a direct read sees the buffered write");
            if (hasDirect) {
                assertEquals(1, afterAligned, "the aligned write went direct");
                assertTrue(align >= 1 && Integer.bitCount(align) == 1);
            }
        } finally {
            d.close();
        }
        BlkDevice buffered = device(",direct=off");
        try {
            assertEquals(-1, buffered.disk().directFd());
            read(buffered, 0, 8192, 0, 4096);
            assertEquals(0, buffered.counters().directIos());
        } finally {
            buffered.close();
        }
    }

    @Test
    void flushSyncs() throws Exception {
        BlkDevice d = device("");
        try {
            write(d, 0, random(512, 5), 0, 512);
            assertEquals(BlkSpec.S_OK, answer(d, BlkSpec.T_FLUSH, new byte[0]));
            assertEquals(1, d.counters().flushes());
        } finally {
            d.close();
        }
    }

    @Test
    void discardAndWriteZeroesReadBackAsZeroes() throws Exception {
        BlkDevice d = device("");
        try {
            assertEquals(BlkSpec.S_OK, answer(d, BlkSpec.T_DISCARD, segment(16, 16, 0)));
            assertArrayEquals(new byte[8192], read(d, 16, 8192, 0, 4096));
            assertEquals(BlkSpec.S_OK, answer(d, BlkSpec.T_WRITE_ZEROES, segment(40, 3, 0)));
            assertArrayEquals(new byte[1536], read(d, 40, 1536, 0, 4096));
            assertEquals(BlkSpec.S_OK, answer(d, BlkSpec.T_WRITE_ZEROES, segment(100, 9, BlkSpec.FLAG_UNMAP)));
            assertArrayEquals(new byte[9 * 512], read(d, 100, 9 * 512, 0, 4096));
            assertArrayEquals(Arrays.copyOfRange(original, 43 * 512, 100 * 512),
                    read(d, 43, 57 * 512, 0, 4096), "between the ranges, untouched");
            assertEquals(3, d.counters().discards());
        } finally {
            d.close();
        }
        assertEquals(DISK_BYTES, Files.size(image), "KEEP_SIZE");
    }

    @Test
    void hostErrorsBecomeIoErrorsAndAreCounted() throws Exception {
        BlkDevice d = device("");
        try {
            FakeChain in = new FakeChain(arena, 9, request(BlkSpec.T_IN, 0, new byte[0]), 1025);
            assertEquals(VirtioDevice.SUBMIT, d.handleDesc(0, in, sqe));
            assertEquals(1025, d.completeDesc(0, in, -Errno.EIO), "the writable part of a read is used");
            assertEquals(BlkSpec.S_IOERR, in.status());

            FakeChain shortRead = new FakeChain(arena, 9, request(BlkSpec.T_IN, 0, new byte[0]), 1025);
            assertEquals(VirtioDevice.SUBMIT, d.handleDesc(0, shortRead, sqe));
            d.completeDesc(0, shortRead, 512);
            assertEquals(BlkSpec.S_IOERR, shortRead.status(), "a short read is an error");

            FakeChain out = new FakeChain(arena, 10, request(BlkSpec.T_OUT, 0, new byte[512]), 1);
            assertEquals(VirtioDevice.SUBMIT, d.handleDesc(0, out, sqe));
            assertEquals(1, d.completeDesc(0, out, -Errno.ENOSPC));
            assertEquals(BlkSpec.S_IOERR, out.status());

            FakeChain discard = new FakeChain(arena, 11, request(BlkSpec.T_DISCARD, 0, segment(0, 8, 0)), 1);
            assertEquals(VirtioDevice.SUBMIT, d.handleDesc(0, discard, sqe));
            d.completeDesc(0, discard, -Errno.EOPNOTSUPP);
            assertEquals(BlkSpec.S_UNSUPP, discard.status(), "the host cannot: the guest stops asking");

            BlkCounters.Snapshot c = d.counters();
            assertEquals(4, c.errors());
            assertEquals(0, c.inFlight());
            assertEquals(0, c.bytesRead() + c.bytesWritten());
        } finally {
            d.close();
        }
    }

    @Test
    void aCompletionForNoSubmittedChainNeedsReset() throws Exception {
        BlkDevice d = device("");
        try {
            FakeChain c = new FakeChain(arena, 12, request(BlkSpec.T_IN, 0, new byte[0]), 513);
            assertEquals(VirtioDevice.NEEDS_RESET, d.completeDesc(0, c, 512));
            assertEquals(VirtioDevice.SUBMIT, d.handleDesc(0, c, sqe));
            d.reset();
            assertEquals(VirtioDevice.NEEDS_RESET, d.completeDesc(0, c, 512), "reset forgets");
        } finally {
            d.close();
        }
    }

    @Test
    void theSqeMatchesTheRequest() throws Exception {
        BlkDevice d = device("");
        try {
            FakeChain c = new FakeChain(arena, 1, request(BlkSpec.T_WRITE_ZEROES, 0, segment(2, 4, 0)), 1);
            assertEquals(VirtioDevice.SUBMIT, d.handleDesc(0, c, sqe));
            assertEquals(io.bundlevisor.core.ring.Opcode.FALLOCATE, sqe.opcode());
            assertEquals(1024, sqe.off());
            assertEquals(2048, sqe.addr(), "io_uring carries fallocate's length in addr");
            assertEquals(BlkBackend.FALLOC_FL_ZERO_RANGE | BlkBackend.FALLOC_FL_KEEP_SIZE, sqe.len());
            d.completeDesc(0, c, 0);

            FakeChain f = new FakeChain(arena, 2, request(BlkSpec.T_FLUSH, 0, new byte[0]), 1);
            assertEquals(VirtioDevice.SUBMIT, d.handleDesc(0, f, sqe));
            assertEquals(io.bundlevisor.core.ring.Opcode.FSYNC, sqe.opcode());
            assertEquals(Sqe.FSYNC_DATASYNC, sqe.opFlags());
            d.completeDesc(0, f, 0);
        } finally {
            d.close();
        }
    }
}
