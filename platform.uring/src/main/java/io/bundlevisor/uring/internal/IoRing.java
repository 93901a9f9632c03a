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
 *
 * <p>User data: an IO id (slot | generation &lt;&lt; 32, generation 1..2^31-1) is positive; a raw IO's user data
 * has the top bit set; {@link #WAKEUP} (all ones) marks the ring's internal NOPs.
 */
final class IoRing implements Ring {

    private static final Logger LOG = LoggerFactory.getLogger(IoRing.class);

    /** user_data of internal NOPs that only wake the completing thread; no IO id has this value. */
    static final long WAKEUP = -1L;
    /** Top bit of user_data: a raw IO, the rest is the caller's. */
    private static final long RAW = Long.MIN_VALUE;
    private static final int BATCH = 256;
    /** {@code IORING_ASYNC_CANCEL_ANY} (Linux 5.19): cancel every request, whatever its user data. */
    private static final int ASYNC_CANCEL_ANY = 1 << 2;
    private static final long CLOSE_WAIT_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** Waits that submit and wait in one call after submitting alone did not suffice; then it is tried again. */
    private static final int WAIT_TOGETHER_ROUNDS = 64;

    private final String name;
    private final IoUring uring;
    private final Consumer<IoRing> onClose;
    private final CompletionHandler rawHandler;
    private final BatchImpl batch = new BatchImpl();
    private final ReentrantLock lock = new ReentrantLock();
    private final ReentrantLock completer = new ReentrantLock();
    private final IoSlots slots;
    private final IntQueue overflow;

    // under lock
    private int sqTail;
    /** Free SQ entries known without asking the kernel; a lower bound, refreshed when it reaches 0. */
    private int space;
    private int allocated;
    /** Slot IOs in the submission queue or the kernel. */
    private int waiting;
    /** Raw IOs written to the submission queue since creation. */
    private long rawSubmitted;
    /** Overflow length, readable without the lock so that flushes skip the lock when nothing overflowed. */
    private volatile int queued;
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
    /**
     * Raw IOs finally completed since creation. Written by the completing thread alone, once per batch, so that a
     * batch of raw completions takes no lock; volatile for {@link #counters()}.
     */
    private volatile long rawCompleted;
    private long handlerFailures;
    /**
     * {@link #submitAndWait}'s choice, a hint the waiting thread keeps (a lost update only changes which of two
     * correct paths the next wait takes): while positive, entries are submitted in the same call that waits;
     * at 0, they are first submitted alone, in a critical downcall, and the wait is skipped if they completed.
     */
    private int waitTogether;

    IoRing(String name, IoUring uring, CompletionHandler rawHandler, Consumer<IoRing> onClose) {
        this.name = name;
        this.uring = uring;
        this.rawHandler = rawHandler;
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
        lock.lock();
        try {
            long id = submitLocked(sqe, memory, handler);
            publishTail();
            return id;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void submitRaw(Sqe sqe, long userData) {
        lock.lock();
        try {
            submitRawLocked(sqe, userData);
            publishTail();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Batch batch() {
        lock.lock();
        if (closed) {
            lock.unlock();
            throw new IllegalStateException("ring " + name + " is closed");
        }
        batch.holder = Thread.currentThread();
        return batch;
    }

    /** The ring's one batch: only the lock holder can have it open, so a single instance serves every batch. */
    private final class BatchImpl implements Batch {
        /** The thread that opened the batch and holds the lock; null while the batch is closed. */
        Thread holder;

        @Override
        public long submit(Sqe sqe, IoMemory memory, CompletionHandler handler) {
            checkHolder();
            return submitLocked(sqe, memory, handler);
        }

        @Override
        public void submitRaw(Sqe sqe, long userData) {
            checkHolder();
            submitRawLocked(sqe, userData);
        }

        @Override
        public void close() {
            if (holder == Thread.currentThread()) {
                holder = null;
                publishTail();
                lock.unlock();
            }
        }

        private void checkHolder() {
            // Only the lock holder sets the field, and clears it before unlocking: equal means it holds the lock.
            if (holder != Thread.currentThread()) {
                throw new IllegalStateException("batch of ring " + name + " used after close or from another thread");
            }
        }
    }

    /** Under lock: queues a slot IO. */
    private long submitLocked(Sqe sqe, IoMemory memory, CompletionHandler handler) {
        if (memory == null) {
            throw new NullPointerException("memory (use IoMemory.NONE for none)");
        }
        if (closed) {
            throw new IllegalStateException("ring " + name + " is closed");
        }
        long id = slots.allocate(sqe, memory, handler);
        int slot = (int) id;
        allocated++;
        if (overflow.isEmpty() && hasSpace()) {
            writeSlot(slot);
        } else {
            // Keep submission order: once anything waits in overflow, newcomers queue behind it.
            slots.state[slot] = QUEUED;
            overflow.add(slot);
            queued = overflow.size();
        }
        return id;
    }

    /**
     * Under lock: queues a raw IO. The common case (valid user data, room in the SQ, nothing overflowed, not a
     * cancellation) is kept small enough for the JIT to inline into a caller's loop; the rest is
     * {@link #submitRawSlow}.
     */
    private void submitRawLocked(Sqe sqe, long userData) {
        if (userData >= 0 && userData <= MAX_RAW_USER_DATA && rawHandler != null && space > 0 && overflow.isEmpty()
                && sqe.opcode() != Opcode.ASYNC_CANCEL && !closed) {
            uring.writeSqe(sqTail++, sqe.opcode().code(), sqe.flags(), sqe.fd(), sqe.off(), sqe.addr(), sqe.len(),
                    sqe.opFlags(), RAW | userData);
            space--;
            rawSubmitted++;
            return;
        }
        submitRawSlow(sqe, userData);
    }

    /** Under lock: queues a raw IO; one that does not fit borrows a slot to wait in overflow. */
    private void submitRawSlow(Sqe sqe, long userData) {
        if (rawHandler == null) {
            throw new IllegalStateException("ring " + name + " was created without a raw completion handler");
        }
        if (userData < 0 || userData > MAX_RAW_USER_DATA) {
            throw new IllegalArgumentException("raw user data must be 0.." + MAX_RAW_USER_DATA + ", got " + userData);
        }
        if (closed) {
            throw new IllegalStateException("ring " + name + " is closed");
        }
        // A raw cancellation names its target by the raw user data it was queued with, which the kernel sees tagged.
        long addr = sqe.opcode() == Opcode.ASYNC_CANCEL ? RAW | sqe.addr() : sqe.addr();
        if (overflow.isEmpty() && hasSpace()) {
            writeEntry(sqe.opcode().code(), sqe.flags(), sqe.fd(), sqe.off(), addr, sqe.len(), sqe.opFlags(),
                    RAW | userData);
            rawSubmitted++;
        } else {
            int slot = (int) slots.allocate(sqe, IoMemory.NONE, null);
            slots.addr[slot] = addr;
            slots.raw[slot] = true;
            slots.rawData[slot] = userData;
            slots.state[slot] = QUEUED;
            overflow.add(slot);
            queued = overflow.size();
        }
    }

    /** Under lock: whether the SQ has a free entry (asks the kernel only when the cached count ran out). */
    private boolean hasSpace() {
        return space > 0 || (space = sqSpace()) > 0;
    }

    /** Under lock: free SQ entries as the kernel sees them. */
    private int sqSpace() {
        return uring.sqEntries - (sqTail - uring.sqHeadAcquire());
    }

    /** Under lock, with {@link #hasSpace()} true: writes one entry; {@link #publishTail()} makes it visible. */
    private void writeEntry(int opcode, int flags, int fd, long off, long addr, int len, int opFlags, long userData) {
        uring.writeSqe(sqTail++, opcode, flags, fd, off, addr, len, opFlags, userData);
        space--;
    }

    /** Under lock: release-stores the SQ tail, publishing every entry written before it. */
    private void publishTail() {
        uring.sqTailRelease(sqTail);
    }

    /** Under lock, with {@link #hasSpace()} true: moves a slot's IO into the submission queue. */
    private void writeSlot(int slot) {
        IoSlots s = slots;
        if (s.raw[slot]) {
            writeEntry(s.opcode[slot].code(), s.sqeFlags[slot], s.fd[slot], s.off[slot], s.addr[slot], s.len[slot],
                    s.opFlags[slot], RAW | s.rawData[slot]);
            s.release(slot); // a raw IO completes without its slot
            rawSubmitted++;
            return;
        }
        writeEntry(s.opcode[slot].code(), s.sqeFlags[slot], s.fd[slot], s.off[slot], s.addr[slot], s.len[slot],
                s.opFlags[slot], s.id(slot));
        s.state[slot] = WAITING;
        waiting++;
    }

    /** Under lock: writes an internal entry (wakeup, cancel) if there is room; true if written. */
    private boolean writeInternal(int opcode, long addr, int opFlags, long userData) {
        if (!hasSpace()) {
            return false;
        }
        writeEntry(opcode, 0, -1, 0, addr, 0, opFlags, userData);
        publishTail();
        return true;
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

    /** Under lock: moves overflowed IOs into the submission queue, in order, as far as it has room. */
    private void drainOverflow() {
        while (!overflow.isEmpty() && hasSpace()) {
            writeSlot(overflow.poll());
        }
        queued = overflow.size();
        publishTail();
    }

    /** Drains the overflow queue when it holds anything; the common empty case takes no lock. */
    private void drainOverflowIfAny() {
        if (queued == 0) {
            return;
        }
        lock.lock();
        try {
            drainOverflow();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int flush() {
        requireMapped();
        drainOverflowIfAny();
        return enterSubmit();
    }

    /** Hands the kernel whatever the submission queue holds. Returns the count accepted. */
    private int enterSubmit() {
        while (true) {
            int pending = sqPending();
            if (pending == 0) {
                return 0;
            }
            int r = uring.submit(pending);
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
        drainOverflowIfAny();
        int first = sqPending();
        if (first > 0) {
            if (waitTogether > 0) {
                waitTogether--; // recently, submitting alone did not suffice: submit and wait in one call below
            } else {
                // Submit alone first, in the cheaper critical call: what completes as it is issued (NOPs, page
                // cache hits, ready sockets) often makes the wait needless.
                int r;
                do {
                    r = uring.submit(first);
                } while (r == -Errno.EINTR);
                if (r == -Errno.EBUSY || r == -Errno.EAGAIN) {
                    // As in the loop below (the same call with GETEVENTS fails the same way before it waits):
                    // flush the kernel's overflow into the CQ and return so that the caller reaps. Nothing was
                    // submitted; the next wait submits again.
                    uring.enter(0, 0, IoUringLayout.ENTER_GETEVENTS);
                    return;
                }
                if (r < 0) {
                    throw enterFailed(r);
                }
                if (cqReady() >= minCompletions && sqPending() == 0) {
                    return; // everything handed over, and enough completed: the wait would return at once
                }
                // The IO went on in the background: for a while, pay one system call per wait instead of two.
                waitTogether = WAIT_TOGETHER_ROUNDS;
            }
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
                if (writeInternal(Opcode.NOP.code(), 0, 0, WAKEUP)) {
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
            int n;
            do {
                n = reapBatch();
                total += n;
            } while (n >= BATCH); // a short batch emptied the CQ; no need to look again
            return total;
        } finally {
            completer.unlock();
        }
    }

    /**
     * Reaps up to about one batch of CQEs. Raw completions at the front of the CQ (a device queue's, and the
     * wakeups) are handed to the raw handler straight from the ring, each consumed (the head moved past it) before
     * its handler runs, so that a handler that reaps again never sees it twice; from the first slot IO on, the rest
     * goes through {@link #reapCopied()}.
     */
    private int reapBatch() {
        int tail = uring.cqTailAcquire();
        int head = uring.cqHead();
        int n = 0;
        long rawFinals = 0;
        while (tail - head > 0 && n < BATCH) {
            long id = uring.cqeUserData(head);
            if (id >= 0) {
                break; // a slot IO
            }
            int res = uring.cqeRes(head);
            int flags = uring.cqeFlags(head);
            uring.cqHeadRelease(head + 1);
            n++;
            if (id != WAKEUP) {
                if ((flags & CompletionHandler.F_MORE) == 0) {
                    rawFinals++;
                }
                callRaw(id & ~RAW, res, flags);
            }
            head = uring.cqHead(); // a handler may have reaped meanwhile
        }
        if (rawFinals != 0) {
            rawCompleted += rawFinals; // single writer: the completing thread
        }
        return n < BATCH && tail - head > 0 ? n + reapCopied() : n;
    }

    /**
     * Copies up to one batch of CQEs out, settles slot IOs under the lock (skipped when the batch has none),
     * then calls back outside it.
     */
    private int reapCopied() {
        int head = uring.cqHead();
        int n = Math.min(uring.cqTailAcquire() - head, BATCH);
        if (n <= 0) {
            return 0;
        }
        boolean slotIos = false;
        for (int i = 0; i < n; i++) {
            long id = uring.cqeUserData(head + i);
            batchId[i] = id;
            batchRes[i] = uring.cqeRes(head + i);
            batchFlags[i] = uring.cqeFlags(head + i);
            slotIos |= id >= 0;
        }
        uring.cqHeadRelease(head + n);
        String misuse = slotIos ? settleSlots(n) : null;

        long rawFinals = 0;
        for (int i = 0; i < n; i++) {
            long id = batchId[i];
            if (id < 0) {
                if (id != WAKEUP) {
                    if ((batchFlags[i] & CompletionHandler.F_MORE) == 0) {
                        rawFinals++;
                    }
                    callRaw(id & ~RAW, batchRes[i], batchFlags[i]);
                }
                continue;
            }
            CompletionHandler h = batchHandler[i];
            if (h != null) {
                batchHandler[i] = null;
                try {
                    h.completed(id, batchRes[i], batchFlags[i]);
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
        if (rawFinals != 0) {
            rawCompleted += rawFinals; // single writer: the completing thread
        }
        if (misuse != null) {
            throw new IllegalStateException(misuse);
        }
        return n;
    }

    private void callRaw(long userData, int res, int flags) {
        try {
            rawHandler.completed(userData, res, flags);
        } catch (Throwable t) {
            if (handlerFailures++ < 10) {
                LOG.error("raw completion handler of ring {} failed", name, t);
            }
        }
    }

    /** Under the completer: settles the batch's slot IOs under the lock; returns a misuse message or null. */
    private String settleSlots(int n) {
        String misuse = null;
        lock.lock();
        try {
            for (int i = 0; i < n; i++) {
                long id = batchId[i];
                if (id < 0) {
                    continue; // raw or wakeup
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
        return misuse;
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
            long raw = rawCompleted;
            return new RingCounters(allocated, overflow.size(), waiting + (rawSubmitted - raw), completed + raw,
                    dropped);
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

    /** Completions the kernel dropped because the CQ was full (never, with IORING_FEAT_NODROP). */
    int cqOverflow() {
        return uring.cqOverflow();
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

    /**
     * Queues a NOP that carries an arbitrary user_data, bypassing the slot table: the kernel then completes
     * something the ring did not issue. Tests use it to prove that a double or foreign completion is detected.
     */
    void submitRawNop(long userData) {
        lock.lock();
        try {
            if (!writeInternal(Opcode.NOP.code(), 0, 0, userData)) {
                throw new IllegalStateException("submission queue full");
            }
        } finally {
            lock.unlock();
        }
    }

    /** A thread blocked in submitAndWait would sleep forever once the ring is gone: post it one completion. */
    private void wakeWaiter() {
        lock.lock();
        try {
            // With the SQ full, the kernel has work whose completion wakes any waiter anyway.
            writeInternal(Opcode.NOP.code(), 0, 0, WAKEUP);
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
                queued = overflow.size();
                if (slots.raw[slot]) {
                    long data = slots.rawData[slot];
                    slots.release(slot); // raw IOs are never counted as allocated
                    completed++;
                    lock.unlock();
                    try {
                        rawHandler.completed(data, -Errno.ECANCELED, 0);
                    } finally {
                        lock.lock();
                    }
                    continue;
                }
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
                makeRoomLocked();
                writeInternal(Opcode.ASYNC_CANCEL.code(), target, 0, WAKEUP);
            } finally {
                lock.unlock();
            }
        }
        lock.lock();
        try {
            if (rawSubmitted - rawCompleted > 0) {
                // Raw IOs have no slots to name them: cancel everything still in the kernel at once.
                makeRoomLocked();
                writeInternal(Opcode.ASYNC_CANCEL.code(), 0, ASYNC_CANCEL_ANY, WAKEUP);
            }
        } finally {
            lock.unlock();
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

    /** Under lock (the completer's, during close): hands the SQ to the kernel until it has a free entry. */
    private void makeRoomLocked() {
        while (!hasSpace()) {
            lock.unlock();
            try {
                enterSubmit();
                reapBatch();
            } finally {
                lock.lock();
            }
        }
    }

    private long currentlyWaiting() {
        lock.lock();
        try {
            return waiting + (rawSubmitted - rawCompleted);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        return "Ring[" + name + ", sq " + uring.sqEntries + ", cq " + uring.cqEntries + "]";
    }
}
