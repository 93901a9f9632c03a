package io.bundlevisor.core.virtio;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Host resources handed from a device to its successor when the device's bundle is updated under a running guest
 * (since 1.4; see the package documentation, "Handing a device over"). The old device {@linkplain #keep keeps} what
 * must not lapse (an image file whose lock another process must never get, a tap whose queues the host must never see
 * go), its successor {@linkplain #take takes} it while it is created. What nobody takes is closed by the platform once
 * the handover ends, either way.
 *
 * <p>Only types both bundles share can be handed over: the platform's own ({@code io.bundlevisor.uring.host}), never
 * a class of the device bundle, which the update replaces.
 */
@ProviderType
public interface DeviceResources {

    /** None to take and nowhere to keep: a device created outside a handover. */
    DeviceResources NONE = new DeviceResources() {
        @Override
        public void keep(String key, AutoCloseable resource) {
            throw new IllegalStateException("no handover is under way: nothing can be kept");
        }

        @Override
        public <T> T take(String key, Class<T> type) {
            return null;
        }
    };

    /**
     * Keeps {@code resource} for the successor under {@code key}; from now the platform owns it (the device's
     * {@link VirtioDevice#close()} must leave it open).
     *
     * @throws IllegalStateException if something is already kept under {@code key}, or outside a handover
     */
    void keep(String key, AutoCloseable resource);

    /**
     * What the predecessor kept under {@code key}, if it is a {@code type}; the caller owns it from now. Null if
     * nothing (or something of another type) was kept under that key.
     */
    <T> T take(String key, Class<T> type);
}
