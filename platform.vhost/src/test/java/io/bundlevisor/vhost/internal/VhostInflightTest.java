package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.FakeFrontend.*;
import static io.bundlevisor.vhost.internal.VhostUserLayout.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import io.bundlevisor.core.internal.virtio.VirtioServiceImpl;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.uring.host.MappedRegion;
import io.bundlevisor.uring.host.UnixSocket;
import io.bundlevisor.uring.internal.RingServiceImpl;

/**
 * In-flight tracking (INFLIGHT_SHMFD, vhost-user.rst "Inflight I/O tracking", split virtqueue): the buffer QEMU keeps
 * across back-end restarts records every chain taken and used; a back-end that finds chains in flight there (its
 * predecessor was killed) takes them again first, oldest first, and resumes the avail ring after them, so none is
 * lost and none taken twice; a batch published just before the kill is not taken again; hostile buffers are refused.
 */
@Timeout(60)
class VhostInflightTest {

    private static final long VERSION_1 = 1L << 32;
    private static final ValueLayout.OfShort LE16 =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long REGION = inflightRegionBytes(QSIZE);

    @TempDir
    Path dir;
    private RingServiceImpl rings;
    private VirtioServiceImpl virtio;
    private final VirtioDeviceFactory factory = context -> new EchoDevice();
    private VhostServer server;
    private Path socket;

    @BeforeEach
    void setUp() throws Exception {
        rings = new RingServiceImpl();
        virtio = new VirtioServiceImpl(rings);
        virtio.addFactory(factory, "echo");
        socket = dir.resolve("vhost.sock");
        server = new VhostServer("test", socket, new DeviceSpec("echo", ""), virtio);
    }

    @AfterEach
    void tearDown() {
        if (server != null) {
            server.close();
        }
        virtio.removeFactory(factory, "echo");
    }

    private static int u16(MemorySegment s, long at) {
        return Short.toUnsignedInt(s.get(LE16, at));
    }

    private static long desc(int head) {
        return REGION_DESCS + (long) DESC_STATE_SIZE * head;
    }

    private static boolean inFlight(MemorySegment region, int head) {
        return region.get(ValueLayout.JAVA_BYTE, desc(head) + DESC_STATE_INFLIGHT) != 0;
    }

    @Test
    void theBufferRecordsEveryChainAndIsEmptyWhenAllAreUsed() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket)) {
            f.handshake();
            assertTrue((f.getU64(GET_PROTOCOL_FEATURES) & PF_INFLIGHT_SHMFD) != 0, "INFLIGHT_SHMFD offered");
            FakeFrontend.Received got = f.getInflight(2);
            assertEquals(INFLIGHT_SIZE, got.payload().length, "the 24 bytes QEMU 7.2 checks");
            assertEquals(1, got.fds().length);
            long size = u64(got.payload());
            assertEquals(2 * REGION, size);
            try (MappedRegion buffer = MappedRegion.map(got.fds()[0], 0, size)) {
                assertEquals(0, buffer.segment().get(LE64, 0), "a new buffer is zero: no region set up");
                assertEquals(0, f.acked(SET_INFLIGHT_FD, inflight(size, 0, 2, QSIZE), got.fds()[0]));
                f.start(VERSION_1, 1);
                for (int i = 0; i < 3; i++) {
                    f.offer(0, new byte[] {(byte) i}, 8);
                    assertTrue(f.awaitCall(0, 10_000));
                }
                MemorySegment q0 = buffer.segment().asSlice(0, REGION);
                assertEquals(REGION_FORMAT_VERSION, u16(q0, REGION_VERSION));
                assertEquals(QSIZE, u16(q0, REGION_DESC_NUM));
                assertEquals(3, u16(q0, REGION_USED_IDX), "the region follows the published used index");
                assertEquals(4, u16(q0, REGION_LAST_BATCH_HEAD), "the last chain used (heads 0, 2, 4)");
                for (int head = 0; head < QSIZE; head++) {
                    assertFalse(inFlight(q0, head), "head " + head + " is not in flight");
                }
                assertTrue(q0.get(LE64, desc(4) + DESC_STATE_COUNTER) > q0.get(LE64, desc(0) + DESC_STATE_COUNTER),
                        "counters grow in the order chains are taken");
            } finally {
                UnixSocket.closeFd(got.fds()[0]);
            }
        }
    }

    /**
     * The state a back-end killed mid-IO leaves: two chains taken from the avail ring (heads 0 and 2) and in flight,
     * the second taken first (a lower counter); QEMU then gives the used index (0) as the base. The next back-end
     * completes head 2, then head 0, and takes the next chain from avail index 2: each exactly once.
     */
    @Test
    void chainsInFlightWhenTheBackEndDiedAreTakenAgainFirstAndOnlyOnce() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket)) {
            f.handshake();
            FakeFrontend.Received got = f.getInflight(2);
            long size = u64(got.payload());
            try (MappedRegion buffer = MappedRegion.map(got.fds()[0], 0, size)) {
                MemorySegment q0 = buffer.segment().asSlice(0, REGION);
                q0.set(LE16, REGION_VERSION, (short) 1);
                q0.set(LE16, REGION_DESC_NUM, (short) QSIZE);
                q0.set(LE16, REGION_USED_IDX, (short) 0);
                q0.set(ValueLayout.JAVA_BYTE, desc(2) + DESC_STATE_INFLIGHT, (byte) 1);
                q0.set(LE64, desc(2) + DESC_STATE_COUNTER, 5);
                q0.set(ValueLayout.JAVA_BYTE, desc(0) + DESC_STATE_INFLIGHT, (byte) 1);
                q0.set(LE64, desc(0) + DESC_STATE_COUNTER, 7);
                assertEquals(0, f.acked(SET_INFLIGHT_FD, inflight(size, 0, 2, QSIZE), got.fds()[0]));
                assertEquals(0, f.offer(0, new byte[] {10}, 8));
                assertEquals(2, f.offer(0, new byte[] {12}, 8));
                f.start(VERSION_1, 1); // base 2 here; the used index and the buffer decide
                awaitUsed(f, 2);
                assertArrayEquals(new int[] {2, 1}, f.usedElem(0, 0), "the older one first");
                assertArrayEquals(new int[] {0, 1}, f.usedElem(0, 1));
                assertArrayEquals(new byte[] {12}, f.read(buffer(0, 3), 1));
                assertArrayEquals(new byte[] {10}, f.read(buffer(0, 1), 1));
                assertEquals(4, f.offer(0, new byte[] {14}, 8));
                awaitUsed(f, 3);
                assertArrayEquals(new int[] {4, 1}, f.usedElem(0, 2), "the avail ring resumed at index 2");
                Thread.sleep(100);
                assertEquals(3, f.usedIdx(0), "nothing was taken twice");
                assertEquals(3, u16(q0, REGION_USED_IDX));
                assertFalse(inFlight(q0, 0) || inFlight(q0, 2) || inFlight(q0, 4));
            } finally {
                UnixSocket.closeFd(got.fds()[0]);
            }
        }
    }

    private static void awaitUsed(FakeFrontend f, int idx) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (f.usedIdx(0) < idx) {
            assertTrue(System.nanoTime() < deadline, "used index " + f.usedIdx(0) + ", expected " + idx);
            Thread.sleep(2);
        }
    }

    /** The last batch published before the kill (used ring ahead of the region) is cleared, not taken again. */
    @Test
    void aBatchPublishedJustBeforeTheKillIsNotTakenAgain() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment q = arena.allocate(REGION);
            q.set(LE16, REGION_VERSION, (short) 1);
            q.set(LE16, REGION_DESC_NUM, (short) QSIZE);
            q.set(LE16, REGION_USED_IDX, (short) 7);
            // Heads 3 and 5 were used in the batch that moved used.idx from 7 to 9 (5 last); 9 is still in flight.
            for (int head : new int[] {3, 5, 9}) {
                q.set(ValueLayout.JAVA_BYTE, desc(head) + DESC_STATE_INFLIGHT, (byte) 1);
                q.set(LE64, desc(head) + DESC_STATE_COUNTER, head);
            }
            q.set(LE16, desc(5) + DESC_STATE_NEXT, (short) 3);
            q.set(LE16, REGION_LAST_BATCH_HEAD, (short) 5);
            InflightQueue t = InflightQueue.open("test", q, QSIZE, 9);
            assertEquals(1, t.pending());
            assertEquals(9, t.resubmit());
            assertEquals(-1, t.resubmit());
            assertEquals(9, u16(q, REGION_USED_IDX));
            assertFalse(inFlight(q, 3) || inFlight(q, 5));
            // A hostile batch list (a head beyond the queue) stops the repair; nothing outside the region is touched.
            q.set(LE16, REGION_USED_IDX, (short) 0);
            q.set(LE16, REGION_LAST_BATCH_HEAD, (short) 0xFFFF);
            assertEquals(1, InflightQueue.open("test", q, QSIZE, 40).pending());
            // Another version or queue size is refused.
            q.set(LE16, REGION_DESC_NUM, (short) 8);
            ProtocolException e = assertThrows(ProtocolException.class, () -> InflightQueue.open("test", q, QSIZE, 0));
            assertTrue(e.getMessage().contains("for queues of 8"), e.getMessage());
        }
    }

    @Test
    void hostileBuffersCloseOnlyTheirConnection() throws Exception {
        record Hostile(String reason, byte[] description, boolean withFd, boolean started) {
        }
        List<Hostile> cases = List.of(
                new Hostile("need 0x", inflight(REGION, 0, 2, QSIZE), true, false),
                new Hostile("for 3 queues", inflight(3 * REGION, 0, 3, QSIZE), true, false),
                new Hostile("for 1 queues of 0", inflight(REGION, 0, 1, 0), true, false),
                new Hostile("aligned offset", inflight(2 * REGION, 8, 2, QSIZE), true, false),
                new Hostile("the region ends at", inflight(2 * REGION, 4096, 2, QSIZE), true, false),
                new Hostile("came with 0 descriptors", inflight(2 * REGION, 0, 2, QSIZE), false, false),
                new Hostile("carries 20 bytes", java.util.Arrays.copyOf(inflight(2 * REGION, 0, 2, QSIZE), 20), true,
                        false),
                new Hostile("while vring 0 runs", inflight(2 * REGION, 0, 2, QSIZE), true, true));
        for (Hostile h : cases) {
            try (FakeFrontend f = new FakeFrontend(socket);
                    io.bundlevisor.uring.host.MemFd buffer = io.bundlevisor.uring.host.MemFd.create("inflight", 2 * REGION)) {
                try {
                    f.handshake();
                    if (h.started()) {
                        f.start(VERSION_1, 1);
                    }
                    if (h.withFd()) {
                        f.send(SET_INFLIGHT_FD, h.description(), buffer.fd());
                    } else {
                        f.send(SET_INFLIGHT_FD, h.description());
                    }
                } catch (IllegalStateException | IOException e) {
                    // closed before a reply
                }
                assertTrue(f.closedByBackend(), h.reason());
            }
            awaitIdle();
            assertTrue(server.lastEnd().contains(h.reason()), h.reason() + ": " + server.lastEnd());
        }
        try (FakeFrontend f = new FakeFrontend(socket)) {
            f.getU64(GET_FEATURES);
            f.send(SET_PROTOCOL_FEATURES, u64(VhostConnection.PROTOCOL_FEATURES & ~PF_INFLIGHT_SHMFD));
            f.send(SET_OWNER, new byte[0]);
            f.send(GET_INFLIGHT_FD, inflight(0, 0, 1, QSIZE));
            assertTrue(f.closedByBackend());
        }
        awaitIdle();
        assertTrue(server.lastEnd().contains("without protocol feature INFLIGHT_SHMFD"), server.lastEnd());
    }

    private void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 1000 && server.isConnected(); i++) {
            Thread.sleep(10);
        }
        assertFalse(server.isConnected(), "the server went back to waiting");
    }
}
