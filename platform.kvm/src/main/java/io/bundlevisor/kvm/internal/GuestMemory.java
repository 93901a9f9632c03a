package io.bundlevisor.kvm.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.Native;

/**
 * Guest RAM: a memfd mapped shared, so it can later be handed to vhost-user backends and snapshotted. Pages are
 * allocated as the guest touches them. The mapping belongs to a shared arena: after {@link #close()} an access
 * throws instead of faulting.
 */
public final class GuestMemory implements AutoCloseable {

    private static final long PAGE = 4096;
    /** x86_64 syscall number of fallocate (KVM here is x86 only). */
    private static final long SYS_FALLOCATE = 285;
    private static final long FALLOC_FL_KEEP_SIZE = 0x01;
    private static final long FALLOC_FL_PUNCH_HOLE = 0x02;
    /** lseek(2) whences, <linux/fs.h>. */
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;
    private static final int ENXIO = 6;

    private final int fd;
    private final Arena arena;
    private final MemorySegment memory;
    /** Whether a snapshot's memory file is mapped privately over the memfd ({@link #mapPrivately}). */
    private volatile boolean fileMapped;

    private GuestMemory(int fd, Arena arena, MemorySegment memory) {
        this.fd = fd;
        this.arena = arena;
        this.memory = memory;
    }

    /** {@code size} bytes of zeroed guest RAM (a positive multiple of 4 KiB). */
    public static GuestMemory allocate(long size) throws SyscallException {
        if (size <= 0 || size % PAGE != 0) {
            throw new IllegalArgumentException("guest memory must be a positive multiple of 4 KiB, got " + size);
        }
        int fd = Native.memfdCreate("bundlevisor-guest-ram");
        if (fd < 0) {
            throw new SyscallException("memfd_create", -fd);
        }
        Arena arena = Arena.ofShared();
        try {
            Native.check("ftruncate guest RAM", Native.ftruncate(fd, size));
            return new GuestMemory(fd, arena, Native.mmapShared("guest RAM", fd, size, 0, false, arena));
        } catch (SyscallException | RuntimeException e) {
            arena.close();
            Native.close(fd);
            throw e;
        }
    }

    /** The whole of guest RAM; guest-physical address 0 is offset 0. Bounds-checked by the segment. */
    public MemorySegment segment() {
        return memory;
    }

    public long size() {
        return memory.byteSize();
    }

    /**
     * Gives every page back to the host, so the whole RAM reads as zeros again (a reset): fallocate with
     * FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE on the memfd, which also drops the pages from every mapping.
     */
    public void discard() throws SyscallException {
        if (fileMapped) {
            // The memfd's pages are not what the guest sees: map it back first, then empty it.
            Native.mmapOver("guest RAM (back from a memory file)", memory, fd, true);
            fileMapped = false;
        }
        Native.check("fallocate(PUNCH_HOLE) guest RAM",
                Native.syscall(SYS_FALLOCATE, fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, size(), 0, 0));
    }

    /**
     * Makes {@code file} (open for reading, exactly this RAM's size) the guest's memory, as Firecracker restores a
     * snapshot: mapped MAP_PRIVATE over the RAM at the same address, so nothing is read now, a page is read from the
     * file (or the page cache) when the guest or a device first touches it, and copied only when written. The guest
     * resumes at once, whatever its size. The file must not change while mapped (a new snapshot writes a new
     * file); the mapping keeps it open. The memfd is emptied, and mapped back by {@link #discard}.
     */
    public void mapPrivately(int file) throws SyscallException {
        Native.mmapOver("guest RAM from a memory file", memory, file, false);
        fileMapped = true;
        Native.check("fallocate(PUNCH_HOLE) guest RAM",
                Native.syscall(SYS_FALLOCATE, fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, size(), 0, 0));
    }

    /**
     * Where RAM may hold something other than zeros, as {@code [start, end)} pairs of offsets in order: the memfd's
     * data ranges (lseek SEEK_DATA/SEEK_HOLE), so that a reader skips the pages the guest never touched without
     * reading them (a read of a memfd hole through a shared mapping allocates the page). The whole RAM while a
     * memory file is mapped.
     */
    public long[] dataRanges() throws SyscallException {
        if (fileMapped) {
            return new long[] {0, size()};
        }
        long[] ranges = new long[8];
        int n = 0;
        long at = 0;
        while (at < size()) {
            long start = Native.lseek(fd, at, SEEK_DATA);
            if (start == -ENXIO) {
                break; // nothing but a hole from here on
            }
            Native.check("lseek(SEEK_DATA) guest RAM", start);
            long end = Native.check("lseek(SEEK_HOLE) guest RAM", Native.lseek(fd, start, SEEK_HOLE));
            if (n + 2 > ranges.length) {
                ranges = java.util.Arrays.copyOf(ranges, ranges.length * 2);
            }
            ranges[n++] = start;
            ranges[n++] = Math.min(end, size());
            at = end;
        }
        return java.util.Arrays.copyOf(ranges, n);
    }

    /**
     * The memfd, for sharing the RAM with another process; it holds the RAM unless a memory file is mapped
     * ({@link #mapPrivately}).
     */
    public int fd() {
        return fd;
    }

    @Override
    public void close() {
        arena.close();
        Native.close(fd);
    }
}
