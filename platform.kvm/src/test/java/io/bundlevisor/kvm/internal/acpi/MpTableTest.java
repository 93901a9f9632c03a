package io.bundlevisor.kvm.internal.acpi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The MP tables read back as Linux's mpparse.c reads them: the floating pointer's signature, checksum and table
 * address, the table's checksum and entry count, and the entries (processors, the I/O APIC, each pin's source).
 */
class MpTableTest {

    private static final long BASE = 0xF_0000L;

    @Test
    void theTablesDescribeTheProcessorsTheIoApicAndEveryPin() {
        byte[] t = MpTable.build(BASE, 2);
        ByteBuffer b = ByteBuffer.wrap(t).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals("_MP_", new String(t, 0, 4, StandardCharsets.US_ASCII));
        assertEquals(0, sum(t, 0, 16), "floating pointer checksum");
        int table = (int) (b.getInt(4) - BASE);
        assertEquals(16, table);
        assertEquals(1, t[8]);
        assertEquals(4, t[9]);
        assertEquals("PCMP", new String(t, table, 4, StandardCharsets.US_ASCII));
        int length = b.getShort(table + 4);
        assertEquals(t.length - table, length);
        assertEquals(0, sum(t, table, length), "configuration table checksum");
        assertEquals(0xFEE0_0000L, b.getInt(table + 36) & 0xFFFF_FFFFL);
        int count = b.getShort(table + 34);

        List<String> entries = new ArrayList<>();
        int at = table + 44;
        for (int i = 0; i < count; i++) {
            int type = t[at];
            switch (type) {
                case 0 -> {
                    entries.add("cpu " + t[at + 1] + " flags " + t[at + 3]);
                    at += 20;
                }
                case 1 -> {
                    entries.add("bus " + t[at + 1] + " " + new String(t, at + 2, 6, StandardCharsets.US_ASCII).trim());
                    at += 8;
                }
                case 2 -> {
                    entries.add("ioapic " + t[at + 1] + " at " + Long.toHexString(b.getInt(at + 4) & 0xFFFF_FFFFL));
                    at += 8;
                }
                case 3, 4 -> {
                    entries.add((type == 3 ? "io" : "local") + " type " + t[at + 1] + " flags " + t[at + 2]
                            + " irq " + t[at + 5] + " -> " + (t[at + 6] & 0xFF) + ":" + t[at + 7]);
                    at += 8;
                }
                default -> throw new AssertionError("entry type " + type);
            }
        }
        assertEquals(t.length, at, "the entries fill the table");
        assertEquals(List.of("cpu 0 flags 3", "cpu 1 flags 1", "bus 0 ISA", "ioapic 2 at fec00000"),
                entries.subList(0, 4));
        assertEquals("io type 3 flags 0 irq 0 -> 2:0", entries.get(4), "ExtINT on pin 0");
        assertEquals("io type 0 flags 0 irq 0 -> 2:2", entries.get(6), "the timer's IRQ 0 on pin 2");
        assertEquals("io type 0 flags 0 irq 4 -> 2:4", entries.get(8), "COM1");
        assertEquals("io type 0 flags 13 irq 16 -> 2:16", entries.get(20), "device lines: level, active high");
        assertEquals("io type 0 flags 13 irq 23 -> 2:23", entries.get(27));
        assertEquals(List.of("local type 3 flags 0 irq 0 -> 255:0", "local type 1 flags 0 irq 0 -> 255:1"),
                entries.subList(28, 30));
        assertEquals(30, entries.size());
    }

    @Test
    void itMustLieWhereTheGuestScans() {
        assertThrows(IllegalArgumentException.class, () -> MpTable.build(0xE_0000L, 1));
        assertThrows(IllegalArgumentException.class, () -> MpTable.build(BASE + 8, 1));
        assertThrows(IllegalArgumentException.class, () -> MpTable.build(BASE, 0));
    }

    private static int sum(byte[] t, int from, int length) {
        int s = 0;
        for (int i = from; i < from + length; i++) {
            s += t[i];
        }
        return s & 0xFF;
    }
}
