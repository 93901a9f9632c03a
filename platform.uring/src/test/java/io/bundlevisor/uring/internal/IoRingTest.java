package io.bundlevisor.uring.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import io.bundlevisor.core.ring.CompletionHandler;
import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.IoMemory;
import io.bundlevisor.core.ring.Opcode;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingCounters;
import io.bundlevisor.core.ring.RingIoException;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.HostFile;
import io.bundlevisor.uring.host.Pipe;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The ring on real io_uring and real files. Skipping is not an option: .ci/run needs io_uring. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class IoRingTest {

    private static RingServiceImpl service;

    @TempDir
    Path dir;

    private Ring ring;
    private final Sqe sqe = new Sqe();

    @BeforeAll
    static void service() {
        service = new RingServiceImpl();
        assertTrue(service.isAvailable(), () -> "io_uring must be available here: "
                + service.unavailabilityCause().orElse(""));
    }

    @BeforeEach
    void open() {
        ring = service.create("test", 8);
    }

    @AfterEach
    void close() {
        ring.close();
        assertFalse(service.rings().contains(ring), "a closed ring leaves the service's list");
    }

    /** Waits for and processes completions until {@code io} can be taken. */
    private int await(long io) throws RingIoException {
        while (!ring.isDone(io)) {
            ring.submitAndWait(1);
            ring.processCompletions();
        }
        return ring.take(io);
    }

    @Test
    void probeAnswersFromTheKernel() {
        for (Opcode op : Opcode.values()) {
            assertTrue(service.probe(op), op + " is supported on Linux 6.x");
        }
        assertEquals(8, ring.submissionQueueSize());
        assertTrue(ring.completionQueueSize() >= 16);
    }

    @Test
    void writeThenReadDirectRoundTrip() throws Exception {
        Path file = dir.resolve("disk.img");
        byte[] data = new byte[8192];
        new Random(42).nextBytes(data);
        try (HostFile f = HostFile.open(file, HostFile.READ_WRITE | HostFile.CREATE | HostFile.DIRECT);
                Arena arena = Arena.ofShared()) {
            f.truncate(1 << 20);
            MemorySegment out = arena.allocate(data.length, 4096);
            MemorySegment.copy(data, 0, out, JAVA_BYTE, 0, data.length);
            assertEquals(data.length, await(ring.submit(sqe.write(f.fd(), out, 4096), IoMemory.NONE, null)));

            MemorySegment in = arena.allocate(data.length, 4096);
            assertEquals(data.length, await(ring.submit(sqe.read(f.fd(), in, 4096), IoMemory.NONE, null)));
            assertArrayEquals(data, in.toArray(JAVA_BYTE));
        }
        byte[] onDisk = Files.readAllBytes(file);
        assertArrayEquals(data, java.util.Arrays.copyOfRange(onDisk, 4096, 4096 + data.length));
    }

    @Test
    void vectoredIoScattersAndGathers() throws Exception {
        try (HostFile f = HostFile.open(dir.resolve("v.img"), HostFile.READ_WRITE | HostFile.CREATE);
                Arena arena = Arena.ofShared()) {
            String[] parts = {"alpha-", "bravo-", "charlie"};
            MemorySegment iov = arena.allocate(16L * parts.length, 8);
            for (int i = 0; i < parts.length; i++) {
                MemorySegment b = arena.allocateFrom(parts[i]); // NUL-terminated; we use the length only
                iov.set(JAVA_LONG, 16L * i, b.address());
                iov.set(JAVA_LONG, 16L * i + 8, parts[i].length());
            }
            int total = String.join("", parts).length();
            assertEquals(total, await(ring.submit(sqe.writev(f.fd(), iov, parts.length, 0), IoMemory.NONE, null)));

            MemorySegment a = arena.allocate(10);
            MemorySegment b = arena.allocate(total - 10);
            MemorySegment riov = arena.allocate(32, 8);
            riov.set(JAVA_LONG, 0, a.address());
            riov.set(JAVA_LONG, 8, a.byteSize());
            riov.set(JAVA_LONG, 16, b.address());
            riov.set(JAVA_LONG, 24, b.byteSize());
            assertEquals(total, await(ring.submit(sqe.readv(f.fd(), riov, 2, 0), IoMemory.NONE, null)));
            String back = new String(a.toArray(JAVA_BYTE), StandardCharsets.US_ASCII)
                    + new String(b.toArray(JAVA_BYTE), StandardCharsets.US_ASCII);
            assertEquals("alpha-bravo-charlie", back);
        }
    }

    @Test
    void fsyncFdatasyncAndFallocate() throws Exception {
        try (HostFile f = HostFile.open(dir.resolve("s.img"), HostFile.READ_WRITE | HostFile.CREATE)) {
            assertEquals(0, await(ring.submit(sqe.fsync(f.fd(), false), IoMemory.NONE, null)));
            assertEquals(0, await(ring.submit(sqe.fsync(f.fd(), true), IoMemory.NONE, null)));
            assertEquals(0, await(ring.submit(sqe.fallocate(f.fd(), 0, 0, 65536), IoMemory.NONE, null)));
            assertEquals(65536, f.size());
        }
    }

    @Test
    void negativeResultBecomesTypedException() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment buf = arena.allocate(16);
            long io = ring.submit(sqe.read(999_999, buf, 0), IoMemory.NONE, null);
            RingIoException e = assertThrows(RingIoException.class, () -> await(io));
            assertEquals(Errno.EBADF, e.errno());
            assertEquals(Opcode.READ, e.operation());
            assertTrue(e.getMessage().contains("READ") && e.getMessage().contains("EBADF"), e.getMessage());
        }
    }

    @Test
    void submitAsyncCompletesFuturesAndMapsErrors() throws Exception {
        CompletableFuture<Integer> ok = ring.submitAsync(sqe.nop(), IoMemory.NONE);
        CompletableFuture<Integer> bad = ring.submitAsync(sqe.fsync(-1, false), IoMemory.NONE);
        while (!(ok.isDone() && bad.isDone())) {
            ring.submitAndWait(1);
            ring.processCompletions();
        }
        assertEquals(0, ok.get());
        ExecutionException e = assertThrows(ExecutionException.class, bad::get);
        assertEquals(Errno.EBADF, ((RingIoException) e.getCause()).errno());
    }

    @Test
    void overflowFourTimesTheQueueAllComplete() {
        int n = 4 * ring.submissionQueueSize();
        AtomicInteger done = new AtomicInteger();
        List<Long> seen = new ArrayList<>();
        CompletionHandler handler = (io, res, flags) -> {
            assertEquals(0, res);
            seen.add(io);
            done.incrementAndGet();
        };
        List<Long> ids = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids.add(ring.submit(sqe.nop(), IoMemory.NONE, handler));
        }
        RingCounters before = ring.counters();
        assertEquals(n, before.allocated());
        assertEquals(n - ring.submissionQueueSize(), before.queued(), "beyond the SQ, IOs wait in overflow");
        while (done.get() < n) {
            ring.submitAndWait(1);
            ring.processCompletions();
        }
        assertEquals(ids, seen, "overflow is flushed in submission order");
        RingCounters after = ring.counters();
        assertEquals(new RingCounters(0, 0, 0, n, 0), after);
    }

    @Test
    void aFullCompletionQueueLosesNothing() {
        // Four completion queues' worth of NOPs submitted without reaping: the kernel parks what does not fit
        // (IORING_FEAT_NODROP) and may refuse submissions with EBUSY meanwhile; flush and submitAndWait must
        // cope, and every IO must still complete exactly once.
        int n = 4 * ring.completionQueueSize();
        AtomicInteger done = new AtomicInteger();
        CompletionHandler handler = (io, res, flags) -> done.incrementAndGet();
        for (int i = 0; i < n; i++) {
            ring.submit(sqe.nop(), IoMemory.NONE, handler);
            ring.flush();
        }
        assertEquals(0, done.get(), "nothing reaped yet");
        while (done.get() < n) {
            ring.submitAndWait(1);
            ring.processCompletions();
        }
        assertEquals(n, done.get());
        assertEquals(new RingCounters(0, 0, 0, n, 0), ring.counters());
        assertEquals(0, ((IoRing) ring).cqOverflow(), "no completion was dropped by the kernel");
    }

    @Test
    void droppedIoKeepsItsMemoryUntilTheKernelCompletes() throws Exception {
        try (Pipe pipe = Pipe.create()) {
            Arena arena = Arena.ofShared();
            MemorySegment buf = arena.allocate(64);
            AtomicInteger releases = new AtomicInteger();
            long io = ring.submit(sqe.read(pipe.readFd(), buf, -1), () -> {
                releases.incrementAndGet();
                arena.close();
            }, null);
            ring.flush();
            ring.drop(io);
            assertEquals(1, ring.counters().dropped());
            // The read is still in the kernel: processing completions must not release the buffer.
            ring.processCompletions();
            assertEquals(0, releases.get());
            assertTrue(buf.scope().isAlive(), "the buffer stays owned by the ring");
            assertThrows(IllegalStateException.class, () -> ring.take(io), "taking a dropped IO");
            assertThrows(IllegalStateException.class, () -> ring.isDone(io), "polling a dropped IO");
            assertThrows(IllegalStateException.class, () -> ring.drop(io), "dropping twice");

            assertEquals(5, pipe.write("hello".getBytes(StandardCharsets.US_ASCII)));
            while (releases.get() == 0) {
                ring.submitAndWait(1);
                ring.processCompletions();
            }
            assertEquals(1, releases.get(), "released exactly once, after the CQE");
            assertFalse(buf.scope().isAlive());
            assertEquals(new RingCounters(0, 0, 0, 1, 1), ring.counters());
        }
    }

    @Test
    void takeRulesAreEnforced() throws Exception {
        long io = ring.submit(sqe.nop(), IoMemory.NONE, null);
        assertThrows(IllegalStateException.class, () -> ring.take(io), "not complete yet");
        assertEquals(0, await(io));
        assertThrows(IllegalStateException.class, () -> ring.take(io), "taken twice");
        assertThrows(IllegalStateException.class, () -> ring.drop(io), "dropped after taking");
        long done = ring.submit(sqe.nop(), IoMemory.NONE, null);
        while (!ring.isDone(done)) {
            ring.submitAndWait(1);
            ring.processCompletions();
        }
        AtomicInteger released = new AtomicInteger();
        long other = ring.submit(sqe.nop(), released::incrementAndGet, null);
        while (!ring.isDone(other)) {
            ring.submitAndWait(1);
            ring.processCompletions();
        }
        ring.drop(other);
        assertEquals(1, released.get(), "dropping a completed IO releases its memory at once");
        assertEquals(0, ring.take(done));
    }

    @Test
    void doubleAndForeignCompletionsAreDetected() throws Exception {
        IoRing raw = (IoRing) ring;
        long io = ring.submit(sqe.nop(), IoMemory.NONE, null);
        raw.submitRawNop(io); // the kernel will complete the same IO twice
        ring.flush();
        IllegalStateException twice = assertThrows(IllegalStateException.class, () -> {
            while (true) {
                ring.submitAndWait(1);
                ring.processCompletions();
            }
        });
        assertTrue(twice.getMessage().contains("not in flight"), twice.getMessage());
        assertEquals(0, ring.take(io), "the genuine completion was still recorded");

        raw.submitRawNop(0x1234_0000_0007L); // a user_data the ring never issued
        ring.flush();
        assertThrows(IllegalStateException.class, () -> {
            while (true) {
                ring.submitAndWait(1);
                ring.processCompletions();
            }
        });
        assertEquals(new RingCounters(0, 0, 0, 1, 0), ring.counters());
    }

    @Test
    void multishotPollOnEventFd() throws Exception {
        try (EventFd efd = EventFd.create()) {
            AtomicInteger events = new AtomicInteger();
            AtomicInteger finals = new AtomicInteger();
            long poll = ring.submit(sqe.pollAdd(efd.fd(), 0x001 /* POLLIN */, true), IoMemory.NONE,
                    (io, res, flags) -> {
                        if ((flags & CompletionHandler.F_MORE) != 0) {
                            assertTrue((res & 0x001) != 0, "POLLIN reported");
                            events.incrementAndGet();
                            try {
                                efd.drain();
                            } catch (Exception e) {
                                throw new IllegalStateException(e);
                            }
                        } else {
                            finals.incrementAndGet();
                        }
                    });
            ring.flush();
            for (int i = 1; i <= 3; i++) {
                efd.signal(1);
                while (events.get() < i) {
                    ring.submitAndWait(1);
                    ring.processCompletions();
                }
            }
            assertEquals(1, ring.counters().allocated(), "a multishot poll stays armed");
            ring.cancel(poll);
            while (finals.get() == 0) {
                ring.submitAndWait(1);
                ring.processCompletions();
            }
            assertEquals(3, events.get());
            assertEquals(0, ring.counters().allocated());
        }
    }

    @Test
    void manySubmittersOneCompleter() throws Exception {
        int threads = 4;
        int perThread = 5000;
        AtomicLong completed = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        CompletionHandler handler = (io, res, flags) -> completed.incrementAndGet();
        Thread completer = Thread.ofPlatform().name("completer").start(() -> {
            while (!stop.get()) {
                ring.submitAndWait(1);
                ring.processCompletions();
            }
        });
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> submitters = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            submitters.add(Thread.ofPlatform().name("submitter-" + t).start(() -> {
                Sqe mine = new Sqe();
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < perThread; i++) {
                    ring.submit(mine.nop(), IoMemory.NONE, handler);
                    if (i % 16 == 0) {
                        ring.flush();
                    }
                }
                ring.flush();
            }));
        }
        start.countDown();
        for (Thread t : submitters) {
            t.join();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (completed.get() < (long) threads * perThread && System.nanoTime() < deadline) {
            ring.wakeup();
            Thread.sleep(1);
        }
        stop.set(true);
        ring.wakeup();
        completer.join();
        assertEquals((long) threads * perThread, completed.get());
        RingCounters c = ring.counters();
        assertEquals(0, c.allocated());
        assertEquals((long) threads * perThread, c.completed());
    }

    @Test
    void wakeupReleasesABlockedWaiter() throws Exception {
        CountDownLatch returned = new CountDownLatch(1);
        Thread waiter = Thread.ofPlatform().start(() -> {
            ring.submitAndWait(1);
            returned.countDown();
        });
        assertFalse(returned.await(200, TimeUnit.MILLISECONDS), "nothing to complete: the waiter blocks");
        ring.wakeup();
        assertTrue(returned.await(10, TimeUnit.SECONDS));
        waiter.join();
        ring.processCompletions();
        assertEquals(0, ring.counters().completed(), "wakeups are not IOs");
    }

    @Test
    void closeCancelsInFlightAndReleasesDroppedMemory() throws Exception {
        Ring other = service.create("closing", 4);
        try (Pipe pipe = Pipe.create(); Arena arena = Arena.ofShared()) {
            AtomicInteger released = new AtomicInteger();
            long io = other.submit(sqe.read(pipe.readFd(), arena.allocate(8), -1), released::incrementAndGet, null);
            other.flush();
            other.drop(io);
            other.close();
            assertEquals(1, released.get(), "the cancelled read completed, then its memory was released");
            assertThrows(IllegalStateException.class, () -> other.submit(sqe.nop(), IoMemory.NONE, null));
        }
    }

    @Test
    void closeWakesABlockedCompleterWhichThenFailsCleanly() throws Exception {
        Ring other = service.create("closing-under-a-waiter", 4);
        java.util.concurrent.atomic.AtomicReference<Throwable> ended = new java.util.concurrent.atomic.AtomicReference<>();
        Thread completer = Thread.ofPlatform().start(() -> {
            try {
                while (true) {
                    other.submitAndWait(1);
                    other.processCompletions();
                }
            } catch (Throwable t) {
                ended.set(t);
            }
        });
        Thread.sleep(200);
        other.close();
        completer.join(10_000);
        assertFalse(completer.isAlive(), "the blocked completer was woken");
        assertTrue(ended.get() instanceof IllegalStateException, String.valueOf(ended.get()));
        assertTrue(ended.get().getMessage().contains("closed"), ended.get().getMessage());
    }

    @Test
    void ioWorkerLimitsAndAffinity() {
        int[] previous = ring.setIoWorkerLimits(2, 2);
        assertEquals(2, previous.length);
        assertArrayEquals(new int[] {2, 2}, ring.setIoWorkerLimits(0, 0), "0 reads the limits back");
        java.util.BitSet cpu0 = new java.util.BitSet();
        cpu0.set(0);
        ring.setIoWorkerAffinity(cpu0);
    }
}
