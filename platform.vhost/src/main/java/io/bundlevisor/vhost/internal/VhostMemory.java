package io.bundlevisor.vhost.internal;

import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.uring.host.MappedRegion;
import io.bundlevisor.uring.sys.Native;

/**
 * The front-end's guest memory as its SET_MEM_TABLE regions, each mapped here from the descriptor that came with
 * it. {@link #memory()} spans the address space, so a host offset is a host virtual address: every lookup has
 * checked the range lies wholly inside one live mapping first. The table is swapped whole (a volatile array), so a
 * lookup on the worker thread never sees half a table; mappings of a replaced table stay until the worker has
 * moved off them ({@link io.bundlevisor.core.virtio.VirtioBackend#memoryChanged()}).
 */
final class VhostMemory implements GuestRam {

    /** One region: guest-physical and front-end virtual ranges, and where it is mapped here. */
    record Region(long guestAddress, long size, long userAddress, MappedRegion mapping) {

        long hostAddress() {
            return mapping.address();
        }
    }

    private static final Region[] NONE = new Region[0];
    private final MemorySegment everything = Native.addressSpace();
    private volatile Region[] regions = NONE;

    @Override
    public MemorySegment memory() {
        return everything;
    }

    @Override
    public long hostOffset(long address, long length) {
        if (length < 0) {
            return -1;
        }
        for (Region r : regions) {
            long delta = address - r.guestAddress;
            // Unsigned: an address below the region wraps to a huge delta.
            if (Long.compareUnsigned(delta, r.size) < 0 && length <= r.size - delta) {
                return r.hostAddress() + delta;
            }
        }
        return -1;
    }

    /**
     * The guest-physical address of front-end virtual address {@code userAddress} ({@code length} bytes wholly in
     * one region), or -1. Ring addresses in SET_VRING_ADDR are front-end virtual addresses.
     */
    long guestAddressOf(long userAddress, long length) {
        if (length < 0) {
            return -1;
        }
        for (Region r : regions) {
            long delta = userAddress - r.userAddress;
            if (Long.compareUnsigned(delta, r.size) < 0 && length <= r.size - delta) {
                return r.guestAddress + delta;
            }
        }
        return -1;
    }

    /**
     * The guest-physical address of host memory {@code [host, host + length)} (wholly in one region), or -1: the
     * reverse of {@link #hostOffset}, for dirty-page logging. Allocates nothing.
     */
    long guestAddressOfHost(long host, long length) {
        for (Region r : regions) {
            long delta = host - r.hostAddress();
            if (Long.compareUnsigned(delta, r.size) < 0 && length <= r.size - delta) {
                return r.guestAddress + delta;
            }
        }
        return -1;
    }

    boolean isEmpty() {
        return regions.length == 0;
    }

    /** The regions as they are now (a copy). */
    Region[] table() {
        return regions.clone();
    }

    /** Puts {@code next} in place and returns the previous table, whose mappings the caller unmaps when safe. */
    Region[] replace(Region[] next) {
        Region[] old = regions;
        regions = next.clone();
        return old;
    }

    static void unmap(Region[] table) {
        for (Region r : table) {
            r.mapping.close();
        }
    }
}
