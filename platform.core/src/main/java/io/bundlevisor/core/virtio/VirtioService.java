package io.bundlevisor.core.virtio;

import java.util.List;
import java.util.Set;

import org.osgi.annotation.versioning.ProviderType;

import io.bundlevisor.core.partition.DeviceSlot;
import io.bundlevisor.core.partition.PartitionException;

/**
 * The shared io_uring virtio worker service: runs a virtio-mmio transport and a worker for each declared device,
 * over the devices the installed device bundles provide.
 */
@ProviderType
public interface VirtioService {

    /** The device types whose factories are registered now. */
    Set<String> deviceTypes();

    /**
     * Puts a device of {@code slot.spec().type()} behind the slot's window, ready for the driver. Called by the
     * hypervisor while it creates a machine.
     *
     * @throws PartitionException with a one-line reason: no bundle provides the type, or the device refused its
     *                            options
     */
    VirtioBinding attach(DeviceSlot slot) throws PartitionException;

    /** Every attached device, for the shell and tests. */
    List<VirtioBinding> bindings();
}
