package io.bundlevisor.uring.internal;

import static io.bundlevisor.uring.internal.IoSlots.DONE;
import static io.bundlevisor.uring.internal.IoSlots.QUEUED;
import static io.bundlevisor.uring.internal.IoSlots.WAITING;

import java.util.BitSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

import io.bundlevisor.core.ring.CompletionHandler;
import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.IoMemory;
import io.bundlevisor.core.ring.Opcode;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingCounters;
import io.bundlevisor.core.ring.RingIoException;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.uring.host.SyscallException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link Ring} over one {@link IoUring}: the IO slot table, the overflow queue, and completion processing.
 *
 * <p>{@link #lock} guards the slot table, the overflow queue, the SQ tail and the counters. Completion is
 * single-threaded ({@link #completer}); it copies a batch of CQEs out, updates slots under the lock, then runs
 * handlers and releases dropped memory outside it, so a handler may submit again without deadlock.
 */
final class IoRing implements Ring {

    private static final Logger LOG = LoggerFactory.getLogger(IoRing.class);

    /** user_data of internal NOPs that only wake the completing thread; no IO id has this value. */
    static final long WAKEUP = -1L;
    private static final int BATCH = 256;
    private static final long CLOSE_WAIT_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final String name;
    private final IoUring uring;
    private final Consumer<IoRing> onClose;
    private final ReentrantLock lock = new ReentrantLock();
    private final ReentrantLock completer = new ReentrantLock();
    private final IoSlots slots;
    private final IntQueue overflow;

    // under lock
    private int sqTail;
    private int allocated;
    private int waiting;
    private long completed;
    private long dropped;
    private boolean closed;
    /** Set once the rings are unmapped; checked before touching them (the shared arena backs this up). */
    private volatile boolean unmapped;

    // completer only: one batch of CQEs, copied out of the ring
    private final long[] batchId = new long[BATCH];
    private final int[] batchRes = new int[BATCH];
    private final int[] batchFlags = new int[BATCH];
    private final CompletionHandler[] batchHandler = new CompletionHandler[BATCH];
    private final IoMemory[] batchRelease = new IoMemory[BATCH];
    private long handlerFailures;

    IoRing(String name, IoUring uring, Consumer<IoRing> onClose) {
        this.name = name;
        this.uring = uring;
        this.onClose = onClose;
        this.slots = new IoSlots(uring.sqEntries * 2);
        this.overflow = new IntQueue(uring.sqEntries);
        this.sqTail = uring.sqTail();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int submissionQueueSize() {
        return uring.sqEntries;
    }

    @Override
    public int completionQueueSize() {
        return uring.cqEntries;
    }

    // ---- submission ----

    @Override
    public long submit(Sqe sqe, IoMemory memory, CompletionHandler handler) {
        if (memory == null) {
            throw new NullPointerException("memory (use IoMemory.NONE for none)");
        }
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("ring " + name + " is closed");
            }
            long id = slots.allocate(sqe, memory, handler);
            int slot = (int) id;
            allocated++;
            if (overflow.isEmpty() && sqSpace() > 0) {
                writeSqe(slot);
            } else {
                // Keep submission order: once anything waits in overflow, newcomers queue behind it.
                slots.state[slot] = QUEUED;
                overflow.add(slot);
            }
            return id;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public CompletableFuture<Integer> submitAsync(Sqe sqe, IoMemory memory) {
        CompletableFuture<Integer> future = new CompletableFuture<>();
        Opcode op = sqe.opcode();
        long id = submit(sqe, memory, (io, res, flags) -> {
            if ((flags & CompletionHandler.F_MORE) != 0) {
                return;
            }
            if (res < 0) {
                future.completeExceptionally(new RingIoException(op, -res));
            } else {
                future.complete(res);
            }
        });
        future.whenComplete((r, t) -> {
            if (future.isCancelled()) {
                dropIfPending(id);
            }
        });
        return future;
    }

    /** Under lock: free SQ entries as the kernel sees them. */
    private int sqSpace() {
        return uring.sqEntries - (sqTail - uring.sqHeadAcquire());
    }

    /** Under lock: copies a slot's SQE into the submission queue and publishes the tail. */
    private void writeSqe(int slot) {
        IoSlots s = slots;
        uring.writeSqe(sqTail, s.opcode[slot].code(), s.sqeFlags[slot], s.fd[slot], s.off[slot], s.addr[slot],
                s.len[slot], s.opFlags[slot], s.id(slot));
        uring.sqTailRelease(++sqTail);
        s.state[slot] = WAITING;
        waiting++;
    }

    /** Under lock: moves overflowed IOs into the submission queue, in order, as far as it has room. */
    private void drainOverflow() {
        int space = sqSpace();
        while (space > 0 && !overflow.isEmpty()) {
            writeSqe(overflow.poll());
            space--;
        }
    }

    @Override
    public int flush() {
        requireMapped();
        lock.lock();
        try {
            drainOverflow();
        } finally {
            lock.unlock();
        }
        return enterSubmit();
    }

    /** Hands the kernel whatever the submission queue holds. Returns the count accepted. */
    private int enterSubmit() {
        while (true) {
            int pending = sqPending();
            if (pending == 0) {
                return 0;
            }
            int r = uring.enter(pending, 0, 0);
            if (r >= 0) {
                return r;
            }
            if (r == -Errno.EINTR) {
                continue;
            }
            if (r == -Errno.EBUSY || r == -Errno.EAGAIN) {
                return 0; // CQ backed up: the completing thread must reap first
            }
            throw enterFailed(r);
        }
    }

    private int sqPending() {
        // The tail only moves under the lock; a stale read here only under-counts, and whoever moved it flushes.
        return uring.sqTail() - uring.sqHeadAcquire();
    }

    @Override
    public void submitAndWait(int minCompletions) {
        if (minCompletions < 0 || minCompletions > uring.cqEntries) {
            throw new IllegalArgumentException("minCompletions must be 0.." + uring.cqEntries);
        }
        requireMapped();
        lock.lock();
        try {
            drainOverflow();
        } finally {
            lock.unlock();
        }
        while (true) {
            int pending = sqPending();
            boolean ready = cqReady() >= minCompletions;
            if (ready && pending == 0) {
                return;
            }
            int r = ready ? uring.enter(pending, 0, 0)
                    : uring.enter(pending, minCompletions, IoUringLayout.ENTER_GETEVENTS);
            if (r >= 0) {
                return;
            }
            if (r == -Errno.EINTR) {
                continue;
            }
            if (r == -Errno.EBUSY || r == -Errno.EAGAIN) {
                // The CQ (or the kernel's overflow list behind it) is full: let the kernel flush its overflow
                // list into the CQ, then return so the caller reaps before submitting more.
                uring.enter(0, 0, IoUringLayout.ENTER_GETEVENTS);
                return;
            }
            throw enterFailed(r);
        }
    }

    private int cqReady() {
        return uring.cqTailAcquire() - uring.cqHead();
    }

    @Override
    public void wakeup() {
        for (int attempt = 0; attempt < 1000; attempt++) {
            lock.lock();
            try {
                if (closed) {
                    return;
                }
                drainOverflow();
                if (sqSpace() > 0) {
                    uring.writeSqe(sqTail, Opcode.NOP.code(), 0, -1, 0, 0, 0, 0, WAKEUP);
                    uring.sqTailRelease(++sqTail);
                    break;
                }
            } finally {
                lock.unlock();
            }
            // The SQ is full of entries nobody handed over yet: hand them over, which makes room.
            if (enterSubmit() == 0) {
                Thread.onSpinWait();
            }
        }
        enterSubmit();
    }

    private void requireMapped() {
        if (unmapped) {
            throw new IllegalStateException("ring " + name + " is closed");
        }
    }

    private IllegalStateException enterFailed(int r) {
        return new IllegalStateException("ring " + name, new SyscallException("io_uring_enter", -r));
    }

    // ---- completion ----

    @Override
    public int processCompletions() {
        completer.lock();
        try {
            requireMapped();
            int total = 0;
            while (true) {
                int n = reapBatch();
                if (n == 0) {
                    return total;
                }
                total += n;
            }
        } finally {
            completer.unlock();
        }
    }

    /** Copies up to one batch of CQEs out, settles their slots under the lock, then calls back outside it. */
    private int reapBatch() {
        int head = uring.cqHead();
        int n = Math.min(uring.cqTailAcquire() - head, BATCH);
        if (n <= 0) {
            return 0;
        }
        for (int i = 0; i < n; i++) {
            batchId[i] = uring.cqeUserData(head + i);
            batchRes[i] = uring.cqeRes(head + i);
            batchFlags[i] = uring.cqeFlags(head + i);
        }
        uring.cqHeadRelease(head + n);

        String misuse = null;
        lock.lock();
        try {
            for (int i = 0; i < n; i++) {
                long id = batchId[i];
                if (id == WAKEUP) {
                    continue;
                }
                int slot = slots.slotOf(id);
                if (slot < 0 || slots.state[slot] != WAITING) {
                    misuse = "ring " + name + " got a completion for IO " + Long.toHexString(id)
                            + " that is not in flight (double completion or a foreign user_data)";
                    continue;
                }
                boolean last = (batchFlags[i] & CompletionHandler.F_MORE) == 0;
                if (slots.dropped[slot]) {
                    if (last) {
                        batchRelease[i] = slots.memory[slot];
                        finish(slot);
                    }
                } else if (slots.handler[slot] != null) {
                    batchHandler[i] = slots.handler[slot];
                    if (last) {
                        finish(slot); // ownership of the memory passes to the handler
                    }
                } else if (last) {
                    slots.result[slot] = batchRes[i];
                    slots.state[slot] = DONE;
                    waiting--;
                    completed++;
                }
            }
        } finally {
            lock.unlock();
        }

        for (int i = 0; i < n; i++) {
            CompletionHandler h = batchHandler[i];
            if (h != null) {
                batchHandler[i] = null;
                try {
                    h.completed(batchId[i], batchRes[i], batchFlags[i]);
                } catch (Throwable t) {
                    if (handlerFailures++ < 10) {
                        LOG.error("completion handler of ring {} failed", name, t);
                    }
                }
            }
            IoMemory m = batchRelease[i];
            if (m != null) {
                batchRelease[i] = null;
                release(m);
            }
        }
        if (misuse != null) {
            throw new IllegalStateException(misuse);
        }
        return n;
    }

    /** Under lock: a waiting IO reached its final completion and leaves the ring. */
    private void finish(int slot) {
        slots.release(slot);
        waiting--;
        allocated--;
        completed++;
    }

    private void release(IoMemory memory) {
        try {
            memory.release();
        } catch (Throwable t) {
            LOG.error("releasing the memory of a dropped IO on ring {} failed", name, t);
        }
    }

    // ---- taking, dropping, cancelling ----

    @Override
    public boolean isDone(long io) {
        lock.lock();
        try {
            return slots.state[live(io, "poll")] == DONE;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int take(long io) throws RingIoException {
        int res;
        Opcode op;
        lock.lock();
        try {
            int slot = live(io, "take");
            if (slots.state[slot] != DONE) {
                throw new IllegalStateException("IO " + Long.toHexString(io) + " on ring " + name
                        + " has not completed yet");
            }
            res = slots.result[slot];
            op = slots.opcode[slot];
            slots.release(slot);
            allocated--;
        } finally {
            lock.unlock();
        }
        return RingIoException.check(op, res);
    }

    @Override
    public void drop(long io) {
        IoMemory releaseNow = null;
        lock.lock();
        try {
            int slot = live(io, "drop");
            dropped++;
            if (slots.state[slot] == DONE) {
                releaseNow = slots.memory[slot];
                slots.release(slot);
                allocated--;
            } else {
                // The kernel may still write to the memory: keep it until the final completion.
                slots.dropped[slot] = true;
                slots.handler[slot] = null;
            }
        } finally {
            lock.unlock();
        }
        if (releaseNow != null) {
            release(releaseNow);
        }
    }

    /** Drops an IO unless it completed meanwhile (a cancelled future racing with its completion). */
    private void dropIfPending(long io) {
        lock.lock();
        try {
            int slot = slots.slotOf(io);
            if (slot < 0 || slots.dropped[slot]) {
                return;
            }
        } finally {
            lock.unlock();
        }
        try {
            drop(io);
        } catch (IllegalStateException raced) {
            // completed between the check and the drop: nothing left to drop
        }
    }

    /** Under lock: the slot of an IO the caller may still use, or a programming-error exception. */
    private int live(long io, String action) {
        int slot = slots.slotOf(io);
        if (slot < 0 || slots.dropped[slot]) {
            throw new IllegalStateException("cannot " + action + " IO " + Long.toHexString(io) + " on ring " + name
                    + ": it was already dropped or taken");
        }
        return slot;
    }

    @Override
    public void cancel(long io) {
        submit(new Sqe().cancel(io), IoMemory.NONE, (id, res, flags) -> { });
        flush();
    }

    // ---- diagnostics and tuning ----

    @Override
    public RingCounters counters() {
        lock.lock();
        try {
            return new RingCounters(allocated, overflow.size(), waiting, completed, dropped);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int[] setIoWorkerLimits(int bounded, int unbounded) {
        try {
            return uring.setIoWorkerLimits(bounded, unbounded);
        } catch (SyscallException e) {
            throw new IllegalStateException("ring " + name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void setIoWorkerAffinity(BitSet cpus) {
        try {
            uring.setIoWorkerAffinity(cpus);
        } catch (SyscallException e) {
            throw new IllegalStateException("ring " + name + ": " + e.getMessage(), e);
        }
    }

    boolean probe(Opcode opcode) throws SyscallException {
        return uring.probe(opcode.code());
    }

    int features() {
        return uring.features;
    }

    // ---- close ----

    @Override
    public void close() {
        int[] inFlight;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            inFlight = waitingSlots();
        } finally {
            lock.unlock();
        }
        completer.lock();
        try {
            failQueued();
            cancelAndAwait(inFlight);
            lock.lock();
            try {
                if (waiting > 0) {
                    // Never free memory the kernel may still write: leak it, loudly.
                    LOG.error("ring {} closed with {} IOs still in the kernel after {} s; their memory is leaked",
                            name, waiting, TimeUnit.NANOSECONDS.toSeconds(CLOSE_WAIT_NANOS));
                }
            } finally {
                lock.unlock();
            }
            wakeWaiter();
            unmapped = true;
            uring.close();
        } finally {
            completer.unlock();
            onClose.accept(this);
        }
    }

    /** A thread blocked in submitAndWait would sleep forever once the ring is gone: post it one completion. */
    private void wakeWaiter() {
        lock.lock();
        try {
            if (sqSpace() == 0) {
                return; // the SQ is full, so the kernel has work that completes and wakes any waiter anyway
            }
            uring.writeSqe(sqTail, Opcode.NOP.code(), 0, -1, 0, 0, 0, 0, WAKEUP);
            uring.sqTailRelease(++sqTail);
        } finally {
            lock.unlock();
        }
        enterSubmit();
    }

    private int[] waitingSlots() {
        IntQueue out = new IntQueue(16);
        for (int slot = 0; slot < slots.capacity(); slot++) {
            if (slots.state[slot] == WAITING) {
                out.add(slot);
            }
        }
        return out.toArray();
    }

    /** IOs still in the overflow queue never reached the kernel: they complete with ECANCELED here. */
    private void failQueued() {
        while (true) {
            int slot;
            CompletionHandler h;
            IoMemory m = null;
            long id;
            lock.lock();
            try {
                if (overflow.isEmpty()) {
                    return;
                }
                slot = overflow.poll();
                id = slots.id(slot);
                h = slots.dropped[slot] ? null : slots.handler[slot];
                if (slots.dropped[slot]) {
                    m = slots.memory[slot];
                }
                if (h == null && !slots.dropped[slot]) {
                    slots.result[slot] = -Errno.ECANCELED;
                    slots.state[slot] = DONE;
                    completed++;
                } else {
                    slots.release(slot);
                    allocated--;
                    completed++;
                }
            } finally {
                lock.unlock();
            }
            if (h != null) {
                h.completed(id, -Errno.ECANCELED, 0);
            }
            if (m != null) {
                release(m);
            }
        }
    }

    private void cancelAndAwait(int[] inFlight) {
        for (int slot : inFlight) {
            lock.lock();
            try {
                if (slots.state[slot] != WAITING) {
                    continue;
                }
                long target = slots.id(slot);
                while (sqSpace() == 0) {
                    lock.unlock();
                    try {
                        enterSubmit();
                        reapBatch();
                    } finally {
                        lock.lock();
                    }
                }
                uring.writeSqe(sqTail, Opcode.ASYNC_CANCEL.code(), 0, -1, 0, target, 0, 0, WAKEUP);
                uring.sqTailRelease(++sqTail);
            } finally {
                lock.unlock();
            }
        }
        long deadline = System.nanoTime() + CLOSE_WAIT_NANOS;
        while (currentlyWaiting() > 0 && System.nanoTime() < deadline) {
            enterSubmit();
            if (reapBatch() == 0) {
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private int currentlyWaiting() {
        lock.lock();
        try {
            return waiting;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        return "Ring[" + name + ", sq " + uring.sqEntries + ", cq " + uring.cqEntries + "]";
    }
}
