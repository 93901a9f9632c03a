package io.bundlevisor.device.net.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.Opcode;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.VirtioDevice;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The transmit side: every hostile header is dropped and counted; a good frame is one writev from guest memory. */
class NetTxTest {

    private static final long ALL = NetConfig.DATA_FEATURES;
    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void tearDown() {
        arena.close();
    }

    /** A header with these fields and a frame of {@code frame} bytes. */
    static byte[] frame(int flags, int gsoType, int gsoSize, int csumStart, int csumOffset, int frame) {
        ByteBuffer b = ByteBuffer.allocate(NetSpec.HDR_SIZE + frame).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0, (byte) flags).put(1, (byte) gsoType).putShort(4, (short) gsoSize).putShort(6, (short) csumStart)
                .putShort(8, (short) csumOffset);
        return b.array();
    }

    private NetRefusal check(byte[] bytes, long features) {
        return NetTxCheck.check(FakeChain.tx(arena, 0, bytes), features);
    }

    @Test
    void hostileHeadersAreRefusedEachForItsReason() {
        assertEquals(NetRefusal.TX_SHORT, check(new byte[11], ALL));
        assertEquals(NetRefusal.TX_SHORT, check(frame(0, 0, 0, 0, 0, 13), ALL));
        assertEquals(NetRefusal.TX_OVERSIZE, check(frame(0, 0, 0, 0, 0, NetSpec.MAX_FRAME + 1), ALL));
        assertEquals(NetRefusal.TX_WRITABLE, NetTxCheck.check(new FakeChain(arena, 0, frame(0, 0, 0, 0, 0, 60), 4),
                ALL));
        assertEquals(NetRefusal.TX_GSO_NOT_NEGOTIATED, check(frame(1, NetSpec.GSO_TCPV4, 1448, 34, 16, 3000),
                ALL & ~NetSpec.HOST_TSO4));
        assertEquals(NetRefusal.TX_GSO_NOT_NEGOTIATED, check(frame(1, NetSpec.GSO_UDP, 1448, 34, 6, 3000), ALL),
                "UFO is not offered");
        assertEquals(NetRefusal.TX_GSO_NOT_NEGOTIATED, check(frame(1, 0x42, 1448, 34, 16, 3000), ALL));
        assertEquals(NetRefusal.TX_GSO_NOT_NEGOTIATED,
                check(frame(1, NetSpec.GSO_TCPV6 | NetSpec.GSO_ECN, 1448, 54, 16, 3000), ALL & ~NetSpec.HOST_ECN));
        assertEquals(NetRefusal.TX_GSO_SIZE, check(frame(1, NetSpec.GSO_TCPV4, 0, 34, 16, 3000), ALL));
        assertEquals(NetRefusal.TX_CSUM_NOT_NEGOTIATED, check(frame(1, 0, 0, 34, 16, 100), ALL & ~NetSpec.CSUM));
        assertEquals(NetRefusal.TX_CSUM_RANGE, check(frame(1, 0, 0, 90, 16, 100), ALL));
        assertEquals(NetRefusal.TX_CSUM_RANGE, check(frame(1, 0, 0, 0xffff, 0xffff, 100), ALL));
    }

    @Test
    void goodFramesPass() {
        assertNull(check(frame(0, 0, 0, 0, 0, 60), ALL));
        assertNull(check(frame(1, 0, 0, 34, 16, 100), ALL));
        assertNull(check(frame(1, NetSpec.GSO_TCPV4, 1448, 34, 16, 65000), ALL));
        assertNull(check(frame(1, NetSpec.GSO_TCPV6 | NetSpec.GSO_ECN, 1428, 54, 16, NetSpec.MAX_FRAME), ALL));
    }

    @Test
    void aGoodFrameIsOneWritevAndARefusedOneIsDroppedNotAReset() {
        NetCounters counters = new NetCounters(3);
        NetTx tx = new NetTx(1, 7, counters, new NetWarnings("test"));
        tx.activate(ALL);
        Sqe sqe = new Sqe();
        FakeChain good = FakeChain.tx(arena, 0, frame(0, 0, 0, 0, 0, 60));
        assertEquals(VirtioDevice.SUBMIT, tx.handle(good, sqe));
        assertEquals(Opcode.WRITEV, sqe.opcode());
        assertEquals(7, sqe.fd());
        assertEquals(1, sqe.len());
        assertEquals(good.iovecs().address(), sqe.addr(), "straight from guest memory, no copy");
        assertEquals(0, tx.complete(good, 72));
        assertEquals(1, counters.queue(1).packets());
        assertEquals(60, counters.queue(1).bytes());
        assertEquals(0, tx.handle(FakeChain.tx(arena, 1, new byte[5]), sqe));
        assertEquals(1, counters.queue(1).drops());
        assertEquals(0, tx.complete(good, -Errno.EIO), "the tap refused it: counted, the queue goes on");
        assertEquals(1, counters.queue(1).errors());
    }
}
