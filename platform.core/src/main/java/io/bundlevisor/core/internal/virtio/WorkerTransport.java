package io.bundlevisor.core.internal.virtio;

/**
 * How a device's worker reaches the driver, whatever carries the device: the virtio-mmio window of one of our
 * machines ({@link MmioTransport}), or the frontend of a backend transport such as vhost-user ({@link BackendBinding}).
 * Called on the worker thread; implementations must not block.
 */
interface WorkerTransport {

    /**
     * Used buffers were published on the queues whose bits are set, and their drivers asked to be interrupted
     * (section 2.7.10). MMIO raises its one line; vhost-user signals each queue's call eventfd.
     */
    void usedBuffers(long queues);

    /** The device cannot go on until the driver resets it (section 2.1.2, DEVICE_NEEDS_RESET). */
    void needsReset();

    /** The device changed its config space (section 2.5.1). */
    void configChanged();

    /** The interrupt's resample eventfd fired: the guest ended an interrupt (MMIO over an irqfd only). */
    default void resampled() {
    }
}
