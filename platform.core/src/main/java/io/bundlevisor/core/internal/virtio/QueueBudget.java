package io.bundlevisor.core.internal.virtio;

/**
 * How many SQEs each queue of a worker may have in flight. Every queue keeps one in reserve and draws the rest from
 * a pool shared by all, so one busy queue cannot starve another, and the total never exceeds what the ring's
 * completion queue can hold. Worker thread only.
 */
final class QueueBudget {

    private final int[] inFlight;
    private int sharedFree;

    /** {@code total} SQEs for {@code queues} queues; {@code total} is at least {@code queues}. */
    QueueBudget(int queues, int total) {
        if (total < queues) {
            throw new IllegalArgumentException(total + " SQEs cannot reserve one for each of " + queues + " queues");
        }
        this.inFlight = new int[queues];
        this.sharedFree = total - queues;
    }

    /** Whether queue {@code q} may issue one more SQE now. */
    boolean canTake(int q) {
        return inFlight[q] == 0 || sharedFree > 0;
    }

    /** Queue {@code q} issues one: its reserve first, then the pool. */
    void take(int q) {
        if (inFlight[q] > 0) {
            sharedFree--;
        }
        inFlight[q]++;
    }

    /** One of queue {@code q}'s SQEs completed. */
    void release(int q) {
        inFlight[q]--;
        if (inFlight[q] > 0) {
            sharedFree++;
        }
    }

    int inFlight(int q) {
        return inFlight[q];
    }

    int total() {
        int n = 0;
        for (int i : inFlight) {
            n += i;
        }
        return n;
    }
}
