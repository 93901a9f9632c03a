package io.bundlevisor.kvm.internal.gdb;

/**
 * Why the VPs stopped, as a stop reply tells gdb (GDB manual, "Stop Reply Packets"): {@code vp} stopped them, for
 * {@code cause}; {@code address} is the watched address of a watchpoint.
 */
public record Stop(int vp, Cause cause, long address) {

    /** What stopped a VP. */
    public enum Cause {
        /** A software breakpoint: RIP is at its address. */
        SOFTWARE_BREAKPOINT,
        /** A hardware execution breakpoint: RIP is at its address. */
        HARDWARE_BREAKPOINT,
        /** A data watchpoint: write, read or access. */
        WATCH_WRITE,
        WATCH_ACCESS,
        /** One instruction was single-stepped. */
        STEP,
        /** The debugger interrupted the guest (Ctrl-C), or attached. */
        INTERRUPT,
        /** A debug exit the stub did not ask for (a #DB of the guest's own, say). */
        OTHER
    }

    /** Signal 5 (SIGTRAP), or 2 (SIGINT) for an interrupt: what gdb prints as the stop's reason. */
    int signal() {
        return cause == Cause.INTERRUPT ? 2 : 5;
    }
}
