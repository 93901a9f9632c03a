package io.bundlevisor.core.ring;

/**
 * A snapshot of a ring's counters; readable at any time from any thread.
 *
 * @param allocated IOs the ring holds now: queued, waiting, or completed but not yet taken
 * @param queued    IOs in the overflow queue, not yet in the submission queue
 * @param waiting   IOs handed to the kernel (in the submission queue or in flight), not yet completed
 * @param completed IOs finally completed since the ring was created
 * @param dropped   IOs their issuer dropped since the ring was created
 */
public record RingCounters(long allocated, long queued, long waiting, long completed, long dropped) {
}
