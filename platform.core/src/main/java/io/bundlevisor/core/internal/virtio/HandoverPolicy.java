package io.bundlevisor.core.internal.virtio;

import java.time.Duration;
import java.util.concurrent.Future;

import io.bundlevisor.core.internal.task.TaskDriverSourceComponent;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.task.TaskDriver;


/**
 * How long a device waits between two bundles before its guest is told DEVICE_NEEDS_RESET (Config Admin, PID
 * {@code io.bundlevisor.virtio}, {@code handover.grace.seconds}), and the timer that ends such waits.
 */
final class HandoverPolicy implements AutoCloseable {

    /** The default grace period: an update of a bundle takes well under a second; a person's stop/start longer. */
    static final long DEFAULT_GRACE_MILLIS = 30_000;

    private volatile long graceMillis = DEFAULT_GRACE_MILLIS;
    /** Whose ring times the grace periods (an IORING_OP_TIMEOUT each): no timer thread of its own. */
    private TaskDriver timer;
    /** Outside OSGi: the rings for a task-driver source of its own, made at the first grace period; else null. */
    private final RingService rings;
    /** That source, once made; stopped by {@link #close()}. Guarded by this. */
    private TaskDriverSourceComponent ownSource;

    /** Grace periods timed on {@code timer}'s ring. */
    HandoverPolicy(TaskDriver timer) {
        this.timer = timer;
        this.rings = null;
    }

    /**
     * Outside OSGi: a task-driver source of its own (one thread and ring), made when the first grace period starts
     * (a service that never hands a device over has none) and stopped by {@link #close()}.
     */
    HandoverPolicy(RingService rings) {
        this.rings = rings;
    }

    private synchronized TaskDriver timer() {
        if (timer == null) {
            ownSource = new TaskDriverSourceComponent("single", rings);
            timer = ownSource.simple();
        }
        return timer;
    }

    /** Milliseconds a device waits for a successor; 0 or less: devices are not handed over. */
    long graceMillis() {
        return graceMillis;
    }

    void setGraceMillis(long millis) {
        graceMillis = millis;
    }

    /** Whether a device whose bundle goes waits for a successor. */
    boolean handsOver() {
        return graceMillis > 0;
    }

    /**
     * Runs {@code expiry} on the timer's thread once the grace period has passed, unless the returned future is
     * cancelled first (which cancels the timeout in the kernel).
     */
    Future<?> afterGrace(Runnable expiry) {
        java.util.concurrent.CompletableFuture<Void> grace = timer().sleep(Duration.ofMillis(Math.max(0, graceMillis)));
        grace.thenRun(expiry); // not returned: cancelling a dependent stage would not reach the timeout
        return grace;
    }

    @Override
    public synchronized void close() {
        if (ownSource != null) {
            ownSource.deactivate();
            ownSource = null;
            timer = null;
        }
    }
}
