package io.bundlevisor.core.partition;

import java.lang.foreign.MemorySegment;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A machine's RAM as the host maps it, for device DMA. Guest-physical addresses are not offsets: RAM has a hole
 * below 4 GiB, so every address a guest hands a device goes through {@link #hostOffset} first, which refuses
 * anything not wholly inside one RAM range. The mapping stays valid until the partition is closed, and devices
 * are detached before that.
 */
@ProviderType
public interface GuestRam {

    /** The whole mapping (native memory, shared with the hypervisor and the kernel's IO paths). */
    MemorySegment memory();

    /**
     * Where {@code [address, address + length)} lies in {@link #memory()}, or {@code -1} when any byte of it is
     * not guest RAM (the hole, past the end, an overflowing range, a negative length). Allocates nothing.
     */
    long hostOffset(long address, long length);
}
