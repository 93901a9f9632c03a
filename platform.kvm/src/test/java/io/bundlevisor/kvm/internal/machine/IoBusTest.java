package io.bundlevisor.kvm.internal.machine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import io.bundlevisor.core.partition.IoHandler;

import org.junit.jupiter.api.Test;

class IoBusTest {

    private static IoHandler recording(long base, List<String> log) {
        return new IoHandler() {
            @Override
            public long read(long offset, int size) {
                return base + offset;
            }

            @Override
            public void write(long offset, int size, long value) {
                log.add(offset + "/" + size + "=" + value);
            }
        };
    }

    @Test
    void rangesAreFoundUnclaimedReadsAllOnesAndWritesAreDropped() throws Exception {
        IoBus bus = new IoBus("test", 0x1_0000);
        List<String> log = new ArrayList<>();
        AutoCloseable a = bus.claim(0x3F8, 8, recording(1000, log));
        bus.claim(0x600, 3, recording(2000, log));
        assertEquals(1005, bus.read(0x3FD, 1));
        assertEquals(2002, bus.read(0x602, 1));
        assertEquals(-1L, bus.read(0x500, 1));
        assertEquals(-1L, bus.read(0x3FF, 2), "an access straddling the end of a range is unclaimed");
        bus.write(0x3F8, 1, 65);
        bus.write(0x80, 1, 1);
        assertEquals(List.of("0/1=65"), log);
        assertEquals(3, bus.unclaimedAccesses());
        a.close();
        assertEquals(-1L, bus.read(0x3FD, 1));
        bus.claim(0x3F8, 8, recording(3000, log)); // free again
    }

    @Test
    void overlapsAndRangesOutsideTheBusAreRefused() {
        IoBus bus = new IoBus("ports", 0x1_0000);
        bus.claim(0x60, 8, recording(0, new ArrayList<>()));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> bus.claim(0x64, 1, recording(0, new ArrayList<>()))).getMessage().contains("overlaps"));
        assertThrows(IllegalArgumentException.class, () -> bus.claim(0xFFFF, 2, recording(0, new ArrayList<>())));
        assertThrows(IllegalArgumentException.class, () -> bus.claim(-1, 2, recording(0, new ArrayList<>())));
        assertThrows(IllegalArgumentException.class, () -> bus.claim(0x100, 0, recording(0, new ArrayList<>())));
    }
}
