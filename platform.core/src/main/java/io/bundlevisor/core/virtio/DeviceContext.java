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
}
