package io.bundlevisor.kvm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.bundlevisor.kvm.internal.MemoryMap.E820;
import io.bundlevisor.kvm.internal.MemoryMap.Ram;

import org.junit.jupiter.api.Test;

class MemoryMapTest {

    private static final long GIB = 1L << 30;

    @Test
    void smallGuestsLiveBelowTheHole() {
        MemoryMap map = MemoryMap.of(256L << 20);
        assertEquals(List.of(new Ram(0, 256L << 20, 0)), map.ram());
        List<E820> e820 = map.e820();
        assertEquals(new E820(0x100000, (256L << 20) - 0x100000, E820.RAM), e820.getLast());
        assertSortedAndDisjoint(e820);
    }

    @Test
    void largeGuestsContinueAbove4GiB() {
        MemoryMap map = MemoryMap.of(5 * GIB);
        assertEquals(List.of(new Ram(0, 3 * GIB, 0), new Ram(4 * GIB, 2 * GIB, 3 * GIB)), map.ram());
        assertEquals(new E820(4 * GIB, 2 * GIB, E820.RAM), map.e820().getLast());
        assertSortedAndDisjoint(map.e820());
        long ramInE820 = map.e820().stream().filter(e -> e.type() == E820.RAM).mapToLong(E820::size).sum();
        assertTrue(ramInE820 <= 5 * GIB && ramInE820 > 5 * GIB - (1 << 20), "all RAM but the legacy areas");
    }

    @Test
    void translationRefusesWhatLeavesRam() {
        MemoryMap map = MemoryMap.of(5 * GIB);
        assertEquals(0x1000, map.toHostOffset(0x1000, 16));
        assertEquals(3 * GIB - 8, map.toHostOffset(3 * GIB - 8, 8), "last bytes below the hole");
        assertEquals(-1, map.toHostOffset(3 * GIB - 8, 9), "straddles into the hole");
        assertEquals(-1, map.toHostOffset(3 * GIB, 1), "in the hole");
        assertEquals(3 * GIB, map.toHostOffset(4 * GIB, 4096), "above 4 GiB continues the memfd");
        assertEquals(-1, map.toHostOffset(6 * GIB - 1, 2), "past the end");
        assertEquals(-1, map.toHostOffset(Long.MAX_VALUE - 1, 16), "overflow");
        assertEquals(-1, map.toHostOffset(-4096, 16));
        assertEquals(-1, map.toHostOffset(0, -1));
        assertEquals(-1, map.toHostOffset(6 * GIB, 0), "a zero length still needs its address in RAM");
    }

    @Test
    void badSizesGetOneLineErrors() {
        assertThrows(IllegalArgumentException.class, () -> MemoryMap.of(8L << 20));
        assertThrows(IllegalArgumentException.class, () -> MemoryMap.of((64L << 20) + 4096));
        assertThrows(IllegalArgumentException.class, () -> MemoryMap.of(2L << 40));
    }

    private static void assertSortedAndDisjoint(List<E820> table) {
        for (int i = 1; i < table.size(); i++) {
            E820 prev = table.get(i - 1);
            assertTrue(prev.address() + prev.size() <= table.get(i).address(), prev + " overlaps " + table.get(i));
        }
    }
}
