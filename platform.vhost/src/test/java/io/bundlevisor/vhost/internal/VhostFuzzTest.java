package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.FakeFrontend.*;
import static io.bundlevisor.vhost.internal.VhostUserLayout.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.bundlevisor.core.internal.virtio.VirtioServiceImpl;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.internal.RingServiceImpl;

/**
 * Random front-ends: each connects, does the handshake (or not), then sends messages with random requests, flags,
 * payloads and descriptors, some of them well-formed, some not, and hangs up. Whatever they send, the back-end
 * ends at most their connection, leaks no descriptor and no mapping, and serves a correct front-end afterwards.
 * The seed is printed, so a failure can be replayed.
 */
@Timeout(120)
class VhostFuzzTest {

    private static final long VERSION_1 = 1L << 32;
    private static final int[] REQUESTS = {GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE,
        SET_LOG_BASE, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL,
        SET_VRING_ERR, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE, GET_CONFIG,
        SET_CONFIG, RESET_DEVICE, SET_DEVICE_STATE_FD, CHECK_DEVICE_STATE, GET_MAX_MEM_SLOTS, ADD_MEM_REG,
        REM_MEM_REG, SET_BACKEND_REQ_FD, GET_INFLIGHT_FD, SET_INFLIGHT_FD, 0, 44, 1000};

    @TempDir
    Path dir;

    @Test
    void randomMessagesEndOnlyTheirConnection() throws Exception {
        long seed = Long.getLong("bundlevisor.fuzz.seed", System.nanoTime());
        System.err.println("VhostFuzzTest seed " + seed + " (-Dbundlevisor.fuzz.seed=" + seed + " replays it)");
        Random random = new Random(seed);
        RingServiceImpl rings = new RingServiceImpl();
        VirtioServiceImpl virtio = new VirtioServiceImpl(rings);
        virtio.addFactory(context -> new EchoDevice(), "echo");
        Path socket = dir.resolve("fuzz.sock");
        VhostServer server = new VhostServer("fuzz", socket, new DeviceSpec("echo", ""), virtio);
        try {
            // Warm up the descriptors the JVM and the server keep, then count.
            serveOneCorrectly(socket);
            awaitIdle(server);
            long fdsBefore = openFds();
            long mapsBefore = memfdMappings();
            for (int round = 0; round < 60; round++) {
                oneFrontend(socket, Choices.of(random));
                awaitIdle(server);
            }
            serveOneCorrectly(socket);
            awaitIdle(server);
            assertEquals(fdsBefore, openFds(), "descriptors leaked");
            assertEquals(mapsBefore, memfdMappings(), "front-end memory left mapped");
        } finally {
            server.close();
        }
        assertFalse(Files.exists(socket));
    }

    /** The back-end the fuzzer's front-ends share, started by the first input. */
    private static VhostServer fuzzed;
    private static Path fuzzedSocket;

    /**
     * Coverage-guided (Jazzer): each input is one front-end's choices. Whatever it sends, the back-end ends at most
     * its connection, goes back to waiting within the stall limit, and serves a correct front-end next. With the unit
     * tests only the committed seeds run (VhostFuzzTestInputs); {@code scripts/fuzz.sh} fuzzes for longer.
     */
    @FuzzTest(maxDuration = "60s")
    @Timeout(60) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyFrontendEndsOnlyItsConnection(FuzzedDataProvider data) throws Exception {
        if (fuzzed == null) {
            fuzzedSocket = Files.createTempDirectory("vhost-fuzz").resolve("fuzz.sock");
            RingServiceImpl rings = new RingServiceImpl();
            VirtioServiceImpl virtio = new VirtioServiceImpl(rings);
            virtio.addFactory(context -> new EchoDevice(), "echo");
            fuzzed = new VhostServer("fuzz", fuzzedSocket, new DeviceSpec("echo", ""), virtio);
        }
        oneFrontend(fuzzedSocket, Choices.of(data));
        awaitIdle(fuzzed);
        serveOneCorrectly(fuzzedSocket);
        awaitIdle(fuzzed);
    }

    @AfterAll
    static void closeFuzzed() throws IOException {
        if (fuzzed != null) {
            fuzzed.close();
            Files.deleteIfExists(fuzzedSocket.getParent());
            fuzzed = null;
        }
    }

    /** Where a front-end's choices come from: a seeded Random, or Jazzer's input. */
    private interface Choices {
        int nextInt(int bound);

        int anyInt();

        long nextLong();

        boolean nextBoolean();

        byte[] bytes(int max);

        static Choices of(Random r) {
            return new Choices() {
                public int nextInt(int bound) {
                    return r.nextInt(bound);
                }

                public int anyInt() {
                    return r.nextInt();
                }

                public long nextLong() {
                    return r.nextLong();
                }

                public boolean nextBoolean() {
                    return r.nextBoolean();
                }

                public byte[] bytes(int max) {
                    byte[] b = new byte[r.nextInt(max)];
                    r.nextBytes(b);
                    return b;
                }
            };
        }

        static Choices of(FuzzedDataProvider d) {
            return new Choices() {
                public int nextInt(int bound) {
                    return d.consumeInt(0, bound - 1);
                }

                public int anyInt() {
                    return d.consumeInt();
                }

                public long nextLong() {
                    return d.consumeLong();
                }

                public boolean nextBoolean() {
                    return d.consumeBoolean();
                }

                public byte[] bytes(int max) {
                    return d.consumeBytes(max - 1);
                }
            };
        }
    }

    /** One front-end: connects, perhaps starts the device, sends some messages and hangs up. */
    private static void oneFrontend(Path socket, Choices random) throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket)) {
            if (random.nextBoolean()) {
                f.handshake();
                if (random.nextBoolean()) {
                    f.start(VERSION_1, 1 + random.nextInt(2));
                    f.offer(0, new byte[] {1, 2}, 8);
                }
            }
            int messages = 1 + random.nextInt(12);
            for (int m = 0; m < messages; m++) {
                send(f, random);
            }
        } catch (SyscallException | IllegalStateException e) {
            // The back-end hung up on us, or answered what we did not expect: both are fine here.
        }
    }

    private static void send(FakeFrontend f, Choices random) throws Exception {
        int request = REQUESTS[random.nextInt(REQUESTS.length)];
        int flags = random.nextInt(8) == 0 ? random.nextInt(16) : FLAG_VERSION | (random.nextBoolean() ? FLAG_NEED_REPLY : 0);
        byte[] payload;
        switch (random.nextInt(4)) {
            case 0 -> payload = new byte[0];
            case 1 -> payload = u64(random.nextInt(4) == 0 ? random.nextLong() : random.nextInt(300));
            case 2 -> payload = state(random.nextInt(3), random.nextInt(4) == 0 ? random.anyInt() : 1 << random.nextInt(8));
            default -> payload = random.bytes(300);
        }
        if ((request == ADD_MEM_REG || request == REM_MEM_REG) && random.nextBoolean()) {
            payload = random.nextBoolean() ? slot(random.nextInt(2))
                    : memReg(GPA + random.nextInt(512) * 4096L, random.nextLong() & 0xFFFFF, USER + random.nextInt(512)
                            * 4096L, random.nextInt(2) * 4096);
        }
        if ((request == GET_INFLIGHT_FD || request == SET_INFLIGHT_FD) && random.nextBoolean()) {
            payload = inflight(random.nextInt(4) == 0 ? random.nextLong() : 2 * 320, random.nextInt(3) * 64,
                    random.nextInt(4), random.nextBoolean() ? QSIZE : random.nextInt(1 << 16));
        }
        if (request == SET_MEM_TABLE && random.nextBoolean()) {
            payload = f.memTable(random.nextBoolean() ? MEMORY : random.nextLong() & 0xFFFFFF, random.nextInt(2) * 4096);
        }
        if (request == SET_VRING_ADDR && random.nextBoolean()) {
            payload = f.vringAddr(random.nextInt(3), user(desc(0)) + random.nextInt(64) * 8L, user(used(0)),
                    random.nextBoolean() ? user(avail(0)) : random.nextLong());
        }
        int fdKind = random.nextInt(4);
        try (EventFd e = EventFd.create()) {
            switch (fdKind) {
                case 0 -> f.send(request, flags, payload);
                case 1 -> f.send(request, flags, payload, e.fd());
                case 2 -> f.send(request, flags, payload, f.memfd.fd());
                default -> f.send(request, flags, payload, e.fd(), f.memfd.fd(), e.fd());
            }
        }
        if ((request == GET_FEATURES || request == GET_QUEUE_NUM || request == GET_VRING_BASE
                || request == GET_MAX_MEM_SLOTS) && random.nextBoolean()) {
            f.reply(request);
        }
    }

    private static void serveOneCorrectly(Path socket) throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket)) {
            f.handshake();
            f.start(VERSION_1, 2);
            int head = f.offer(1, new byte[] {5, 6, 7}, 16);
            assertTrue(f.awaitCall(1, 10_000), "a correct front-end is served");
            assertEquals(head, f.usedElem(1, 0)[0]);
        }
    }

    private static void awaitIdle(VhostServer server) throws InterruptedException {
        for (int i = 0; i < 30_000 && server.isConnected(); i++) {
            Thread.sleep(1);
        }
        assertFalse(server.isConnected(), "the server went back to waiting");
    }

    private static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    private static long memfdMappings() throws IOException {
        try (Stream<String> s = Files.lines(Path.of("/proc/self/maps"))) {
            return s.filter(l -> l.contains("memfd:fake-guest")).count();
        }
    }
}
