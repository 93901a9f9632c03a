package io.bundlevisor.core.task;

/**
 * What a virtual processor is doing, as its partition reports it to the task drivers that target it (since 1.1).
 * Only {@link #RUNNING} counts as ready: work targeted at a VP that is stopped, halted or gone waits, or runs
 * without it (OpenVMM's {@code vm_task} target-VP readiness).
 */
public enum VpState {
    /** May be inside the hypervisor running guest code: the partition is started and no halt is pending. */
    RUNNING,
    /** Parked because the partition is stopped (or briefly, for device work that must not race the guest). */
    STOPPED,
    /** Parked by a halt the guest caused (power-off, reset, triple fault, an internal error) until it is cleared. */
    HALTED,
    /** The partition was closed: the VP never runs again. */
    GONE
}
