package io.bundlevisor.device.blk.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A disk queue's counters. The queue's worker thread is the only writer, so an update is a plain read-add-write; opaque stores
 * and loads (no fence on x86) make the values visible, untorn, to the shell reading them from another thread.
 */
final class BlkCounters {

    /** The counters at one moment, for {@code blk:list} and tests. */
    record Snapshot(long requests, long bytesRead, long bytesWritten, long flushes, long discards, long directIos,
            long errors, long inFlight) {
    }

    private static final VarHandle REQUESTS;
    private static final VarHandle BYTES_READ;
    private static final VarHandle BYTES_WRITTEN;
    private static final VarHandle FLUSHES;
    private static final VarHandle DISCARDS;
    private static final VarHandle DIRECT_IOS;
    private static final VarHandle ERRORS;
    private static final VarHandle IN_FLIGHT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            REQUESTS = l.findVarHandle(BlkCounters.class, "requests", long.class);
            BYTES_READ = l.findVarHandle(BlkCounters.class, "bytesRead", long.class);
            BYTES_WRITTEN = l.findVarHandle(BlkCounters.class, "bytesWritten", long.class);
            FLUSHES = l.findVarHandle(BlkCounters.class, "flushes", long.class);
            DISCARDS = l.findVarHandle(BlkCounters.class, "discards", long.class);
            DIRECT_IOS = l.findVarHandle(BlkCounters.class, "directIos", long.class);
            ERRORS = l.findVarHandle(BlkCounters.class, "errors", long.class);
            IN_FLIGHT = l.findVarHandle(BlkCounters.class, "inFlight", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") private long requests;
    @SuppressWarnings("unused") private long bytesRead;
    @SuppressWarnings("unused") private long bytesWritten;
    @SuppressWarnings("unused") private long flushes;
    @SuppressWarnings("unused") private long discards;
    @SuppressWarnings("unused") private long directIos;
    @SuppressWarnings("unused") private long errors;
    @SuppressWarnings("unused") private long inFlight;

    private void add(VarHandle h, long n) {
        h.setOpaque(this, (long) h.getOpaque(this) + n);
    }

    /** A chain was handed to the device. */
    void request() {
        add(REQUESTS, 1);
    }

    /** An IO was submitted; {@code direct} when through O_DIRECT. */
    void submitted(boolean direct) {
        add(IN_FLIGHT, 1);
        if (direct) {
            add(DIRECT_IOS, 1);
        }
    }

    /** A submitted IO completed, successfully or not. */
    void completed() {
        add(IN_FLIGHT, -1);
    }

    void read(long bytes) {
        add(BYTES_READ, bytes);
    }

    void written(long bytes) {
        add(BYTES_WRITTEN, bytes);
    }

    void flushed() {
        add(FLUSHES, 1);
    }

    /** A discard or write zeroes. */
    void discarded() {
        add(DISCARDS, 1);
    }

    /** A request answered IOERR or UNSUPP, or a chain that needed a reset. */
    void error() {
        add(ERRORS, 1);
    }

    /** The counters of several queues together; callable from any thread. */
    static Snapshot sum(BlkCounters[] each) {
        long[] t = new long[8];
        for (BlkCounters c : each) {
            Snapshot s = c.snapshot();
            t[0] += s.requests();
            t[1] += s.bytesRead();
            t[2] += s.bytesWritten();
            t[3] += s.flushes();
            t[4] += s.discards();
            t[5] += s.directIos();
            t[6] += s.errors();
            t[7] += s.inFlight();
        }
        return new Snapshot(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]);
    }

    /** Callable from any thread. */
    Snapshot snapshot() {
        return new Snapshot((long) REQUESTS.getOpaque(this), (long) BYTES_READ.getOpaque(this),
                (long) BYTES_WRITTEN.getOpaque(this), (long) FLUSHES.getOpaque(this), (long) DISCARDS.getOpaque(this),
                (long) DIRECT_IOS.getOpaque(this), (long) ERRORS.getOpaque(this), (long) IN_FLIGHT.getOpaque(this));
    }
}
