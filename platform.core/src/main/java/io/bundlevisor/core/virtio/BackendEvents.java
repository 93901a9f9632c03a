package io.bundlevisor.core.virtio;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * What a {@link VirtioBackend} tells its transport. {@link #usedBuffers} runs on the device's worker thread and must
 * not block; the others may run on any thread.
 */
@ConsumerType
public interface BackendEvents {

    /** Used buffers were published on {@code queue} and the driver asked for an interrupt (vhost-user: the call fd). */
    void usedBuffers(int queue);

    /**
     * The device cannot go on until the frontend resets it (a queue or the device broke the protocol; logged). The
     * queues stay stopped until then.
     */
    void needsReset();

    /** The device changed its config space (section 2.5.1). */
    void configChanged();

    /** The device's bundle went away: the device finished its IO and closed; the backend is closed. */
    void deviceGone();
}
