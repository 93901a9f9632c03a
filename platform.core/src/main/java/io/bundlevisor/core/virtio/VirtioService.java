package io.bundlevisor.core.virtio;

import java.util.List;
import java.util.Set;

import org.osgi.annotation.versioning.ProviderType;

import io.bundlevisor.core.partition.DeviceSlot;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.GuestRam;
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

    /**
     * Creates a device of {@code spec.type()} for a backend transport (vhost-user): its queues live in {@code ram}
     * (whose {@link GuestRam#memory()} must stay the same segment for the backend's life; what
     * {@link GuestRam#hostOffset} answers may change, announced by {@link VirtioBackend#memoryChanged()}).
     *
     * @param name   a name for logs and threads
     * @param vpCount the frontend's VP count, for devices that size per-VP queues by it
     * @throws PartitionException with a one-line reason: no bundle provides the type, or the device refused its
     *                            options
     */
    VirtioBackend serve(String name, DeviceSpec spec, int vpCount, GuestRam ram, BackendEvents events)
            throws PartitionException;

    /**
     * As {@link #serve(String, DeviceSpec, int, GuestRam, BackendEvents)}, for a device that follows
     * {@code predecessor} (since 1.4): a back-end serving one front-end after another. The predecessor's host
     * resources (an image and its lock, a tap) go to the new device without a moment in which another process could
     * take them, and the predecessor is closed; the new device starts fresh (no state is carried). A predecessor
     * that is closed or not this service's passes nothing.
     *
     * @throws PartitionException as {@code serve}; the predecessor is closed all the same
     */
    default VirtioBackend serve(String name, DeviceSpec spec, int vpCount, GuestRam ram, BackendEvents events,
            VirtioBackend predecessor) throws PartitionException {
        predecessor.close();
        return serve(name, spec, vpCount, ram, events);
    }

    /** Every backend served now, for the shell and tests. */
    List<VirtioBackend> backends();

    /** Every attached device, for the shell and tests. */
    List<VirtioBinding> bindings();
}
