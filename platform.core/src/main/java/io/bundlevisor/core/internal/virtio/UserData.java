package io.bundlevisor.core.internal.virtio;

/**
 * The 64-bit user data of a worker's raw ring entries: what the completion is for (an IO of a chain, a queue
 * notification, the interrupt's resample), the queue, and the chain's head (for a notification, the notifier's generation). Packing primitives keeps completion
 * free of allocation and lookups.
 */
final class UserData {

    static final int IO = 0;
    static final int NOTIFY = 1;
    static final int RESAMPLE = 2;
    /** The completion of a cancelled notifier poll's cancellation. */
    static final int CANCEL = 3;
    /** An IO a device submitted itself ({@link io.bundlevisor.core.virtio.QueueIo#submit}); head is its tag. */
    static final int DEVICE = 4;
    /** An event source a device registered ({@link WorkerEvents}); queue is its slot, head its generation. */
    static final int EVENT = 5;

    private UserData() {
    }

    static long of(int kind, int queue, int head) {
        return (long) kind << 40 | (long) (queue & 0xFFFF) << 16 | (head & 0xFFFF);
    }

    static int kind(long userData) {
        return (int) (userData >>> 40);
    }

    static int queue(long userData) {
        return (int) (userData >>> 16) & 0xFFFF;
    }

    static int head(long userData) {
        return (int) userData & 0xFFFF;
    }
}
