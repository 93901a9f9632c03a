package io.bundlevisor.core.virtio;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Follows one queue's chains from the available ring to the used ring, for a backend transport that must survive its
 * own crash (since 1.7): vhost-user's in-flight tracking (vhost-user.rst, "Inflight I/O tracking") records each
 * chain in memory the frontend keeps, and the next backend process takes the chains that were in flight again
 * before the available ring. Given in {@link VirtioBackend.QueueSetup}; a machine's queues have none.
 *
 * <p>Every method runs on the device's worker thread, in the order the worker takes and completes chains, and must
 * return at once and allocate nothing. Heads are below the queue size.
 */
@ConsumerType
public interface ChainTracker {

    /**
     * A chain to take before the available ring: the head of one a previous backend had in flight, oldest first;
     * -1 when none is left. The next available-ring index does not move for it.
     */
    int resubmit();

    /** The chain at {@code head} was taken (from the available ring or {@link #resubmit()}), before its IO starts. */
    void taken(int head);

    /**
     * The chain at {@code head}, the last one taken, goes back unused (the device could not use it now). True if it
     * came from {@link #resubmit()}, which must then return it again; false if it came from the available ring,
     * whose index moves back.
     */
    boolean returned(int head);

    /** The chain at {@code head} was put in the used ring; the driver sees it at the next {@link #published}. */
    void used(int head);

    /** The used ring's index was published as {@code usedIdx} (a release store): every chain used before is visible. */
    void published(int usedIdx);

    /**
     * Dirty-page logging (since 1.7; vhost-user.rst, "Migration"): the device may have written
     * {@code [hostOffset, hostOffset + length)} of {@link io.bundlevisor.core.partition.GuestRam#memory()}, one
     * device-writable descriptor of the chain about to be {@link #used}. Every writable descriptor is reported, whatever
     * length the device says it wrote: a page written but not counted must not be missed. Called after the bytes were
     * written. By default nothing.
     */
    default void wroteBuffer(long hostOffset, int length) {
    }

    /**
     * Dirty-page logging (since 1.7): the worker wrote bytes {@code [offset, offset + length)} of the used ring (virtio
     * 2.7.8; offsets from its start: an element, the index, the flags or avail_event), after writing them. By default
     * nothing.
     */
    default void wroteUsed(int offset, int length) {
    }
}
