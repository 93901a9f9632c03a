package io.bundlevisor.kvm.internal.machine;

import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.kvm.internal.GuestMemory;
import io.bundlevisor.kvm.internal.MemoryMap;

/**
 * A machine's RAM as devices see it: the whole memfd mapping, and the memory map's checked translation from
 * guest-physical addresses, which refuses the 32-bit hole, ranges past the end and overflowing ranges. The
 * mapping is a shared arena's, so an access after the machine closes throws instead of touching unmapped memory.
 */
final class KvmGuestRam implements GuestRam {

    private final MemorySegment memory;
    private final MemoryMap map;

    KvmGuestRam(GuestMemory ram, MemoryMap map) {
        if (ram.size() != map.ramBytes()) {
            throw new IllegalArgumentException("guest memory is " + ram.size() + " bytes, the map has "
                    + map.ramBytes());
        }
        this.memory = ram.segment();
        this.map = map;
    }

    @Override
    public MemorySegment memory() {
        return memory;
    }

    @Override
    public long hostOffset(long address, long length) {
        return map.toHostOffset(address, length);
    }
}
