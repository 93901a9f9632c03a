package io.bundlevisor.uring.internal;

import io.bundlevisor.uring.sys.Native;
import static io.bundlevisor.uring.internal.IoUringLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.BitSet;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.host.SyscallException;

/**
 * One io_uring instance as the kernel sees it: the file descriptor, the mapped submission ring, completion
 * ring and SQE array, and the three system calls. No policy lives here: {@link IoRing} decides what to submit.
 *
 * <p>Ordering (io_uring.h and io_uring(7)): the application writes an SQE, then release-stores the SQ tail; it
 * acquire-loads the CQ tail before reading CQEs, and release-stores the CQ head after reading them. The
 * kernel's SQ head is acquire-loaded to know which SQE slots are free again.
 */
final class IoUring implements AutoCloseable {

    /** int access with explicit memory ordering on the shared ring words. */
    private static final VarHandle INT = JAVA_INT.varHandle();
    /**
     * Plain accesses to SQEs and CQEs. The mappings are page-aligned and every offset used is a multiple of the
     * field's size, so the unaligned layouts only skip an alignment check per access (checked once, below).
     */
    private static final ValueLayout.OfLong SQE_WORD = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfLong CQE_LONG = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfInt CQE_INT = ValueLayout.JAVA_INT_UNALIGNED;

    final int fd;
    /** Owns the three mappings; closing it unmaps them. */
    private final Arena mappings;
    final int sqEntries;
    final int cqEntries;
    final int features;
    private final int sqMask;
    private final int cqMask;
    private final MemorySegment sqRing;
    private final MemorySegment cqRing;
    private final MemorySegment sqes;
    private final long sqHeadOff;
    private final long sqTailOff;
    private final long cqHeadOff;
    private final long cqTailOff;
    private final long cqOverflowOff;
    private final long cqesOff;

    private IoUring(int fd, Arena mappings, MemorySegment params, MemorySegment sqRing, MemorySegment cqRing,
            MemorySegment sqes) {
        this.fd = fd;
        this.mappings = mappings;
        this.sqEntries = params.get(JAVA_INT, PARAMS_SQ_ENTRIES);
        this.cqEntries = params.get(JAVA_INT, PARAMS_CQ_ENTRIES);
        this.features = params.get(JAVA_INT, PARAMS_FEATURES);
        this.sqRing = sqRing;
        this.cqRing = cqRing;
        this.sqes = sqes;
        this.sqHeadOff = params.get(JAVA_INT, PARAMS_SQ_OFF + SQOFF_HEAD);
        this.sqTailOff = params.get(JAVA_INT, PARAMS_SQ_OFF + SQOFF_TAIL);
        this.cqHeadOff = params.get(JAVA_INT, PARAMS_CQ_OFF + CQOFF_HEAD);
        this.cqTailOff = params.get(JAVA_INT, PARAMS_CQ_OFF + CQOFF_TAIL);
        this.cqOverflowOff = params.get(JAVA_INT, PARAMS_CQ_OFF + CQOFF_OVERFLOW);
        this.cqesOff = params.get(JAVA_INT, PARAMS_CQ_OFF + CQOFF_CQES);
        // ring_mask is an offset to the mask, not the mask itself.
        this.sqMask = sqRing.get(JAVA_INT, params.get(JAVA_INT, PARAMS_SQ_OFF + SQOFF_RING_MASK));
        this.cqMask = cqRing.get(JAVA_INT, params.get(JAVA_INT, PARAMS_CQ_OFF + CQOFF_RING_MASK));
        if (sqMask != sqEntries - 1 || cqMask != cqEntries - 1) {
            throw new IllegalStateException("io_uring ring masks " + sqMask + "/" + cqMask
                    + " do not match entries " + sqEntries + "/" + cqEntries);
        }
        if (sqes.address() % SQE_SIZE != 0 || (cqRing.address() + cqesOff) % CQE_SIZE != 0) {
            throw new IllegalStateException("io_uring SQE/CQE arrays are not naturally aligned");
        }
        // The SQ index array maps ring slots to SQE slots; keep it the identity, as liburing does.
        long array = params.get(JAVA_INT, PARAMS_SQ_OFF + SQOFF_ARRAY);
        for (int i = 0; i < sqEntries; i++) {
            sqRing.set(JAVA_INT, array + 4L * i, i);
        }
    }

    /** io_uring_setup(2) with at least {@code entries} SQEs, then maps the rings. */
    static IoUring setup(int entries) throws SyscallException {
        if (entries < 1 || entries > MAX_ENTRIES) {
            throw new IllegalArgumentException("ring entries must be 1.." + MAX_ENTRIES + ", got " + entries);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = arena.allocate(PARAMS);
            params.set(JAVA_INT, PARAMS_FLAGS, SETUP_CLAMP | SETUP_SUBMIT_ALL);
            long fd = Native.syscall(Native.SYS_IO_URING_SETUP, entries, params.address(), 0, 0, 0, 0);
            if (fd == -Errno.EINVAL) {
                // Kernels before 5.18 reject SUBMIT_ALL.
                params.fill((byte) 0);
                params.set(JAVA_INT, PARAMS_FLAGS, SETUP_CLAMP);
                fd = Native.syscall(Native.SYS_IO_URING_SETUP, entries, params.address(), 0, 0, 0, 0);
            }
            Native.check("io_uring_setup", fd);
            try {
                return map((int) fd, params);
            } catch (SyscallException | RuntimeException e) {
                Native.close((int) fd);
                throw e;
            }
        }
    }

    private static IoUring map(int fd, MemorySegment params) throws SyscallException {
        int sqEntries = params.get(JAVA_INT, PARAMS_SQ_ENTRIES);
        int cqEntries = params.get(JAVA_INT, PARAMS_CQ_ENTRIES);
        int features = params.get(JAVA_INT, PARAMS_FEATURES);
        long sqSize = params.get(JAVA_INT, PARAMS_SQ_OFF + SQOFF_ARRAY) + 4L * sqEntries;
        long cqSize = params.get(JAVA_INT, PARAMS_CQ_OFF + CQOFF_CQES) + CQE_SIZE * cqEntries;
        Arena mappings = Arena.ofShared();
        try {
            MemorySegment sqRing;
            MemorySegment cqRing;
            if ((features & FEAT_SINGLE_MMAP) != 0) {
                // One mapping serves both rings (Linux 5.4+).
                sqRing = Native.mmapShared("io_uring rings", fd, Math.max(sqSize, cqSize), OFF_SQ_RING, true,
                        mappings);
                cqRing = sqRing;
            } else {
                sqRing = Native.mmapShared("io_uring SQ ring", fd, sqSize, OFF_SQ_RING, true, mappings);
                cqRing = Native.mmapShared("io_uring CQ ring", fd, cqSize, OFF_CQ_RING, true, mappings);
            }
            MemorySegment sqes = Native.mmapShared("io_uring SQEs", fd, SQE_SIZE * sqEntries, OFF_SQES, true,
                    mappings);
            return new IoUring(fd, mappings, params, sqRing, cqRing, sqes);
        } catch (SyscallException | RuntimeException e) {
            mappings.close();
            throw e;
        }
    }

    // ---- submission queue ----

    int sqHeadAcquire() {
        return (int) INT.getAcquire(sqRing, sqHeadOff);
    }

    int sqTail() {
        return sqRing.get(JAVA_INT, sqTailOff);
    }

    void sqTailRelease(int tail) {
        INT.setRelease(sqRing, sqTailOff, tail);
    }

    /**
     * Writes the SQE for ring position {@code tail} as eight 8-byte stores (the entry is 64-byte aligned). Every
     * byte is written, so nothing stale from an earlier entry remains. Little-endian packing of the first word:
     * opcode (byte 0), flags (1), ioprio (2-3), fd (4-7); of the fourth: len (24-27), op_flags (28-31).
     */
    void writeSqe(int tail, int opcode, int flags, int fd, long off, long addr, int len, int opFlags,
            long userData) {
        long base = SQE_SIZE * (tail & sqMask);
        sqes.set(SQE_WORD, base + SQE_OPCODE, (opcode & 0xFFL) | (flags & 0xFFL) << 8 | (long) fd << 32);
        sqes.set(SQE_WORD, base + SQE_OFF, off);
        sqes.set(SQE_WORD, base + SQE_ADDR, addr);
        sqes.set(SQE_WORD, base + SQE_LEN, (len & 0xFFFF_FFFFL) | (long) opFlags << 32);
        sqes.set(SQE_WORD, base + SQE_USER_DATA, userData);
        sqes.set(SQE_WORD, base + SQE_BUF_INDEX, 0L); // buf_index, personality, splice_fd_in
        sqes.set(SQE_WORD, base + SQE_ADDR3, 0L);
        sqes.set(SQE_WORD, base + SQE_ADDR3 + 8, 0L); // __pad2
    }

    // ---- completion queue ----

    int cqHead() {
        return cqRing.get(JAVA_INT, cqHeadOff);
    }

    int cqTailAcquire() {
        return (int) INT.getAcquire(cqRing, cqTailOff);
    }

    void cqHeadRelease(int head) {
        INT.setRelease(cqRing, cqHeadOff, head);
    }

    /** CQEs the kernel could not post because the CQ was full (only without IORING_FEAT_NODROP). */
    int cqOverflow() {
        return (int) INT.getAcquire(cqRing, cqOverflowOff);
    }

    long cqeUserData(int head) {
        return cqRing.get(CQE_LONG, cqesOff + CQE_SIZE * (head & cqMask) + CQE_USER_DATA);
    }

    int cqeRes(int head) {
        return cqRing.get(CQE_INT, cqesOff + CQE_SIZE * (head & cqMask) + CQE_RES);
    }

    int cqeFlags(int head) {
        return cqRing.get(CQE_INT, cqesOff + CQE_SIZE * (head & cqMask) + CQE_FLAGS);
    }

    // ---- system calls ----

    /**
     * io_uring_enter(2) that only submits, never waits (a critical downcall, see {@link Native#ioUringSubmit});
     * the count submitted, or {@code -errno}.
     */
    int submit(int toSubmit) {
        return Native.ioUringSubmit(fd, toSubmit);
    }

    /** io_uring_enter(2); the count submitted, or {@code -errno}. */
    int enter(int toSubmit, int minComplete, int flags) {
        return Native.ioUringEnter(fd, toSubmit, minComplete, flags);
    }

    /** Whether the kernel supports {@code opcode}, asked with IORING_REGISTER_PROBE. */
    boolean probe(int opcode) throws SyscallException {
        int ops = 256;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment probe = arena.allocate(PROBE_SIZE + PROBE_OP_SIZE * ops, 8);
            Native.check("io_uring_register(PROBE)",
                    Native.syscall(Native.SYS_IO_URING_REGISTER, fd, REGISTER_PROBE, probe.address(), ops, 0, 0));
            int opsLen = Byte.toUnsignedInt(probe.get(JAVA_BYTE, PROBE_OPS_LEN));
            if (opcode < 0 || opcode >= opsLen) {
                return false;
            }
            short flags = probe.get(JAVA_SHORT, PROBE_SIZE + PROBE_OP_SIZE * opcode + PROBE_OP_FLAGS);
            return (flags & IO_URING_OP_SUPPORTED) != 0;
        }
    }

    /** IORING_REGISTER_IOWQ_MAX_WORKERS; returns the previous {bounded, unbounded} limits. */
    int[] setIoWorkerLimits(int bounded, int unbounded) throws SyscallException {
        if (bounded < 0 || unbounded < 0) {
            throw new IllegalArgumentException("io-wq worker limits must be >= 0");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment values = arena.allocate(JAVA_INT, 2);
            values.setAtIndex(JAVA_INT, 0, bounded);
            values.setAtIndex(JAVA_INT, 1, unbounded);
            Native.check("io_uring_register(IOWQ_MAX_WORKERS)", Native.syscall(Native.SYS_IO_URING_REGISTER, fd,
                    REGISTER_IOWQ_MAX_WORKERS, values.address(), 2, 0, 0));
            return new int[] {values.getAtIndex(JAVA_INT, 0), values.getAtIndex(JAVA_INT, 1)};
        }
    }

    /** IORING_REGISTER_IOWQ_AFF with a cpu_set_t built from {@code cpus}. */
    void setIoWorkerAffinity(BitSet cpus) throws SyscallException {
        if (cpus.isEmpty()) {
            throw new IllegalArgumentException("io-wq affinity needs at least one CPU");
        }
        long[] words = cpus.toLongArray();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(JAVA_LONG, words.length);
            MemorySegment.copy(words, 0, mask, JAVA_LONG, 0, words.length);
            Native.check("io_uring_register(IOWQ_AFF)", Native.syscall(Native.SYS_IO_URING_REGISTER, fd,
                    REGISTER_IOWQ_AFF, mask.address(), mask.byteSize(), 0, 0));
        }
    }

    /**
     * Unmaps the rings (waiting out any access in progress on another thread; later accesses throw
     * IllegalStateException) and closes the file descriptor.
     */
    @Override
    public void close() {
        mappings.close();
        Native.close(fd);
    }
}
