package io.bundlevisor.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.Native;

/**
 * Gets a vCPU thread out of KVM_RUN without a signal handler (the JVM owns signal handling).
 *
 * <p>The VP thread blocks {@link #SIGNAL} for itself, and tells KVM (KVM_SET_SIGNAL_MASK) to unblock it only while
 * inside KVM_RUN. A kick sets {@code kvm_run.immediate_exit} (for a thread that is not in KVM_RUN yet) and sends
 * the signal to that thread with tgkill: inside KVM_RUN the pending signal makes KVM return EINTR; outside it the
 * signal stays blocked and pending. Either way the VP thread consumes it with a zero-timeout rt_sigtimedwait, so
 * it is never delivered to a handler. (The scheme QEMU uses for its vCPU threads.)
 *
 * <p>System call numbers are x86_64's, like the rest of this bundle.
 */
final class VcpuKick {

    /** glibc's SIGRTMIN + 10: not used by glibc (32, 33) nor by HotSpot. */
    static final int SIGNAL = 44;

    private static final long SYS_GETPID = 39;
    private static final long SYS_RT_SIGPROCMASK = 14;
    private static final long SYS_RT_SIGTIMEDWAIT = 128;
    private static final long SYS_GETTID = 186;
    private static final long SYS_TGKILL = 234;
    private static final int SIG_BLOCK = 0;
    /** The kernel's sigset_t is 64 bits on x86_64 (not glibc's 1024-bit one). */
    private static final long KERNEL_SIGSET_SIZE = 8;
    /** _IOW(KVMIO, 0x8b, struct kvm_signal_mask): a u32 length, then the kernel sigset. */
    private static final long KVM_SET_SIGNAL_MASK = 0x4004AE8BL;

    private static final long MASK = 1L << (SIGNAL - 1);

    private VcpuKick() {
    }

    /**
     * On the VP thread, before its first KVM_RUN: blocks the kick signal for this thread and has KVM unblock it
     * during KVM_RUN. Returns this thread's id, for {@link #kick(int)}.
     */
    static int prepareThread(int vcpuFd) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment set = arena.allocateFrom(JAVA_LONG, MASK);
            MemorySegment old = arena.allocate(JAVA_LONG);
            Native.check("rt_sigprocmask", Native.syscall(SYS_RT_SIGPROCMASK, SIG_BLOCK, set.address(),
                    old.address(), KERNEL_SIGSET_SIZE, 0, 0));
            // During KVM_RUN: the thread's previous mask, without the kick signal.
            MemorySegment kvmMask = arena.allocate(4 + KERNEL_SIGSET_SIZE, 8);
            kvmMask.set(JAVA_INT, 0, (int) KERNEL_SIGSET_SIZE);
            kvmMask.set(JAVA_LONG.withByteAlignment(4), 4, old.get(JAVA_LONG, 0) & ~MASK);
            Native.check("KVM_SET_SIGNAL_MASK", Native.ioctl(vcpuFd, KVM_SET_SIGNAL_MASK, kvmMask.address()));
            return (int) Native.check("gettid", Native.syscall(SYS_GETTID, 0, 0, 0, 0, 0, 0));
        }
    }

    /** Sends the kick signal to thread {@code tid} of this process. Callable from any thread. */
    static void kick(int tid) throws SyscallException {
        long pid = Native.syscall(SYS_GETPID, 0, 0, 0, 0, 0, 0);
        long r = Native.syscall(SYS_TGKILL, pid, tid, SIGNAL, 0, 0, 0);
        if (r < 0 && r != -3 /* ESRCH: the thread is gone, nothing to kick */) {
            throw new SyscallException("tgkill", (int) -r);
        }
    }

    /**
     * On the VP thread: consumes every pending kick (a real-time signal queues once per kick), so that none
     * interrupts the next KVM_RUN or survives the thread.
     */
    static void consume(MemorySegment scratch) throws SyscallException {
        // scratch: 8 bytes of set, 16 of a zero timespec
        scratch.set(JAVA_LONG, 0, MASK);
        scratch.set(JAVA_LONG, 8, 0);
        scratch.set(JAVA_LONG, 16, 0);
        while (true) {
            long r = Native.syscall(SYS_RT_SIGTIMEDWAIT, scratch.address(), 0, scratch.address() + 8,
                    KERNEL_SIGSET_SIZE, 0, 0);
            if (r == SIGNAL || r == -Errno.EINTR) {
                continue;
            }
            if (r < 0 && r != -Errno.EAGAIN) {
                throw new SyscallException("rt_sigtimedwait", (int) -r);
            }
            return;
        }
    }
}
