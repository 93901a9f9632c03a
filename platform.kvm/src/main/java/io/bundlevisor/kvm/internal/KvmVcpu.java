package io.bundlevisor.kvm.internal;

import static io.bundlevisor.kvm.internal.KvmLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.Native;

/**
 * A vCPU file descriptor with its mapped {@code struct kvm_run}. Register buffers are allocated once, so the run
 * loop allocates nothing per exit. Not thread-safe: one VP thread owns it ({@link #requestExit()} excepted).
 */
public final class KvmVcpu implements AutoCloseable {

    // KVM_EXIT_*
    public static final int EXIT_IO = 2;
    public static final int EXIT_HLT = 5;
    public static final int EXIT_MMIO = 6;
    public static final int EXIT_SHUTDOWN = 8;
    public static final int EXIT_FAIL_ENTRY = 9;
    public static final int EXIT_INTR = 10;
    public static final int EXIT_INTERNAL_ERROR = 17;
    public static final int EXIT_SYSTEM_EVENT = 24;
    public static final int IO_OUT = 1;

    private final int id;
    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment run;
    private final MemorySegment regs;
    private final MemorySegment sregs;
    private final MemorySegment kickScratch;
    /** The native id of the thread that runs this vCPU, once it has called {@link #bindToCurrentThread()}. */
    private volatile int threadId;

    KvmVcpu(int id, int fd, int mmapSize) throws SyscallException {
        this.id = id;
        this.fd = fd;
        try {
            this.run = Native.mmapShared("kvm_run of vCPU " + id, fd, mmapSize, 0, true, arena);
        } catch (SyscallException | RuntimeException e) {
            arena.close();
            throw e;
        }
        this.regs = arena.allocate(REGS);
        this.sregs = arena.allocate(SREGS);
        this.kickScratch = arena.allocate(24, 8);
    }

    /**
     * Makes the calling thread this vCPU's runner: only it may call {@link #run()} from now on, and
     * {@link #kick()} interrupts it. Call once, on the VP thread, before the first run.
     */
    public void bindToCurrentThread() throws SyscallException {
        if (threadId != 0) {
            throw new IllegalStateException("vCPU " + id + " is already bound to a thread");
        }
        threadId = VcpuKick.prepareThread(fd);
    }

    /**
     * Gets the vCPU out of KVM_RUN soon, wherever its thread is: the current or next {@link #run()} returns
     * {@link #EXIT_INTR}. Callable from any thread.
     */
    public void kick() throws SyscallException {
        requestExit();
        int tid = threadId;
        if (tid != 0) {
            VcpuKick.kick(tid);
        }
    }

    public int id() {
        return id;
    }

    /**
     * KVM_RUN until the next exit; returns the exit reason ({@code EXIT_*}). EINTR and a requested immediate
     * exit come back as {@link #EXIT_INTR}.
     */
    public int run() throws SyscallException {
        int r = Native.ioctl(fd, KVM_RUN, 0);
        if (r < 0) {
            if (r == -Errno.EINTR || r == -Errno.EAGAIN) {
                run.set(JAVA_BYTE, RUN_IMMEDIATE_EXIT, (byte) 0);
                if (threadId != 0) {
                    VcpuKick.consume(kickScratch);
                }
                return EXIT_INTR;
            }
            throw new SyscallException("KVM_RUN on vCPU " + id, -r);
        }
        return run.get(JAVA_INT, RUN_EXIT_REASON);
    }

    /** Makes the next (or current, with a signal) KVM_RUN return at once: kvm_run.immediate_exit. */
    public void requestExit() {
        run.set(JAVA_BYTE, RUN_IMMEDIATE_EXIT, (byte) 1);
    }

    // ---- KVM_EXIT_IO ----

    public boolean ioIsOut() {
        return run.get(JAVA_BYTE, RUN_IO_DIRECTION) == IO_OUT;
    }

    public int ioSize() {
        return run.get(JAVA_BYTE, RUN_IO_SIZE);
    }

    public int ioPort() {
        return Short.toUnsignedInt(run.get(JAVA_SHORT, RUN_IO_PORT));
    }

    public int ioCount() {
        return run.get(JAVA_INT, RUN_IO_COUNT);
    }

    /**
     * The data area of the current IO exit: {@code size * count} bytes inside the kvm_run mapping. The offset
     * comes from the kernel; the slice is bounds-checked against the mapping all the same.
     */
    public MemorySegment ioData() {
        long offset = run.get(JAVA_LONG, RUN_IO_DATA_OFFSET);
        long length = (long) ioSize() * ioCount();
        return run.asSlice(offset, length);
    }

    // ---- other exits ----

    public int internalErrorSuberror() {
        return run.get(JAVA_INT, RUN_INTERNAL_SUBERROR);
    }

    public long failEntryReason() {
        return run.get(JAVA_LONG, RUN_FAIL_ENTRY_REASON);
    }

    public int systemEventType() {
        return run.get(JAVA_INT, RUN_SYSTEM_EVENT_TYPE);
    }

    // ---- registers ----

    /** KVM_GET_REGS into the vCPU's register buffer, which is returned (valid until the next call). */
    public MemorySegment getRegs() throws SyscallException {
        Native.check("KVM_GET_REGS on vCPU " + id, Native.ioctl(fd, KVM_GET_REGS, regs.address()));
        return regs;
    }

    /** KVM_SET_REGS from the register buffer (fill it through {@link #getRegs()} first). */
    public void setRegs() throws SyscallException {
        Native.check("KVM_SET_REGS on vCPU " + id, Native.ioctl(fd, KVM_SET_REGS, regs.address()));
    }

    public MemorySegment getSregs() throws SyscallException {
        Native.check("KVM_GET_SREGS on vCPU " + id, Native.ioctl(fd, KVM_GET_SREGS, sregs.address()));
        return sregs;
    }

    public void setSregs() throws SyscallException {
        Native.check("KVM_SET_SREGS on vCPU " + id, Native.ioctl(fd, KVM_SET_SREGS, sregs.address()));
    }

    public long rip() throws SyscallException {
        return getRegs().get(JAVA_LONG, REGS_RIP);
    }

    @Override
    public void close() {
        arena.close();
        Native.close(fd);
    }
}
