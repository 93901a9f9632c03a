package io.bundlevisor.kvm.internal.partition;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.partition.GdbEndpoint;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.kvm.internal.KvmVcpu;
import io.bundlevisor.kvm.internal.gdb.DebugTarget;
import io.bundlevisor.kvm.internal.gdb.GdbStub;
import io.bundlevisor.kvm.internal.gdb.Stop;
import io.bundlevisor.kvm.internal.machine.Machine;
import io.bundlevisor.uring.host.SyscallException;

/**
 * A partition as the gdb stub sees it ({@link DebugTarget}), and the VPs' side of debugging: a KVM_EXIT_DEBUG, or
 * an emulation failure at one of the stub's INT3s (a KVM that cannot emulate INT3 in kernel mode, such as a
 * software KVM, reports one instead of a #BP), stops every VP and tells the stub.
 */
final class DebugControl implements DebugTarget {

    private final KvmPartition partition;
    private final Machine machine;
    private final GdbStub stub;
    private final boolean softwareKvm;

    private DebugControl(KvmPartition partition, Machine machine, GdbEndpoint endpoint, boolean softwareKvm)
            throws IOException {
        this.partition = partition;
        this.machine = machine;
        this.softwareKvm = softwareKvm;
        this.stub = GdbStub.start(endpoint, this, partition.name());
    }

    /** @param softwareKvm whether KVM emulates kernel-mode code (no VMX/SVM): it fires no data watchpoints */
    static DebugControl start(KvmPartition partition, Machine machine, GdbEndpoint endpoint, boolean softwareKvm)
            throws PartitionException {
        try {
            return new DebugControl(partition, machine, endpoint, softwareKvm);
        } catch (IOException e) {
            throw new PartitionException(e.getMessage(), e);
        }
    }

    // ---- the VP threads' side ----

    /** KVM_EXIT_DEBUG on {@code vp}: a stop for the debugger, or a #BP the guest takes itself. */
    void debugExit(int vp, KvmVcpu vcpu) throws SyscallException {
        long pc = vcpu.debugExitPc();
        Stop stop = stub.decodeDebugExit(vp, vcpu.debugExitException(), pc, vcpu.debugExitDr6());
        if (stop == null) {
            // The guest's own INT3, seen because our breakpoints need KVM_GUESTDBG_USE_SW_BP: it traps after itself.
            vcpu.setRip(vcpu.rip() + 1);
            vcpu.injectException(3, -1);
            return;
        }
        stop(stop);
    }

    /**
     * After an emulation failure on {@code vp}: true (and the VM stops for the debugger) if RIP is at one of the
     * stub's INT3s.
     */
    boolean softwareBreakpointHit(int vp, KvmVcpu vcpu) throws SyscallException {
        if (!stub.anySoftwareBreakpoint()) {
            return false;
        }
        long rip = vcpu.rip();
        if (!stub.softwareBreakpointAt(rip)) {
            return false;
        }
        stop(new Stop(vp, Stop.Cause.SOFTWARE_BREAKPOINT, rip));
        return true;
    }

    /** Stops every VP for the debugger, unless they are stopping already (the VP then re-runs into its stop). */
    private void stop(Stop stop) {
        if (partition.debugStop()) {
            stub.stopped(stop);
        }
    }

    void halted(HaltReason reason) {
        stub.exited(reason.exitStatus());
    }

    void reset() {
        stub.reset();
    }

    void close() {
        stub.close();
    }

    // ---- DebugTarget ----

    @Override
    public int vpCount() {
        return partition.vpCount();
    }

    @Override
    public void stopAll() {
        partition.debugQuiesce();
    }

    @Override
    public void resume(int onlyVp) {
        partition.debugResume(onlyVp);
    }

    @Override
    public void setGuestDebug(int vp, int control, long[] debugRegisters) throws SyscallException {
        machine.vcpus().get(vp).setGuestDebug(control, debugRegisters);
    }

    @Override
    public long[] generalRegisters(int vp) throws SyscallException {
        return machine.vcpus().get(vp).generalRegisters();
    }

    @Override
    public void setGeneralRegisters(int vp, long[] values) throws SyscallException {
        machine.vcpus().get(vp).setGeneralRegisters(values);
    }

    @Override
    public long[] specialRegisters(int vp) throws SyscallException {
        return machine.vcpus().get(vp).specialRegisters();
    }

    @Override
    public void setSegmentBases(int vp, long fsBase, long gsBase) throws SyscallException {
        machine.vcpus().get(vp).setSegmentBases(fsBase, gsBase);
    }

    @Override
    public long translate(int vp, long address) throws SyscallException {
        return machine.vcpus().get(vp).translate(address);
    }

    @Override
    public MemorySegment ram(long gpa, int length) {
        // The memory map refuses any range that is not all RAM: nothing outside guest RAM is reachable from here.
        long offset = machine.map().toHostOffset(gpa, length);
        return offset < 0 ? null : machine.ram().segment().asSlice(offset, length);
    }

    @Override
    public boolean dataWatchpoints() {
        return !softwareKvm;
    }

    @Override
    public void kill() {
        long rip = -1;
        try {
            rip = machine.vcpus().get(0).rip();
        } catch (SyscallException | RuntimeException e) {
            // The halt names no RIP then.
        }
        partition.report(new HaltReason.InternalError(0, rip, new byte[0], "killed from gdb"));
    }
}
