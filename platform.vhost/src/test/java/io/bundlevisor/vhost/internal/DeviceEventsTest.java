package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.FakeFrontend.*;
import static io.bundlevisor.vhost.internal.VhostUserLayout.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.bundlevisor.core.internal.virtio.VirtioServiceImpl;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.DeviceEvents;
import io.bundlevisor.core.virtio.QueueIo;
import io.bundlevisor.core.virtio.VirtioContext;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.internal.RingServiceImpl;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A device's own event sources on its worker (issue 18, the seed's handle_event): a descriptor it watches and a
 * timer, whose handlers run on the worker thread and complete chains the device held, until the device is reset.
 * Driven through the vhost-user back-end, whose worker is the one our VMs use.
 */
@Timeout(60)
class DeviceEventsTest {

    private static final long VERSION_1 = 1L << 32;
    private static final int POLLIN = 0x001;

    @TempDir
    Path dir;
    private RingServiceImpl rings;
    private VirtioServiceImpl virtio;
    private EventFd doorbell;
    private final List<TickDevice> devices = new CopyOnWriteArrayList<>();
    private final VirtioDeviceFactory factory = context -> {
        TickDevice d = new TickDevice(doorbell);
        devices.add(d);
        return d;
    };
    private VhostServer server;
    private Path socket;

    @BeforeEach
    void setUp() throws Exception {
        rings = new RingServiceImpl();
        virtio = new VirtioServiceImpl(rings);
        doorbell = EventFd.create();
        virtio.addFactory(factory, "tick");
        socket = dir.resolve("vhost.sock");
        server = new VhostServer("events", socket, new DeviceSpec("tick", ""), virtio);
    }

    @AfterEach
    void tearDown() {
        server.close();
        virtio.removeFactory(factory, "tick");
        virtio.close();
        doorbell.close();
    }

    private static void await(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting: " + what);
            }
            Thread.sleep(2);
        }
    }

    @Test
    void aWatchedDescriptorAndATimerRunTheDevicesHandlersOnItsWorkerUntilItsReset() throws Exception {
        try (FakeFrontend f = new FakeFrontend(socket)) {
            f.handshake();
            f.start(VERSION_1, 1);
            TickDevice d = devices.get(devices.size() - 1);
            await(() -> d.ticks >= 3, "three ticks of the 10 ms timer");
            assertTrue(d.handlerThread.startsWith("virtio "), "handlers run on the worker: " + d.handlerThread);
            assertThrows(IllegalStateException.class,
                    () -> d.events.timer(Duration.ZERO, Duration.ZERO, (r, io) -> { }),
                    "registering is the worker thread's only");

            // A held chain is completed by the watch's handler, once the descriptor is ready.
            f.offer(0, new byte[] {1}, 16);
            await(() -> d.held == 1, "the device holds the chain");
            Thread.sleep(50);
            assertEquals(0, f.usedIdx(0), "nothing completes it before the doorbell rings");
            doorbell.signal(7);
            assertTrue(f.awaitCall(0, 10_000), "the handler completed the chain and the driver was called");
            assertEquals(1, f.usedIdx(0));
            assertEquals(POLLIN, d.lastReady & POLLIN);
            assertEquals(7, d.rung, "the handler read the doorbell's count");
            doorbell.signal(1);
            await(() -> d.rung == 8, "the watch stays armed");

            // The reset ends every source: no handler runs after it.
            f.send(GET_VRING_BASE, state(0, 0));
            f.reply(GET_VRING_BASE);
            await(() -> d.resets == 1, "the last queue's stop resets the device");
            int ticks = d.ticks;
            int rung = d.rung;
            doorbell.signal(1);
            Thread.sleep(100);
            assertEquals(ticks, d.ticks, "the timer ended with the device's reset");
            assertEquals(rung, d.rung, "so did the watch");
            assertFalse(d.timer.isOpen());
            doorbell.drain();
        }
    }

    /**
     * Holds every chain of queue 0; completes one each time its doorbell (an eventfd it watches) rings; counts the
     * ticks of a 10 ms timer. Both registered at activation.
     */
    static final class TickDevice implements VirtioDevice {

        private final EventFd doorbell;
        private final ArrayDeque<DescChain> chains = new ArrayDeque<>();
        volatile DeviceEvents events;
        volatile DeviceEvents.Source timer;
        volatile int ticks;
        volatile int rung;
        volatile int held;
        volatile int lastReady;
        volatile int resets;
        volatile String handlerThread = "";

        TickDevice(EventFd doorbell) {
            this.doorbell = doorbell;
        }

        @Override
        public int deviceId() {
            return 0x2b;
        }

        @Override
        public long features() {
            return 0;
        }

        @Override
        public int queueCount() {
            return 1;
        }

        @Override
        public int maxQueueSize() {
            return 64;
        }

        @Override
        public int configSize() {
            return 0;
        }

        @Override
        public int readConfig(int offset, int size) {
            return 0;
        }

        @Override
        public void writeConfig(int offset, int size, int value) {
        }

        @Override
        public void activate(VirtioContext context) {
            events = context.events();
            timer = events.timer(Duration.ofMillis(10), Duration.ofMillis(10), (r, io) -> {
                handlerThread = Thread.currentThread().getName();
                ticks++;
            });
            events.watch(doorbell.fd(), POLLIN, this::rang);
        }

        private void rang(int ready, QueueIo io) {
            lastReady = ready;
            try {
                rung += (int) doorbell.drain();
            } catch (io.bundlevisor.uring.host.SyscallException e) {
                throw new IllegalStateException(e);
            }
            DescChain c = chains.poll();
            if (c != null) {
                held--;
                io.complete(0, c, 0);
            }
        }

        @Override
        public int handleDesc(int queue, DescChain chain, Sqe sqe) {
            chains.add(chain);
            held++;
            return HOLD;
        }

        @Override
        public int completeDesc(int queue, DescChain chain, int result) {
            return NEEDS_RESET;
        }

        @Override
        public void quiesce(QueueIo io) {
            chains.clear();
            held = 0;
            io.releaseHeld(0);
        }

        @Override
        public void reset() {
            chains.clear();
            held = 0;
            resets++;
        }

        @Override
        public void saveState(java.io.DataOutput out) throws java.io.IOException {
            throw new java.io.IOException("a tick device is not saved");
        }

        @Override
        public void restoreState(java.io.DataInput in) throws java.io.IOException {
            throw new java.io.IOException("a tick device is not restored");
        }

        @Override
        public void close() {
        }
    }
}
