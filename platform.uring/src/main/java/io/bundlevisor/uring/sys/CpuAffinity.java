package io.bundlevisor.uring.sys;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;

import io.bundlevisor.uring.host.SyscallException;

/**
 * The calling thread's CPU affinity as a {@link BitSet} (bit {@code n}: CPU {@code n}), over {@link Native}'s
 * {@code sched_setaffinity}/{@code sched_getaffinity} with pid 0, which on Linux means the calling thread, not the
 * process. A new thread inherits its creator's set. Seccomp: {@link SyscallFilter} allows
 * {@code sched_getaffinity} but not {@code sched_setaffinity}, so a thread pins itself before it is confined.
 */
public final class CpuAffinity {

    /**
     * The {@code cpu_set_t} passed to the kernel: 8192 CPUs, the largest {@code NR_CPUS} of x86_64 (MAXSMP), so
     * {@code sched_getaffinity} never fails for a mask smaller than the kernel's CPU count. An array of
     * {@code unsigned long} where CPU {@code n} is bit {@code n % 64} of word {@code n / 64} ({@code <bits/cpu-set.h>}):
     * the layout of {@link BitSet#toLongArray()}.
     */
    static final int MASK_BYTES = 1024;

    private static final int HOST_CPUS = hostCpusOnce();

    private CpuAffinity() {
    }

    /**
     * How many CPUs the host is configured with ({@code _SC_NPROCESSORS_CONF}); CPU numbers are
     * {@code 0..hostCpus()-1}. Some of them may be offline or outside this process's cpuset.
     */
    public static int hostCpus() {
        return HOST_CPUS;
    }

    /**
     * Refuses a set that cannot be an affinity on this host: null, empty, or naming a CPU the host does not have.
     *
     * @throws IllegalArgumentException with one line
     */
    public static void check(BitSet cpus) {
        if (cpus == null || cpus.isEmpty()) {
            throw new IllegalArgumentException("a CPU set needs at least one CPU");
        }
        if (cpus.length() > HOST_CPUS) {
            throw new IllegalArgumentException("CPU " + (cpus.length() - 1) + " is not one of this host's CPUs 0.."
                    + (HOST_CPUS - 1));
        }
    }

    /**
     * Pins the calling thread to {@code cpus}.
     *
     * @throws IllegalArgumentException as {@link #check} says
     * @throws SyscallException         naming {@code sched_setaffinity}: EINVAL when none of the CPUs is one the
     *                                  thread may use (a cpuset without them), EPERM on a confined thread
     */
    public static void pinCurrentThread(BitSet cpus) throws SyscallException {
        check(cpus);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(MASK_BYTES, 8);
            long[] words = cpus.toLongArray();
            // In bounds: check() bounds cpus.length() by the host's CPUs, at most MASK_BYTES * 8.
            for (int i = 0; i < words.length; i++) {
                mask.setAtIndex(JAVA_LONG, i, words[i]);
            }
            Native.check("sched_setaffinity " + describe(cpus), Native.schedSetaffinity(0, mask));
        }
    }

    /**
     * The CPUs the calling thread may run on.
     *
     * @throws SyscallException naming {@code sched_getaffinity}
     */
    public static BitSet currentThreadCpus() throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(MASK_BYTES, 8);
            Native.check("sched_getaffinity", Native.schedGetaffinity(0, mask));
            return BitSet.valueOf(mask.toArray(JAVA_LONG));
        }
    }

    /**
     * The CPU the calling thread runs on as it asks.
     *
     * @throws SyscallException naming {@code sched_getcpu}
     */
    public static int currentCpu() throws SyscallException {
        return (int) Native.check("sched_getcpu", Native.schedGetcpu());
    }

    /** {@code cpus} as a Linux CPU list ({@code 0-3,6}), as {@code Cpus_allowed_list} and taskset write it. */
    public static String describe(BitSet cpus) {
        StringBuilder b = new StringBuilder();
        for (int start = cpus.nextSetBit(0); start >= 0; start = cpus.nextSetBit(start)) {
            int end = cpus.nextClearBit(start) - 1;
            if (!b.isEmpty()) {
                b.append(',');
            }
            b.append(start);
            if (end > start) {
                b.append('-').append(end);
            }
            start = end + 1;
        }
        return b.toString();
    }

    private static int hostCpusOnce() {
        long n = Native.configuredCpus();
        if (n <= 0) {
            n = Runtime.getRuntime().availableProcessors(); // sysconf cannot fail on Linux; never 0 CPUs
        }
        return (int) Math.min(n, MASK_BYTES * 8L);
    }
}
