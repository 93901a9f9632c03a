package io.bundlevisor.core.internal.virtio;

import static io.bundlevisor.core.internal.virtio.FakeDriver.Seg.in;
import static io.bundlevisor.core.internal.virtio.FakeDriver.Seg.out;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.ByteOrder;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The data path of a split queue as a well-behaved driver uses it (virtio 1.x section 2.7). */
class SplitQueueTest {

    private final FakeGuestRam ram = FakeGuestRam.withHole(1 << 20, 512 << 10, 256 << 10);
    private final FakeDriver driver = new FakeDriver(ram, 8);

    @AfterEach
    void close() throws Exception {
        ram.close();
    }

    @Test
    void simpleBlockLikeChainIsReadAndWrittenInPlace() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        long header = driver.buffer(16);
        MemorySegment h = MemorySegment.ofArray(new byte[16]);
        h.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, 1);
        h.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8, 0x1122334455667788L);
        driver.put(header, h.toArray(ValueLayout.JAVA_BYTE));
        long data = driver.highBuffer(512);
        long status = driver.buffer(1);
        driver.offerChain(0, in(header, 16), out(data, 512), out(status, 1));

        Chain c = q.pop();
        assertNotNull(c);
        assertEquals(0, c.head());
        assertEquals(16, c.readableBytes());
        assertEquals(513, c.writableBytes());
        assertEquals(1, c.readInt(0));
        assertEquals(0x1122334455667788L, c.readLong(8));
        assertEquals(0x77, c.readByte(9) & 0xFF);
        assertEquals(1, q.inFlight());
        assertEquals(1, q.lastAvail());
        assertNull(q.pop());

        byte[] payload = new byte[512];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 7);
        }
        c.write(0, MemorySegment.ofArray(payload), 0, 512);
        c.writeByte(512, (byte) 0);
        assertArrayEquals(payload, driver.get(data, 512));
        assertEquals(0, driver.byteAt(status));

        q.pushUsed(c, 513);
        assertEquals(0, q.inFlight());
        assertEquals(0, driver.usedIdx(), "not visible before publish");
        assertTrue(q.publishUsed());
        assertEquals(1, driver.usedIdx());
        assertEquals(0, driver.usedId(0));
        assertEquals(513, driver.usedLen(0));
        assertFalse(q.publishUsed(), "nothing pushed since");
    }

    /**
     * Receive buffers a device held and gives back unused go back to the driver as if never taken: the next pops take
     * the same avail entries, and a head given back may be taken again without "still in flight".
     */
    @Test
    void unpoppedChainsAreTakenAgainInOrder() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        for (int head = 0; head < 3; head++) {
            driver.offerChain(head, out(driver.buffer(64), 64));
        }
        Chain first = q.pop();
        Chain second = q.pop();
        Chain third = q.pop();
        assertEquals(3, q.lastAvail());
        q.pushUsed(first, 10);
        q.unpop(new Chain[] {second, third}, 2);
        assertEquals(1, q.lastAvail());
        assertEquals(0, q.inFlight());
        assertEquals(1, q.pop().head());
        assertEquals(2, q.pop().head());
        assertNull(q.pop());
        Chain stranger = second;
        q.pushUsed(stranger, 0);
        assertThrows(IllegalStateException.class, () -> q.unpop(new Chain[] {stranger}, 1),
                "a chain not in flight cannot be given back");
    }

    @Test
    void readCopiesTheReadablePartAcrossSegments() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        long a = driver.buffer(3);
        long b = driver.highBuffer(5);
        long c = driver.buffer(8);
        driver.offerChain(2, in(a, 3), in(b, 5), in(c, 8));
        Chain chain = q.pop();
        assertEquals(2, chain.head());
        byte[] expected = new byte[16];
        for (int i = 0; i < 3; i++) {
            expected[i] = FakeDriver.pattern(a + i);
        }
        for (int i = 0; i < 5; i++) {
            expected[3 + i] = FakeDriver.pattern(b + i);
        }
        for (int i = 0; i < 8; i++) {
            expected[8 + i] = FakeDriver.pattern(c + i);
        }
        MemorySegment all = MemorySegment.ofArray(expected);
        var le32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        var le64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int off = 0; off <= 12; off++) {
            assertEquals(all.get(le32, off), chain.readInt(off), "readInt at " + off);
        }
        for (int off = 0; off <= 8; off++) {
            assertEquals(all.get(le64, off), chain.readLong(off), "readLong at " + off);
        }
        byte[] dst = new byte[20];
        chain.read(1, MemorySegment.ofArray(dst), 2, 14);
        for (int i = 0; i < 14; i++) {
            assertEquals(expected[1 + i], dst[2 + i]);
        }
        assertThrows(IndexOutOfBoundsException.class, () -> chain.readInt(13));
        assertThrows(IndexOutOfBoundsException.class, () -> chain.readByte(-1));
        assertThrows(IndexOutOfBoundsException.class, () -> chain.read(10, MemorySegment.ofArray(dst), 0, 7));
        assertThrows(IndexOutOfBoundsException.class, () -> chain.writeByte(0, (byte) 1), "no writable part");
    }

    @Test
    void writeAndFillSpanWritableSegmentsAndRefuseOutsideThem() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        long hdr = driver.buffer(4);
        long w1 = driver.buffer(6);
        long w2 = driver.highBuffer(10);
        driver.offerChain(0, in(hdr, 4), out(w1, 6), out(w2, 10));
        Chain chain = q.pop();
        byte[] src = {1, 2, 3, 4, 5, 6, 7, 8};
        chain.write(3, MemorySegment.ofArray(src), 1, 7);
        assertArrayEquals(new byte[] {2, 3, 4}, java.util.Arrays.copyOfRange(driver.get(w1, 6), 3, 6));
        assertArrayEquals(new byte[] {5, 6, 7, 8}, java.util.Arrays.copyOfRange(driver.get(w2, 10), 0, 4));
        chain.fill(5, 11, (byte) 0x5A);
        assertEquals(0x5A, driver.byteAt(w1 + 5));
        for (int i = 0; i < 10; i++) {
            assertEquals(0x5A, driver.byteAt(w2 + i));
        }
        assertEquals(FakeDriver.pattern(hdr), driver.byteAt(hdr), "readable part untouched");
        IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class,
                () -> chain.fill(10, 7, (byte) 0));
        assertTrue(e.getMessage().contains("writable range [10, 10 + 7)"), e.getMessage());
        assertThrows(IndexOutOfBoundsException.class,
                () -> chain.write(0, MemorySegment.ofArray(src), 0, -1));
        assertThrows(IndexOutOfBoundsException.class, () -> chain.writeByte(16, (byte) 0));
        assertThrows(IndexOutOfBoundsException.class,
                () -> chain.write(Integer.MAX_VALUE, MemorySegment.ofArray(src), 0, 8));
    }

    @Test
    void describeWritesHostIovecsTrimmedToTheRange() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        long r0 = driver.buffer(100);
        long r1 = driver.highBuffer(200);
        long r2 = driver.buffer(50);
        long w0 = driver.highBuffer(300);
        long w1 = driver.buffer(400);
        driver.offerChain(1, in(r0, 100), in(r1, 200), in(r2, 50), out(w0, 300), out(w1, 400));
        Chain c = q.pop();
        long base = ram.memory().address();

        assertEquals(3, c.describe(false, 30, 280));
        assertIovec(c, 0, base + driver.host(r0 + 30, 1), 70);
        assertIovec(c, 1, base + driver.host(r1, 1), 200);
        assertIovec(c, 2, base + driver.host(r2, 1), 10);

        assertEquals(1, c.describe(true, 350, 100));
        assertIovec(c, 0, base + driver.host(w1 + 50, 1), 100);

        assertEquals(2, c.describe(true, 0, 700));
        assertIovec(c, 0, base + driver.host(w0, 1), 300);
        assertIovec(c, 1, base + driver.host(w1, 1), 400);

        assertEquals(1, c.describe(false, 100, 200), "exactly the second segment");
        assertIovec(c, 0, base + driver.host(r1, 1), 200);

        assertEquals(0, c.describe(false, 350, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> c.describe(false, 300, 51));
        assertThrows(IndexOutOfBoundsException.class, () -> c.describe(true, -1, 2));
    }

    @Test
    void describeGrowsItsIovecsForLongChainsAndKeepsThem() throws Exception {
        FakeDriver d = new FakeDriver(ram, 64, FakeGuestRam.BASE + 0x10000);
        SplitQueue q = d.queue(64, false, false);
        FakeDriver.Seg[] segs = new FakeDriver.Seg[40];
        for (int i = 0; i < segs.length; i++) {
            segs[i] = out(d.buffer(8), 8);
        }
        d.offerChain(0, segs);
        Chain c = q.pop();
        assertEquals(40, c.describe(true, 0, 320));
        MemorySegment iov = c.iovecs();
        assertTrue(iov.byteSize() >= 40 * 16);
        for (int i = 0; i < 40; i++) {
            assertIovec(c, i, ram.memory().address() + d.host(segs[i].addr(), 8), 8);
        }
        q.pushUsed(c, 320);
        d.offerChain(0, segs);
        Chain again = q.pop();
        assertSame(c, again, "pooled per head");
        again.describe(true, 4, 300);
        assertSame(iov, again.iovecs(), "storage reused");
    }

    private static void assertIovec(Chain c, int i, long base, long len) {
        assertEquals(base, c.iovecs().get(ValueLayout.JAVA_LONG, 16L * i), "iov_base " + i);
        assertEquals(len, c.iovecs().get(ValueLayout.JAVA_LONG, 16L * i + 8), "iov_len " + i);
    }

    @Test
    void indirectTableAfterDirectDescriptors() throws Exception {
        SplitQueue q = driver.queue(8, false, true);
        long hdr = driver.buffer(8);
        long more = driver.highBuffer(8);
        long data = driver.buffer(64);
        long status = driver.buffer(1);
        long table = driver.highBuffer(16 * 3);
        driver.chainAt(table, 0, in(more, 8), out(data, 64), out(status, 1));
        driver.desc(4, hdr, 8, FakeDriver.NEXT, 5);
        driver.desc(5, table, 48, FakeDriver.INDIRECT | FakeDriver.WRITE, 0); // WRITE ignored (2.7.5.3.2)
        driver.offer(4);
        Chain c = q.pop();
        assertEquals(4, c.head());
        assertEquals(16, c.readableBytes());
        assertEquals(65, c.writableBytes());
        assertEquals(4, c.segmentCount());
        assertEquals(FakeDriver.pattern(more), c.readByte(8));
        c.writeByte(64, (byte) 9);
        assertEquals(9, driver.byteAt(status));
    }

    @Test
    void chainIsACopyOfTheDescriptorsAsTheyWereWalked() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        long a = driver.buffer(4);
        long b = driver.buffer(4);
        driver.offerChain(0, in(a, 4));
        Chain c = q.pop();
        driver.desc(0, b, 4, 0, 0);
        assertEquals(FakeDriver.pattern(a), c.readByte(0));
    }

    @Test
    void zeroLengthDescriptorsAreSkipped() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        long a = driver.buffer(16);
        long b = driver.buffer(4);
        driver.offerChain(0, in(a, 0), in(a, 16), out(b, 0), out(b, 4), out(0xdead_0000L, 0));
        Chain c = q.pop();
        assertEquals(16, c.readableBytes());
        assertEquals(4, c.writableBytes());
        assertEquals(2, c.segmentCount());

        driver.offerChain(5, in(a, 0));
        Chain empty = q.pop();
        assertEquals(0, empty.readableBytes());
        assertEquals(0, empty.writableBytes());
        q.pushUsed(empty, 5);
        assertTrue(q.publishUsed());
        assertEquals(0, driver.usedLen(0), "clamped to the chain's writable bytes");
    }

    @Test
    void pushUsedClampsWhatTheDeviceClaimsToHaveWritten() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        long w = driver.buffer(10);
        driver.offerChain(0, out(w, 10));
        driver.offerChain(1, out(w, 10));
        Chain c0 = q.pop();
        Chain c1 = q.pop();
        q.pushUsed(c1, 1 << 20);
        q.pushUsed(c0, -2);
        assertTrue(q.publishUsed());
        assertEquals(2, driver.usedIdx());
        assertEquals(1, driver.usedId(0));
        assertEquals(10, driver.usedLen(0));
        assertEquals(0, driver.usedId(1));
        assertEquals(0, driver.usedLen(1));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> q.pushUsed(c0, 0));
        assertTrue(e.getMessage().contains("not in flight"), e.getMessage());
    }

    @Test
    void indicesWrapAt65536() throws Exception {
        FakeDriver d = new FakeDriver(ram, 4, FakeGuestRam.BASE + 0x20000);
        SplitQueue q = d.queue(8, true, false);
        q.restoreIndices(65534, 65534);
        d.setAvailIdx(65534);
        d.usedEvent(65535);
        long w = d.buffer(16);
        for (int head = 0; head < 4; head++) {
            d.offerChain(head, out(w, 4 + head));
        }
        assertEquals(2, d.availIdx());
        for (int head = 0; head < 4; head++) {
            Chain c = q.pop();
            assertEquals(head, c.head());
            q.pushUsed(c, 100);
        }
        assertNull(q.pop());
        assertEquals(2, q.lastAvail());
        assertEquals(2, q.usedIndex());
        assertTrue(q.publishUsed(), "used_event 65535 lies between 65534 and 2");
        assertEquals(2, d.usedIdx());
        int[] slotOfHead = {2, 3, 0, 1};
        for (int head = 0; head < 4; head++) {
            assertEquals(head, d.usedId(slotOfHead[head]));
            assertEquals(4 + head, d.usedLen(slotOfHead[head]));
        }
        assertFalse(q.enableNotifications());
        assertEquals(2, d.availEvent());
    }

    @Test
    void restoredIndicesLeaveNothingInFlight() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        driver.offerChain(0, in(driver.buffer(4), 4));
        Chain c = q.pop();
        q.restoreIndices(0, 0);
        assertEquals(0, q.inFlight());
        assertThrows(IllegalStateException.class, () -> q.pushUsed(c, 0));
        assertSame(c, q.pop(), "the same chain is available again and its head is free");
        assertThrows(IllegalArgumentException.class, () -> q.restoreIndices(65536, 0));
        assertThrows(IllegalArgumentException.class, () -> q.restoreIndices(0, -1));
    }

    @Test
    void popAfterResetStartsAfresh() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        long b = driver.buffer(4);
        driver.offerChain(0, in(b, 4));
        driver.offerChain(1, in(b, 4));
        Chain stale = q.pop();
        q.reset();
        assertFalse(q.isConfigured());
        assertEquals(0, q.size());
        assertEquals(0, q.inFlight());
        assertNull(q.pop(), "unconfigured");
        assertFalse(q.publishUsed());
        assertFalse(q.enableNotifications());
        assertThrows(IllegalStateException.class, () -> q.pushUsed(stale, 0));

        // The driver re-initialises its rings after a reset (section 3.1.1): indices from 0 again.
        driver.setAvailIdx(0);
        q.configure(8, driver.desc, driver.avail, driver.used, false, false);
        assertEquals(0, q.lastAvail());
        assertEquals(0, q.usedIndex());
        assertNull(q.pop());
        driver.offerChain(0, in(b, 4));
        Chain again = q.pop();
        assertEquals(0, again.head(), "head 0 is no longer in flight");
        q.pushUsed(again, 0);
        assertTrue(q.publishUsed());
        assertEquals(1, driver.usedIdx());
    }

    @Test
    void configureChecksSizeAlignmentAndRam() throws Exception {
        SplitQueue q = new SplitQueue(ram, 3, 8);
        assertConfigureRefused(q, 0, driver.desc, driver.avail, driver.used, "size 0 is not a power of two");
        assertConfigureRefused(q, 6, driver.desc, driver.avail, driver.used, "size 6 is not a power of two");
        assertConfigureRefused(q, 16, driver.desc, driver.avail, driver.used, "in 1..8");
        assertConfigureRefused(q, 8, driver.desc + 8, driver.avail, driver.used, "descriptor table at");
        assertConfigureRefused(q, 8, driver.desc, driver.avail + 1, driver.used, "not 2-byte aligned");
        assertConfigureRefused(q, 8, driver.desc, driver.avail, driver.used + 2, "not 4-byte aligned");
        assertConfigureRefused(q, 8, ram.holeStart(), driver.avail, driver.used, "descriptor table [0x");
        assertConfigureRefused(q, 8, driver.desc, ram.holeStart() - 8, driver.used, "available ring [0x");
        assertConfigureRefused(q, 8, driver.desc, driver.avail, ram.end() - 32, "used ring [0x");
        assertConfigureRefused(q, 8, driver.desc, driver.avail, 0, "used ring [0x0, +0x46)");
        q.configure(8, driver.desc, driver.avail, driver.used, false, false);
        assertTrue(q.isConfigured());
        assertEquals(8, q.size());
        assertThrows(IllegalArgumentException.class, () -> new SplitQueue(ram, 0, 48));
        assertThrows(IllegalArgumentException.class, () -> new SplitQueue(ram, 0, 65536));
    }

    private static void assertConfigureRefused(SplitQueue q, int size, long desc, long avail, long used,
            String problem) {
        QueueException e = assertThrows(QueueException.class,
                () -> q.configure(size, desc, avail, used, true, true));
        assertTrue(e.getMessage().startsWith("queue 3: "), e.getMessage());
        assertTrue(e.getMessage().contains(problem), e.getMessage());
        assertEquals(3, e.queue());
        assertFalse(q.isConfigured());
    }

    @Test
    void steadyStateAllocatesNothing() throws Exception {
        SplitQueue q = driver.queue(8, true, true);
        long hdr = driver.buffer(16);
        long data = driver.buffer(4096);
        long status = driver.buffer(1);
        long table = driver.buffer(48);
        driver.chainAt(table, 0, in(hdr, 16), out(data, 4096), out(status, 1));
        driver.desc(0, table, 48, FakeDriver.INDIRECT, 0);
        Runnable round = () -> {
            try {
                for (int i = 0; i < 4; i++) {
                    driver.offer(0);
                    Chain c = q.pop();
                    c.readInt(0);
                    c.describe(true, 0, 4097);
                    c.writeByte(4096, (byte) 0);
                    q.pushUsed(c, 4097);
                    q.publishUsed();
                }
                q.enableNotifications();
                q.disableNotifications();
            } catch (QueueException e) {
                throw new AssertionError(e);
            }
        };
        for (int i = 0; i < 50_000; i++) {
            round.run();
        }
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().threadId();
        long before = threads.getThreadAllocatedBytes(tid);
        for (int i = 0; i < 10_000; i++) {
            round.run();
        }
        long allocated = threads.getThreadAllocatedBytes(tid) - before;
        // A few hundred bytes of noise (the MXBean itself) is fine; a per-chain allocation would be ~MBs here.
        assertTrue(allocated < 64 * 1024, "allocated " + allocated + " bytes over 40,000 chains");
    }
}
