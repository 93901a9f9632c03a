package io.bundlevisor.device.net.internal;

/**
 * The features a network device offers and its config space (virtio 1.2 section 5.1.4): {@code mac}, {@code status}
 * (link up), {@code max_virtqueue_pairs}, {@code mtu}; 12 bytes, little-endian. Every field is read-only for the driver
 * (5.1.4.2: with VERSION_1 the MAC changes through the control queue). Read on VP threads, changed on the worker or
 * when the link goes down, so the image is guarded by this object.
 */
final class NetConfig {

    /** Offered to every driver: checksum and segmentation offloads both ways, mergeable buffers, MAC, MTU, link. */
    static final long DATA_FEATURES = NetSpec.CSUM | NetSpec.GUEST_CSUM | NetSpec.MTU | NetSpec.MAC
            | NetSpec.GUEST_TSO4 | NetSpec.GUEST_TSO6 | NetSpec.GUEST_ECN | NetSpec.HOST_TSO4 | NetSpec.HOST_TSO6
            | NetSpec.HOST_ECN | NetSpec.MRG_RXBUF | NetSpec.STATUS;
    /** Offered where we own the control queue (our machines, not a vhost-user front-end's). */
    static final long CONTROL_FEATURES = NetSpec.CTRL_VQ | NetSpec.CTRL_RX | NetSpec.CTRL_MAC_ADDR;

    private final byte[] image = new byte[NetSpec.CONFIG_SIZE];
    private final long features;
    private final int pairs;
    private final boolean control;

    /**
     * @param control whether the device has a control queue (it then offers CTRL_*)
     */
    NetConfig(long mac, int pairs, int mtu, boolean control, boolean linkUp) {
        this.pairs = pairs;
        this.control = control;
        long f = DATA_FEATURES;
        if (control) {
            f |= CONTROL_FEATURES;
        }
        // MQ needs a control queue (5.1.3.1): ours, or a vhost-user front-end's, which offers MQ to its guest only
        // when the back-end does (QEMU's vhost-user-net asks the back-end for it).
        if (pairs > 1) {
            f |= NetSpec.MQ;
        }
        this.features = f;
        setMac(mac);
        put16(NetSpec.CFG_STATUS, linkUp ? NetSpec.S_LINK_UP : 0);
        put16(NetSpec.CFG_MAX_PAIRS, pairs);
        put16(NetSpec.CFG_MTU, mtu);
    }

    long features() {
        return features;
    }

    /** Queues: a receive and a transmit queue a pair (receiveq1, transmitq1, ...), then the control queue if any. */
    int queueCount() {
        return 2 * pairs + (control ? 1 : 0);
    }

    int pairs() {
        return pairs;
    }

    /** The control queue's index, or -1. */
    int controlQueue() {
        return control ? 2 * pairs : -1;
    }

    synchronized int read(int offset, int size) {
        int v = 0;
        for (int i = size - 1; i >= 0; i--) {
            v = v << 8 | image[offset + i] & 0xff;
        }
        return v;
    }

    synchronized long mac() {
        long m = 0;
        for (int i = 0; i < 6; i++) {
            m = m << 8 | image[NetSpec.CFG_MAC + i] & 0xff;
        }
        return m;
    }

    synchronized void setMac(long mac) {
        for (int i = 0; i < 6; i++) {
            image[NetSpec.CFG_MAC + i] = (byte) (mac >>> (8 * (5 - i)));
        }
    }

    synchronized boolean linkUp() {
        return (image[NetSpec.CFG_STATUS] & NetSpec.S_LINK_UP) != 0;
    }

    /** Sets the link bit; true if it changed (the caller then announces a config change). */
    synchronized boolean setLinkUp(boolean up) {
        boolean was = linkUp();
        put16(NetSpec.CFG_STATUS, up ? NetSpec.S_LINK_UP : 0);
        return was != up;
    }

    synchronized int mtu() {
        return read(NetSpec.CFG_MTU, 2);
    }

    private void put16(int offset, int value) {
        image[offset] = (byte) value;
        image[offset + 1] = (byte) (value >>> 8);
    }
}
