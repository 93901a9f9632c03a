package io.bundlevisor.device.net.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import io.bundlevisor.core.virtio.VirtioDevice;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The control queue: what it takes, and VIRTIO_NET_ERR for anything else. */
class NetCtrlTest {

    private final Arena arena = Arena.ofConfined();
    private long mac = -1;
    private int pairs = -1;
    private boolean tapRefuses;
    private NetCtrl ctrl;

    @BeforeEach
    void setUp() {
        ctrl = new NetCtrl(4, 2, new NetCounters(5), new NetWarnings("test"), new NetCtrl.Effects() {
            @Override
            public void macSet(long m) {
                mac = m;
            }

            @Override
            public boolean pairsSet(int n) {
                pairs = n;
                return !tapRefuses;
            }
        });
        ctrl.activate(NetConfig.DATA_FEATURES | NetConfig.CONTROL_FEATURES | NetSpec.MQ);
    }

    @AfterEach
    void tearDown() {
        arena.close();
    }

    private int ack(byte... command) {
        FakeChain c = new FakeChain(arena, 0, command, 1);
        assertEquals(1, ctrl.handle(c));
        return c.written()[0];
    }

    private static byte[] cmd(int cls, int command, byte... data) {
        byte[] b = new byte[2 + data.length];
        b[0] = (byte) cls;
        b[1] = (byte) command;
        System.arraycopy(data, 0, b, 2, data.length);
        return b;
    }

    private static byte[] macTable(int uni, int multi, int extra) {
        ByteBuffer b = ByteBuffer.allocate(8 + 6 * (uni + multi) + extra).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(uni);
        b.position(4 + 6 * uni);
        b.putInt(multi);
        return b.array();
    }

    @Test
    void whatItTakes() {
        assertEquals(NetSpec.OK, ack(cmd(NetSpec.CLASS_RX, NetSpec.RX_PROMISC, (byte) 1)));
        assertEquals(1, ctrl.rxModes());
        assertEquals(NetSpec.OK, ack(cmd(NetSpec.CLASS_MAC, NetSpec.MAC_ADDR_SET, (byte) 2, (byte) 0, (byte) 0,
                (byte) 0, (byte) 0, (byte) 9)));
        assertEquals(0x020000000009L, mac);
        assertEquals(NetSpec.OK, ack(cmd(NetSpec.CLASS_MAC, NetSpec.MAC_TABLE_SET, macTable(1, 2, 0))));
        assertEquals(3, ctrl.macEntries());
        assertEquals(NetSpec.OK, ack(cmd(NetSpec.CLASS_MQ, NetSpec.MQ_VQ_PAIRS_SET, (byte) 2, (byte) 0)));
        assertEquals(2, pairs);
        assertEquals(2, ctrl.pairs());
    }

    @Test
    void anythingElseIsAnErrorNotAReset() {
        assertEquals(NetSpec.ERR, ack(cmd(9, 0)), "unknown class");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_RX, 6, (byte) 1)), "unknown command");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_RX, NetSpec.RX_PROMISC)), "no data");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_RX, NetSpec.RX_PROMISC, (byte) 1, (byte) 1)), "too long");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_MAC, NetSpec.MAC_ADDR_SET, (byte) 2)), "short MAC");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_MAC, NetSpec.MAC_TABLE_SET, macTable(1, 1, 1))),
                "a table with a byte too many");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_MAC, NetSpec.MAC_TABLE_SET, macTable(1, 1, -3))),
                "a table cut short");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_MAC, NetSpec.MAC_TABLE_SET,
                ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(0x7fffffff).array())), "huge count");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_MQ, NetSpec.MQ_VQ_PAIRS_SET, (byte) 0, (byte) 0)), "0 pairs");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_MQ, NetSpec.MQ_VQ_PAIRS_SET, (byte) 3, (byte) 0)),
                "more pairs than offered");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_MQ, NetSpec.MQ_VQ_PAIRS_SET, (byte) 1)), "short");
        tapRefuses = true;
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_MQ, NetSpec.MQ_VQ_PAIRS_SET, (byte) 1, (byte) 0)));
        assertEquals(NetSpec.ERR, ack((byte) 0), "no command byte");
        ctrl.activate(NetConfig.DATA_FEATURES | NetSpec.CTRL_VQ);
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_RX, NetSpec.RX_PROMISC, (byte) 1)), "CTRL_RX not agreed");
        assertEquals(NetSpec.ERR, ack(cmd(NetSpec.CLASS_MQ, NetSpec.MQ_VQ_PAIRS_SET, (byte) 1, (byte) 0)),
                "MQ not agreed");
    }

    @Test
    void aCommandWithNoRoomForTheAckNeedsAReset() {
        assertEquals(VirtioDevice.NEEDS_RESET, ctrl.handle(FakeChain.tx(arena, 0, cmd(NetSpec.CLASS_RX, 0, (byte) 1))));
    }
}
