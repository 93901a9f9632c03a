package io.bundlevisor.device.net.internal;

/** The numbers of virtio 1.2 section 5.1 (and {@code include/uapi/linux/virtio_net.h}). */
final class NetSpec {

    /** Device ID (section 5). */
    static final int DEVICE_ID = 1;

    // Feature bits (5.1.3).
    static final long CSUM = 1L << 0;
    static final long GUEST_CSUM = 1L << 1;
    static final long MTU = 1L << 3;
    static final long MAC = 1L << 5;
    static final long GUEST_TSO4 = 1L << 7;
    static final long GUEST_TSO6 = 1L << 8;
    static final long GUEST_ECN = 1L << 9;
    static final long GUEST_UFO = 1L << 10;
    static final long HOST_TSO4 = 1L << 11;
    static final long HOST_TSO6 = 1L << 12;
    static final long HOST_ECN = 1L << 13;
    static final long HOST_UFO = 1L << 14;
    static final long MRG_RXBUF = 1L << 15;
    static final long STATUS = 1L << 16;
    static final long CTRL_VQ = 1L << 17;
    static final long CTRL_RX = 1L << 18;
    static final long MQ = 1L << 22;
    static final long CTRL_MAC_ADDR = 1L << 23;

    // struct virtio_net_hdr_v1 (5.1.6): 12 bytes, little-endian.
    static final int HDR_SIZE = 12;
    static final int HDR_FLAGS = 0;
    static final int HDR_GSO_TYPE = 1;
    static final int HDR_HDR_LEN = 2;
    static final int HDR_GSO_SIZE = 4;
    static final int HDR_CSUM_START = 6;
    static final int HDR_CSUM_OFFSET = 8;
    static final int HDR_NUM_BUFFERS = 10;
    static final int F_NEEDS_CSUM = 1;
    static final int F_DATA_VALID = 2;
    static final int GSO_NONE = 0;
    static final int GSO_TCPV4 = 1;
    static final int GSO_UDP = 3;
    static final int GSO_TCPV6 = 4;
    static final int GSO_ECN = 0x80;

    // Frames: an Ethernet header (and a VLAN tag) around at most 65535 bytes of IP (a TSO frame).
    static final int ETH_HLEN = 14;
    static final int VLAN_HLEN = 4;
    static final int MAX_FRAME = 65535 + ETH_HLEN + VLAN_HLEN;
    static final int MIN_MTU = 68;
    static final int MAX_MTU = 65535;

    // Config space (5.1.4).
    static final int CFG_MAC = 0;
    static final int CFG_STATUS = 6;
    static final int CFG_MAX_PAIRS = 8;
    static final int CFG_MTU = 10;
    static final int CONFIG_SIZE = 12;
    static final int S_LINK_UP = 1;

    // Control queue (5.1.6.5): class, command, data, then the ack byte the device writes.
    static final int OK = 0;
    static final int ERR = 1;
    static final int CLASS_RX = 0;
    static final int RX_PROMISC = 0;
    static final int RX_NOBCAST = 5;
    static final int CLASS_MAC = 1;
    static final int MAC_TABLE_SET = 0;
    static final int MAC_ADDR_SET = 1;
    static final int CLASS_MQ = 4;
    static final int MQ_VQ_PAIRS_SET = 0;
    /** VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX: what a device may offer at most. */
    static final int MAX_PAIRS = 0x8000;
    /** Entries a MAC filter table may have; a longer one is refused (Linux sends at most what fits a page). */
    static final int MAX_MAC_ENTRIES = 256;

    private NetSpec() {
    }
}
