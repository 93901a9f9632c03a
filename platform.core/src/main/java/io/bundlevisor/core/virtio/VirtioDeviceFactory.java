package io.bundlevisor.core.virtio;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Whiteboard service of a device bundle: creates the devices of one type, named by the service property
 * {@value #DEVICE_TYPE}. Registering it makes the type available to new machines and to the devices of running
 * machines that lost theirs; unregistering it drains each device's IO, closes it and marks it DEVICE_NEEDS_RESET
 * in its guest.
 */
@ConsumerType
public interface VirtioDeviceFactory {

    /** Service property: the device type, e.g. {@code virtio-blk}, as machines declare it. */
    String DEVICE_TYPE = "device.type";

    /**
     * Creates a device: parses the options, opens and locks host resources.
     *
     * @throws DeviceException with a one-line reason (bad option, missing or locked file)
     */
    VirtioDevice create(DeviceContext context) throws DeviceException;
}
