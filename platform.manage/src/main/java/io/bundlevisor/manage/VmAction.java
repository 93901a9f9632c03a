package io.bundlevisor.manage;

/** What {@link VmManager#apply} does to a VM (the partition's lifecycle). */
public enum VmAction {
    /** Start (or resume) every VP. */
    RESUME,
    /** Stop every VP; done when none runs. */
    PAUSE,
    /** Back to power-on; the VM must be paused. */
    RESET,
    /** Forget the pending halt, so started VPs run again. */
    CLEAR_HALT,
    /** Stop the VM and free it. */
    CLOSE
}
