package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.FakeFrontend.*;
import static io.bundlevisor.vhost.internal.VhostUserLayout.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import io.bundlevisor.core.internal.virtio.VirtioServiceImpl;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.uring.host.MappedRegion;
import io.bundlevisor.uring.host.MemFd;
import io.bundlevisor.uring.internal.RingServiceImpl;

/**
 * Dirty-page logging (LOG_SHMFD, VHOST_F_LOG_ALL, VHOST_VRING_F_LOG; vhost-user.rst "Migration"): with a log given
 * by SET_LOG_BASE and LOG_ALL acknowledged, the pages of each used chain's writable descriptors and the used ring's
 * pages (at log_guest_addr) are marked, and nothing else; without LOG_ALL nothing is; hostile logs are refused.
 */
@Timeout(60)
class VhostDirtyLogTest {

    private static final long VERSION_1 = 1L << 32;
    /** The fake guest's memory ends at GPA + MEMORY = 2 MiB: 512 pages, 64 bytes of log. */
    private static final long LOG_BYTES = 64;

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

    private static byte[] logBase(long size, long offset) {
        return ByteBuffer.allocate(LOG_SIZE).order(ByteOrder.LITTLE_ENDIAN).putLong(LOG_MMAP_SIZE, size)
                .putLong(LOG_MMAP_OFFSET, offset).array();
    }

    /** SET_VRING_ADDR of queue 0 as it is, with VHOST_VRING_F_LOG and {@code logAddr} (or without, for -1). */
    private static byte[] vringAddr(FakeFrontend f, long logAddr) {
        byte[] b = f.vringAddr(0, user(FakeFrontend.desc(0)), user(used(0)), user(avail(0)));
        if (logAddr != -1) {
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(ADDR_FLAGS, ADDR_F_LOG).putLong(ADDR_LOG, logAddr);
        }
        return b;
    }

    private static Set<Long> marked(MemorySegment log) {
        Set<Long> pages = new TreeSet<>();
        for (long i = 0; i < log.byteSize(); i++) {
            int b = Byte.toUnsignedInt(log.get(ValueLayout.JAVA_BYTE, i));
            for (int bit = 0; bit < 8; bit++) {
                if ((b & 1 << bit) != 0) {
                    pages.add(i * 8 + bit); // the spec's layout: log[page / 8] |= 1 << page % 8
                }
            }
        }
        return pages;
    }

    private static void echo(FakeFrontend f, int expectedUsed) throws Exception {
        f.offer(0, new byte[] {1, 2, 3}, 8);
        assertTrue(f.awaitCall(0, 10_000), "the chain was used");
        assertEquals(expectedUsed, f.usedIdx(0));
    }

    @Test
    void underLogAllTheChainsWrittenPagesAndTheUsedRingAreMarkedAndNothingElse() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket); MemFd logFd = MemFd.create("dirty-log", 4096);
                MappedRegion log = MappedRegion.map(logFd.fd(), 0, 4096)) {
            f.handshake();
            assertTrue((f.getU64(GET_FEATURES) & F_LOG_ALL) != 0, "LOG_ALL offered");
            assertTrue((f.getU64(GET_PROTOCOL_FEATURES) & PF_LOG_SHMFD) != 0, "LOG_SHMFD offered");
            f.start(VERSION_1, 1);
            echo(f, 1); // before any log: nothing to mark
            // What QEMU 7.2 does when a migration starts (vhost_log_global_start): the log, then LOG_ALL, then each
            // ring's address again with VHOST_VRING_F_LOG, all under the running ring.
            MemorySegment bits = log.segment().asSlice(8, LOG_BYTES);
            f.send(SET_LOG_BASE, logBase(LOG_BYTES, 8), logFd.fd());
            assertEquals(0, u64(f.reply(SET_LOG_BASE)), "SET_LOG_BASE answered (QEMU waits for it)");
            assertEquals(0, f.acked(SET_FEATURES, u64(VERSION_1 | F_PROTOCOL_FEATURES | F_LOG_ALL)));
            long logAddr = 0x1F0000; // the used ring is logged at log_guest_addr, wherever that is
            assertEquals(0, f.acked(SET_VRING_ADDR, vringAddr(f, logAddr)));
            assertEquals(Set.of(), marked(bits), "turning logging on marks nothing");

            int head = f.offer(0, new byte[] {7, 7}, 8);
            assertTrue(f.awaitCall(0, 10_000));
            assertEquals(2, f.usedIdx(0));
            long written = buffer(0, head + 1);
            assertEquals(Set.of(written >>> 12, logAddr >>> 12), marked(bits),
                    "the chain's writable page and the used ring's page at log_guest_addr, nothing else");
            assertEquals(0, log.segment().get(ValueLayout.JAVA_LONG, 0), "nothing before the log's offset");
            assertEquals(0, log.segment().get(ValueLayout.JAVA_LONG, 8 + LOG_BYTES), "nothing after its end");

            // The front-end reads and clears the log; logging off: nothing more is marked.
            bits.fill((byte) 0);
            assertEquals(0, f.acked(SET_VRING_ADDR, vringAddr(f, -1)));
            assertEquals(0, f.acked(SET_FEATURES, u64(VERSION_1 | F_PROTOCOL_FEATURES)));
            echo(f, 3);
            assertEquals(Set.of(), marked(bits), "nothing marked after LOG_ALL went");
        }
    }

    @Test
    void withoutLogAllNothingIsMarked() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket); MemFd logFd = MemFd.create("dirty-log", LOG_BYTES);
                MappedRegion log = MappedRegion.map(logFd.fd(), 0, LOG_BYTES)) {
            f.handshake();
            f.start(VERSION_1, 1);
            f.send(SET_LOG_BASE, logBase(LOG_BYTES, 0), logFd.fd());
            assertEquals(0, u64(f.reply(SET_LOG_BASE)));
            assertEquals(0, f.acked(SET_VRING_ADDR, vringAddr(f, used(0))));
            echo(f, 1);
            echo(f, 2);
            assertEquals(Set.of(), marked(log.segment()));
        }
    }

    @Test
    void aUsedRingLoggedOutsideTheLogIsCountedNotMarkedAndTheRingGoesOn() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket); MemFd logFd = MemFd.create("dirty-log", LOG_BYTES);
                MappedRegion log = MappedRegion.map(logFd.fd(), 0, LOG_BYTES)) {
            f.handshake();
            f.start(VERSION_1 | F_LOG_ALL, 1);
            f.send(SET_LOG_BASE, logBase(LOG_BYTES, 0), logFd.fd());
            assertEquals(0, u64(f.reply(SET_LOG_BASE)));
            assertEquals(0, f.acked(SET_VRING_ADDR, vringAddr(f, 1L << 40)));
            int head = f.offer(0, new byte[] {5}, 8);
            assertTrue(f.awaitCall(0, 10_000));
            assertEquals(Set.of(buffer(0, head + 1) >>> 12), marked(log.segment()), "only the buffer's page");
            echo(f, 2);
        }
    }

    @Test
    void hostileLogsCloseTheirConnectionWithTheirReason() throws Exception {
        List<Hostile> cases = List.of(
                new Hostile("covers guest addresses below 0x40000", (f, fd) -> f.send(SET_LOG_BASE, logBase(8, 0), fd)),
                new Hostile("SET_LOG_BASE: mmap", (f, fd) -> f.send(SET_LOG_BASE, logBase(LOG_BYTES, 4096), fd)),
                new Hostile("SET_LOG_BASE: mmap", (f, fd) -> f.send(SET_LOG_BASE, logBase(LOG_BYTES * 1024, 0), fd)),
                new Hostile("8-byte aligned offset", (f, fd) -> f.send(SET_LOG_BASE, logBase(LOG_BYTES, 4), fd)),
                new Hostile("8-byte aligned offset", (f, fd) -> f.send(SET_LOG_BASE, logBase(LOG_BYTES + 1, 0), fd)),
                new Hostile("8-byte aligned offset", (f, fd) -> f.send(SET_LOG_BASE, logBase(-8, 0), fd)),
                new Hostile("expected 1", (f, fd) -> f.send(SET_LOG_BASE, logBase(LOG_BYTES, 0))),
                new Hostile("log_guest_addr", (f, fd) -> f.send(SET_VRING_ADDR, vringAddr(f, -4096))),
                new Hostile("while it is started moves its rings", (f, fd) -> {
                    byte[] b = f.vringAddr(0, user(FakeFrontend.desc(0)) + 0x4000, user(used(0)), user(avail(0)));
                    f.send(SET_VRING_ADDR, b);
                }));
        for (int i = 0; i < cases.size(); i++) {
            Hostile h = cases.get(i);
            try (FakeFrontend f = new FakeFrontend(socket); MemFd logFd = MemFd.create("dirty-log", 4096)) {
                try {
                    f.handshake();
                    f.start(VERSION_1, 1);
                    h.run.run(f, logFd.fd());
                } catch (IllegalStateException | IOException e) {
                    // The back-end may have closed before a reply; that is the point.
                }
                assertTrue(f.closedByBackend(), "case " + i + " closed the connection");
            }
            awaitIdle();
            assertTrue(server.lastEnd().startsWith(VhostConnection.REFUSED) && server.lastEnd().contains(h.reason),
                    "case " + i + ": " + server.lastEnd());
        }
        // Without LOG_SHMFD the log cannot be shared: SET_LOG_BASE is refused.
        try (FakeFrontend f = new FakeFrontend(socket); MemFd logFd = MemFd.create("dirty-log", 4096)) {
            f.getU64(GET_FEATURES);
            f.send(SET_PROTOCOL_FEATURES, u64(VhostConnection.PROTOCOL_FEATURES & ~PF_LOG_SHMFD));
            f.send(SET_OWNER, new byte[0]);
            f.send(SET_LOG_BASE, logBase(LOG_BYTES, 0), logFd.fd());
            assertTrue(f.closedByBackend());
        }
        awaitIdle();
        assertTrue(server.lastEnd().contains("without protocol feature LOG_SHMFD"), server.lastEnd());
    }

    private record Hostile(String reason, Action run) {
    }

    @FunctionalInterface
    private interface Action {
        void run(FakeFrontend f, int logFd) throws Exception;
    }

    private void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 1000 && server.isConnected(); i++) {
            Thread.sleep(10);
        }
        assertFalse(server.isConnected(), "the server went back to waiting");
    }
}
