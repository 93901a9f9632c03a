package io.bundlevisor.device.net.internal;

/** Why the device refused what a driver gave it; each is logged once per device, then counted. */
enum NetRefusal {
    TX_SHORT("a transmit chain shorter than the 12-byte header and an Ethernet header"),
    TX_OVERSIZE("a transmit frame over 64 KiB plus the header"),
    TX_WRITABLE("a transmit chain with device-writable buffers"),
    TX_GSO_NOT_NEGOTIATED("a gso_type whose HOST_* feature was not negotiated"),
    TX_GSO_SIZE("a gso_type with gso_size 0"),
    TX_CSUM_NOT_NEGOTIATED("NEEDS_CSUM without VIRTIO_NET_F_CSUM"),
    TX_CSUM_RANGE("csum_start/csum_offset outside the frame"),
    RX_SHORT("a receive chain with fewer writable bytes than the header"),
    RX_TOO_SMALL("a packet larger than the receive buffers the driver posted"),
    CTRL_SHORT("a control command without class, command and ack byte"),
    CTRL_UNKNOWN("a control command of an unknown or not negotiated class or command"),
    CTRL_LENGTH("a control command of the wrong length"),
    CTRL_PAIRS("VQ_PAIRS_SET outside 1..max_virtqueue_pairs");

    private final String description;

    NetRefusal(String description) {
        this.description = description;
    }

    String description() {
        return description;
    }
}
