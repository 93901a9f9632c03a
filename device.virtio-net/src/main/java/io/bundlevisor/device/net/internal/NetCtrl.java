package io.bundlevisor.device.net.internal;

import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.VirtioDevice;

/**
 * The control queue (virtio 1.2 section 5.1.6.5): {@code class, command, data..., ack}. What we take:
 * <ul>
 * <li>{@code VIRTIO_NET_CTRL_RX} (with CTRL_RX): the six receive modes, one byte each. They are recorded and shown;
 * the tap does no filtering of its own, and what reaches it is what the host routes to the guest;
 * <li>{@code VIRTIO_NET_CTRL_MAC}: {@code MAC_TABLE_SET} (with CTRL_RX; two tables, each a count and that many
 * addresses, exactly), {@code MAC_ADDR_SET} (with CTRL_MAC_ADDR; six bytes: the config space's {@code mac} follows);
 * <li>{@code VIRTIO_NET_CTRL_MQ} {@code VQ_PAIRS_SET} (with MQ): 1..max_virtqueue_pairs; the tap then steers to that
 * many queues only.
 * </ul>
 * Anything else, or of the wrong length, is answered {@code VIRTIO_NET_ERR}; a command without room for the ack cannot
 * be answered and makes the device need a reset. Worker thread only; allocates nothing.
 */
final class NetCtrl {

    /** What a command changes outside the control queue. */
    interface Effects {
        /** The driver set the MAC address. */
        void macSet(long mac);

        /** The driver asked for {@code pairs} queue pairs; false if the tap refused. */
        boolean pairsSet(int pairs);
    }

    private final int queue;
    private final int maxPairs;
    private final NetCounters counters;
    private final NetWarnings warnings;
    private final Effects effects;
    private long features;
    private int rxModes;
    private int macEntries;
    private int pairs = 1;

    NetCtrl(int queue, int maxPairs, NetCounters counters, NetWarnings warnings, Effects effects) {
        this.queue = queue;
        this.maxPairs = maxPairs;
        this.counters = counters;
        this.warnings = warnings;
        this.effects = effects;
    }

    void activate(long negotiated) {
        this.features = negotiated;
    }

    void reset() {
        rxModes = 0;
        macEntries = 0;
        pairs = 1;
    }

    int handle(DescChain chain) {
        if (chain.writableBytes() < 1) {
            warnings.refused(NetRefusal.CTRL_SHORT, queue);
            return VirtioDevice.NEEDS_RESET;
        }
        NetRefusal refusal = chain.readableBytes() < 2 ? NetRefusal.CTRL_SHORT : command(chain);
        if (refusal != null) {
            warnings.refused(refusal, queue);
            counters.error(queue);
        } else {
            counters.packet(queue, 0);
        }
        chain.writeByte(0, (byte) (refusal == null ? NetSpec.OK : NetSpec.ERR));
        return 1;
    }

    private NetRefusal command(DescChain chain) {
        int cls = chain.readByte(0) & 0xff;
        int cmd = chain.readByte(1) & 0xff;
        int length = chain.readableBytes() - 2;
        switch (cls) {
            case NetSpec.CLASS_RX -> {
                if ((features & NetSpec.CTRL_RX) == 0 || cmd > NetSpec.RX_NOBCAST) {
                    return NetRefusal.CTRL_UNKNOWN;
                }
                if (length != 1) {
                    return NetRefusal.CTRL_LENGTH;
                }
                rxModes = chain.readByte(2) != 0 ? rxModes | 1 << cmd : rxModes & ~(1 << cmd);
                return null;
            }
            case NetSpec.CLASS_MAC -> {
                if (cmd == NetSpec.MAC_ADDR_SET && (features & NetSpec.CTRL_MAC_ADDR) != 0) {
                    if (length != 6) {
                        return NetRefusal.CTRL_LENGTH;
                    }
                    long mac = 0;
                    for (int i = 0; i < 6; i++) {
                        mac = mac << 8 | chain.readByte(2 + i) & 0xff;
                    }
                    effects.macSet(mac);
                    return null;
                }
                if (cmd == NetSpec.MAC_TABLE_SET && (features & NetSpec.CTRL_RX) != 0) {
                    return macTable(chain, length);
                }
                return NetRefusal.CTRL_UNKNOWN;
            }
            case NetSpec.CLASS_MQ -> {
                if (cmd != NetSpec.MQ_VQ_PAIRS_SET || (features & NetSpec.MQ) == 0) {
                    return NetRefusal.CTRL_UNKNOWN;
                }
                if (length != 2) {
                    return NetRefusal.CTRL_LENGTH;
                }
                int n = NetTxCheck.u16(chain, 2);
                if (n < 1 || n > maxPairs || !effects.pairsSet(n)) {
                    return NetRefusal.CTRL_PAIRS;
                }
                pairs = n;
                return null;
            }
            default -> {
                return NetRefusal.CTRL_UNKNOWN;
            }
        }
    }

    /** Two tables, unicast then multicast: {@code le32 entries; u8 macs[entries][6]} each, filling the data exactly. */
    private NetRefusal macTable(DescChain chain, int length) {
        int at = 2;
        int end = 2 + length;
        int total = 0;
        for (int table = 0; table < 2; table++) {
            if (end - at < 4) {
                return NetRefusal.CTRL_LENGTH;
            }
            long entries = chain.readInt(at) & 0xFFFFFFFFL;
            at += 4;
            if (entries > NetSpec.MAX_MAC_ENTRIES || entries * 6 > end - at) {
                return NetRefusal.CTRL_LENGTH;
            }
            at += (int) entries * 6;
            total += (int) entries;
        }
        if (at != end) {
            return NetRefusal.CTRL_LENGTH;
        }
        macEntries = total;
        return null;
    }

    /** The receive modes set (bit n: mode n of VIRTIO_NET_CTRL_RX), for the shell. */
    int rxModes() {
        return rxModes;
    }

    /** The receive modes a saved state recorded (a restore, or a handover to an updated bundle). */
    void restoreRxModes(int modes) {
        rxModes = modes;
    }

    int macEntries() {
        return macEntries;
    }

    int pairs() {
        return pairs;
    }
}
