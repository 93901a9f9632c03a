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

    private final int fd;
    private final Arena arena;
    private final MemorySegment memory;

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
        Native.check("fallocate(PUNCH_HOLE) guest RAM",
                Native.syscall(SYS_FALLOCATE, fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, size(), 0, 0));
    }

    /** The memfd, for sharing the RAM with another process. */
    public int fd() {
        return fd;
    }

    @Override
    public void close() {
        arena.close();
        Native.close(fd);
    }
}
