package io.bundlevisor.core.virtio;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A declared device behind its transport. Its device may come and go with its bundle; the transport stays until the
 * machine closes it.
 */
@ProviderType
public interface VirtioBinding extends AutoCloseable {

    /** {@code machine/type+index}. */
    String name();

    /** The declared device type. */
    String type();

    /** Whether a device is bound now (its bundle is active). */
    boolean isBound();

    /**
     * How long the device has been between two bundles (its bundle went, the guest's IO waits for the next one, see
     * the package documentation), in milliseconds; -1 when it is not (since 1.4).
     */
    default long handoverMillis() {
        return -1;
    }

    /** The device status register as the driver sees it (section 2.1). */
    int status();

    /** Chains completed into the used rings since attach. */
    long completedChains();

    /**
     * Chains completed into each queue's used ring since attach, indexed by queue (as long as the device's queue
     * count; empty before a device was bound).
     */
    long[] completedChainsPerQueue();

    /**
     * What the device counts on each queue ({@link VirtioDevice#queueCounters}), indexed by queue; empty strings where
     * it counts nothing, and an empty list while no device is bound.
     */
    default java.util.List<String> queueCounters() {
        return java.util.List.of();
    }

    /** Chains handed to the device and not yet completed. */
    int inFlight();

    /** Times the device was marked DEVICE_NEEDS_RESET. */
    long needsResetCount();

    /**
     * What the guest did wrong on this device's transport and queues, counted (since 1.6): register accesses the
     * spec does not allow, notifications of queues it does not have or before DRIVER_OK, chains the queue refused.
     * They are logged at a limited rate; this counts every one.
     */
    default long guestErrors() {
        return 0;
    }

    /**
     * Changes the bound device to {@code options} ({@link VirtioDevice#update}) while the guest may run (since 1.5):
     * its IO drains, the device changes on its worker, and the driver is told its config changed.
     *
     * @throws DeviceException with one line if no device is bound, a handover is under way, or the device refused
     */
    default void update(String options) throws DeviceException {
        throw new DeviceException(name() + " cannot be changed while it runs");
    }

    /** Device reset as at power-on: drains IO, forgets the driver's setup. For a machine reset, while stopped. */
    void reset();

    /** Writes the transport's and the device's state; drains IO first. Only while the VPs are stopped. */
    void save(DataOutput out) throws IOException;

    /** Reads what {@link #save} wrote, into a freshly reset binding of the same type. */
    void restore(DataInput in) throws IOException;

    /** Drains IO, stops the worker, closes the device and releases the window. Idempotent. */
    @Override
    void close();
}
