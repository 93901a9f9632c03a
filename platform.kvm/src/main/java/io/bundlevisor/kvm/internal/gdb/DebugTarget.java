package io.bundlevisor.kvm.internal.gdb;

import java.lang.foreign.MemorySegment;

import io.bundlevisor.uring.host.SyscallException;

/**
 * What the stub debugs: a partition's VPs, their registers, guest RAM, and the run control. Register and memory
 * calls are made only while every VP is stopped ({@link #stopAll()} returned, and no {@link #resume} since), from
 * the stub's thread. Implemented over a KVM partition by the partition package; tests give the stub a fake.
 */
public interface DebugTarget {

    int vpCount();

    /** Stops every VP (all-stop) and returns once none is running guest code; idempotent. */
    void stopAll();

    /**
     * Lets VPs run again: every one, or only {@code onlyVp} (while it single-steps). Call {@link #setGuestDebug}
     * first for each VP whose debug settings change.
     */
    void resume(int onlyVp);

    /** KVM_SET_GUEST_DEBUG for {@code vp}: {@code control} (KvmVcpu.GUESTDBG_*) and the eight debug registers. */
    void setGuestDebug(int vp, int control, long[] debugRegisters) throws SyscallException;

    /** The general registers, rip and rflags, in kvm_regs order (KvmVcpu.generalRegisters()). */
    long[] generalRegisters(int vp) throws SyscallException;

    void setGeneralRegisters(int vp, long[] values) throws SyscallException;

    /** Segment selectors and bases, control registers, EFER, by KvmVcpu.SPECIAL_*. */
    long[] specialRegisters(int vp) throws SyscallException;

    void setSegmentBases(int vp, long fsBase, long gsBase) throws SyscallException;

    /** The guest-physical address of linear {@code address} through {@code vp}'s paging, or -1 if unmapped. */
    long translate(int vp, long address) throws SyscallException;

    /** {@code length} bytes of guest RAM at guest-physical {@code gpa}, or null where that is not all RAM. */
    MemorySegment ram(long gpa, int length);

    /**
     * Whether data watchpoints (debug registers on writes or accesses) fire here: not on a software KVM, whose
     * emulator checks only execution breakpoints for the kernel-mode code it emulates.
     */
    boolean dataWatchpoints();

    /** Ends the VM, as gdb's {@code k} asks. */
    void kill();
}
