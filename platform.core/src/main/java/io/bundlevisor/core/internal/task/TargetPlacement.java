package io.bundlevisor.core.internal.task;

import java.util.BitSet;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a {@code runOnTarget} driver's own executor thread next to its target VP: pinned to the CPUs the VP's thread
 * is pinned to, as the VP group last heard them. A JVM cannot run Java tasks on a thread inside {@code KVM_RUN}, so
 * "on the target" means beside it, on the same CPUs (sharing caches, and the VP's CPU budget). A VP that is not
 * pinned leaves the thread where it was; a driver retargeted from a pinned VP to an unpinned one goes back to the
 * CPUs its thread had before the first pin.
 *
 * <p>{@link #apply()} runs on the driver's thread only (posted there at start, at a retarget, and when the VP's CPUs
 * are reported), so its fields need no synchronisation.
 */
final class TargetPlacement {

    private static final Logger LOG = LoggerFactory.getLogger(TargetPlacement.class);

    private final Driver driver;
    private final Vps group;
    private final RingFactory placer;
    /** The thread's CPUs before its first pin; null until then. */
    private BitSet original;
    /** The CPUs this placement pinned the thread to; null while it is where it started. */
    private BitSet applied;

    TargetPlacement(Driver driver, Vps group, RingFactory placer) {
        this.driver = driver;
        this.group = group;
        this.placer = placer;
    }

    /** Pins the calling thread, the driver's, next to the driver's current target VP; see the class comment. */
    void apply() {
        OptionalInt vp = driver.targetVp();
        BitSet wanted = vp.isPresent() ? group.cpus(vp.getAsInt()).orElse(null) : null;
        if (Objects.equals(wanted, applied)) {
            return;
        }
        if (wanted == null) {
            if (original != null && placer.pinCurrentThread(original)) {
                LOG.debug("{}: back on CPUs {} (VP {} is not pinned)", driver.name(), original, vp);
            }
            applied = null;
            return;
        }
        if (original == null) {
            Optional<BitSet> now = placer.currentThreadCpus();
            original = now.orElse(null);
        }
        try {
            if (placer.pinCurrentThread(wanted)) {
                applied = wanted;
                LOG.debug("{}: pinned to CPUs {}, next to VP {}", driver.name(), wanted, vp.getAsInt());
            }
        } catch (IllegalArgumentException e) {
            // Not for CPUs a VP thread pinned itself to; only a hand-made report can name CPUs the host lacks.
            LOG.warn("{}: not pinned next to VP {}: {}", driver.name(), vp.getAsInt(), e.getMessage());
        }
    }
}
