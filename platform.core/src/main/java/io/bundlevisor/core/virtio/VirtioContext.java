package io.bundlevisor.core.virtio;

import org.osgi.annotation.versioning.ProviderType;

/** What the platform tells a device when the driver has set DRIVER_OK. Valid until the device's next reset. */
@ProviderType
public interface VirtioContext {

    /** The features both sides agreed (section 2.2), transport bits included. */
    long features();

    /** The size the driver gave queue {@code queue}, or 0 if it did not enable that queue. */
    int queueSize(int queue);

    /**
     * Announces a change of the config space: the platform bumps the config generation and raises a
     * configuration-change interrupt (section 2.4.2, 4.2.2). Callable from any thread.
     */
    void configChanged();

    /**
     * The event sources the device may register with its worker (since 1.7): descriptors of its own to watch and
     * timers, handled on the worker thread. Worker thread only.
     */
    default DeviceEvents events() {
        throw new UnsupportedOperationException("this transport gives devices no event sources");
    }
}
