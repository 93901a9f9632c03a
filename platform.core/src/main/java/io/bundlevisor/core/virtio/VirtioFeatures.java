package io.bundlevisor.core.virtio;

/** Transport feature bits and device status bits every device shares (virtio 1.x sections 2.1 and 6). */
public final class VirtioFeatures {

    /** VIRTIO_F_INDIRECT_DESC (section 2.7.5.3): descriptor tables in guest memory. Offered by the platform. */
    public static final long INDIRECT_DESC = 1L << 28;
    /** VIRTIO_F_EVENT_IDX (section 2.7.7, 2.7.10): used_event/avail_event suppression. Offered by the platform. */
    public static final long EVENT_IDX = 1L << 29;
    /** VIRTIO_F_VERSION_1 (section 6): the modern interface; the platform requires it. */
    public static final long VERSION_1 = 1L << 32;
    /** Bits the platform offers for every device on top of the device's own. */
    public static final long TRANSPORT = INDIRECT_DESC | EVENT_IDX | VERSION_1;
    /** Feature bits a device may offer itself: 0-23 are device-specific (section 6). */
    public static final long DEVICE_SPECIFIC = (1L << 24) - 1;

    /** Device status bits (section 2.1). */
    public static final int ACKNOWLEDGE = 1;
    public static final int DRIVER = 2;
    public static final int DRIVER_OK = 4;
    public static final int FEATURES_OK = 8;
    public static final int DEVICE_NEEDS_RESET = 64;
    public static final int FAILED = 128;

    private VirtioFeatures() {
    }
}
