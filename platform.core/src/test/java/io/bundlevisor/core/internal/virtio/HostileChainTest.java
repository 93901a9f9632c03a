package io.bundlevisor.core.internal.virtio;

import static io.bundlevisor.core.internal.virtio.FakeDriver.INDIRECT;
import static io.bundlevisor.core.internal.virtio.FakeDriver.NEXT;
import static io.bundlevisor.core.internal.virtio.FakeDriver.Seg.in;
import static io.bundlevisor.core.internal.virtio.FakeDriver.Seg.out;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A driver that breaks the split-ring rules (virtio 1.x sections 2.7.4, 2.7.5, 2.7.5.3, 2.7.13): each refusal names
 * the problem, marks no head in flight, moves no index and writes nothing to guest memory.
 */
class HostileChainTest {

    private static final int SIZE = 8;

    private final FakeGuestRam ram = FakeGuestRam.withHole(1 << 20, 512 << 10, 256 << 10);
    private final FakeDriver driver = new FakeDriver(ram, SIZE);

    @AfterEach
    void close() throws Exception {
        ram.close();
    }

    /** Pops, expects a refusal naming {@code problem}, and checks that the refusal left everything as it was. */
    private static QueueException assertRefused(SplitQueue q, FakeDriver d, String problem) {
        int inFlight = q.inFlight();
        int lastAvail = q.lastAvail();
        int used = q.usedIndex();
        byte[] before = d.snapshot();
        QueueException e = assertThrows(QueueException.class, q::pop);
        assertTrue(e.getMessage().startsWith("queue 0: "), e.getMessage());
        assertTrue(e.getMessage().contains(problem), "expected '" + problem + "' in: " + e.getMessage());
        assertEquals(inFlight, q.inFlight(), "no head marked in flight");
        assertEquals(lastAvail, q.lastAvail(), "lastAvail unchanged");
        assertEquals(used, q.usedIndex(), "used index unchanged");
        assertArrayEquals(before, d.snapshot(), "guest memory untouched");
        return e;
    }

    @Test
    void availIdxTooFarAhead() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        driver.setAvailIdx(SIZE + 1);
        assertRefused(q, driver, "avail.idx 9 is 9 entries ahead of the device's 0, more than the queue size 8");
        driver.setAvailIdx(0xFFFF); // "behind" by one reads as 65535 ahead
        assertRefused(q, driver, "65535 entries ahead");
    }

    @Test
    void headOutOfRange() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        driver.offer(SIZE);
        assertRefused(q, driver, "avail.ring[0] names head 8, outside the queue size 8");
    }

    @Test
    void headAlreadyInFlight() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        long b = driver.buffer(4);
        driver.offerChain(3, in(b, 4));
        assertNotNull(q.pop());
        driver.offer(3);
        assertRefused(q, driver, "head 3 was made available again while still in flight");
        assertEquals(1, q.inFlight());
    }

    @Test
    void nextOutsideTheTable() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        driver.desc(0, driver.buffer(4), 4, NEXT, SIZE);
        driver.offer(0);
        assertRefused(q, driver, "descriptor 0 has next 8, outside its table of 8");
    }

    @Test
    void loopInTheDescriptorTable() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        long b = driver.buffer(4);
        driver.desc(0, b, 4, NEXT, 1);
        driver.desc(1, b, 4, NEXT, 0);
        driver.offer(0);
        assertRefused(q, driver, "chain at head 0 has more than 8 descriptors (the device's largest queue size): a loop?");
    }

    @Test
    void selfLoopOfZeroLengthDescriptors() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        driver.desc(2, 0, 0, NEXT, 2);
        driver.offer(2);
        assertRefused(q, driver, "more than 8 descriptors");
    }

    @Test
    void chainWithIndirectTableLongerThanTheQueue() throws Exception {
        FakeDriver d = new FakeDriver(ram, 4);
        SplitQueue q = d.queue(4, false, true);
        long b = d.buffer(4);
        long table = d.buffer(32);
        d.chainAt(table, 0, in(b, 4), in(b, 4));
        d.chainAt(d.desc, 0, in(b, 4), in(b, 4), in(b, 4));
        d.desc(2, b, 4, NEXT, 3);
        d.desc(3, table, 32, INDIRECT, 0);
        d.offer(0);
        assertRefused(q, d, "chain at head 0 has more than 4 descriptors");
    }

    @Test
    void loopInsideAnIndirectTable() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, true);
        long b = driver.buffer(4);
        long table = driver.buffer(32);
        driver.descAt(table, 0, b, 4, NEXT, 1);
        driver.descAt(table, 1, b, 4, NEXT, 0);
        driver.desc(0, table, 32, INDIRECT, 0);
        driver.offer(0);
        assertRefused(q, driver, "more than 8 descriptors");
    }

    @Test
    void indirectTableLongerThanTheQueue() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, true);
        long table = driver.buffer(16 * (SIZE + 1));
        driver.desc(0, table, 16 * (SIZE + 1), INDIRECT, 0);
        driver.offer(0);
        assertRefused(q, driver, "indirect table of descriptor 0 has 9 entries, more than the device's largest "
                + "queue size 8");
    }

    /**
     * A driver sizes requests by what the device advertises for its largest queue (virtio-blk's seg_max), so an
     * indirect table may be longer than a smaller queue the front-end chose (QEMU's vhost-user-blk: 128), up to the
     * device's maximum.
     */
    @Test
    void indirectTableUpToTheDevicesLargestQueueIsTaken() throws Exception {
        SplitQueue q = driver.queue(4 * SIZE, false, true); // device maximum 32, queue of 8
        long table = driver.buffer(16 * (2 * SIZE));
        for (int i = 0; i < 2 * SIZE; i++) {
            driver.descAt(table, i, driver.buffer(4), 4, i + 1 < 2 * SIZE ? NEXT : 0, i + 1);
        }
        driver.desc(0, table, 16 * (2 * SIZE), INDIRECT, 0);
        driver.offer(0);
        Chain c = q.pop();
        assertEquals(4 * 2 * SIZE, c.readableBytes());
    }

    @Test
    void indirectWithoutTheFeature() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        long table = driver.buffer(16);
        driver.chainAt(table, 0, in(driver.buffer(4), 4));
        driver.desc(0, table, 16, INDIRECT, 0);
        driver.offer(0);
        assertRefused(q, driver, "descriptor 0 is INDIRECT but VIRTIO_F_INDIRECT_DESC was not negotiated");
    }

    @Test
    void indirectTogetherWithNext() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, true);
        long table = driver.buffer(16);
        driver.chainAt(table, 0, in(driver.buffer(4), 4));
        driver.desc(0, table, 16, INDIRECT | NEXT, 1);
        driver.desc(1, driver.buffer(4), 4, 0, 0);
        driver.offer(0);
        assertRefused(q, driver, "descriptor 0 has both INDIRECT and NEXT");
    }

    @Test
    void nestedIndirectTable() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, true);
        long inner = driver.buffer(16);
        driver.chainAt(inner, 0, in(driver.buffer(4), 4));
        long outer = driver.buffer(32);
        driver.descAt(outer, 0, driver.buffer(4), 4, NEXT, 1);
        driver.descAt(outer, 1, inner, 16, INDIRECT, 0);
        driver.desc(0, outer, 32, INDIRECT, 0);
        driver.offer(0);
        assertRefused(q, driver, "indirect descriptor 1 is itself INDIRECT (nested indirect table)");
    }

    @Test
    void indirectTableOfLengthZero() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, true);
        driver.desc(0, driver.buffer(16), 0, INDIRECT, 0);
        driver.offer(0);
        assertRefused(q, driver, "indirect table of descriptor 0 has length 0, not a non-zero multiple of 16");
    }

    @Test
    void indirectTableNotWholeDescriptors() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, true);
        driver.desc(0, driver.buffer(32), 24, INDIRECT, 0);
        driver.offer(0);
        assertRefused(q, driver, "has length 24, not a non-zero multiple of 16");
    }

    @Test
    void indirectTableNotInRam() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, true);
        long straddling = ram.holeStart() - 16;
        driver.desc(0, straddling, 32, INDIRECT, 0);
        driver.offer(0);
        assertRefused(q, driver, String.format("indirect table [0x%x, +0x20) of descriptor 0 is not guest RAM",
                straddling));
    }

    @Test
    void nextOutsideAnIndirectTable() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, true);
        long table = driver.buffer(32);
        long b = driver.buffer(4);
        driver.descAt(table, 0, b, 4, NEXT, 1);
        driver.descAt(table, 1, b, 4, NEXT, 2);
        driver.desc(0, table, 32, INDIRECT, 0);
        driver.offer(0);
        assertRefused(q, driver, "indirect descriptor 1 has next 2, outside its table of 2");
    }

    @Test
    void bufferInTheHole() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        driver.offerChain(0, in(driver.buffer(4), 4), out(ram.holeStart() + 4096, 512));
        assertRefused(q, driver,
                String.format("buffer [0x%x, +0x200) of descriptor 1 is not guest RAM", ram.holeStart() + 4096));
    }

    @Test
    void bufferStraddlingIntoTheHole() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        driver.offerChain(0, in(ram.holeStart() - 8, 16));
        assertRefused(q, driver, "of descriptor 0 is not guest RAM");
    }

    @Test
    void bufferPastTheEndOfRam() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        driver.offerChain(0, out(ram.end() - 8, 9));
        assertRefused(q, driver, "of descriptor 0 is not guest RAM");
    }

    @Test
    void bufferBelowRamAndOverflowingAddresses() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        driver.offerChain(0, in(0, 16));
        assertRefused(q, driver, "buffer [0x0, +0x10) of descriptor 0 is not guest RAM");
        driver.chainAt(driver.desc, 0, in(-256, 0x1000));
        assertRefused(q, driver, "buffer [0xffffffffffffff00, +0x1000) of descriptor 0 is not guest RAM");
        driver.chainAt(driver.desc, 0, in(FakeGuestRam.BASE, -1));
        assertRefused(q, driver, "+0xffffffff) of descriptor 0 is not guest RAM");
    }

    @Test
    void bufferOfAnIndirectDescriptorNotInRam() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, true);
        long table = driver.buffer(32);
        driver.chainAt(table, 0, in(driver.buffer(4), 4), out(ram.end(), 1));
        driver.desc(0, table, 32, INDIRECT, 0);
        driver.offer(0);
        assertRefused(q, driver, "of indirect descriptor 1 is not guest RAM");
    }

    @Test
    void readableAfterWritable() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        long b = driver.buffer(8);
        driver.offerChain(0, in(b, 4), out(b, 4), in(b, 4));
        assertRefused(q, driver, "device-readable descriptor 2 follows a device-writable one");
    }

    @Test
    void readableAfterWritableInsideAnIndirectTable() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, true);
        long b = driver.buffer(8);
        long table = driver.buffer(32);
        driver.chainAt(table, 0, out(b, 4), in(b, 4));
        driver.desc(0, table, 32, INDIRECT, 0);
        driver.offer(0);
        assertRefused(q, driver, "device-readable indirect descriptor 1 follows a device-writable one");
    }

    @Test
    void readableBytesBeyondIntRange() throws Exception {
        // Two descriptors over the same GiB: 2^31 readable bytes. Sparse RAM, so nothing is touched.
        try (FakeGuestRam big = FakeGuestRam.sparse((1L << 30) + (1 << 20))) {
            FakeDriver d = new FakeDriver(big, 4);
            SplitQueue q = d.queue(4, false, false);
            long gib = FakeGuestRam.BASE + (1 << 20);
            d.chainAt(d.desc, 0, in(gib, 1 << 30), in(gib, 1 << 30));
            d.offer(0);
            QueueException e = assertThrows(QueueException.class, q::pop);
            assertEquals("queue 0: chain at head 0 has more than 2147483647 device-readable bytes", e.getMessage());
            assertEquals(0, q.inFlight());
            assertEquals(0, q.lastAvail());
        }
    }

    @Test
    void writableBytesBeyondIntRange() throws Exception {
        try (FakeGuestRam big = FakeGuestRam.sparse((1L << 30) + (1 << 20))) {
            FakeDriver d = new FakeDriver(big, 4);
            SplitQueue q = d.queue(4, false, false);
            long gib = FakeGuestRam.BASE + (1 << 20);
            d.chainAt(d.desc, 0, in(gib, 16), out(gib, 1 << 30), out(gib + 1, (1 << 30) - 1), out(gib, 1));
            d.offer(0);
            QueueException e = assertThrows(QueueException.class, q::pop);
            assertEquals("queue 0: chain at head 0 has more than 2147483647 device-writable bytes", e.getMessage());
            assertEquals(0, q.inFlight());
        }
    }

    @Test
    void aRefusedHeadIsNotInFlightAndPopsOnceRepaired() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        long b = driver.buffer(4);
        driver.offerChain(5, in(b, 4), out(ram.holeStart(), 4));
        assertRefused(q, driver, "not guest RAM");
        driver.chainAt(driver.desc, 5, in(b, 4), out(b, 4));
        Chain c = q.pop();
        assertEquals(5, c.head());
        assertEquals(4, c.readableBytes());
        assertEquals(4, c.writableBytes());
        assertEquals(1, q.inFlight());
    }

    @Test
    void refusalsCarryNoStackTrace() throws Exception {
        SplitQueue q = driver.queue(SIZE, false, false);
        driver.offer(SIZE);
        QueueException e = assertThrows(QueueException.class, q::pop);
        assertEquals(0, e.getStackTrace().length);
    }
}
