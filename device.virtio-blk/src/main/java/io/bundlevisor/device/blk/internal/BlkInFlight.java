package io.bundlevisor.device.blk.internal;

import java.util.Arrays;

/**
 * What each submitted chain's completion must remember, indexed by queue and head descriptor (a head is unique
 * among a queue's chains in flight and below the queue size): the request type, the result that means success,
 * and where the status byte goes. Sized at activation, so the data path allocates nothing.
 */
final class BlkInFlight {

    private static final byte FREE = -1;

    private byte[][] type = new byte[0][];
    private int[][] expected = new int[0][];
    private int[][] statusAt = new int[0][];

    /** Sizes the table for queues of these sizes (0 for a queue the driver did not enable). */
    void activate(int[] queueSizes) {
        int n = queueSizes.length;
        type = new byte[n][];
        expected = new int[n][];
        statusAt = new int[n][];
        for (int q = 0; q < n; q++) {
            type[q] = new byte[queueSizes[q]];
            Arrays.fill(type[q], FREE);
            expected[q] = new int[queueSizes[q]];
            statusAt[q] = new int[queueSizes[q]];
        }
    }

    /** Forgets everything (device reset: nothing is in flight). */
    void clear() {
        activate(new int[0]);
    }

    /** Whether {@code head} of {@code queue} has a slot. */
    boolean fits(int queue, int head) {
        return queue >= 0 && queue < type.length && head >= 0 && head < type[queue].length;
    }

    /** Whether the slot holds a submitted chain. */
    boolean holds(int queue, int head) {
        return fits(queue, head) && type[queue][head] != FREE;
    }

    void put(int queue, int head, int requestType, int expectedResult, int statusOffset) {
        type[queue][head] = (byte) requestType;
        expected[queue][head] = expectedResult;
        statusAt[queue][head] = statusOffset;
    }

    int type(int queue, int head) {
        return type[queue][head];
    }

    int expected(int queue, int head) {
        return expected[queue][head];
    }

    int statusAt(int queue, int head) {
        return statusAt[queue][head];
    }

    void free(int queue, int head) {
        type[queue][head] = FREE;
    }
}
