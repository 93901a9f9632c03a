package io.bundlevisor.core.internal.virtio;

import java.util.concurrent.Future;

/**
 * One device between two bundles, for a {@link Binding} or a {@link BackendBinding}: what its parked worker let go
 * of, the shelf its host resources wait on, the grace timer, and when each phase began (for the log line that says
 * where the time went). Guarded by the owning binding's lock.
 */
final class Handover {

    final VirtioWorker.Parked parked;
    private ResourceShelf shelf;
    private final Future<?> graceTimer;
    private final long started;
    private final long parkedAt;

    /**
     * @param started when the worker was told to park (the guest's IO stopped being taken then)
     */
    Handover(VirtioWorker.Parked parked, ResourceShelf shelf, long started, Future<?> graceTimer) {
        this.parked = parked;
        this.shelf = shelf;
        this.started = started;
        this.parkedAt = System.nanoTime();
        this.graceTimer = graceTimer;
    }

    /** Where the successor takes the resources from. */
    ResourceShelf shelf() {
        return shelf;
    }

    /** Milliseconds since the device was parked. */
    long millis() {
        return (System.nanoTime() - parkedAt) / 1_000_000;
    }

    /** How long the whole handover took and each phase, the take-over having begun at {@code takeStart}. */
    String took(long takeStart) {
        long now = System.nanoTime();
        return String.format("%d ms (quiesce and save %d ms, the bundle's restart %d ms, take-over %d ms)",
                (now - started) / 1_000_000, (parkedAt - started) / 1_000_000, (takeStart - parkedAt) / 1_000_000,
                (now - takeStart) / 1_000_000);
    }

    /** Gives the shelf away (to a device serving the next front-end); {@link #end} then closes nothing. */
    ResourceShelf handOffShelf() {
        ResourceShelf s = shelf;
        shelf = null;
        return s;
    }

    /**
     * Ends the handover: the timer stops and what the successor did not take is closed, said in the log only when a
     * successor took over (otherwise the fallback's own line says it all).
     */
    void end(boolean tookOver) {
        graceTimer.cancel(false);
        if (shelf != null) {
            if (tookOver) {
                shelf.close();
            } else {
                shelf.discard();
            }
            shelf = null;
        }
    }
}
