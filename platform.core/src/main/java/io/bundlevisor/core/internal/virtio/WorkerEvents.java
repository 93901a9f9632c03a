package io.bundlevisor.core.internal.virtio;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

import io.bundlevisor.core.ring.CompletionHandler;
import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DeviceEvents;
import io.bundlevisor.core.virtio.QueueIo;

/**
 * The event sources of the device a worker runs ({@link DeviceEvents}), in slots on the worker's ring: a slot's raw
 * IO carries {@link UserData#EVENT}, the slot and its generation, so the completion of a source since closed (its
 * cancellation, or a last event) is told apart and dropped. Worker thread only; nothing allocates once a source is
 * registered.
 */
final class WorkerEvents implements DeviceEvents {

    private final Ring ring;
    private final Thread worker;
    private final Sqe sqe = new Sqe();
    private final Handler[] handlers = new Handler[MAX_SOURCES];
    private final Slot[] sources = new Slot[MAX_SOURCES];
    private final int[] generation = new int[MAX_SOURCES];
    private final int[] fd = new int[MAX_SOURCES];
    private final int[] events = new int[MAX_SOURCES];
    /** A timer's period in nanoseconds, 0 for a one-shot; -1 for a watch. */
    private final long[] period = new long[MAX_SOURCES];
    /** Each slot's {@code struct __kernel_timespec} (tv_sec, tv_nsec), read by the kernel at submission. */
    private final MemorySegment timespecs = Arena.ofAuto().allocate(16L * MAX_SOURCES, 8);
    /** Slots fired but not yet handled, and the result each last fired with. */
    private long pending;
    private final int[] result = new int[MAX_SOURCES];
    /** Slots whose multishot poll ended and must be armed again. */
    private long rearm;
    /** Slots that end once their handler has been called: a failed watch, a one-shot timer that fired. */
    private long ending;

    WorkerEvents(Ring ring, Thread worker) {
        this.ring = ring;
        this.worker = worker;
    }

    @Override
    public Source watch(int fd, int events, Handler handler) {
        if (fd < 0) {
            throw new IllegalArgumentException("cannot watch descriptor " + fd);
        }
        int s = open(handler);
        this.fd[s] = fd;
        this.events[s] = events;
        period[s] = -1;
        armPoll(s);
        return sources[s];
    }

    @Override
    public Source timer(Duration delay, Duration period, Handler handler) {
        if (delay.isNegative() || period.isNegative()) {
            throw new IllegalArgumentException("a timer's delay and period cannot be negative");
        }
        int s = open(handler);
        this.period[s] = Math.max(0, period.toNanos());
        armTimer(s, delay.toNanos());
        return sources[s];
    }

    private int open(Handler handler) {
        checkThread();
        java.util.Objects.requireNonNull(handler, "handler");
        for (int s = 0; s < MAX_SOURCES; s++) {
            if (handlers[s] == null) {
                handlers[s] = handler;
                sources[s] = new Slot(s, generation[s]);
                pending &= ~(1L << s);
                rearm &= ~(1L << s);
                ending &= ~(1L << s);
                return s;
            }
        }
        throw new IllegalStateException("a device may have at most " + MAX_SOURCES + " event sources open");
    }

    private void armPoll(int s) {
        sqe.pollAdd(fd[s], events[s], true);
        ring.submitRaw(sqe, UserData.of(UserData.EVENT, s, generation[s]));
    }

    private void armTimer(int s, long nanos) {
        MemorySegment ts = timespecs.asSlice(16L * s, 16);
        ts.set(JAVA_LONG, 0, nanos / 1_000_000_000L);
        ts.set(JAVA_LONG, 8, nanos % 1_000_000_000L);
        sqe.timeout(ts, 0);
        ring.submitRaw(sqe, UserData.of(UserData.EVENT, s, generation[s]));
    }

    /** A completion of slot {@code s}'s IO, from the worker's raw handler. */
    void completed(int s, int gen, int res, int flags) {
        if (s >= MAX_SOURCES || handlers[s] == null || gen != generation[s]) {
            return; // a source since closed: its cancellation, or an event that raced the close
        }
        if (period[s] < 0) {
            if (res < 0) {
                ending |= 1L << s; // the watch failed: it ends once its handler has been told
            } else if ((flags & CompletionHandler.F_MORE) == 0) {
                rearm |= 1L << s;
            }
            fire(s, res);
        } else {
            // A timer expires with -ETIME; -ECANCELED comes only after a close, whose generation no longer matches.
            boolean expired = res == -Errno.ETIME || res >= 0;
            fire(s, expired ? 0 : res);
            if (period[s] > 0 && expired) {
                armTimer(s, period[s]);
            } else {
                ending |= 1L << s;
            }
        }
    }

    private void fire(int s, int res) {
        pending |= 1L << s;
        result[s] = res;
    }

    /** Whether a source fired and waits for its handler. */
    boolean hasPending() {
        return pending != 0;
    }

    /**
     * Calls the handler of each source that fired (the worker pulls chains now); a watch whose poll ended is armed
     * again. Returns the first handler failure, which the worker turns into DEVICE_NEEDS_RESET, or null.
     */
    RuntimeException deliver(QueueIo io) {
        long fired = pending;
        pending = 0;
        RuntimeException failure = null;
        while (fired != 0) {
            int s = Long.numberOfTrailingZeros(fired);
            fired &= fired - 1;
            Handler h = handlers[s];
            if (h == null) {
                continue; // closed by an earlier handler of this round
            }
            try {
                h.fired(result[s], io);
            } catch (RuntimeException e) {
                failure = failure == null ? e : failure;
            }
            if ((ending & 1L << s) != 0 && handlers[s] == h) {
                retire(s);
            }
        }
        long again = rearm;
        rearm = 0;
        while (again != 0) {
            int s = Long.numberOfTrailingZeros(again);
            again &= again - 1;
            if (handlers[s] != null && period[s] < 0) {
                armPoll(s);
            }
        }
        return failure;
    }

    /** The device goes (reset, deactivation, handover): every source is cancelled and never fires again. */
    void closeAll() {
        for (int s = 0; s < MAX_SOURCES; s++) {
            close(s);
        }
    }

    /** Closes slot {@code s}: its IO, if still armed, is cancelled. */
    private void close(int s) {
        if (sources[s] == null) {
            return;
        }
        if ((ending & 1L << s) == 0) {
            sqe.cancel(UserData.of(UserData.EVENT, s, generation[s]));
            ring.submitRaw(sqe, UserData.of(UserData.CANCEL, s, 0));
        }
        retire(s);
    }

    /** Frees slot {@code s} (nothing of it armed any more): its generation moves on, its handle reads closed. */
    private void retire(int s) {
        sources[s].open = false;
        sources[s] = null;
        handlers[s] = null;
        generation[s] = (generation[s] + 1) & 0xFFFF;
        pending &= ~(1L << s);
        rearm &= ~(1L << s);
        ending &= ~(1L << s);
    }

    private void checkThread() {
        if (Thread.currentThread() != worker) {
            throw new IllegalStateException("device event sources are the worker thread's only");
        }
    }

    /** A source as the device sees it. */
    private final class Slot implements Source {
        private final int slot;
        private final int gen;
        private boolean open = true;

        Slot(int slot, int gen) {
            this.slot = slot;
            this.gen = gen;
        }

        @Override
        public boolean isOpen() {
            return open && generation[slot] == gen;
        }

        @Override
        public void close() {
            checkThread();
            if (isOpen()) {
                WorkerEvents.this.close(slot);
            }
            open = false;
        }
    }
}
