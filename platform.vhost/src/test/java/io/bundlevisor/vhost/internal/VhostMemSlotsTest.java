package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.FakeFrontend.*;
import static io.bundlevisor.vhost.internal.VhostUserLayout.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import io.bundlevisor.core.internal.virtio.VirtioServiceImpl;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.internal.RingServiceImpl;

/**
 * CONFIGURE_MEM_SLOTS (vhost-user.rst, GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG): memory that comes and goes one
 * region at a time under running rings, as QEMU 7.2 sends it for every memory change once the feature is
 * negotiated; and the hostile variants, each of which ends only its own connection, with its reason, leaving no
 * mapping behind.
 */
@Timeout(60)
class VhostMemSlotsTest {

    private static final long VERSION_1 = 1L << 32;

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

    /** QEMU 7.2's order: the slots are asked for before SET_OWNER, the memory comes as regions. */
    private static void handshakeAsQemu(FakeFrontend f) throws Exception {
        f.getU64(GET_FEATURES);
        assertTrue((f.getU64(GET_PROTOCOL_FEATURES) & PF_CONFIGURE_MEM_SLOTS) != 0, "CONFIGURE_MEM_SLOTS offered");
        f.send(SET_PROTOCOL_FEATURES, u64(VhostConnection.PROTOCOL_FEATURES));
        assertEquals(MAX_MEM_SLOTS, f.getU64(GET_MAX_MEM_SLOTS));
        f.send(SET_OWNER, new byte[0]);
    }

    private static void echo(FakeFrontend f, byte[] data) throws Exception {
        int before = f.usedIdx(0);
        int head = f.offer(0, data, 64);
        assertTrue(f.awaitCall(0, 10_000), "the chain was served");
        assertEquals(before + 1, f.usedIdx(0));
        assertEquals(head, f.usedElem(0, before)[0]);
        assertArrayEquals(data, f.read(buffer(0, head + 1), data.length), "the answer is in the second region");
    }

    @Test
    void regionsAddedAndRemovedUnderARunningRingKeepItsIoGoing() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket)) {
            handshakeAsQemu(f);
            f.startInSlots(VERSION_1);
            echo(f, new byte[] {1, 2, 3});
            // Added again (QEMU's vhost-user-net: each queue pair's vhost device sends the same regions), it is
            // counted: its first removal leaves it mapped.
            assertEquals(0, f.acked(ADD_MEM_REG, slot(1), f.memfd.fd()));
            assertEquals(0, f.acked(REM_MEM_REG, slot(1)));
            echo(f, new byte[] {3, 2, 1});
            // The buffers' region goes and comes back (QEMU does this when a memory section changes): the worker
            // finished its IO and looked its rings up again before the mapping went.
            assertEquals(0, f.acked(REM_MEM_REG, slot(1)));
            assertEquals(0, f.acked(ADD_MEM_REG, slot(1), f.memfd.fd()));
            echo(f, new byte[] {4, 5, 6, 7});
            // A front-end that sends a descriptor with REM_MEM_REG (allowed by the spec): it is closed unused.
            assertEquals(0, f.acked(REM_MEM_REG, slot(1), f.memfd.fd()));
            assertEquals(0, f.acked(ADD_MEM_REG, slot(1), f.memfd.fd()));
            echo(f, new byte[] {8});
            assertTrue(memfdMappings() > 1, "the back-end maps the regions, beside the front-end's own mapping");
        }
        awaitIdle();
        assertEquals(0, memfdMappings(), "the back-end unmapped every region when the front-end went");
    }

    @Test
    void aChainIntoARemovedRegionResetsTheDeviceInsteadOfTouchingIt() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket); EventFd err = EventFd.create()) {
            handshakeAsQemu(f);
            f.startInSlots(VERSION_1);
            assertEquals(0, f.acked(SET_VRING_ERR, u64(0), err.fd()));
            echo(f, new byte[] {1});
            assertEquals(0, f.acked(REM_MEM_REG, slot(1)));
            f.offer(0, new byte[] {2}, 8); // its buffers are in the removed region
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (err.drain() == 0) {
                assertTrue(System.nanoTime() < deadline, "the error eventfd was signalled");
                Thread.sleep(5);
            }
            assertEquals(1, f.usedIdx(0), "the chain was not completed");
            assertEquals(0, f.acked(RESET_DEVICE, new byte[0]), "the connection stays");
        }
    }

    @Test
    void hostileRegionsCloseOnlyTheirConnectionWithTheirReason() throws Exception {
        List<Hostile> cases = List.of(
                new Hostile("overlaps", f -> {
                    f.acked(ADD_MEM_REG, slot(0), f.memfd.fd());
                    f.send(ADD_MEM_REG, memReg(GPA + 0x1000, 0x1000, USER + 8 * MEMORY, 0), f.memfd.fd());
                }),
                new Hostile("overlaps", f -> {
                    f.acked(ADD_MEM_REG, slot(0), f.memfd.fd());
                    f.send(ADD_MEM_REG, memReg(GPA + 8 * MEMORY, 0x1000, USER + 0x1000, 0), f.memfd.fd());
                }),
                new Hostile("is not a range", f -> f.send(ADD_MEM_REG, memReg(GPA, 0, USER, 0), f.memfd.fd())),
                new Hostile("is not a range", f -> f.send(ADD_MEM_REG, memReg(-4096, 8192, USER, 0), f.memfd.fd())),
                new Hostile("the region ends at", f -> f.send(ADD_MEM_REG, memReg(GPA, 0x1000, USER, MEMORY),
                        f.memfd.fd())),
                new Hostile("came with 0 descriptors", f -> f.send(ADD_MEM_REG, slot(0))),
                new Hostile("came with 2 descriptors", f -> f.send(ADD_MEM_REG, slot(0), f.memfd.fd(),
                        f.memfd.fd())),
                new Hostile("came with 2 descriptors", f -> f.send(REM_MEM_REG, slot(0), f.memfd.fd(),
                        f.memfd.fd())),
                new Hostile("carries 8 bytes", f -> f.send(ADD_MEM_REG, u64(0), f.memfd.fd())),
                new Hostile("all " + MAX_MEM_SLOTS + " memory slots are in use", f -> {
                    for (int i = 0; i <= MAX_MEM_SLOTS; i++) {
                        f.acked(ADD_MEM_REG, memReg(GPA + i * 0x2000L, 0x1000, USER + i * 0x2000L, i * 0x1000L),
                                f.memfd.fd());
                    }
                }),
                new Hostile("no such region", f -> {
                    f.acked(ADD_MEM_REG, slot(0), f.memfd.fd());
                    f.send(REM_MEM_REG, memReg(GPA, SPLIT / 2, USER, 0));
                }),
                new Hostile("vring 0 runs in it", f -> {
                    f.startInSlots(VERSION_1);
                    f.send(REM_MEM_REG, slot(0));
                }));
        for (int i = 0; i < cases.size(); i++) {
            Hostile h = cases.get(i);
            try (FakeFrontend f = new FakeFrontend(socket)) {
                try {
                    handshakeAsQemu(f);
                    h.run.run(f);
                } catch (IllegalStateException | IOException e) {
                    // The back-end may have closed before a reply; that is the point.
                }
                assertTrue(f.closedByBackend(), "case " + i + " closed the connection");
            }
            awaitIdle();
            assertTrue(server.lastEnd().startsWith(VhostConnection.REFUSED) && server.lastEnd().contains(h.reason),
                    "case " + i + ": " + server.lastEnd());
            assertEquals(0, memfdMappings(), "case " + i + ": no region left mapped");
        }
        // Without the protocol feature the messages are refused too.
        for (int request : new int[] {GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG}) {
            try (FakeFrontend f = new FakeFrontend(socket)) {
                f.getU64(GET_FEATURES);
                f.send(SET_PROTOCOL_FEATURES, u64(VhostConnection.PROTOCOL_FEATURES & ~PF_CONFIGURE_MEM_SLOTS));
                f.send(SET_OWNER, new byte[0]);
                f.send(request, request == GET_MAX_MEM_SLOTS ? new byte[0] : slot(0), f.memfd.fd());
                assertTrue(f.closedByBackend());
            }
            awaitIdle();
            assertTrue(server.lastEnd().contains("without protocol feature CONFIGURE_MEM_SLOTS"), server.lastEnd());
        }
        // The server still serves, with SET_MEM_TABLE as before.
        try (FakeFrontend f = new FakeFrontend(socket)) {
            f.handshake();
            f.start(VERSION_1, 1);
            echo(f, new byte[] {9, 9});
        }
    }

    private record Hostile(String reason, Action run) {
    }

    @FunctionalInterface
    private interface Action {
        void run(FakeFrontend f) throws Exception;
    }

    private void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 1000 && server.isConnected(); i++) {
            Thread.sleep(10);
        }
        assertFalse(server.isConnected(), "the server went back to waiting");
    }

    private static long memfdMappings() throws IOException {
        try (Stream<String> s = Files.lines(Path.of("/proc/self/maps"))) {
            return s.filter(l -> l.contains("memfd:fake-guest")).count();
        }
    }
}
