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
    public static final int EXIT_UNKNOWN = 0;
    public static final int EXIT_EXCEPTION = 1;
    public static final int EXIT_IO = 2;
    public static final int EXIT_DEBUG = 4;
    public static final int EXIT_HLT = 5;
    public static final int EXIT_MMIO = 6;
    public static final int EXIT_IRQ_WINDOW_OPEN = 7;
    public static final int EXIT_SHUTDOWN = 8;
    public static final int EXIT_FAIL_ENTRY = 9;
    public static final int EXIT_INTR = 10;
    public static final int EXIT_NMI = 16;
    public static final int EXIT_INTERNAL_ERROR = 17;
    public static final int EXIT_SYSTEM_EVENT = 24;
    public static final int EXIT_X86_RDMSR = 29;
    public static final int EXIT_X86_WRMSR = 30;
    public static final int IO_OUT = 1;

    /** KVM_INTERNAL_ERROR_EMULATION: kvm_run.internal.suberror of an instruction KVM could not emulate. */
    public static final int INTERNAL_ERROR_EMULATION = 1;

    // KVM_SYSTEM_EVENT_*: kvm_run.system_event.type
    public static final int SYSTEM_EVENT_SHUTDOWN = 1;
    public static final int SYSTEM_EVENT_RESET = 2;
    public static final int SYSTEM_EVENT_CRASH = 3;

    // KVM_MP_STATE_*
    public static final int MP_STATE_RUNNABLE = 0;
    public static final int MP_STATE_UNINITIALIZED = 1;
    public static final int MP_STATE_INIT_RECEIVED = 2;
    public static final int MP_STATE_HALTED = 3;
    public static final int MP_STATE_SIPI_RECEIVED = 4;

    // MSR indices (Intel SDM vol. 4; the KVM ones: Documentation/virt/kvm/x86/msr.rst)
    public static final int MSR_IA32_TSC = 0x10;
    public static final int MSR_IA32_SYSENTER_CS = 0x174;
    public static final int MSR_IA32_SYSENTER_ESP = 0x175;
    public static final int MSR_IA32_SYSENTER_EIP = 0x176;
    public static final int MSR_IA32_MISC_ENABLE = 0x1A0;
    public static final int MSR_IA32_CR_PAT = 0x277;
    public static final int MSR_IA32_TSC_DEADLINE = 0x6E0;
    public static final int MSR_STAR = 0xC000_0081;
    public static final int MSR_LSTAR = 0xC000_0082;
    public static final int MSR_CSTAR = 0xC000_0083;
    public static final int MSR_SYSCALL_MASK = 0xC000_0084;
    public static final int MSR_KERNEL_GS_BASE = 0xC000_0102;
    public static final int MSR_TSC_AUX = 0xC000_0103;
    public static final int MSR_KVM_WALL_CLOCK_NEW = 0x4B56_4D00;
    public static final int MSR_KVM_SYSTEM_TIME_NEW = 0x4B56_4D01;
    public static final int MSR_KVM_ASYNC_PF_EN = 0x4B56_4D02;
    public static final int MSR_KVM_STEAL_TIME = 0x4B56_4D03;
    public static final int MSR_KVM_PV_EOI_EN = 0x4B56_4D04;

    /**
     * The MSRs {@link #saveState} should carry, before the caller keeps only those in {@link Kvm#msrIndexList()}.
     * KVM_SET_MSRS writes them in this order: the TSC first, so that later TSC-relative values land on the
     * restored clock, and the TSC deadline last, after the LAPIC is back (restoreState sets the LAPIC first).
     */
    public static final int[] DEFAULT_SAVED_MSRS = {
        MSR_IA32_TSC,            // the guest's TSC: its clocks and deadlines count from it
        MSR_IA32_SYSENTER_CS,    // 32-bit fast system calls (SYSENTER) entry: code segment,
        MSR_IA32_SYSENTER_ESP,   //   stack,
        MSR_IA32_SYSENTER_EIP,   //   and entry point
        MSR_STAR,                // SYSCALL/SYSRET segment selectors
        MSR_LSTAR,               // 64-bit SYSCALL entry point
        MSR_CSTAR,               // compatibility-mode SYSCALL entry point
        MSR_SYSCALL_MASK,        // RFLAGS bits SYSCALL clears (SFMASK)
        MSR_KERNEL_GS_BASE,      // the GS base SWAPGS swaps in: per-CPU data of the kernel or the user
        MSR_TSC_AUX,             // what RDTSCP/RDPID return: Linux keeps the CPU number there
        MSR_IA32_MISC_ENABLE,    // fast strings, MWAIT enable and friends, as the guest set them
        MSR_IA32_CR_PAT,         // the page attribute table: the guest's memory types
        MSR_KVM_WALL_CLOCK_NEW,  // kvm-clock: where the guest wants the wall clock,
        MSR_KVM_SYSTEM_TIME_NEW, //   and its per-vCPU time page (with the enable bit)
        MSR_KVM_ASYNC_PF_EN,     // async page faults: the guest's shared area and enable bits
        MSR_KVM_STEAL_TIME,      // steal-time accounting area
        MSR_KVM_PV_EOI_EN,       // paravirtual EOI area
        MSR_IA32_TSC_DEADLINE,   // a pending TSC-deadline timer: only restorable once the LAPIC is
    };

    // KVM_GUESTDBG_* (linux/kvm.h; the x86 ones from asm/kvm.h): kvm_guest_debug.control
    public static final int GUESTDBG_ENABLE = 0x1;
    public static final int GUESTDBG_SINGLESTEP = 0x2;
    public static final int GUESTDBG_USE_SW_BP = 0x1_0000;
    public static final int GUESTDBG_USE_HW_BP = 0x2_0000;
    /** No interrupt is injected while single-stepping (KVM_CAP_SET_GUEST_DEBUG2 lists it where supported). */
    public static final int GUESTDBG_BLOCKIRQ = 0x10_0000;
    /** kvm_guest_debug_arch.debugreg: DR0-DR3, (DR4, DR5 unused), DR6, DR7. */
    public static final int DEBUG_REGISTERS = 8;

    /** How many values {@link #generalRegisters()} has: kvm_regs' 16 general registers, rip and rflags. */
    public static final int GENERAL_REGISTERS = 18;
    // Indices of specialRegisters(): the segment selectors, the FS and GS bases, the control registers and EFER.
    public static final int SPECIAL_CS = 0;
    public static final int SPECIAL_SS = 1;
    public static final int SPECIAL_DS = 2;
    public static final int SPECIAL_ES = 3;
    public static final int SPECIAL_FS = 4;
    public static final int SPECIAL_GS = 5;
    public static final int SPECIAL_FS_BASE = 6;
    public static final int SPECIAL_GS_BASE = 7;
    public static final int SPECIAL_CR0 = 8;
    public static final int SPECIAL_CR2 = 9;
    public static final int SPECIAL_CR3 = 10;
    public static final int SPECIAL_CR4 = 11;
    public static final int SPECIAL_CR8 = 12;
    public static final int SPECIAL_EFER = 13;
    public static final int SPECIAL_REGISTERS = 14;

    /** The most MSRs one {@link #getMsrs}/{@link #setMsrs} call takes (the size of the vCPU's buffer). */
    public static final int MSRS_MAX = 256;

    private final int id;
    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment run;
    private final MemorySegment regs;
    private final MemorySegment sregs;
    private final MemorySegment kickScratch;
    /** The 8-byte data field of kvm_run.mmio, sliced once. */
    private final MemorySegment mmioData;
    /** A struct kvm_msrs with room for {@link #MSRS_MAX} entries. */
    private final MemorySegment msrs;
    private final MemorySegment mpState;
    private final MemorySegment translation;
    private final MemorySegment fpu;
    private final MemorySegment events;
    /** KVM_CAP_XSAVE2's size for this VM, or 0 where only KVM_GET_XSAVE (4 KiB) exists. */
    private final int xsaveSize;
    /** The native id of the thread that runs this vCPU, once it has called {@link #bindToCurrentThread()}. */
    private volatile int threadId;
    /** Orders kicks against {@link #unbindFromCurrentThread()}: no signal is sent to a thread that unbound. */
    private final Object kickLock = new Object();

    KvmVcpu(int id, int fd, int mmapSize, int xsaveSize) throws SyscallException {
        this.id = id;
        this.fd = fd;
        this.xsaveSize = xsaveSize;
        try {
            this.run = Native.mmapShared("kvm_run of vCPU " + id, fd, mmapSize, 0, true, arena);
        } catch (SyscallException | RuntimeException e) {
            arena.close();
            throw e;
        }
        this.regs = arena.allocate(REGS);
        this.sregs = arena.allocate(SREGS);
        this.kickScratch = arena.allocate(24, 8);
        this.mmioData = run.asSlice(RUN_MMIO_DATA, 8);
        this.msrs = arena.allocate(MSRS_ENTRIES + MSRS_MAX * MSR_ENTRY_SIZE, 8);
        this.mpState = arena.allocate(JAVA_INT);
        this.translation = arena.allocate(TRANSLATION);
        this.fpu = arena.allocate(FPU);
        this.events = arena.allocate(VCPU_EVENTS);
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
        synchronized (kickLock) {
            int tid = threadId;
            if (tid != 0) {
                VcpuKick.kick(tid);
            }
        }
    }

    /**
     * On the VP thread, before it ends: no kick is sent to it any more, and the ones already queued are consumed.
     * The kick is a real-time signal, so kicks queue rather than merge; one left pending when the JVM unblocks
     * signals for the exiting thread would be delivered with its default action, ending the process.
     */
    public void unbindFromCurrentThread() throws SyscallException {
        synchronized (kickLock) {
            if (threadId == 0) {
                return;
            }
            threadId = 0;
        }
        VcpuKick.consume(kickScratch);
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
        return run.asSlice(ioDataOffset(), (long) ioSize() * ioCount());
    }

    /**
     * Where the current IO exit's {@code size * count} bytes start in {@link #runArea()}, checked against the
     * mapping: for the exit loop, which reads and writes them in place without allocating a slice per exit.
     */
    public long ioDataOffset() {
        long offset = run.get(JAVA_LONG, RUN_IO_DATA_OFFSET);
        java.util.Objects.checkFromIndexSize(offset, (long) ioSize() * ioCount(), run.byteSize());
        return offset;
    }

    /** The whole kvm_run mapping (bounds-checked on every access). */
    public MemorySegment runArea() {
        return run;
    }

    // ---- KVM_EXIT_MMIO ----

    public long mmioAddress() {
        return run.get(JAVA_LONG, RUN_MMIO_PHYS_ADDR);
    }

    public boolean mmioIsWrite() {
        return run.get(JAVA_BYTE, RUN_MMIO_IS_WRITE) != 0;
    }

    /** 1 to 8 bytes. */
    public int mmioLength() {
        return run.get(JAVA_INT, RUN_MMIO_LEN);
    }

    /**
     * kvm_run.mmio.data, 8 bytes: the value written, or where a read's value goes (its first
     * {@link #mmioLength()} bytes) before the next {@link #run()}. The same slice every time.
     */
    public MemorySegment mmioData() {
        return mmioData;
    }

    // ---- other exits ----

    public int internalErrorSuberror() {
        return run.get(JAVA_INT, RUN_INTERNAL_SUBERROR);
    }

    /** kvm_run.internal.data: ndata u64s, at most 16 whatever the kernel wrote in ndata. */
    public MemorySegment internalErrorData() {
        int n = Math.clamp(Integer.toUnsignedLong(run.get(JAVA_INT, RUN_INTERNAL_NDATA)), 0, RUN_INTERNAL_DATA_MAX);
        return run.asSlice(RUN_INTERNAL_DATA, n * 8L);
    }

    public long failEntryReason() {
        return run.get(JAVA_LONG, RUN_FAIL_ENTRY_REASON);
    }

    public int systemEventType() {
        return run.get(JAVA_INT, RUN_SYSTEM_EVENT_TYPE);
    }

    /** KVM_EXIT_DEBUG: kvm_run.debug.arch.exception, the vector (1 for #DB, 3 for #BP). */
    public int debugExitException() {
        return run.get(JAVA_INT, RUN_DEBUG_EXCEPTION);
    }

    /** KVM_EXIT_DEBUG: kvm_run.debug.arch.pc. */
    public long debugExitPc() {
        return run.get(JAVA_LONG, RUN_DEBUG_PC);
    }

    /** KVM_EXIT_DEBUG: kvm_run.debug.arch.dr6 (which breakpoint hit, BS for a single step). */
    public long debugExitDr6() {
        return run.get(JAVA_LONG, RUN_DEBUG_DR6);
    }

    // ---- guest debugging ----

    /**
     * KVM_SET_GUEST_DEBUG: {@code control} ({@code GUESTDBG_*}) and the debug registers KVM loads for the guest
     * with {@link #GUESTDBG_USE_HW_BP} ({@link #DEBUG_REGISTERS} values: DR0-DR3, two unused, DR6, DR7). Call with
     * the vCPU out of KVM_RUN; it applies from the next entry.
     */
    public void setGuestDebug(int control, long[] debugRegisters) throws SyscallException {
        if (debugRegisters.length != DEBUG_REGISTERS) {
            throw new IllegalArgumentException(debugRegisters.length + " debug registers, not " + DEBUG_REGISTERS);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(GUEST_DEBUG);
            s.set(JAVA_INT, GUEST_DEBUG_CONTROL, control);
            for (int i = 0; i < DEBUG_REGISTERS; i++) {
                s.set(JAVA_LONG, GUEST_DEBUG_DEBUGREG + i * 8L, debugRegisters[i]);
            }
            Native.check("KVM_SET_GUEST_DEBUG 0x" + Integer.toHexString(control) + " on vCPU " + id,
                    Native.ioctl(fd, KVM_SET_GUEST_DEBUG, s.address()));
        }
    }

    /**
     * KVM_GET_REGS as {@link #GENERAL_REGISTERS} values in kvm_regs order: rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp,
     * r8-r15, rip, rflags.
     */
    public long[] generalRegisters() throws SyscallException {
        MemorySegment r = getRegs();
        long[] values = new long[GENERAL_REGISTERS];
        for (int i = 0; i < GENERAL_REGISTERS; i++) {
            values[i] = r.get(JAVA_LONG, REGS_RAX + i * 8L);
        }
        return values;
    }

    /** KVM_SET_REGS from {@link #GENERAL_REGISTERS} values in kvm_regs order. */
    public void setGeneralRegisters(long[] values) throws SyscallException {
        if (values.length != GENERAL_REGISTERS) {
            throw new IllegalArgumentException(values.length + " general registers, not " + GENERAL_REGISTERS);
        }
        for (int i = 0; i < GENERAL_REGISTERS; i++) {
            regs.set(JAVA_LONG, REGS_RAX + i * 8L, values[i]);
        }
        setRegs();
    }

    /**
     * KVM_GET_SREGS as {@link #SPECIAL_REGISTERS} values, indexed by the {@code SPECIAL_*} constants: the six
     * segment selectors, the FS and GS bases, CR0, CR2, CR3, CR4, CR8 and EFER.
     */
    public long[] specialRegisters() throws SyscallException {
        MemorySegment s = getSregs();
        long[] v = new long[SPECIAL_REGISTERS];
        v[SPECIAL_CS] = Short.toUnsignedLong(s.get(JAVA_SHORT, SREGS_CS + SEG_SELECTOR));
        v[SPECIAL_SS] = Short.toUnsignedLong(s.get(JAVA_SHORT, SREGS_SS + SEG_SELECTOR));
        v[SPECIAL_DS] = Short.toUnsignedLong(s.get(JAVA_SHORT, SREGS_DS + SEG_SELECTOR));
        v[SPECIAL_ES] = Short.toUnsignedLong(s.get(JAVA_SHORT, SREGS_ES + SEG_SELECTOR));
        v[SPECIAL_FS] = Short.toUnsignedLong(s.get(JAVA_SHORT, SREGS_FS + SEG_SELECTOR));
        v[SPECIAL_GS] = Short.toUnsignedLong(s.get(JAVA_SHORT, SREGS_GS + SEG_SELECTOR));
        v[SPECIAL_FS_BASE] = s.get(JAVA_LONG, SREGS_FS + SEG_BASE);
        v[SPECIAL_GS_BASE] = s.get(JAVA_LONG, SREGS_GS + SEG_BASE);
        v[SPECIAL_CR0] = s.get(JAVA_LONG, SREGS_CR0);
        v[SPECIAL_CR2] = s.get(JAVA_LONG, SREGS_CR2);
        v[SPECIAL_CR3] = s.get(JAVA_LONG, SREGS_CR3);
        v[SPECIAL_CR4] = s.get(JAVA_LONG, SREGS_CR4);
        v[SPECIAL_CR8] = s.get(JAVA_LONG, SREGS_CR8);
        v[SPECIAL_EFER] = s.get(JAVA_LONG, SREGS_EFER);
        return v;
    }

    /** Sets the FS and GS segment bases (KVM_GET_SREGS, then KVM_SET_SREGS with the new bases). */
    public void setSegmentBases(long fsBase, long gsBase) throws SyscallException {
        MemorySegment s = getSregs();
        s.set(JAVA_LONG, SREGS_FS + SEG_BASE, fsBase);
        s.set(JAVA_LONG, SREGS_GS + SEG_BASE, gsBase);
        setSregs();
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

    /**
     * KVM_TRANSLATE: the guest-physical address of {@code linearAddress} through the vCPU's current paging, or
     * -1 where it is not mapped.
     */
    public long translate(long linearAddress) throws SyscallException {
        translation.fill((byte) 0);
        translation.set(JAVA_LONG, TRANSLATION_LINEAR, linearAddress);
        Native.check("KVM_TRANSLATE on vCPU " + id, Native.ioctl(fd, KVM_TRANSLATE, translation.address()));
        return translation.get(JAVA_BYTE, TRANSLATION_VALID) != 0 ? translation.get(JAVA_LONG, TRANSLATION_PHYSICAL)
                : -1;
    }

    /** Sets RIP (KVM_GET_REGS, then KVM_SET_REGS with the new RIP). */
    public void setRip(long rip) throws SyscallException {
        getRegs().set(JAVA_LONG, REGS_RIP, rip);
        setRegs();
    }

    /** RSP, through KVM_GET_REGS. */
    public long rsp() throws SyscallException {
        return getRegs().get(JAVA_LONG, REGS_RSP);
    }

    /** CR0, through KVM_GET_SREGS. */
    public long cr0() throws SyscallException {
        return getSregs().get(JAVA_LONG, SREGS_CR0);
    }

    /** The x87 status word (FSW), through KVM_GET_FPU. */
    public int fpuStatusWord() throws SyscallException {
        Native.check("KVM_GET_FPU on vCPU " + id, Native.ioctl(fd, KVM_GET_FPU, fpu.address()));
        return Short.toUnsignedInt(fpu.get(JAVA_SHORT, FPU_FSW));
    }

    /**
     * Makes the guest take exception {@code vector} (with {@code errorCode} when it is not negative) on the next
     * KVM_RUN, as an exception already being delivered: KVM_GET_VCPU_EVENTS, then KVM_SET_VCPU_EVENTS with the
     * exception injected and the rest as read. The exception's saved RIP is RIP as it is now: for a trap
     * (#BP) set it past the instruction first. Allocates nothing.
     */
    public void injectException(int vector, int errorCode) throws SyscallException {
        if (vector < 0 || vector > 31) {
            throw new IllegalArgumentException("exception vector " + vector + " is not 0..31");
        }
        Native.check("KVM_GET_VCPU_EVENTS on vCPU " + id, Native.ioctl(fd, KVM_GET_VCPU_EVENTS, events.address()));
        events.set(JAVA_BYTE, EVENTS_EXCEPTION_INJECTED, (byte) 1);
        events.set(JAVA_BYTE, EVENTS_EXCEPTION_NR, (byte) vector);
        events.set(JAVA_BYTE, EVENTS_EXCEPTION_HAS_ERROR_CODE, (byte) (errorCode >= 0 ? 1 : 0));
        events.set(JAVA_BYTE, EVENTS_EXCEPTION_PENDING, (byte) 0);
        events.set(JAVA_INT, EVENTS_EXCEPTION_ERROR_CODE, Math.max(errorCode, 0));
        Native.check("KVM_SET_VCPU_EVENTS (exception " + vector + ") on vCPU " + id,
                Native.ioctl(fd, KVM_SET_VCPU_EVENTS, events.address()));
    }

    // ---- CPUID ----

    /** KVM_SET_CPUID2: the CPUID table the guest sees (before the first run; {@link CpuidPolicy} builds it). */
    public void setCpuid(CpuidEntries entries) throws SyscallException {
        try (Arena a = Arena.ofConfined()) {
            Native.check("KVM_SET_CPUID2 on vCPU " + id,
                    Native.ioctl(fd, KVM_SET_CPUID2, entries.toNative(a).address()));
        }
    }

    /** KVM_GET_CPUID2: the table set last, as KVM keeps it. */
    public CpuidEntries getCpuid() throws SyscallException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(CPUID2_ENTRIES + CpuidEntries.MAX_ENTRIES * CPUID_ENTRY_SIZE, 8);
            s.set(JAVA_INT, 0, CpuidEntries.MAX_ENTRIES);
            Native.check("KVM_GET_CPUID2 on vCPU " + id, Native.ioctl(fd, KVM_GET_CPUID2, s.address()));
            return CpuidEntries.fromNative(s);
        }
    }

    // ---- MSRs ----

    /** KVM_GET_MSRS: the values of {@code indices}; IllegalStateException naming the first one KVM refused. */
    public long[] getMsrs(int[] indices) throws SyscallException {
        fillMsrIndices(indices);
        int done = (int) Native.check("KVM_GET_MSRS on vCPU " + id, Native.ioctl(fd, KVM_GET_MSRS, msrs.address()));
        checkMsrCount("KVM_GET_MSRS", indices, done);
        long[] values = new long[indices.length];
        for (int i = 0; i < indices.length; i++) {
            values[i] = msrs.get(JAVA_LONG, MSRS_ENTRIES + i * MSR_ENTRY_SIZE + MSR_DATA);
        }
        return values;
    }

    /** KVM_SET_MSRS, in array order; IllegalStateException naming the first one KVM refused. */
    public void setMsrs(int[] indices, long[] values) throws SyscallException {
        if (values.length != indices.length) {
            throw new IllegalArgumentException(indices.length + " MSR indices but " + values.length + " values");
        }
        fillMsrIndices(indices);
        for (int i = 0; i < indices.length; i++) {
            msrs.set(JAVA_LONG, MSRS_ENTRIES + i * MSR_ENTRY_SIZE + MSR_DATA, values[i]);
        }
        int done = (int) Native.check("KVM_SET_MSRS on vCPU " + id, Native.ioctl(fd, KVM_SET_MSRS, msrs.address()));
        checkMsrCount("KVM_SET_MSRS", indices, done);
    }

    private void fillMsrIndices(int[] indices) {
        if (indices.length > MSRS_MAX) {
            throw new IllegalArgumentException(indices.length + " MSRs in one call, at most " + MSRS_MAX);
        }
        msrs.fill((byte) 0);
        msrs.set(JAVA_INT, 0, indices.length);
        for (int i = 0; i < indices.length; i++) {
            msrs.set(JAVA_INT, MSRS_ENTRIES + i * MSR_ENTRY_SIZE + MSR_INDEX, indices[i]);
        }
    }

    /** KVM_GET/SET_MSRS stop at the first MSR they cannot access and return how many they did. */
    private void checkMsrCount(String op, int[] indices, int done) {
        if (done != indices.length) {
            throw new IllegalStateException(op + " on vCPU " + id + " failed at MSR 0x"
                    + Integer.toHexString(indices[Math.min(done, indices.length - 1)]) + " (" + done + " of "
                    + indices.length + " done)");
        }
    }

    // ---- MP state ----

    /** KVM_GET_MP_STATE: {@code MP_STATE_*}. */
    public int getMpState() throws SyscallException {
        Native.check("KVM_GET_MP_STATE on vCPU " + id, Native.ioctl(fd, KVM_GET_MP_STATE, mpState.address()));
        return mpState.get(JAVA_INT, 0);
    }

    public void setMpState(int state) throws SyscallException {
        mpState.set(JAVA_INT, 0, state);
        Native.check("KVM_SET_MP_STATE " + state + " on vCPU " + id,
                Native.ioctl(fd, KVM_SET_MP_STATE, mpState.address()));
    }

    // ---- saved state ----

    /**
     * This vCPU's state as a blob ({@link VcpuState}), with the MSRs {@code msrIndices} (see
     * {@link #DEFAULT_SAVED_MSRS}). The VM needs its in-kernel irqchip (for the LAPIC). Take it with the vCPU
     * out of KVM_RUN, and after a run with {@link #requestExit()} set if its last exit was IO or MMIO: KVM
     * finishes such an instruction (RIP, a read's value) only on the next KVM_RUN, and that would be lost.
     *
     * <p>The FPU goes as XSAVE (KVM_GET_XSAVE2 at the size KVM_CAP_XSAVE2 gives, else KVM_GET_XSAVE), not
     * KVM_GET_FPU, which lacks the AVX, AVX-512 and PKRU state a Linux guest uses.
     *
     * <p>Order (as Firecracker's): the MP state first, because KVM_GET_MP_STATE runs the LAPIC's pending
     * INIT/SIPI, which may change the rest; the vCPU events last, as the other GETs may still move an event.
     */
    public byte[] saveState(int[] msrIndices) throws SyscallException {
        int mp = getMpState();
        byte[] regsBytes = getRegs().toArray(JAVA_BYTE);
        byte[] sregsBytes = getSregs().toArray(JAVA_BYTE);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment xsave = a.allocate(xsaveBytes(), 8);
            if (xsaveSize > 0) {
                Native.check("KVM_GET_XSAVE2 on vCPU " + id, Native.ioctl(fd, KVM_GET_XSAVE2, xsave.address()));
            } else {
                Native.check("KVM_GET_XSAVE on vCPU " + id, Native.ioctl(fd, KVM_GET_XSAVE, xsave.address()));
            }
            MemorySegment xcrs = a.allocate(XCRS);
            Native.check("KVM_GET_XCRS on vCPU " + id, Native.ioctl(fd, KVM_GET_XCRS, xcrs.address()));
            MemorySegment lapic = a.allocate(LAPIC);
            Native.check("KVM_GET_LAPIC on vCPU " + id, Native.ioctl(fd, KVM_GET_LAPIC, lapic.address()));
            int[] indices = msrIndices.clone();
            long[] values = getMsrs(indices);
            MemorySegment events = a.allocate(VCPU_EVENTS);
            Native.check("KVM_GET_VCPU_EVENTS on vCPU " + id,
                    Native.ioctl(fd, KVM_GET_VCPU_EVENTS, events.address()));
            return new VcpuState(id, regsBytes, sregsBytes, xsave.toArray(JAVA_BYTE), xcrs.toArray(JAVA_BYTE),
                    lapic.toArray(JAVA_BYTE), indices, values, events.toArray(JAVA_BYTE), mp).encode();
        }
    }

    /**
     * Sets a {@link #saveState} blob of this vCPU id. Set the CPUID first (the XSAVE and XCR0 features, and
     * some MSRs, are checked against it), and map guest memory (kvm-clock MSRs point into it).
     *
     * <p>Order (as Firecracker's and QEMU's, each for its reason): regs, because KVM_SET_REGS drops a pending
     * exception that the events put back; sregs (CR0/CR4/EFER, the APIC base) before the LAPIC; XSAVE then
     * XCRs; the LAPIC before the MSRs, because the TSC deadline MSR only takes with the LAPIC in deadline mode;
     * the events after regs; the MP state last, because KVM_SET_MP_STATE refuses INIT_RECEIVED and
     * SIPI_RECEIVED while an INIT is latched, which the events restore.
     */
    public void restoreState(byte[] blob) throws SyscallException {
        VcpuState s = VcpuState.decode(blob, id);
        int xsaveBytes = xsaveBytes();
        if (s.xsave().length > xsaveBytes) {
            throw new IllegalArgumentException("vCPU state blob: XSAVE area is " + s.xsave().length
                    + " bytes, this vCPU takes " + xsaveBytes);
        }
        MemorySegment.copy(s.regs(), 0, regs, JAVA_BYTE, 0, (int) REGS_SIZE);
        setRegs();
        MemorySegment.copy(s.sregs(), 0, sregs, JAVA_BYTE, 0, (int) SREGS_SIZE);
        setSregs();
        try (Arena a = Arena.ofConfined()) {
            // KVM_SET_XSAVE reads the vCPU's whole XSAVE size; a shorter (4 KiB) save is zero-padded.
            MemorySegment xsave = a.allocate(xsaveBytes, 8);
            MemorySegment.copy(s.xsave(), 0, xsave, JAVA_BYTE, 0, s.xsave().length);
            Native.check("KVM_SET_XSAVE on vCPU " + id, Native.ioctl(fd, KVM_SET_XSAVE, xsave.address()));
            Native.check("KVM_SET_XCRS on vCPU " + id,
                    Native.ioctl(fd, KVM_SET_XCRS, a.allocateFrom(JAVA_BYTE, s.xcrs()).address()));
            Native.check("KVM_SET_LAPIC on vCPU " + id,
                    Native.ioctl(fd, KVM_SET_LAPIC, a.allocateFrom(JAVA_BYTE, s.lapic()).address()));
            try {
                setMsrs(s.msrIndices(), s.msrValues());
            } catch (IllegalStateException refused) {
                // An MSR this KVM will not take (not one we save, or a value it refuses) is the blob's fault here.
                throw new IllegalArgumentException("vCPU state blob: " + refused.getMessage());
            }
            Native.check("KVM_SET_VCPU_EVENTS on vCPU " + id,
                    Native.ioctl(fd, KVM_SET_VCPU_EVENTS, a.allocateFrom(JAVA_BYTE, s.events()).address()));
        }
        setMpState(s.mpState());
    }

    private int xsaveBytes() {
        return Math.max(xsaveSize, XSAVE_LEGACY_SIZE);
    }

    @Override
    public void close() {
        arena.close();
        Native.close(fd);
    }
}
