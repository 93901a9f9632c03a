package io.bundlevisor.device.net.internal;

import io.bundlevisor.core.virtio.DescChain;

/**
 * What a transmit chain may be (virtio 1.2 section 5.1.6.2): the 12-byte header then at least an Ethernet header, at
 * most {@link NetSpec#MAX_FRAME} bytes of frame; a {@code gso_type} only with its negotiated HOST_* feature and a
 * non-zero {@code gso_size}; {@code NEEDS_CSUM} only with VIRTIO_NET_F_CSUM and a checksum inside the frame.
 *
 * <p>The header is read from guest memory here and again by the kernel when it takes the frame, so a driver could
 * change it in between; the tap checks what it reads itself ({@code virtio_net_hdr_to_skb}), so this check is for
 * the counters and the log, not the host's safety.
 */
final class NetTxCheck {

    private NetTxCheck() {
    }

    /** Null when the chain may go to the tap, else why not. */
    static NetRefusal check(DescChain chain, long features) {
        if (chain.writableBytes() != 0) {
            return NetRefusal.TX_WRITABLE;
        }
        int total = chain.readableBytes();
        if (total < NetSpec.HDR_SIZE + NetSpec.ETH_HLEN) {
            return NetRefusal.TX_SHORT;
        }
        int frame = total - NetSpec.HDR_SIZE;
        if (frame > NetSpec.MAX_FRAME) {
            return NetRefusal.TX_OVERSIZE;
        }
        int flags = chain.readByte(NetSpec.HDR_FLAGS) & 0xff;
        int gso = chain.readByte(NetSpec.HDR_GSO_TYPE) & 0xff;
        if (gso != NetSpec.GSO_NONE) {
            long needed = switch (gso & ~NetSpec.GSO_ECN) {
                case NetSpec.GSO_TCPV4 -> NetSpec.HOST_TSO4;
                case NetSpec.GSO_TCPV6 -> NetSpec.HOST_TSO6;
                case NetSpec.GSO_UDP -> NetSpec.HOST_UFO;
                default -> -1;
            };
            if ((gso & NetSpec.GSO_ECN) != 0) {
                needed = needed < 0 ? needed : needed | NetSpec.HOST_ECN;
            }
            if (needed < 0 || (features & needed) != needed) {
                return NetRefusal.TX_GSO_NOT_NEGOTIATED;
            }
            if (u16(chain, NetSpec.HDR_GSO_SIZE) == 0) {
                return NetRefusal.TX_GSO_SIZE;
            }
        }
        if ((flags & NetSpec.F_NEEDS_CSUM) != 0) {
            if ((features & NetSpec.CSUM) == 0) {
                return NetRefusal.TX_CSUM_NOT_NEGOTIATED;
            }
            int start = u16(chain, NetSpec.HDR_CSUM_START);
            int offset = u16(chain, NetSpec.HDR_CSUM_OFFSET);
            if (start + offset + 2 > frame) {
                return NetRefusal.TX_CSUM_RANGE;
            }
        }
        return null;
    }

    static int u16(DescChain chain, int offset) {
        return (chain.readByte(offset) & 0xff) | (chain.readByte(offset + 1) & 0xff) << 8;
    }
}
