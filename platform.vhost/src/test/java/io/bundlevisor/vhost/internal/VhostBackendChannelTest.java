package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.FakeFrontend.*;
import static io.bundlevisor.vhost.internal.VhostUserLayout.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import io.bundlevisor.core.internal.virtio.VirtioServiceImpl;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.UnixSocket;
import io.bundlevisor.uring.internal.RingServiceImpl;

/**
 * The back-end request channel (BACKEND_REQ, SET_BACKEND_REQ_FD): a device changed under a connected front-end
 * (the update path, as a virtio-blk's new image) reaches it as CONFIG_CHANGE_MSG, acknowledged under REPLY_ACK, while
 * the front-end reads the new config on the main socket first, as QEMU 7.2's vhost-user-blk does; a front-end that
 * never answers costs the change at most the stall limit; hostile channel descriptors are refused.
 */
@Timeout(60)
class VhostBackendChannelTest {

    private static final long VERSION_1 = 1L << 32;
    private static final VarHandle U32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

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

    private CompletableFuture<Void> updateAsync(String options) {
        return CompletableFuture.runAsync(() -> {
            try {
                server.update(options);
            } catch (PartitionException e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
        });
    }

    /** Reads one back-end request off the channel: its header's request, flags and size. */
    private static int[] request(UnixSocket channel) throws Exception {
        byte[] h = new byte[HEADER_SIZE];
        assertTrue(channel.receiveFully(h, 0, HEADER_SIZE) != null, "a request came on the channel");
        return new int[] {(int) U32.get(h, HEADER_REQUEST), (int) U32.get(h, HEADER_FLAGS),
            (int) U32.get(h, HEADER_SIZE_FIELD)};
    }

    private static byte configByte0(FakeFrontend f) throws Exception {
        byte[] get = new byte[CONFIG_HEADER_SIZE + 1];
        get[CONFIG_SIZE] = 1;
        f.send(GET_CONFIG, get);
        return f.reply(GET_CONFIG)[CONFIG_HEADER_SIZE];
    }

    private static void echo(FakeFrontend f, byte b) throws Exception {
        int head = f.offer(0, new byte[] {b}, 8);
        assertTrue(f.awaitCall(0, 10_000), "the chain was served");
        assertArrayEquals(new byte[] {b}, f.read(buffer(0, head + 1), 1));
    }

    @Test
    void aChangedDeviceSendsConfigChangeAndWaitsForTheAckWhileTheFrontEndReadsTheConfig() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket)) {
            UnixSocket channel = f.handshakeWithChannel(VhostConnection.PROTOCOL_FEATURES);
            try (channel) {
                f.start(VERSION_1, 1);
                echo(f, (byte) 1);
                assertEquals(0x10, configByte0(f));
                CompletableFuture<Void> update = updateAsync("config0=99");
                int[] r = request(channel);
                assertEquals(BACKEND_CONFIG_CHANGE_MSG, r[0]);
                assertEquals(FLAG_VERSION | FLAG_NEED_REPLY, r[1], "REPLY_ACK asked for");
                assertEquals(0, r[2]);
                // QEMU reads the config on the main socket before it answers on the channel.
                assertEquals(99, configByte0(f));
                Thread.sleep(100);
                assertFalse(update.isDone(), "the change waits for the front-end's acknowledgement");
                byte[] ack = VhostMessage.reply(BACKEND_CONFIG_CHANGE_MSG, U64_SIZE);
                channel.send(ack, 0, ack.length);
                update.get(10, TimeUnit.SECONDS);
                echo(f, (byte) 2); // the IO goes on after the change
            }
        }
        assertEquals("config0=99", server.spec().options(), "later front-ends' devices are made from it");
    }

    @Test
    void withoutReplyAckTheMessageAsksForNoAnswerAndAFrontEndThatNeverAnswersCostsTheStallLimit() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket)) {
            try (UnixSocket channel = f.handshakeWithChannel(VhostConnection.PROTOCOL_FEATURES & ~PF_REPLY_ACK)) {
                // No ring started (FakeFrontend.start needs REPLY_ACK): the device changes all the same.
                updateAsync("config0=7").get(10, TimeUnit.SECONDS);
                int[] r = request(channel);
                assertEquals(BACKEND_CONFIG_CHANGE_MSG, r[0]);
                assertEquals(FLAG_VERSION, r[1], "no acknowledgement asked for");
            }
        }
        Duration before = VhostConnection.stallLimit;
        VhostConnection.stallLimit = Duration.ofMillis(500);
        try (FakeFrontend f = new FakeFrontend(socket)) {
            try (UnixSocket channel = f.handshakeWithChannel(VhostConnection.PROTOCOL_FEATURES)) {
                f.start(VERSION_1, 1);
                long start = System.nanoTime();
                updateAsync("config0=8").get(10, TimeUnit.SECONDS); // never answered
                long took = (System.nanoTime() - start) / 1_000_000;
                assertTrue(took >= 400 && took < 5_000, "gave up after the stall limit: " + took + " ms");
                assertEquals(BACKEND_CONFIG_CHANGE_MSG, request(channel)[0]);
                echo(f, (byte) 3); // the connection stays
                assertEquals(8, configByte0(f));
            }
        } finally {
            VhostConnection.stallLimit = before;
        }
    }

    @Test
    void aRefusedChangeChangesNothingAndSendsNothing() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket);
                UnixSocket channel = f.handshakeWithChannel(VhostConnection.PROTOCOL_FEATURES)) {
            f.start(VERSION_1, 1);
            PartitionException e = assertThrows(PartitionException.class, () -> server.update("config0=300"));
            assertTrue(e.getMessage().contains("echo takes config0=0..255"), e.getMessage());
            assertEquals(0x10, configByte0(f));
            channel.setReceiveTimeout(Duration.ofMillis(200));
            byte[] b = new byte[1];
            assertThrows(io.bundlevisor.uring.host.SyscallException.class, () -> channel.receive(b, 0, 1),
                    "nothing was sent on the channel");
        }
    }

    @Test
    void hostileChannelsCloseOnlyTheirConnection() throws Exception {
        // Not a socket.
        try (FakeFrontend f = new FakeFrontend(socket); EventFd e = EventFd.create()) {
            f.handshake();
            f.send(SET_BACKEND_REQ_FD, new byte[0], e.fd());
            assertTrue(closed(f));
        }
        awaitIdle();
        assertTrue(server.lastEnd().contains("SET_BACKEND_REQ_FD") && server.lastEnd().contains("not a socket")
                || server.lastEnd().contains("eventfd"), server.lastEnd());
        // No descriptor.
        try (FakeFrontend f = new FakeFrontend(socket)) {
            f.handshake();
            f.send(SET_BACKEND_REQ_FD, new byte[0]);
            assertTrue(closed(f));
        }
        awaitIdle();
        assertTrue(server.lastEnd().contains("came with 0 descriptors"), server.lastEnd());
        // Without the protocol feature.
        try (FakeFrontend f = new FakeFrontend(socket)) {
            try {
                f.handshakeWithChannel(VhostConnection.PROTOCOL_FEATURES & ~PF_BACKEND_REQ & ~PF_REPLY_ACK).close();
            } catch (IllegalStateException | io.bundlevisor.uring.host.SyscallException dropped) {
                // closed before the owner was set
            }
            assertTrue(closed(f));
        }
        awaitIdle();
        assertTrue(server.lastEnd().contains("without protocol feature BACKEND_REQ"), server.lastEnd());
    }

    /** The back-end closed the connection (a reset: it closed with our last message unread). */
    private static boolean closed(FakeFrontend f) throws Exception {
        try {
            return f.closedByBackend();
        } catch (io.bundlevisor.uring.host.SyscallException e) {
            return e.errno() == 104; // ECONNRESET
        }
    }

    private void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 1000 && server.isConnected(); i++) {
            Thread.sleep(10);
        }
        assertFalse(server.isConnected(), "the server went back to waiting");
    }
}
