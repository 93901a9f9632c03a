package io.bundlevisor.uring.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.core.ring.CompletionHandler;
import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.IoMemory;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingCounters;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.uring.host.Pipe;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Raw IOs (caller's user data, one handler) and batches, on real io_uring. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RawAndBatchTest {

    private static RingServiceImpl service;

    private final List<long[]> seen = new ArrayList<>();
    private final CompletionHandler raw = (data, res, flags) -> seen.add(new long[] {data, res, flags});
    private final Sqe sqe = new Sqe();
    private Ring ring;

    @BeforeAll
    static void service() {
        service = new RingServiceImpl();
    }

    @BeforeEach
    void open() {
        ring = service.create("raw", 8, raw);
    }

    @AfterEach
    void close() {
        ring.close();
    }

    private void awaitSeen(int n) {
        while (seen.size() < n) {
            ring.submitAndWait(1);
            ring.processCompletions();
        }
    }

    @Test
    void rawIosCarryTheCallersUserData() {
        try (Ring.Batch b = ring.batch()) {
            b.submitRaw(sqe.nop(), 0);
            b.submitRaw(sqe.nop(), 42);
            b.submitRaw(sqe.fsync(-1, false), Ring.MAX_RAW_USER_DATA);
        }
        awaitSeen(3);
        assertEquals(0, seen.get(0)[0]);
        assertEquals(42, seen.get(1)[0]);
        assertEquals(Ring.MAX_RAW_USER_DATA, seen.get(2)[0]);
        assertEquals(-Errno.EBADF, seen.get(2)[1], "errors reach the raw handler as -errno");
        assertEquals(new RingCounters(0, 0, 0, 3, 0), ring.counters(), "raw IOs hold no slot");
    }

    @Test
    void rawIosOverflowInOrder() {
        int n = 4 * ring.submissionQueueSize();
        for (int i = 0; i < n; i++) {
            ring.submitRaw(sqe.nop(), i);
        }
        assertEquals(n - ring.submissionQueueSize(), ring.counters().queued());
        awaitSeen(n);
        for (int i = 0; i < n; i++) {
            assertEquals(i, seen.get(i)[0]);
        }
        assertEquals(new RingCounters(0, 0, 0, n, 0), ring.counters());
    }

    @Test
    void rawUserDataIsValidated() {
        assertThrows(IllegalArgumentException.class, () -> ring.submitRaw(sqe.nop(), -1));
        assertThrows(IllegalArgumentException.class, () -> ring.submitRaw(sqe.nop(), Long.MAX_VALUE));
        try (Ring plain = service.create("plain", 4)) {
            assertThrows(IllegalStateException.class, () -> plain.submitRaw(sqe.nop(), 1));
        }
    }

    @Test
    void batchesMixSlotAndRawIosAndRefuseMisuse() throws Exception {
        Ring.Batch b = ring.batch();
        long io = b.submit(sqe.nop(), IoMemory.NONE, null);
        b.submitRaw(sqe.nop(), 7);
        CompletableFuture<Throwable> other = CompletableFuture.supplyAsync(() -> {
            try {
                b.submitRaw(sqe.nop(), 8);
                return null;
            } catch (Throwable t) {
                return t;
            }
        });
        assertTrue(other.get() instanceof IllegalStateException, "a batch belongs to its opening thread");
        b.close();
        b.close();
        assertThrows(IllegalStateException.class, () -> b.submitRaw(sqe.nop(), 9), "used after close");
        awaitSeen(1);
        while (!ring.isDone(io)) {
            ring.submitAndWait(1);
            ring.processCompletions();
        }
        assertEquals(0, ring.take(io));
        assertEquals(7, seen.get(0)[0]);
        // The lock was released: another thread can submit now.
        CompletableFuture.runAsync(() -> ring.submitRaw(new Sqe().nop(), 10)).get(10, TimeUnit.SECONDS);
        awaitSeen(2);
    }

    @Test
    void closeCancelsRawIosStillInTheKernel() throws Exception {
        Ring closing = service.create("raw-closing", 4, raw);
        try (Pipe pipe = Pipe.create(); Arena arena = Arena.ofShared()) {
            closing.submitRaw(sqe.read(pipe.readFd(), arena.allocate(8), -1), 5);
            closing.flush();
            closing.close();
            assertEquals(1, seen.size(), "the raw read was cancelled and reported before close returned");
            assertEquals(5, seen.get(0)[0]);
            assertEquals(-Errno.ECANCELED, seen.get(0)[1]);
        }
    }

    @Test
    void rawAndSlotCompletionsArriveInRingOrder() {
        List<Long> order = new ArrayList<>();
        Ring mixed = service.create("raw-order", 8, (data, res, flags) -> order.add(data));
        try (mixed) {
            try (Ring.Batch b = mixed.batch()) {
                b.submitRaw(sqe.nop(), 1);
                b.submitRaw(sqe.nop(), 2);
                b.submit(sqe.nop(), IoMemory.NONE, (io, res, flags) -> order.add(-3L));
                b.submitRaw(sqe.nop(), 4);
                b.submit(sqe.nop(), IoMemory.NONE, (io, res, flags) -> order.add(-5L));
                b.submitRaw(sqe.nop(), 6);
            }
            while (order.size() < 6) {
                mixed.submitAndWait(6 - order.size());
                mixed.processCompletions();
            }
            assertEquals(List.of(1L, 2L, -3L, 4L, -5L, 6L), order, "raw ones straight from the ring, slot ones copied");
            assertEquals(6, mixed.counters().completed());
            assertEquals(0, mixed.counters().waiting());
        }
    }

    @Test
    void waitsStillBlockForIoThatDoesNotCompleteAtOnce() throws Exception {
        // NOPs complete as they are submitted (the wait is skipped); a read of an empty pipe does not (the waiting
        // thread must block until it does). Alternate them so that both ways of waiting run, more than once.
        try (Pipe pipe = Pipe.create(); Arena arena = Arena.ofShared()) {
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 100; i++) {
                    ring.submitRaw(sqe.nop(), i);
                    ring.submitAndWait(1);
                    assertEquals(1, ring.processCompletions(), "the NOP completed");
                }
                seen.clear();
                for (int i = 0; i < 3; i++) {
                    ring.submitRaw(sqe.read(pipe.readFd(), arena.allocate(1), -1), 1000 + i);
                    CompletableFuture<Void> waiter = CompletableFuture.runAsync(() -> ring.submitAndWait(1));
                    Thread.sleep(20);
                    assertTrue(!waiter.isDone(), "submitAndWait returned before the read completed");
                    pipe.write(new byte[] {(byte) i});
                    waiter.get(10, TimeUnit.SECONDS);
                    ring.processCompletions();
                    assertEquals(1, seen.size());
                    assertEquals(1000 + i, seen.get(0)[0]);
                    assertEquals(1, seen.get(0)[1]);
                    seen.clear();
                }
            }
        }
    }
}
