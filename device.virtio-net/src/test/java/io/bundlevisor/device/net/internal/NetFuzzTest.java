package io.bundlevisor.device.net.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Timeout;

import io.bundlevisor.core.virtio.VirtioDevice;

/**
 * Coverage-guided fuzzing (Jazzer) of virtio-net's guest-facing parsers (virtio 1.2 section 5.1.6): the transmit
 * header check over any chain and any negotiated features, and the control queue over any command. With the unit
 * tests only the committed seeds run (NetFuzzTestInputs); {@code scripts/fuzz.sh} fuzzes for longer.
 *
 * <p>What must hold for every input. Transmit: {@link NetTxCheck#check} never throws, and what it lets through is
 * what section 5.1.6.2 allows, as read here from the header bytes: nothing writable, an Ethernet header, at most a
 * maximal frame, GSO only with its HOST_* feature and a size, NEEDS_CSUM only with CSUM and inside the frame.
 * Control: {@link NetCtrl#handle} never throws; a chain with no room for the ack needs a reset, any other gets OK or
 * ERR in its first writable byte; the queue pairs stay within 1..max and the MAC filter within its two tables.
 */
class NetFuzzTest {

    private static final long FEATURES = NetSpec.CSUM | NetSpec.HOST_TSO4 | NetSpec.HOST_TSO6 | NetSpec.HOST_ECN
            | NetSpec.HOST_UFO | NetSpec.CTRL_RX | NetSpec.MQ | NetSpec.CTRL_MAC_ADDR;
    /** One for every input: each refusal is logged once, not once an input. */
    private static final NetWarnings WARNINGS = new NetWarnings("fuzz");

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void transmitHeadersPassOnlyWhatTheSpecAllows(FuzzedDataProvider data) {
        long features = data.consumeLong() & FEATURES;
        int writable = data.consumeBoolean() ? 0 : data.consumeInt(0, 64);
        int padding = data.consumeBoolean() ? 0 : data.consumeInt(0, NetSpec.MAX_FRAME + 64);
        byte[] header = data.consumeBytes(NetSpec.HDR_SIZE + NetSpec.ETH_HLEN + 64);
        byte[] bytes = java.util.Arrays.copyOf(header, header.length + padding);
        try (Arena arena = Arena.ofConfined()) {
            FakeChain chain = writable == 0 ? FakeChain.tx(arena, 0, bytes) : new FakeChain(arena, 0, bytes,
                    writable);
            NetRefusal refusal = NetTxCheck.check(chain, features);
            if (refusal != null) {
                return;
            }
            int frame = bytes.length - NetSpec.HDR_SIZE;
            assertEquals(0, writable, "a transmit chain with writable buffers");
            assertTrue(frame >= NetSpec.ETH_HLEN && frame <= NetSpec.MAX_FRAME, "frame of " + frame + " bytes");
            int gso = bytes[NetSpec.HDR_GSO_TYPE] & 0xff;
            if (gso != NetSpec.GSO_NONE) {
                long needed = switch (gso & 0x7f) {
                    case NetSpec.GSO_TCPV4 -> NetSpec.HOST_TSO4;
                    case NetSpec.GSO_TCPV6 -> NetSpec.HOST_TSO6;
                    case NetSpec.GSO_UDP -> NetSpec.HOST_UFO;
                    default -> throw new AssertionError("gso_type " + gso + " let through");
                } | ((gso & NetSpec.GSO_ECN) != 0 ? NetSpec.HOST_ECN : 0);
                assertEquals(needed, features & needed, "GSO without its feature");
                assertTrue(u16(bytes, NetSpec.HDR_GSO_SIZE) != 0, "GSO without a size");
            }
            if ((bytes[NetSpec.HDR_FLAGS] & NetSpec.F_NEEDS_CSUM) != 0) {
                assertTrue((features & NetSpec.CSUM) != 0, "NEEDS_CSUM without CSUM");
                assertTrue(u16(bytes, NetSpec.HDR_CSUM_START) + u16(bytes, NetSpec.HDR_CSUM_OFFSET) + 2 <= frame,
                        "checksum outside the frame");
            }
        }
    }

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void controlCommandsAreAckedAndKeepTheDeviceSound(FuzzedDataProvider data) {
        int maxPairs = data.consumeInt(1, 8);
        int[] pairsAsked = {-1};
        NetCtrl ctrl = new NetCtrl(2 * maxPairs, maxPairs, new NetCounters(2 * maxPairs + 1), WARNINGS,
                new NetCtrl.Effects() {
                    @Override
                    public void macSet(long mac) {
                        assertEquals(0, mac >>> 48, "a MAC of more than six bytes");
                    }

                    @Override
                    public boolean pairsSet(int n) {
                        pairsAsked[0] = n;
                        return n <= maxPairs;
                    }
                });
        ctrl.activate(data.consumeLong() & FEATURES);
        try (Arena arena = Arena.ofConfined()) {
            int commands = data.consumeInt(1, 8);
            for (int i = 0; i < commands; i++) {
                int[] writable = new int[data.consumeInt(0, 2)];
                for (int w = 0; w < writable.length; w++) {
                    writable[w] = data.consumeInt(0, 4);
                }
                byte[] command = data.consumeBytes(data.consumeInt(0, 3200));
                FakeChain chain = new FakeChain(arena, i, command, writable);
                int result = ctrl.handle(chain);
                if (chain.writableBytes() < 1) {
                    assertEquals(VirtioDevice.NEEDS_RESET, result, "no room for the ack");
                    continue;
                }
                assertEquals(1, result, "the ack is one byte");
                int ack = chain.written()[0];
                assertTrue(ack == NetSpec.OK || ack == NetSpec.ERR, "ack " + ack);
                assertTrue(ctrl.pairs() >= 1 && ctrl.pairs() <= maxPairs, "pairs " + ctrl.pairs());
                assertTrue(ctrl.macEntries() >= 0 && ctrl.macEntries() <= 2 * NetSpec.MAX_MAC_ENTRIES);
            }
        }
    }

    private static int u16(byte[] b, int at) {
        return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8;
    }
}
