package io.bundlevisor.core.internal.virtio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (Jazzer) of the split-queue walker and chain validation (virtio 1.x section 2.7): the
 * guest writes whatever it likes into the descriptor table, the available ring and the indirect tables, in a fake
 * RAM with a hole; the device pops, writes every writable byte, reads every readable one, returns some chains
 * unused and publishes the rest. With the unit tests only the committed seeds run (SplitQueueFuzzTestInputs);
 * {@code scripts/fuzz.sh} fuzzes for longer.
 *
 * <p>What must hold for every input: the only exception is {@link QueueException}; at most one pass over the queue
 * size is taken before the ring runs dry or is refused (no endless chain); every writable segment lies inside a
 * descriptor the guest marked device-writable, in the table or in an indirect table the table named, so the only
 * guest bytes that change are those and the used ring; and what a chain keeps for the next walk (segments, iovecs)
 * stays bounded by the queue size.
 */
class SplitQueueFuzzTest {

    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int MAX_SIZE = 64;
    /** 32 KiB below a 16 KiB hole, 32 KiB above it. */
    private static final int RAM = 64 << 10;
    private static final int LOW = 32 << 10;
    private static final int HOLE = 16 << 10;
    /** Bytes of buffers and indirect tables the input fills, at both places. */
    private static final int WINDOW = 2048;

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void everyChainStaysInsideWhatTheGuestMarkedWritable(FuzzedDataProvider data) throws Exception {
        try (FakeGuestRam ram = FakeGuestRam.withHole(RAM, LOW, HOLE)) {
            int size = 1 << data.consumeInt(0, Integer.numberOfTrailingZeros(MAX_SIZE));
            FakeDriver driver = new FakeDriver(ram, size);
            boolean indirect = data.consumeBoolean();
            boolean eventIdx = data.consumeBoolean();
            MemorySegment memory = ram.memory();
            // The structure first (FuzzedDataProvider takes numbers from the input's end), then the bytes of the
            // buffers and indirect tables: the rest of the input, low in RAM and again above the hole.
            long low = driver.buffer(0);
            long high = ram.highStart();
            for (int i = 0; i < size; i++) {
                driver.desc(i, address(data, ram, low, high), length(data), data.consumeInt(0, 7),
                        data.consumeBoolean() ? data.consumeInt(0, size) : data.consumeInt(0, 0xFFFF));
            }
            int offered = data.consumeInt(0, size + 1);
            for (int i = 0; i < offered; i++) {
                driver.offer(data.consumeBoolean() ? data.consumeInt(0, size - 1) : data.consumeInt(0, 0xFFFF));
            }
            if (data.consumeBoolean()) {
                driver.setAvailIdx(data.consumeInt(0, 0xFFFF));
            }
            byte[] bytes = data.consumeRemainingAsBytes();
            fill(memory, driver.host(low, WINDOW), bytes);
            fill(memory, driver.host(high, WINDOW), bytes);
            byte[] before = memory.toArray(ValueLayout.JAVA_BYTE);
            List<long[]> writable = writableRanges(ram, driver, before, size, indirect);
            SplitQueue q = driver.queue(MAX_SIZE, eventIdx, indirect);

            List<Chain> taken = new ArrayList<>();
            drain(q, taken, size);
            for (Chain c : taken) {
                assertInside(c, writable, ram);
                c.fill(0, c.writableBytes(), (byte) 0xA5);
                byte[] sink = new byte[c.readableBytes()];
                c.read(0, MemorySegment.ofArray(sink), 0, sink.length);
            }
            // The device gives back the last chain unused, uses the others.
            int keep = taken.isEmpty() ? 0 : taken.size() - (data.consumeBoolean() ? 1 : 0);
            if (keep < taken.size()) {
                q.unpop(new Chain[] {taken.getLast()}, 1);
            }
            for (int i = 0; i < keep; i++) {
                q.pushUsed(taken.get(i), data.consumeInt(-1, Integer.MAX_VALUE));
            }
            q.publishUsed();
            assertEquals(0, q.inFlight(), "every chain used or given back");
            assertOnlyWritableAndUsedChanged(before, memory, writable, ram, driver, size);

            for (Chain c : taken) {
                // What a chain keeps between walks is bounded by the queue, whatever the guest wrote: one
                // segment per descriptor, an iovec array grown in powers of two up to that.
                assertTrue(c.segmentCount() <= MAX_SIZE, () -> c + " keeps more segments than descriptors");
                assertTrue(c.iovecs().byteSize() <= 16L * MAX_SIZE, () -> c + " keeps " + c.iovecs().byteSize()
                        + " bytes of iovecs");
            }
        }
    }

    /** Pops until the ring is dry or refused; more than one pass over the queue size would be an endless chain. */
    private static void drain(SplitQueue q, List<Chain> taken, int size) {
        try {
            for (Chain c; (c = q.pop()) != null; ) {
                taken.add(c);
                assertTrue(taken.size() <= size, "more chains in flight than the queue size");
            }
        } catch (QueueException e) {
            assertNotNull(e.getMessage());
        }
    }

    /** A descriptor address: mostly inside the input's buffers (often 16-byte aligned), sometimes anywhere. */
    private static long address(FuzzedDataProvider data, FakeGuestRam ram, long low, long high) {
        return switch (data.consumeInt(0, 4)) {
            case 0 -> low + (data.consumeInt(0, WINDOW) & -16);
            case 1 -> low + data.consumeInt(0, WINDOW);
            case 2 -> high + data.consumeInt(0, WINDOW);
            case 3 -> ram.holeStart() - data.consumeInt(0, 64); // across into the hole
            default -> data.consumeLong();
        };
    }

    private static long length(FuzzedDataProvider data) {
        return data.consumeBoolean() ? data.consumeInt(0, 256) : Integer.toUnsignedLong(data.consumeInt());
    }

    private static void fill(MemorySegment memory, long host, byte[] bytes) {
        MemorySegment.copy(bytes, 0, memory, ValueLayout.JAVA_BYTE, host, Math.min(bytes.length, WINDOW));
    }

    /**
     * The spec's own reading of what the guest allowed the device to write (section 2.7.5, 2.7.5.3), from the bytes
     * as they were before the device ran: [host offset, end) of every device-writable descriptor in the table, and,
     * when indirect descriptors were negotiated, in every table a table entry names with INDIRECT.
     */
    private static List<long[]> writableRanges(FakeGuestRam ram, FakeDriver d, byte[] before, int size,
            boolean indirect) {
        MemorySegment mem = MemorySegment.ofArray(before);
        List<long[]> ranges = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            long at = d.host(d.desc + 16L * i, 16);
            long addr = mem.get(LE64, at);
            long len = Integer.toUnsignedLong(mem.get(LE32, at + 8));
            int flags = mem.get(LE16, at + 12);
            addRange(ram, ranges, addr, len, flags);
            if (indirect && (flags & FakeDriver.INDIRECT) != 0) {
                long table = ram.hostOffset(addr, len);
                for (long e = 0; table >= 0 && e + 16 <= len; e += 16) {
                    addRange(ram, ranges, mem.get(LE64, table + e), Integer.toUnsignedLong(mem.get(LE32, table + e
                            + 8)), mem.get(LE16, table + e + 12));
                }
            }
        }
        return ranges;
    }

    private static void addRange(FakeGuestRam ram, List<long[]> ranges, long addr, long len, int flags) {
        long host = ram.hostOffset(addr, len);
        if ((flags & FakeDriver.WRITE) != 0 && (flags & FakeDriver.INDIRECT) == 0 && host >= 0) {
            ranges.add(new long[] {host, host + len});
        }
    }

    /** Every writable segment of {@code c} lies inside one range the guest marked writable. */
    private static void assertInside(Chain c, List<long[]> writable, FakeGuestRam ram) {
        if (c.writableBytes() == 0) {
            return;
        }
        int n = c.describe(true, 0, c.writableBytes());
        long base = ram.memory().address();
        for (int i = 0; i < n; i++) {
            long host = c.iovecs().get(ValueLayout.JAVA_LONG, 16L * i) - base;
            long len = c.iovecs().get(ValueLayout.JAVA_LONG, 16L * i + 8);
            assertTrue(covered(writable, host, host + len), () -> "chain " + c.head() + " writes host [" + host
                    + ", +" + len + ") which no device-writable descriptor names");
        }
    }

    private static boolean covered(List<long[]> ranges, long from, long to) {
        for (long[] r : ranges) {
            if (r[0] <= from && to <= r[1]) {
                return true;
            }
        }
        return false;
    }

    private static void assertOnlyWritableAndUsedChanged(byte[] before, MemorySegment memory, List<long[]> writable,
            FakeGuestRam ram, FakeDriver d, int size) {
        long used = d.host(d.used, VringLayout.usedSize(size));
        long usedEnd = used + VringLayout.usedSize(size);
        for (int i = 0; i < before.length; i++) {
            if (before[i] != memory.get(ValueLayout.JAVA_BYTE, i) && !(i >= used && i < usedEnd)) {
                long at = i;
                assertTrue(covered(writable, at, at + 1), () -> "host byte " + at + " changed outside every "
                        + "device-writable descriptor and the used ring");
            }
        }
    }
}
