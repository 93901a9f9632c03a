package io.bundlevisor.device.net.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;

import io.bundlevisor.core.ring.Sqe;

import org.junit.jupiter.api.Test;

/** Packets in, packets out, control commands: once compiled, the data path allocates nothing. */
class NetHotPathTest {

    @Test
    void theDataPathAllocatesNothing() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (Arena arena = Arena.ofConfined()) {
            NetCounters counters = new NetCounters(5);
            NetWarnings warnings = new NetWarnings("hot");
            NetRx rx = new NetRx(0, 3, 256, arena.allocate(NetRx.IOVEC_BYTES, 8), counters, warnings);
            NetTx tx = new NetTx(1, 3, counters, warnings);
            NetCtrl ctrl = new NetCtrl(4, 2, counters, warnings, new NetCtrl.Effects() {
                @Override
                public void macSet(long mac) {
                }

                @Override
                public boolean pairsSet(int pairs) {
                    return true;
                }
            });
            long features = NetConfig.DATA_FEATURES | NetConfig.CONTROL_FEATURES | NetSpec.MQ;
            rx.activate(features, 256, 1500);
            tx.activate(features);
            ctrl.activate(features);
            FakeChain[] buffers = new FakeChain[64];
            for (int i = 0; i < buffers.length; i++) {
                buffers[i] = FakeChain.rx(arena, i, 1536);
            }
            FakeChain frame = FakeChain.tx(arena, 0, NetTxTest.frame(1, NetSpec.GSO_TCPV4, 1448, 34, 16, 9000));
            FakeChain bad = FakeChain.tx(arena, 1, new byte[3]);
            FakeChain command = new FakeChain(arena, 2, new byte[] {NetSpec.CLASS_MQ, NetSpec.MQ_VQ_PAIRS_SET, 2, 0},
                    1);
            FakeQueueIo io = new FakeQueueIo();
            io.record = false;
            Sqe sqe = new Sqe();
            Runnable round = () -> {
                io.clear();
                for (FakeChain b : buffers) {
                    rx.handle(b);
                }
                for (int p = 0; p < 10; p++) { // 10 packets of 2 buffers: 44 left still hold a 64 KiB one
                    rx.serviced(io);
                    rx.completeIo(io.lastTag, 12 + 3000 + p, io);
                }
                rx.quiesce(io);
                tx.handle(frame, sqe);
                tx.complete(frame, 9012);
                tx.handle(bad, sqe);
                ctrl.handle(command);
            };
            for (int i = 0; i < 20_000; i++) {
                round.run();
            }
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 1000; i++) {
                round.run();
            }
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertEquals(0, allocated, "bytes allocated by 1000 rounds");
            assertEquals(21_000L * 20, io.completions, "every packet was delivered");
        }
    }
}
