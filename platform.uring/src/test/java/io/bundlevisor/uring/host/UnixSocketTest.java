package io.bundlevisor.uring.host;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.sys.SocketLayout;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** AF_UNIX stream sockets with descriptor passing, as vhost-user uses them. */
@Timeout(30)
class UnixSocketTest {

    @TempDir
    Path dir;

    private static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (seed + i);
        }
        return b;
    }

    private static long openFds() throws Exception {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    @Test
    void aPairCarriesBytesAndWorkingEventFds() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]; EventFd e1 = EventFd.create();
                EventFd e2 = EventFd.create()) {
            a.send(bytes(12, 1), 0, 12, e1.fd(), e2.fd());
            byte[] in = new byte[64];
            UnixSocket.Received r = b.receive(in, 3, 20);
            assertEquals(12, r.bytes());
            assertArrayEquals(bytes(12, 1), Arrays.copyOfRange(in, 3, 15));
            assertEquals(2, r.fds().length);
            for (int fd : r.fds()) {
                assertNotEquals(e1.fd(), fd);
                assertNotEquals(e2.fd(), fd);
            }
            try (EventFd r1 = EventFd.adopt(r.fds()[0]); EventFd r2 = EventFd.adopt(r.fds()[1])) {
                r1.signal(5);
                r2.signal(7);
                assertEquals(5, e1.drain(), "the received descriptor is the same eventfd");
                assertEquals(7, e2.drain());
                e1.signal(3);
                assertEquals(3, r1.drain());
                assertEquals(0, r1.drain(), "adopted eventfds are non-blocking");
            }
        }
    }

    @Test
    void sendWithoutDescriptorsReceivesAnEmptyArray() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]) {
            a.send(bytes(5, 9), 0, 5);
            UnixSocket.Received r = b.receiveFully(new byte[5], 0, 5);
            assertEquals(0, r.fds().length);
            assertEquals(5, r.bytes());
        }
    }

    @Test
    void listenConnectAccept() throws Exception {
        Path path = dir.resolve("vhost.sock");
        try (UnixSocket server = UnixSocket.listen(path, 4)) {
            assertTrue(Files.exists(path));
            CompletableFuture<UnixSocket> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    return server.accept();
                } catch (SyscallException e) {
                    throw new RuntimeException(e);
                }
            });
            try (UnixSocket client = UnixSocket.connect(path); UnixSocket peer = accepted.get(10, TimeUnit.SECONDS)) {
                client.send(bytes(100, 7), 0, 100);
                byte[] in = new byte[100];
                assertEquals(100, peer.receiveFully(in, 0, 100).bytes());
                assertArrayEquals(bytes(100, 7), in);
                peer.send(bytes(3, 2), 0, 3);
                assertEquals(3, client.receiveFully(in, 0, 3).bytes());
            }
        }
    }

    @Test
    void aPathLongerThanSunPathIsRefused() {
        Path longPath = dir.resolve("x".repeat(SocketLayout.SUN_PATH_MAX));
        assertThrows(IllegalArgumentException.class, () -> UnixSocket.listen(longPath, 1));
        assertThrows(IllegalArgumentException.class, () -> UnixSocket.connect(longPath));
    }

    @Test
    void anExistingPathIsInUse() throws Exception {
        Path path = dir.resolve("busy.sock");
        Files.writeString(path, "not a socket");
        SyscallException e = assertThrows(SyscallException.class, () -> UnixSocket.listen(path, 1));
        assertEquals(SocketLayout.EADDRINUSE, e.errno());
        Path stale = dir.resolve("stale.sock");
        UnixSocket.listen(stale, 1).close(); // closing leaves the path behind
        e = assertThrows(SyscallException.class, () -> UnixSocket.listen(stale, 1));
        assertEquals(SocketLayout.EADDRINUSE, e.errno());
    }

    @Test
    void connectingToNothingFails() {
        SyscallException e = assertThrows(SyscallException.class, () -> UnixSocket.connect(dir.resolve("none")));
        assertEquals(Errno.ENOENT, e.errno());
    }

    @Test
    void shutdownWakesABlockedAccept() throws Exception {
        try (UnixSocket server = UnixSocket.listen(dir.resolve("s.sock"), 1)) {
            CompletableFuture<Throwable> accept = CompletableFuture.supplyAsync(() -> {
                try {
                    server.accept().close();
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            });
            Thread.sleep(200);
            assertFalse(accept.isDone(), "accept blocks");
            server.shutdown();
            Throwable t = accept.get(10, TimeUnit.SECONDS);
            SyscallException e = assertInstanceOf(SyscallException.class, t);
            assertTrue(e.errno() == Errno.EINVAL || e.errno() == Errno.EBADF, e.getMessage());
        }
    }

    @Test
    void closeWakesABlockedReceive() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket b = pair[1]) {
            UnixSocket a = pair[0];
            CompletableFuture<UnixSocket.Received> receive = CompletableFuture.supplyAsync(() -> {
                try {
                    return a.receiveFully(new byte[4], 0, 4);
                } catch (SyscallException e) {
                    throw new RuntimeException(e);
                }
            });
            Thread.sleep(200);
            a.close();
            assertNull(receive.get(10, TimeUnit.SECONDS), "end of stream");
            a.close();
            SyscallException e = assertThrows(SyscallException.class, () -> a.receive(new byte[1], 0, 1));
            assertEquals(Errno.EBADF, e.errno());
        }
    }

    @Test
    void receiveFullyAcrossTwoSendsAndEndOfStream() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]; EventFd e = EventFd.create()) {
            byte[] message = bytes(20, 40);
            a.send(message, 0, 8, e.fd());
            CompletableFuture<Void> rest = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(100);
                    a.send(message, 8, 12);
                } catch (Exception x) {
                    throw new RuntimeException(x);
                }
            });
            byte[] in = new byte[20];
            UnixSocket.Received r = b.receiveFully(in, 0, 20);
            rest.get(10, TimeUnit.SECONDS);
            assertEquals(20, r.bytes());
            assertArrayEquals(message, in);
            assertEquals(1, r.fds().length);
            UnixSocket.closeFd(r.fds()[0]);

            a.shutdown();
            assertNull(b.receiveFully(in, 0, 20), "the stream ended before the first byte");
            assertEquals(0, b.receive(in, 0, 20).bytes());
        }
    }

    @Test
    void endOfStreamMidMessageThrowsAndClosesTheDescriptors() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket b = pair[1]; EventFd e = EventFd.create()) {
            try (UnixSocket a = pair[0]) {
                a.send(bytes(6, 0), 0, 6, e.fd());
            }
            long before = openFds();
            SyscallException x = assertThrows(SyscallException.class, () -> b.receiveFully(new byte[10], 0, 10));
            assertEquals(SocketLayout.ECONNRESET, x.errno());
            assertEquals(before, openFds(), "the descriptor that came with the bytes is closed");
        }
    }

    @Test
    void moreThanMaxFdsIsATruncationAndLeaksNothing() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]; EventFd e = EventFd.create()) {
            int[] many = new int[UnixSocket.MAX_FDS + 1];
            Arrays.fill(many, e.fd());
            long before = openFds();
            a.send(bytes(4, 0), 0, 4, many);
            SyscallException x = assertThrows(SyscallException.class, () -> b.receive(new byte[4], 0, 4));
            assertEquals(SocketLayout.EMSGSIZE, x.errno());
            assertEquals(before, openFds(), "every descriptor that arrived is closed");

            int[] exactly = new int[UnixSocket.MAX_FDS];
            Arrays.fill(exactly, e.fd());
            a.send(bytes(4, 0), 0, 4, exactly);
            UnixSocket.Received r = b.receive(new byte[4], 0, 4);
            assertEquals(UnixSocket.MAX_FDS, r.fds().length);
            for (int fd : r.fds()) {
                UnixSocket.closeFd(fd);
            }
            assertEquals(before, openFds());
        }
    }

    @Test
    void aReceiveTimeoutThrowsEagain() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]) {
            b.setReceiveTimeout(Duration.ofMillis(50));
            long start = System.nanoTime();
            SyscallException e = assertThrows(SyscallException.class, () -> b.receive(new byte[1], 0, 1));
            assertEquals(Errno.EAGAIN, e.errno());
            assertTrue(System.nanoTime() - start >= 40_000_000L, "waited for the timeout");
            b.setReceiveTimeout(Duration.ZERO);
            a.send(new byte[] {42}, 0, 1);
            assertEquals(1, b.receive(new byte[1], 0, 1).bytes());
        }
    }

    @Test
    void bigMessagesGrowTheBuffersUpToOneMebibyte() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]) {
            byte[] big = bytes(300_000, 3);
            CompletableFuture<Void> send = CompletableFuture.runAsync(() -> {
                try {
                    a.send(big, 0, big.length);
                } catch (SyscallException x) {
                    throw new RuntimeException(x);
                }
            });
            byte[] in = new byte[big.length];
            assertEquals(big.length, b.receiveFully(in, 0, in.length).bytes());
            send.get(10, TimeUnit.SECONDS);
            assertArrayEquals(big, in);
            assertThrows(IllegalArgumentException.class, () -> a.send(new byte[(1 << 20) + 1], 0, (1 << 20) + 1));
            assertThrows(IllegalArgumentException.class, () -> a.send(new byte[0], 0, 0, 1));
        }
    }
}
