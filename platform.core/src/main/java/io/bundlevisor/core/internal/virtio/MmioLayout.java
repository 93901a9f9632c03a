package io.bundlevisor.core.internal.virtio;

/**
 * The virtio-mmio register window, version 2 (virtio 1.2 section 4.2.2, "MMIO Device Register Layout"). Offsets
 * are from the window's base; control registers (below {@link #CONFIG}) are 32 bits wide and must be accessed
 * with aligned 32-bit loads and stores (section 4.2.2.2).
 */
final class MmioLayout {

    /** The window the platform gives each device. */
    static final long WINDOW_SIZE = 0x1000;

    static final int MAGIC_VALUE = 0x000;
    static final int VERSION = 0x004;
    static final int DEVICE_ID = 0x008;
    static final int VENDOR_ID = 0x00C;
    static final int DEVICE_FEATURES = 0x010;
    static final int DEVICE_FEATURES_SEL = 0x014;
    static final int DRIVER_FEATURES = 0x020;
    static final int DRIVER_FEATURES_SEL = 0x024;
    static final int QUEUE_SEL = 0x030;
    static final int QUEUE_NUM_MAX = 0x034;
    static final int QUEUE_NUM = 0x038;
    static final int QUEUE_READY = 0x044;
    static final int QUEUE_NOTIFY = 0x050;
    static final int INTERRUPT_STATUS = 0x060;
    static final int INTERRUPT_ACK = 0x064;
    static final int STATUS = 0x070;
    static final int QUEUE_DESC_LOW = 0x080;
    static final int QUEUE_DESC_HIGH = 0x084;
    static final int QUEUE_DRIVER_LOW = 0x090;
    static final int QUEUE_DRIVER_HIGH = 0x094;
    static final int QUEUE_DEVICE_LOW = 0x0A0;
    static final int QUEUE_DEVICE_HIGH = 0x0A4;
    static final int SHM_SEL = 0x0AC;
    static final int SHM_LEN_LOW = 0x0B0;
    static final int SHM_LEN_HIGH = 0x0B4;
    static final int SHM_BASE_LOW = 0x0B8;
    static final int SHM_BASE_HIGH = 0x0BC;
    static final int CONFIG_GENERATION = 0x0FC;
    /** Device-specific configuration space starts here (section 4.2.2). */
    static final int CONFIG = 0x100;

    /** "virt" in little-endian ASCII. */
    static final int MAGIC = 0x74726976;
    /** The modern interface; version 1 is the legacy one, which we do not offer. */
    static final int MODERN_VERSION = 2;
    /** Ours: "BV" (PCI vendor ids do not apply to virtio-mmio; drivers ignore it). */
    static final int VENDOR = 0x0000_4256;

    /** InterruptStatus bits (section 4.2.2): a used buffer, a configuration change. */
    static final int INT_USED_BUFFER = 1;
    static final int INT_CONFIG_CHANGE = 2;

    private MmioLayout() {
    }
}
