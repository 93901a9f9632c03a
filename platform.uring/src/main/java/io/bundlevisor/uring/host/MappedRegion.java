package io.bundlevisor.uring.host;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.sys.Native;

/**
 * A MAP_SHARED read-write mapping of part of a file descriptor: the memfd regions a vhost-user frontend shares.
 * The mapping lives in a shared arena, so an access racing {@link #close} throws instead of touching unmapped
 * memory.
 */
public final class MappedRegion implements AutoCloseable {

    /** <asm-generic/errno-base.h>: "no such device or address", mmap's answer past the end of some files. */
    private static final int ENXIO = 6;

    private final Arena arena;
    private final MemorySegment segment;
    private volatile boolean closed;

    private MappedRegion(Arena arena, MemorySegment segment) {
        this.arena = arena;
        this.segment = segment;
    }

    /**
     * Maps {@code [offset, offset + size)} of {@code fd} read-write, shared. The offset need not be page-aligned:
     * the mapping starts at the page below and {@link #segment()} is the exact slice. Refuses with
     * SyscallException("mmap", EINVAL) when size &lt;= 0, offset &lt; 0 or offset + size overflows, and with
     * SyscallException("mmap", ENXIO) when the file is smaller than offset + size: that is checked with statx
     * before mapping, because touching a mapped page past the end of a file is a SIGBUS that kills the JVM.
     * The descriptor stays the caller's; the mapping outlives its closing.
     */
    public static MappedRegion map(int fd, long offset, long size) throws SyscallException {
        if (size <= 0 || offset < 0) {
            throw new SyscallException("mmap", Errno.EINVAL, "offset " + offset + ", size " + size);
        }
        long end;
        try {
            end = Math.addExact(offset, size);
        } catch (ArithmeticException e) {
            throw new SyscallException("mmap", Errno.EINVAL, "offset " + offset + " + size " + size + " overflows");
        }
        FileStat stat = Statx.of(fd, "fd " + fd);
        if (stat.size() < end) {
            throw new SyscallException("mmap", ENXIO, "fd " + fd + " has " + stat.size()
                    + " bytes, the region ends at " + end);
        }
        long pageOffset = offset & -Native.PAGE_SIZE;
        long lead = offset - pageOffset;
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mapping = Native.mmapShared("fd " + fd, fd, lead + size, pageOffset, false, arena);
            return new MappedRegion(arena, mapping.asSlice(lead, size));
        } catch (SyscallException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** The exact {@code [offset, offset + size)} bytes, native, valid until {@link #close()}. */
    public MemorySegment segment() {
        return segment;
    }

    /** The host virtual address of {@link #segment()}. */
    public long address() {
        return segment.address();
    }

    public long size() {
        return segment.byteSize();
    }

    /** munmap; idempotent. Accesses through {@link #segment()} afterwards throw IllegalStateException. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }
}
