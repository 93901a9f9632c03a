package io.bundlevisor.device.net.internal;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Per-queue counters: packets, bytes (frames, headers not counted), drops (frames the guest or the host got wrong,
 * or that found no buffer large enough), errors (the host refused an IO), and receive buffers waiting for a packet.
 * Written by the worker only (release), read by anyone (acquire); counting allocates nothing.
 */
final class NetCounters {

    private static final int PACKETS = 0;
    private static final int BYTES = 1;
    private static final int DROPS = 2;
    private static final int ERRORS = 3;
    private static final int FIELDS = 4;

    private final AtomicLongArray values;
    private final AtomicIntegerArray pending;

    NetCounters(int queues) {
        this.values = new AtomicLongArray(queues * FIELDS);
        this.pending = new AtomicIntegerArray(queues);
    }

    void packet(int queue, int bytes) {
        add(queue, PACKETS, 1);
        add(queue, BYTES, bytes);
    }

    void drop(int queue) {
        add(queue, DROPS, 1);
    }

    void error(int queue) {
        add(queue, ERRORS, 1);
    }

    void pending(int queue, int buffers) {
        pending.setRelease(queue, buffers);
    }

    private void add(int queue, int field, long n) {
        int i = queue * FIELDS + field;
        values.setRelease(i, values.getPlain(i) + n);
    }

    int queues() {
        return pending.length();
    }

    /** One queue's counters now. */
    Queue queue(int q) {
        int i = q * FIELDS;
        return new Queue(values.getAcquire(i + PACKETS), values.getAcquire(i + BYTES),
                values.getAcquire(i + DROPS), values.getAcquire(i + ERRORS), pending.getAcquire(q));
    }

    /** What one queue counted. */
    record Queue(long packets, long bytes, long drops, long errors, int pending) {
    }
}
