package io.bundlevisor.kvm.internal.partition;

/**
 * One VP's guard against an emulation failure the inject policy cannot get past: the guest's handler returning to
 * the very instruction again, forever. It trips when the same RIP fails with the same RSP {@link #REPEATS} times
 * in a row, each within {@link #WINDOW_NANOS} of the last. A different RSP is a different task or frame (every
 * process exit runs the same {@code fwait}, on its own kernel stack), which is progress. Owned by the VP thread.
 */
final class NoProgressGuard {

    static final int REPEATS = 16;
    static final long WINDOW_NANOS = 100_000_000L;

    private long rip = -1;
    private long rsp = -1;
    private long at;
    private int count;

    /** Records a failure at {@code rip} with {@code rsp} at {@code nanos}; true if it is no progress. */
    boolean stuck(long rip, long rsp, long nanos) {
        if (rip == this.rip && rsp == this.rsp && nanos - at < WINDOW_NANOS) {
            count++;
        } else {
            this.rip = rip;
            this.rsp = rsp;
            count = 1;
        }
        at = nanos;
        return count >= REPEATS;
    }
}
