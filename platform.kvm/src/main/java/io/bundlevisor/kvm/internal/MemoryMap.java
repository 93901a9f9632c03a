package io.bundlevisor.kvm.internal;

import java.util.ArrayList;
import java.util.List;

/**
 * Where guest RAM lives in guest-physical space: below the 32-bit MMIO hole ([3 GiB, 4 GiB): local APIC, I/O
 * APIC, device windows), and above 4 GiB for the rest. RAM is one memfd; the part above the hole continues it.
 *
 * <p>Every guest-supplied address goes through {@link #toHostOffset}: a range that leaves RAM, straddles the hole
 * or overflows is refused, so no guest value can make the VMM touch memory outside guest RAM.
 */
public final class MemoryMap {

    public static final long HOLE_START = 0xC000_0000L;
    public static final long HIGH_START = 0x1_0000_0000L;
    public static final long MIN_RAM = 16L << 20;
    public static final long MAX_RAM = 1L << 40;
    private static final long GRANULE = 2L << 20;

    // Legacy low-memory layout the e820 table reports (as PC firmware does).
    static final long EBDA_START = 0x9_FC00;
    static final long LEGACY_HOLE_START = 0xA_0000;
    static final long BIOS_AREA_START = 0xE_0000;
    static final long LOW_RAM_START = 0x10_0000;

    /** A RAM range: guest-physical start, size, and offset into the memfd. */
    public record Ram(long guestAddress, long size, long memfdOffset) {
        long end() {
            return guestAddress + size;
        }
    }

    /** One e820 entry (type 1 usable RAM, 2 reserved). */
    public record E820(long address, long size, int type) {
        public static final int RAM = 1;
        public static final int RESERVED = 2;
    }

    private final long ramBytes;
    private final List<Ram> ram;
    /** The same ranges as an array: {@link #toHostOffset} runs per guest buffer and must not allocate an iterator. */
    private final Ram[] ranges;

    private MemoryMap(long ramBytes, List<Ram> ram) {
        this.ramBytes = ramBytes;
        this.ram = ram;
        this.ranges = ram.toArray(Ram[]::new);
    }

    /**
     * The map for {@code ramBytes} of RAM: 16 MiB to 1 TiB, a multiple of 2 MiB.
     *
     * @throws IllegalArgumentException with a one-line reason otherwise
     */
    public static MemoryMap of(long ramBytes) {
        if (ramBytes < MIN_RAM || ramBytes > MAX_RAM || ramBytes % GRANULE != 0) {
            throw new IllegalArgumentException("guest memory must be 16 MiB..1 TiB in steps of 2 MiB, got "
                    + ramBytes + " bytes");
        }
        List<Ram> ranges = new ArrayList<>();
        long low = Math.min(ramBytes, HOLE_START);
        ranges.add(new Ram(0, low, 0));
        if (ramBytes > low) {
            ranges.add(new Ram(HIGH_START, ramBytes - low, low));
        }
        return new MemoryMap(ramBytes, List.copyOf(ranges));
    }

    public long ramBytes() {
        return ramBytes;
    }

    /** The RAM ranges, in address order: one memory slot each. */
    public List<Ram> ram() {
        return ram;
    }

    /**
     * The memfd offset of guest-physical {@code [address, address + length)}, or -1 unless the whole range lies
     * in one RAM range. A zero length is treated as one byte (the address itself must be RAM). Allocates nothing:
     * devices call it for every buffer a guest hands them.
     */
    public long toHostOffset(long address, long length) {
        if (address < 0 || length < 0) {
            return -1;
        }
        long last = address + Math.max(length, 1) - 1;
        if (last < address) {
            return -1; // overflow
        }
        Ram[] rs = ranges;
        for (int i = 0; i < rs.length; i++) {
            Ram r = rs[i];
            if (address >= r.guestAddress() && last < r.end()) {
                return r.memfdOffset() + (address - r.guestAddress());
            }
        }
        return -1;
    }

    /** The e820 table for the guest: sorted, non-overlapping, with the legacy areas below 1 MiB reserved. */
    public List<E820> e820() {
        List<E820> table = new ArrayList<>();
        table.add(new E820(0, EBDA_START, E820.RAM));
        table.add(new E820(EBDA_START, LEGACY_HOLE_START - EBDA_START, E820.RESERVED));
        // 0xA0000-0xDFFFF: legacy VGA and option ROM space, not RAM as far as the guest is concerned.
        table.add(new E820(BIOS_AREA_START, LOW_RAM_START - BIOS_AREA_START, E820.RESERVED)); // ACPI tables here
        Ram low = ram.getFirst();
        table.add(new E820(LOW_RAM_START, low.end() - LOW_RAM_START, E820.RAM));
        if (ram.size() > 1) {
            Ram high = ram.get(1);
            table.add(new E820(high.guestAddress(), high.size(), E820.RAM));
        }
        return List.copyOf(table);
    }
}
