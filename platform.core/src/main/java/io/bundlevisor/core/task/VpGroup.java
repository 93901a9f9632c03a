package io.bundlevisor.core.task;

import java.util.BitSet;
import java.util.Optional;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The virtual processors of one partition as its task drivers see them (since 1.1). The partition creates it with
 * {@link TaskDriverSource#createVpGroup}, reports each VP's {@link VpState} as the VP starts, parks and halts, and
 * closes it with itself; drivers built from {@link #builder()} target its VPs, so that VP 0 of one machine is never
 * mistaken for VP 0 of another.
 *
 * <p>Reports come from VP threads: {@link #report} does no IO, takes no lock a driver could hold, and never runs a
 * waiter's code on the calling thread (waiters are completed on the source's default driver).
 */
@ProviderType
public interface VpGroup extends AutoCloseable {

    /** The partition's name. */
    String name();

    /** How many VPs the partition has; VP indexes are {@code 0..vpCount()-1}. */
    int vpCount();

    /** VP {@code vp}'s last reported state; {@link VpState#STOPPED} until the first report. */
    VpState state(int vp);

    /**
     * Records VP {@code vp}'s new state. Called by the partition, usually on the VP's own thread.
     *
     * @throws IllegalArgumentException for a VP outside {@code 0..vpCount()-1}
     */
    void report(int vp, VpState state);

    /**
     * Records the host CPUs VP {@code vp}'s thread is pinned to (since 1.1), or that it is not pinned (an empty
     * set). The partition calls it on the VP's thread once the thread has pinned itself. Drivers built with
     * {@link TaskDriverBuilder#runOnTarget runOnTarget} that target the VP move their threads next to it.
     *
     * @throws IllegalArgumentException for a VP outside {@code 0..vpCount()-1}, or a null set
     */
    void reportCpus(int vp, BitSet cpus);

    /**
     * The host CPUs VP {@code vp}'s thread is pinned to (since 1.1), a copy; empty while it is not pinned or has
     * not said.
     *
     * @throws IllegalArgumentException for a VP outside {@code 0..vpCount()-1}
     */
    Optional<BitSet> cpus(int vp);

    /**
     * Starts describing a driver whose target VP (given with {@link TaskDriverBuilder#targetVp}) is one of this
     * group's. A driver without a target VP built here is the same as one from the source's own builder.
     */
    TaskDriverBuilder builder();

    /** The partition is gone: every VP becomes {@link VpState#GONE}; drivers targeting them stay usable. Idempotent. */
    @Override
    void close();
}
