package io.bundlevisor.device.net.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.Opcode;
import io.bundlevisor.core.virtio.VirtioDevice;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The receive side on fake guest memory: buffers held, one readv over them, packets spread, reads cancelled. */
class NetRxTest {

    private static final int FD = 42;
    private final Arena arena = Arena.ofConfined();
    private final NetCounters counters = new NetCounters(3);
    private final NetRx rx = new NetRx(0, FD, 256, arena.allocate(NetRx.IOVEC_BYTES, 8), counters,
            new NetWarnings("test"));
    private final FakeQueueIo io = new FakeQueueIo();

    @AfterEach
    void tearDown() {
        arena.close();
    }

    @Test
    void withoutMergeableBuffersEachPacketFillsOneChainAndSaysSo() {
        rx.activate(NetConfig.DATA_FEATURES & ~NetSpec.MRG_RXBUF & ~NetSpec.GUEST_CSUM, 256, 1500);
        FakeChain a = FakeChain.rx(arena, 0, 12, 1514);
        FakeChain b = FakeChain.rx(arena, 1, 1526);
        assertEquals(VirtioDevice.HOLD, rx.handle(a));
        assertEquals(VirtioDevice.HOLD, rx.handle(b));
        assertEquals(2, counters.queue(0).pending());
        rx.serviced(io);
        assertEquals(1, io.submitted, "a quiet queue posts one read");
        assertEquals(Opcode.READV, io.sqe.opcode());
        assertEquals(FD, io.sqe.fd());
        assertEquals(2, io.sqe.len(), "one chain's two buffers");
        a.writeByte(NetSpec.HDR_FLAGS, (byte) NetSpec.F_DATA_VALID);
        rx.completeIo(0, 12 + 60, io);
        assertSame(a, io.completed.get(0));
        assertEquals(72, io.lengths.get(0));
        assertEquals(1, a.written()[NetSpec.HDR_NUM_BUFFERS]);
        assertEquals(0, a.written()[NetSpec.HDR_FLAGS], "no GUEST_CSUM: flags are 0 (5.1.6.4.1)");
        assertEquals(1, counters.queue(0).packets());
        assertEquals(60, counters.queue(0).bytes());
        assertEquals(1, counters.queue(0).pending());
        rx.completeIo(0, 12 + 60, io);
        assertEquals(1, io.completed.size(), "a read completes once");
        rx.serviced(io);
        rx.completeIo(io.lastTag, 12 + 100, io);
        assertSame(b, io.completed.get(1), "the next packet takes the next chain");
    }

    @Test
    void readsInFlightGrowWhileEachFindsAPacketUpToTheBound() {
        rx.activate(NetConfig.DATA_FEATURES & ~NetSpec.MRG_RXBUF, 256, 1500);
        for (int i = 0; i < 3 * NetRx.MAX_READS; i++) {
            rx.handle(FakeChain.rx(arena, i, 1526));
        }
        java.util.Set<Integer> inFlight = new java.util.TreeSet<>();
        int most = 0;
        for (int round = 0; round < 12; round++) {
            int before = io.submitted;
            rx.serviced(io);
            for (int t = 0; t < io.submitted - before; t++) {
                inFlight.add(inFlight.size()); // tags are the lowest free slots: 0..n-1 here
            }
            most = Math.max(most, inFlight.size());
            for (int tag : inFlight) {
                rx.completeIo(tag, 12 + 64, io);
            }
            inFlight.clear();
        }
        assertEquals(NetRx.MAX_READS, most, "1, 2, 4, ... up to the bound");
        io.refuse = true;
        rx.serviced(io);
        int refused = io.submitted;
        io.refuse = false;
        assertEquals(refused, io.submitted, "the worker had no room: nothing posted, the chains stay free");
    }

    @Test
    void aMergeablePacketSpansChainsInOrderAndTheFirstCountsThem() {
        rx.activate(NetConfig.DATA_FEATURES, 256, 1500);
        FakeChain[] chains = new FakeChain[50];
        for (int i = 0; i < chains.length; i++) {
            chains[i] = FakeChain.rx(arena, i, 1536);
            rx.handle(chains[i]);
        }
        rx.serviced(io);
        assertEquals(1, io.submitted, "50 x 1536 bytes hold a 64 KiB TSO packet");
        assertEquals(43, io.sqe.len(), "as many chains as the largest packet needs");
        rx.completeIo(0, 12 + 4000, io);
        assertEquals(3, io.completed.size());
        assertEquals(java.util.List.of(1536, 1536, 4012 - 3072), io.lengths);
        assertEquals(3, chains[0].written()[NetSpec.HDR_NUM_BUFFERS]);
        io.clear();
        rx.serviced(io);
        rx.completeIo(io.lastTag, 12 + 100, io);
        assertSame(chains[3], io.completed.get(0), "the next packet takes the next chain");
    }

    @Test
    void mergeableReadsWaitForEnoughBuffersAndNoBuffersMeansNoRead() {
        rx.activate(NetConfig.DATA_FEATURES, 256, 1500);
        rx.serviced(io);
        assertEquals(0, io.submitted, "no buffers: nothing posted, nothing spins");
        rx.handle(FakeChain.rx(arena, 0, 1536));
        rx.serviced(io);
        assertEquals(0, io.submitted, "one buffer cannot take a 64 KiB packet yet, and more are coming");
    }

    @Test
    void hostileAndOversizedAreDroppedAndCounted() {
        rx.activate(NetConfig.DATA_FEATURES & ~NetSpec.MRG_RXBUF, 256, 1500);
        assertEquals(0, rx.handle(FakeChain.rx(arena, 0, 11)), "smaller than the header: given back empty");
        assertEquals(0, rx.handle(FakeChain.rx(arena, 1)), "no writable byte at all");
        assertEquals(2, counters.queue(0).drops());
        FakeChain small = FakeChain.rx(arena, 2, 100);
        rx.handle(small);
        rx.serviced(io);
        rx.completeIo(0, 2000, io);
        assertEquals(0, io.completed.size(), "the tap reports a packet larger than the buffer: dropped");
        assertEquals(3, counters.queue(0).drops());
        rx.serviced(io);
        assertEquals(2, io.submitted, "the buffer is still held and read into again");
        rx.completeIo(0, -Errno.EIO, io);
        assertEquals(1, counters.queue(0).errors());
    }

    @Test
    void quiesceCancelsTheReadsThenReleasesEveryBuffer() {
        rx.activate(NetConfig.DATA_FEATURES & ~NetSpec.MRG_RXBUF, 256, 1500);
        for (int i = 0; i < 8; i++) {
            rx.handle(FakeChain.rx(arena, i, 1526));
        }
        rx.serviced(io);
        rx.completeIo(0, 12 + 64, io); // one read found a packet: two are posted next
        rx.serviced(io);
        rx.quiesce(io);
        assertEquals(2, io.cancelled);
        rx.completeIo(0, -Errno.ECANCELED, io);
        assertEquals(0, io.released, "not while a read may still write into them");
        rx.completeIo(1, -Errno.ECANCELED, io);
        assertEquals(1, io.released);
        assertEquals(0, counters.queue(0).errors(), "a cancellation is no error");
        assertEquals(0, counters.queue(0).pending());
    }

    @Test
    void aReadCancelledTooLateDeliversItsPacketThenReleasesTheRest() {
        rx.activate(NetConfig.DATA_FEATURES & ~NetSpec.MRG_RXBUF, 256, 1500);
        FakeChain a = FakeChain.rx(arena, 0, 1526);
        rx.handle(a);
        rx.handle(FakeChain.rx(arena, 1, 1526));
        rx.serviced(io);
        rx.quiesce(io);
        assertEquals(1, io.cancelled);
        rx.completeIo(0, 12 + 64, io);
        assertSame(a, io.completed.get(0), "a packet taken is never lost");
        assertEquals(1, io.released);
    }

    @Test
    void quiesceWithoutAReadReleasesAtOnce() {
        rx.activate(NetConfig.DATA_FEATURES, 256, 1500);
        rx.handle(FakeChain.rx(arena, 0, 1536));
        rx.quiesce(io);
        assertEquals(0, io.cancelled);
        assertEquals(1, io.released);
    }

    static int u16(FakeChain c, int offset) {
        byte[] w = c.written();
        return (w[offset] & 0xff) | (w[offset + 1] & 0xff) << 8;
    }

    static final ValueLayout.OfByte B = ValueLayout.JAVA_BYTE;
}
