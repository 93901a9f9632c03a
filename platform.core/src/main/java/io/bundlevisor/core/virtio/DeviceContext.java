package io.bundlevisor.core.virtio;

import org.osgi.annotation.versioning.ProviderType;

/** What a factory knows of the device it creates. */
@ProviderType
public interface DeviceContext {

    /** The machine's name. */
    String machineName();

    /** The device's position among the machine's devices. */
    int index();

    /** The machine's VP count (one queue per VP is the usual default). */
    int vpCount();

    /** The options the machine declared, for the device to parse. */
    String options();

    /** {@code machine/type+index}, for logs and counters. */
    String name();

    /**
     * Whether the device is served to another VMM over a backend transport (vhost-user), whose front-end keeps the
     * device-level control to itself: a network device's control queue stays with the front-end there
     * ({@code vhost-user.rst}), so the device offers only its data queues. False for a device of our own machines.
     */
    default boolean backend() {
        return false;
    }

    /**
     * What the device's predecessor handed over, when this device is created to take over from a device of an
     * updated bundle ({@link VirtioDevice#handOver}); {@link DeviceResources#NONE} otherwise (since 1.4).
     */
    default DeviceResources resources() {
        return DeviceResources.NONE;
    }
}
