package io.bundlevisor.uring.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.bundlevisor.uring.sys.SyscallFilter;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Tap interfaces for real: created, attached by name, refused with one line. Each test makes its own interfaces with
 * unique names and no address, and removes them.
 */
class TapTest {

    private static final AtomicInteger NEXT = new AtomicInteger();
    private String name;

    @BeforeEach
    void setUp() {
        assumeTrue(Files.exists(Path.of("/dev/net/tun")), "no /dev/net/tun on this host");
        name = "bvt" + ProcessHandle.current().pid() % 100000 + "x" + NEXT.incrementAndGet();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (Files.exists(Path.of("/sys/class/net", name))) {
            ip("link", "del", name);
        }
    }

    @Test
    void aMissingTapIsCreatedUpAndGoesWhenClosed() throws Exception {
        try (Tap tap = Tap.open(name, 2)) {
            assertTrue(tap.created());
            assertTrue(tap.multiQueue());
            assertEquals(2, tap.queues());
            assertTrue(tap.fd(0) >= 0 && tap.fd(1) >= 0 && tap.fd(0) != tap.fd(1));
            assertTrue(tap.isUp(), "a created tap is brought up");
            assertEquals(1500, tap.mtu());
            tap.setMtu(9000);
            assertEquals(9000, tap.mtu());
            tap.setOffload(Tap.OFFLOAD_CSUM | Tap.OFFLOAD_TSO4 | Tap.OFFLOAD_TSO6);
            tap.enableQueues(1);
            tap.enableQueues(2);
            tap.enableQueues(1);
        }
        assertFalse(Files.exists(Path.of("/sys/class/net", name)), "a created tap goes with its descriptors");
    }

    /**
     * What a virtio-net device does on its worker (link state, MTU, offloads, queue pairs) works under the worker's
     * system-call filter, which opens no socket: the interface ioctls go through the socket the tap opened with it.
     */
    @Test
    void aConfinedWorkerDrivesTheTap() throws Exception {
        try (Tap tap = Tap.open(name, 2)) {
            java.util.concurrent.atomic.AtomicReference<Throwable> failed = new java.util.concurrent.atomic
                    .AtomicReference<>();
            Thread worker = Thread.ofPlatform().start(() -> {
                try {
                    assertTrue(SyscallFilter.confineCurrentThread(SyscallFilter.Profile.DEVICE_WORKER).isEmpty());
                    assertTrue(tap.isUp());
                    assertEquals(1500, tap.mtu());
                    tap.setOffload(Tap.OFFLOAD_CSUM);
                    tap.enableQueues(1);
                    tap.enableQueues(2);
                } catch (Throwable t) {
                    failed.set(t);
                }
            });
            worker.join();
            if (failed.get() != null) {
                throw new AssertionError("on a confined worker: " + failed.get(), failed.get());
            }
        }
    }

    @Test
    void anExistingMultiQueueTapIsAttachedAndStays() throws Exception {
        ip("tuntap", "add", name, "mode", "tap", "multi_queue");
        try (Tap tap = Tap.open(name, 1)) {
            assertFalse(tap.created());
            assertTrue(tap.multiQueue(), "a multi-queue tap is attached as one even for one queue");
        }
        assertTrue(Files.exists(Path.of("/sys/class/net", name)), "a tap made beforehand stays");
    }

    @Test
    void refusalsAreOneLine() throws Exception {
        ip("tuntap", "add", name, "mode", "tap");
        SyscallException single = assertThrows(SyscallException.class, () -> Tap.open(name, 2));
        assertTrue(single.getMessage().contains("single-queue tap"), single.getMessage());
        try (Tap first = Tap.open(name, 1)) {
            SyscallException busy = assertThrows(SyscallException.class, () -> Tap.open(name, 1));
            assertTrue(busy.getMessage().contains("in use"), busy.getMessage());
        }
        SyscallException notTap = assertThrows(SyscallException.class, () -> Tap.open("lo", 1));
        assertTrue(notTap.getMessage().contains("lo exists and is not a tap"), notTap.getMessage());
        for (String bad : List.of("", "a-name-of-16-chr", "a/b", "has space", "x:y")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tap.open(bad, 1));
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Tap.open(name, 0));
        for (Exception e : List.of(single)) {
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
    }

    @Test
    void aTunIsNotATap() throws Exception {
        ip("tuntap", "add", name, "mode", "tun");
        SyscallException e = assertThrows(SyscallException.class, () -> Tap.open(name, 1));
        assertTrue(e.getMessage().contains("is a tun device, not a tap"), e.getMessage());
    }

    private static void ip(String... args) throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(List.of("ip"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assumeTrue(p.exitValue() == 0, "ip " + String.join(" ", args) + " failed (root needed): " + out);
    }
}
