package io.bundlevisor.core.internal.virtio;

import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * How long a device waits between two bundles before its guest is told DEVICE_NEEDS_RESET (Config Admin, PID
 * {@code io.bundlevisor.virtio}, {@code handover.grace.seconds}), and the timer that ends such waits.
 */
final class HandoverPolicy implements AutoCloseable {

    /** The default grace period: an update of a bundle takes well under a second; a person's stop/start longer. */
    static final long DEFAULT_GRACE_MILLIS = 30_000;

    private volatile long graceMillis = DEFAULT_GRACE_MILLIS;
    private final ScheduledThreadPoolExecutor timer;

    HandoverPolicy() {
        timer = new ScheduledThreadPoolExecutor(1, r -> Thread.ofPlatform().name("virtio handover timer").daemon()
                .unstarted(r));
        timer.setRemoveOnCancelPolicy(true);
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

    /** Runs {@code expiry} once the grace period has passed, unless cancelled. */
    ScheduledFuture<?> afterGrace(Runnable expiry) {
        return timer.schedule(expiry, graceMillis, TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
