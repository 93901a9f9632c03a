package io.bundlevisor.kvm.internal.partition;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemorySegment;
import java.util.BitSet;
import java.util.Optional;

import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.task.VpState;
import io.bundlevisor.kvm.internal.KvmVcpu;
import io.bundlevisor.kvm.internal.machine.IoBus;
import io.bundlevisor.kvm.internal.machine.Machine;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.CpuAffinity;
import io.bundlevisor.uring.sys.SyscallFilter;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One virtual processor: a platform thread (a blocked downcall would pin a virtual thread's carrier) that owns its
 * vCPU and loops in KVM_RUN, dispatching port and MMIO exits to the machine's buses and turning shutdown, system
 * events and errors into halt reasons. It parks only after KVM_RUN came back with EINTR, i.e. after KVM has
 * completed any port or MMIO access the last exit left pending (KVM API doc, "immediate_exit"), so a stopped VP's
 * state is always consistent for save. The exit path allocates nothing.
 */
final class VirtualProcessor {

    private static final Logger LOG = LoggerFactory.getLogger(VirtualProcessor.class);
    /** The longest x86 instruction. */
    private static final int INSTRUCTION_BYTES = 15;
    private static final long PAGE_SIZE = 4096;

    private final KvmPartition partition;
    private final Machine machine;
    private final KvmVcpu vcpu;
    private final int index;
    private final Thread thread;
    private final EmulationFailures emulation;
    private final NoProgressGuard guard = new NoProgressGuard();
    /** Guarded by the partition's lock: true while this VP may be inside KVM_RUN. */
    boolean active;
    /** Guarded by the partition's lock: the state last reported to the partition's VP group, if any. */
    VpState reported;

    VirtualProcessor(KvmPartition partition, Machine machine, int index, EmulationFailures emulation) {
        this.partition = partition;
        this.emulation = emulation;
        this.machine = machine;
        this.vcpu = machine.vcpus().get(index);
        this.index = index;
        this.thread = Thread.ofPlatform().name("vp-" + index + " " + machine.config().name()).unstarted(this::loop);
    }

    void startThread() {
        thread.start();
    }

    void kick() {
        try {
            vcpu.kick();
        } catch (SyscallException e) {
            // tgkill of our own live thread cannot fail; if it did, immediate_exit still stops the next entry.
            LOG.error("kicking VP {}: {}", index, e.getMessage());
        }
    }

    void join() throws InterruptedException {
        thread.join();
    }

    /**
     * Pins this thread to the CPUs the machine gives this VP ({@code MachineConfig.vpAffinity}), if any, and reports
     * the CPUs the kernel then allows it to the partition's VP group. A pin that fails (a cpuset without those CPUs)
     * is logged and the VP runs unpinned: the guest still runs, only slower than asked.
     */
    private void pin() {
        Optional<BitSet> cpus = machine.config().vpAffinity().cpus(index);
        if (cpus.isEmpty()) {
            return;
        }
        try {
            CpuAffinity.pinCurrentThread(cpus.get());
            partition.vpPinned(this, CpuAffinity.currentThreadCpus());
        } catch (SyscallException | IllegalArgumentException e) {
            LOG.warn("VP {} of {} runs unpinned: {}", index, machine.config().name(), e.getMessage());
        }
    }

    private void loop() {
        try {
            vcpu.bindToCurrentThread();
        } catch (SyscallException e) {
            // Without the kick this VP could never be stopped: do not enter KVM_RUN at all.
            partition.report(internalError("VP " + index + " could not prepare its thread: " + e.getMessage()));
            partition.vpDied(this);
            return;
        }
        // Pinning needs sched_setaffinity, which the filter refuses: pin first.
        pin();
        // The guest drives this thread from here on: confine it (after the kick's signal handler is in place).
        SyscallFilter.confine(SyscallFilter.Profile.VIRTUAL_PROCESSOR);
        boolean consistent = true;
        try {
            while (true) {
                if (consistent) {
                    if (!partition.awaitRunnable(this)) {
                        return;
                    }
                } else if (!partition.runnable()) {
                    vcpu.requestExit();
                }
                int exit = vcpu.run();
                consistent = exit == KvmVcpu.EXIT_INTR;
                if (!consistent) {
                    dispatch(exit);
                }
            }
        } catch (SyscallException | RuntimeException e) {
            partition.report(internalError(e.getMessage()));
            partition.vpDied(this);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            partition.vpDied(this);
        } finally {
            try {
                vcpu.unbindFromCurrentThread();
            } catch (SyscallException e) {
                LOG.error("VP {}: draining kicks at exit: {}", index, e.getMessage());
            }
        }
    }

    private void dispatch(int exit) throws SyscallException {
        switch (exit) {
            case KvmVcpu.EXIT_IO -> port();
            case KvmVcpu.EXIT_MMIO -> mmio();
            case KvmVcpu.EXIT_SHUTDOWN -> partition.report(tripleFault());
            case KvmVcpu.EXIT_SYSTEM_EVENT -> systemEvent(vcpu.systemEventType());
            case KvmVcpu.EXIT_INTERNAL_ERROR -> internalErrorExit();
            case KvmVcpu.EXIT_FAIL_ENTRY ->
                partition.report(internalError("KVM could not enter the guest, hardware reason 0x"
                        + Long.toHexString(vcpu.failEntryReason())));
            case KvmVcpu.EXIT_HLT -> partition.report(internalError("HLT exit with the in-kernel LAPIC"));
            case KvmVcpu.EXIT_DEBUG -> debugExit();
            default -> partition.report(internalError("unexpected KVM exit " + exit));
        }
    }

    /**
     * KVM_EXIT_INTERNAL_ERROR. An emulation failure under the inject policy does what the instruction would have
     * done ({@link EmulatedOutcome}) and the VP goes on, unless the instruction cannot be read or the guard sees no
     * progress; everything else halts with RIP and the bytes there.
     */
    private void internalErrorExit() throws SyscallException {
        int suberror = vcpu.internalErrorSuberror();
        DebugControl debug = partition.debug();
        if (suberror == KvmVcpu.INTERNAL_ERROR_EMULATION && debug != null && debug.softwareBreakpointHit(index, vcpu)) {
            return; // the debugger's INT3, which this KVM could not emulate: a breakpoint stop
        }
        if (suberror != KvmVcpu.INTERNAL_ERROR_EMULATION) {
            partition.report(internalError("KVM internal error, suberror " + suberror));
            return;
        }
        if (!emulation.injects()) {
            partition.report(internalError("KVM could not emulate the instruction (emulation failure; policy halt)"));
            return;
        }
        long rip = vcpu.rip();
        byte[] bytes = instructionBytes(rip);
        if (bytes.length == 0) {
            partition.report(internalError("KVM could not emulate the instruction, and its bytes are unreadable"));
            return;
        }
        if (guard.stuck(rip, vcpu.rsp(), System.nanoTime())) {
            partition.report(internalError("KVM could not emulate the instruction, and the guest came back to it "
                    + NoProgressGuard.REPEATS + " times without progress (policy inject)"));
            return;
        }
        EmulatedOutcome outcome = EmulatedOutcome.of(bytes[0], vcpu.cr0(), vcpu.fpuStatusWord());
        if (outcome.ripAdvance() != 0) {
            vcpu.setRip(rip + outcome.ripAdvance());
        }
        if (outcome.raises()) {
            vcpu.injectException(outcome.vector(), -1);
        }
        emulation.handled(index, rip, bytes, outcome);
    }

    /** KVM_EXIT_DEBUG: only the debugger asks for these (KVM_SET_GUEST_DEBUG). */
    private void debugExit() throws SyscallException {
        DebugControl debug = partition.debug();
        if (debug == null) {
            partition.report(internalError("a KVM debug exit without a debugger"));
            return;
        }
        debug.debugExit(index, vcpu);
    }

    /** KVM_EXIT_IO: each of {@code count} items of {@code size} bytes goes through the port bus in turn. */
    private void port() {
        IoBus bus = machine.ports();
        MemorySegment data = vcpu.runArea();
        long base = vcpu.ioDataOffset();
        int size = vcpu.ioSize();
        int count = vcpu.ioCount();
        int port = vcpu.ioPort();
        boolean out = vcpu.ioIsOut();
        for (int i = 0; i < count; i++) {
            long at = base + (long) i * size;
            if (out) {
                bus.write(port, size, load(data, at, size));
            } else {
                store(data, at, size, bus.read(port, size));
            }
        }
    }

    /** KVM_EXIT_MMIO: one access of 1, 2, 4 or 8 bytes. */
    private void mmio() {
        IoBus bus = machine.mmio();
        MemorySegment data = vcpu.mmioData();
        int size = vcpu.mmioLength();
        if (size != 1 && size != 2 && size != 4 && size != 8) {
            return; // KVM splits wider accesses; anything else is not ours to interpret
        }
        // (mmioData() is a slice made once per vCPU: nothing is allocated here.)
        if (vcpu.mmioIsWrite()) {
            bus.write(vcpu.mmioAddress(), size, load(data, 0, size));
        } else {
            store(data, 0, size, bus.read(vcpu.mmioAddress(), size));
        }
    }

    private void systemEvent(int type) throws SyscallException {
        switch (type) {
            case KvmVcpu.SYSTEM_EVENT_SHUTDOWN -> partition.report(new HaltReason.PowerOff());
            case KvmVcpu.SYSTEM_EVENT_RESET -> partition.report(new HaltReason.Reset());
            default -> partition.report(internalError("KVM system event " + type));
        }
    }

    private static long load(MemorySegment data, long at, int size) {
        return switch (size) {
            case 1 -> data.get(JAVA_BYTE, at) & 0xFFL;
            case 2 -> data.get(JAVA_SHORT, at) & 0xFFFFL;
            case 4 -> data.get(JAVA_INT, at) & 0xFFFF_FFFFL;
            default -> data.get(JAVA_LONG, at);
        };
    }

    private static void store(MemorySegment data, long at, int size, long value) {
        switch (size) {
            case 1 -> data.set(JAVA_BYTE, at, (byte) value);
            case 2 -> data.set(JAVA_SHORT, at, (short) value);
            case 4 -> data.set(JAVA_INT, at, (int) value);
            default -> data.set(JAVA_LONG, at, value);
        }
    }

    /** A triple-fault halt with RIP and, when RIP maps to guest RAM, the instruction bytes there. */
    private HaltReason tripleFault() {
        try {
            long rip = vcpu.rip();
            return new HaltReason.TripleFault(index, rip, instructionBytes(rip));
        } catch (SyscallException | RuntimeException e) {
            LOG.debug("VP {}: registers unreadable after a triple fault: {}", index, e.getMessage());
            return new HaltReason.TripleFault(index);
        }
    }

    /** An internal-error halt with RIP and, when RIP maps to guest RAM, the instruction bytes there. */
    private HaltReason internalError(String message) {
        long rip = -1;
        byte[] bytes = new byte[0];
        try {
            rip = vcpu.rip();
            bytes = instructionBytes(rip);
        } catch (SyscallException | RuntimeException e) {
            message = message + " (registers unreadable: " + e.getMessage() + ")";
        }
        return new HaltReason.InternalError(index, rip, bytes, message);
    }

    /**
     * Up to {@link #INSTRUCTION_BYTES} bytes at guest-virtual {@code rip}, through the vCPU's paging
     * (KVM_TRANSLATE) and the memory map, stopping at the end of rip's page (the next page may map elsewhere);
     * empty where rip is not mapped to RAM.
     */
    private byte[] instructionBytes(long rip) throws SyscallException {
        int length = (int) Math.min(INSTRUCTION_BYTES, PAGE_SIZE - (rip & (PAGE_SIZE - 1)));
        long gpa = vcpu.translate(rip);
        long offset = gpa < 0 ? -1 : machine.map().toHostOffset(gpa, length);
        return offset < 0 ? new byte[0] : machine.ram().segment().asSlice(offset, length).toArray(JAVA_BYTE);
    }

    int index() {
        return index;
    }
}
