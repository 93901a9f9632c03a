import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;

import io.bundlevisor.core.ring.CompletionHandler;
import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.IoMemory;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.uring.host.HostFile;
import io.bundlevisor.uring.internal.RingServiceImpl;

/**
 * Our side of the io_uring benchmark: the loops of bench/c/nop_bench.c and of fio's randread job, through the
 * public {@link Ring} API of platform.uring. Run it source-launched (see bench/uring-bench.sh):
 *
 * <pre>
 *   UringBench nop  BATCH WARMUP_S MEASURE_S REPEATS [raw|slot|bare]  -> "rep I OPS" lines, "median OPS"
 *   UringBench read FILE QD WARMUP_S RAMP_S MEASURE_S  -> "iops IOPS"
 * </pre>
 *
 * NOPs go through one of the ring's two submission paths: {@code raw} (default) pushes each round as one
 * {@link Ring#batch() batch} of raw IOs, the path a device queue takes (its own user data, one lock per burst);
 * {@code slot} submits each NOP on its own with {@link Ring#submit}, the general path (per-IO id and memory
 * ownership, one lock per IO). {@code bare} skips platform.uring altogether: {@link BareRing} is the least Java
 * can do over the same kind of ring (the floor of what FFM allows, see there).
 *
 * Measurement loops allocate nothing per operation: one reused {@link Sqe}, handlers created up front, buffers
 * allocated once. Each mode also prints "alloc BYTES_PER_OP ..." (bytes the thread allocated while measuring,
 * divided by operations, so that a regression that allocates per IO shows up here) and "cpu U user-ns/op S
 * sys-ns/op" (the measuring thread's CPU time per operation: where the time goes, ring code or kernel).
 */
public final class UringBench {

    private static final int ENTRIES = 64;
    private static final int BLOCK = 4096;

    private final Ring ring;
    private final Sqe sqe = new Sqe();
    /** The bare FFM loop of nop mode's {@code bare} path; null on the other paths. */
    private BareRing bare;

    // nop mode: completions seen, and the first failure
    private long nopsDone;
    private int nopError;

    // read mode
    private int fd;
    private long blocks;
    private long rng = 0x9E3779B97F4A7C15L;
    private MemorySegment[] buffers;
    private CompletionHandler[] readHandlers;
    private long readsDone;
    private int inFlight;
    private boolean issuing = true;
    private boolean readFailed;
    private int failedResult; // the first result that was not BLOCK

    private UringBench(Ring ring) {
        this.ring = ring;
    }

    /** A ring whose raw completions are counted like the slot path's handler counts. */
    private static Ring benchRing(RingService service, UringBench[] self) {
        return service.create("bench", ENTRIES, (data, res, flags) -> self[0].countNop(res));
    }

    private void countNop(int res) {
        if (res < 0 && nopError == 0) {
            nopError = res;
        }
        nopsDone++;
    }

    public static void main(String[] args) throws Throwable {
        boolean nop = (args.length == 5 || args.length == 6) && args[0].equals("nop");
        boolean read = args.length == 6 && args[0].equals("read");
        if (!nop && !read) {
            System.err.println("usage: UringBench nop BATCH WARMUP_S MEASURE_S REPEATS [raw|slot|bare]"
                    + " | UringBench read FILE QD WARMUP_S RAMP_S MEASURE_S");
            System.exit(2);
        }
        if (nop && args.length == 6 && args[5].equals("bare")) {
            UringBench bench = new UringBench(null);
            bench.bare = BareRing.setup(ENTRIES);
            bench.nop(Integer.parseInt(args[1]), Double.parseDouble(args[2]), Double.parseDouble(args[3]),
                    Integer.parseInt(args[4]), false);
            return;
        }
        RingService service = new RingServiceImpl();
        if (!service.isAvailable()) {
            System.err.println("io_uring unavailable: " + service.unavailabilityCause().orElse("?"));
            System.exit(1);
        }
        UringBench[] self = new UringBench[1];
        try (Ring ring = benchRing(service, self)) {
            UringBench bench = new UringBench(ring);
            self[0] = bench;
            if (nop) {
                String path = args.length == 6 ? args[5] : "raw";
                if (!path.equals("raw") && !path.equals("slot")) {
                    fail("nop path must be raw or slot, not " + path);
                }
                bench.nop(Integer.parseInt(args[1]), Double.parseDouble(args[2]), Double.parseDouble(args[3]),
                        Integer.parseInt(args[4]), path.equals("raw"));
            } else {
                bench.read(Path.of(args[1]), Integer.parseInt(args[2]), Double.parseDouble(args[3]),
                        Double.parseDouble(args[4]), Double.parseDouble(args[5]));
            }
        }
    }

    // ---- NOPs ----

    private void nop(int batch, double warmup, double seconds, int reps, boolean raw) {
        if (batch < 1 || batch > ENTRIES) {
            throw new IllegalArgumentException("batch must be 1.." + ENTRIES);
        }
        // The one handler every NOP shares: counts, and remembers the first error.
        CompletionHandler counter = (io, res, flags) -> countNop(res);
        if (warmup > 0) {
            nopRun(batch, warmup, counter, raw);
        }
        double[] results = new double[reps];
        long allocated = 0;
        long user = 0;
        long cpu = 0;
        long opsBefore = nopsDone;
        for (int i = 0; i < reps; i++) {
            // Counted per repeat, so that printing the result is not.
            long alloc0 = allocatedBytes();
            long user0 = THREADS.getCurrentThreadUserTime();
            long cpu0 = THREADS.getCurrentThreadCpuTime();
            results[i] = nopRun(batch, seconds, counter, raw);
            cpu += THREADS.getCurrentThreadCpuTime() - cpu0;
            user += THREADS.getCurrentThreadUserTime() - user0;
            allocated += allocatedBytes() - alloc0;
            System.out.printf("rep %d %.0f%n", i + 1, results[i]);
        }
        report(allocated, user, cpu, nopsDone - opsBefore);
        if (nopError != 0) {
            fail("NOP failed: " + Errno.name(-nopError));
        }
        System.out.printf("median %.0f%n", median(results));
    }

    /** Rounds of {@code batch} NOPs for about {@code seconds}; ops per second. Clock read once per round. */
    private double nopRun(int batch, double seconds, CompletionHandler counter, boolean raw) {
        long start = System.nanoTime();
        long end = start + (long) (seconds * 1e9);
        long first = nopsDone;
        long target = nopsDone;
        long t;
        Sqe nop = sqe.nop();
        do {
            if (bare != null) {
                nopsDone += bare.round(batch);
                continue;
            }
            if (raw) {
                try (Ring.Batch b = ring.batch()) {
                    for (int i = 0; i < batch; i++) {
                        b.submitRaw(nop, i);
                    }
                }
            } else {
                for (int i = 0; i < batch; i++) {
                    ring.submit(nop, IoMemory.NONE, counter);
                }
            }
            ring.submitAndWait(batch);
            target += batch;
            while (nopsDone < target) {
                ring.processCompletions();
            }
        } while ((t = System.nanoTime()) < end);
        return (nopsDone - first) * 1e9 / (t - start);
    }

    // ---- 4 KiB O_DIRECT random reads ----

    /**
     * {@code warmup} is for the JIT only (the first few thousand IOs run interpreted and allocate), {@code ramp}
     * matches fio's ramp_time; neither is counted.
     */
    private void read(Path path, int qd, double warmup, double ramp, double seconds) throws Exception {
        if (qd < 1 || qd > ENTRIES) {
            throw new IllegalArgumentException("queue depth must be 1.." + ENTRIES);
        }
        try (HostFile file = HostFile.open(path, HostFile.READ_ONLY | HostFile.DIRECT);
                Arena arena = Arena.ofShared()) {
            fd = file.fd();
            blocks = file.size() / BLOCK;
            if (blocks < 1) {
                fail(path + " is smaller than one block");
            }
            buffers = new MemorySegment[qd];
            readHandlers = new CompletionHandler[qd];
            for (int i = 0; i < qd; i++) {
                int slot = i; // one handler per buffer: the handler knows which buffer came back
                buffers[i] = arena.allocate(BLOCK, BLOCK);
                readHandlers[i] = (io, res, flags) -> readDone(slot, res);
            }

            for (int i = 0; i < qd; i++) {
                issue(i);
            }
            inFlight = qd;
            long start = System.nanoTime();
            pump(start + (long) ((warmup + ramp) * 1e9));
            long alloc0 = allocatedBytes();
            long user0 = THREADS.getCurrentThreadUserTime();
            long cpu0 = THREADS.getCurrentThreadCpuTime();
            long done0 = readsDone;
            long t0 = System.nanoTime();
            long t1 = pump(t0 + (long) (seconds * 1e9));
            long done = readsDone - done0;
            long cpu = THREADS.getCurrentThreadCpuTime() - cpu0;
            long user = THREADS.getCurrentThreadUserTime() - user0;
            report(allocatedBytes() - alloc0, user, cpu, done);

            issuing = false; // let what is in flight land before the buffers go away
            while (inFlight > 0) {
                ring.submitAndWait(1);
                ring.processCompletions();
            }
            if (readFailed) {
                fail("a read returned " + (failedResult < 0 ? Errno.name(-failedResult) : failedResult + " bytes")
                        + " instead of " + BLOCK);
            }
            System.out.printf("iops %.0f%n", done * 1e9 / (t1 - t0));
        }
    }

    /** Keeps the queue full until {@code deadline} (or a failed read); returns the time it stopped. */
    private long pump(long deadline) {
        // After a failed read nothing is resubmitted: waiting for a completion then could block forever.
        while (!readFailed && System.nanoTime() < deadline) {
            ring.submitAndWait(1);
            ring.processCompletions(); // handlers resubmit; the next submitAndWait hands them to the kernel
        }
        return System.nanoTime();
    }

    private void readDone(int slot, int res) {
        if (res != BLOCK) {
            if (!readFailed) {
                readFailed = true;
                failedResult = res;
            }
            issuing = false;
        } else {
            readsDone++;
        }
        if (issuing) {
            issue(slot);
        } else {
            inFlight--;
        }
    }

    private void issue(int slot) {
        ring.submit(sqe.read(fd, buffers[slot], nextBlock() * BLOCK), IoMemory.NONE, readHandlers[slot]);
    }

    /** xorshift64: a uniform enough block number in [0, blocks). */
    private long nextBlock() {
        long x = rng;
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
        rng = x;
        return Long.remainderUnsigned(x, blocks);
    }

    // ---- the floor: a bare FFM loop over an io_uring of its own ----

    /**
     * The least a Java program can do per NOP round over io_uring with FFM, as the floor our {@link Ring} is
     * measured against: an io_uring set up by hand (64 entries, one mapping for both rings), SQEs written as
     * eight 8-byte stores, the SQ tail release-stored, one plain downcall to libc's {@code syscall} for
     * {@code io_uring_enter(fd, batch, batch, GETEVENTS)} (the default linker options: no errno capture, the
     * usual thread-state transition), then the CQ reaped as liburing's {@code io_uring_for_each_cqe} does. No
     * lock, no bookkeeping, no errno: none of what the ring's API promises. Offsets are those of
     * {@code include/uapi/linux/io_uring.h}; platform.uring's IoUringLayout checks the same values at class load.
     */
    static final class BareRing {
        private static final Linker LINKER = Linker.nativeLinker();
        private static final MethodHandle SYSCALL = LINKER.downcallHandle(
                LINKER.defaultLookup().find("syscall").orElseThrow(),
                FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG,
                        JAVA_LONG),
                Linker.Option.firstVariadicArg(1));
        private static final MethodHandle MMAP = LINKER.downcallHandle(
                LINKER.defaultLookup().find("mmap").orElseThrow(),
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
        private static final VarHandle INT = JAVA_INT.varHandle();
        private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;
        private static final long SYS_IO_URING_SETUP = 425;
        private static final long SYS_IO_URING_ENTER = 426;
        private static final long ENTER_GETEVENTS = 1;
        private static final long OFF_SQES = 0x10000000L;

        private final long fd;
        private final MemorySegment rings;
        private final MemorySegment sqes;
        private final int sqMask;
        private final int cqMask;
        private final long sqTailOff;
        private final long cqHeadOff;
        private final long cqTailOff;
        private final long cqesOff;
        private int tail;

        private BareRing(long fd, MemorySegment params, MemorySegment rings, MemorySegment sqes) {
            this.fd = fd;
            this.rings = rings;
            this.sqes = sqes;
            this.sqTailOff = params.get(JAVA_INT, 44);
            this.cqHeadOff = params.get(JAVA_INT, 80);
            this.cqTailOff = params.get(JAVA_INT, 84);
            this.cqesOff = params.get(JAVA_INT, 100);
            this.sqMask = rings.get(JAVA_INT, params.get(JAVA_INT, 48));
            this.cqMask = rings.get(JAVA_INT, params.get(JAVA_INT, 88));
            long array = params.get(JAVA_INT, 64);
            for (int i = 0; i <= sqMask; i++) {
                rings.set(JAVA_INT, array + 4L * i, i); // the SQ index array: identity, as liburing keeps it
            }
            this.tail = rings.get(JAVA_INT, sqTailOff);
        }

        static BareRing setup(int entries) throws Throwable {
            Arena arena = Arena.global(); // lives as long as the process
            MemorySegment params = arena.allocate(120, 8);
            long fd = (long) SYSCALL.invokeExact(SYS_IO_URING_SETUP, (long) entries, params.address(), 0L, 0L, 0L,
                    0L);
            if (fd < 0) {
                throw new IllegalStateException("io_uring_setup failed");
            }
            if ((params.get(JAVA_INT, 20) & 1) == 0) {
                throw new IllegalStateException("the kernel lacks IORING_FEAT_SINGLE_MMAP");
            }
            int sqEntries = params.get(JAVA_INT, 0);
            int cqEntries = params.get(JAVA_INT, 4);
            long ringsSize = Math.max(params.get(JAVA_INT, 64) + 4L * sqEntries,
                    params.get(JAVA_INT, 100) + 16L * cqEntries);
            return new BareRing(fd, params, map(fd, ringsSize, 0), map(fd, 64L * sqEntries, OFF_SQES));
        }

        private static MemorySegment map(long fd, long size, long offset) throws Throwable {
            MemorySegment at = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, size, 3 /* READ | WRITE */,
                    0x8001 /* SHARED | POPULATE */, (int) fd, offset);
            if (at.address() == -1L) {
                throw new IllegalStateException("mmap of the io_uring failed");
            }
            return at.reinterpret(size);
        }

        /** One round: {@code batch} NOPs written, submitted and waited for in one call, then reaped. */
        int round(int batch) {
            for (int i = 0; i < batch; i++) {
                long base = 64L * ((tail + i) & sqMask);
                sqes.set(WORD, base, 0xFFFF_FFFF_0000_0000L); // opcode NOP (0), flags 0, ioprio 0, fd -1
                sqes.set(WORD, base + 8, 0L); // off
                sqes.set(WORD, base + 16, 0L); // addr
                sqes.set(WORD, base + 24, 0L); // len, op_flags
                sqes.set(WORD, base + 32, i); // user_data
                sqes.set(WORD, base + 40, 0L);
                sqes.set(WORD, base + 48, 0L);
                sqes.set(WORD, base + 56, 0L);
            }
            tail += batch;
            INT.setRelease(rings, sqTailOff, tail);
            long r;
            try {
                r = (long) SYSCALL.invokeExact(SYS_IO_URING_ENTER, fd, (long) batch, (long) batch, ENTER_GETEVENTS,
                        0L, 0L);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            if (r < 0) {
                fail("io_uring_enter failed");
            }
            int got = 0;
            while (got < batch) {
                int head = rings.get(JAVA_INT, cqHeadOff);
                int ready = (int) INT.getAcquire(rings, cqTailOff);
                for (int h = head; h != ready; h++) {
                    if (rings.get(JAVA_INT, cqesOff + 16L * (h & cqMask) + 8) < 0) {
                        fail("NOP failed");
                    }
                }
                INT.setRelease(rings, cqHeadOff, ready);
                got += ready - head;
            }
            return got;
        }
    }

    // ---- helpers ----

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private static long allocatedBytes() {
        return THREADS.getCurrentThreadAllocatedBytes();
    }

    /** What the measuring thread spent per operation: heap bytes, and CPU time in user space and in the kernel. */
    private static void report(long bytes, long userNanos, long cpuNanos, long ops) {
        double n = Math.max(ops, 1);
        System.out.printf("alloc %.3f bytes/op (%d bytes over %d ops)%n", bytes / n, bytes, ops);
        System.out.printf("cpu %.0f user-ns/op %.0f sys-ns/op%n", userNanos / n, (cpuNanos - userNanos) / n);
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

    private static void fail(String message) {
        System.err.println("UringBench: " + message);
        System.exit(1);
    }
}
