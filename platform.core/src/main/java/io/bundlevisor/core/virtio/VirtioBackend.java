package io.bundlevisor.core.virtio;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;

import org.osgi.annotation.versioning.ProviderType;

import io.bundlevisor.core.partition.Notifier;

/**
 * A device served to another VMM through a backend transport such as vhost-user: the frontend owns the guest, its
 * memory and the virtio transport; the platform runs the same device bundle, its split queues and its io_uring
 * worker as for one of our machines, with the frontend's kick eventfds as the queue notifiers and
 * {@link BackendEvents#usedBuffers} as the interrupt. The semantics follow rust-vmm's {@code VhostUserBackend}:
 * queue count and size, features, acked features, event-idx, config space, memory updates, the queues-per-thread
 * mapping, and device state. Its worker thread is the "handle event" loop; {@link #close()} is its exit event.
 *
 * <p>Queues start and stop one by one ({@code vhost-user.rst}, "Starting and stopping rings"). The device is
 * activated when the first queue starts and reset when the last one stops. Every method may block until the
 * worker has finished the IO in flight; none may be called on the worker thread.
 */
@ProviderType
public interface VirtioBackend extends AutoCloseable {

    /** {@code name/type}. */
    String name();

    /** The device type. */
    String type();

    /** The virtio device id (section 5). */
    int deviceId();

    /** The device's queue count (vhost-user GET_QUEUE_NUM). */
    int queueCount();

    /** The largest queue size the device takes. */
    int maxQueueSize();

    /**
     * What the backend offers: the device's bits 0-23 and the transport features the platform implements
     * (VERSION_1, INDIRECT_DESC, EVENT_IDX; section 6).
     */
    long features();

    /**
     * The features the frontend acknowledged; only while no queue runs.
     *
     * @throws IllegalArgumentException if a bit was not offered or VERSION_1 is missing
     * @throws IllegalStateException    if a queue runs
     */
    void setAckedFeatures(long features);

    /** The acknowledged features, 0 before {@link #setAckedFeatures}. */
    long ackedFeatures();

    /** Whether VIRTIO_F_EVENT_IDX was acknowledged (section 2.7.10). */
    default boolean eventIdx() {
        return (ackedFeatures() & VirtioFeatures.EVENT_IDX) != 0;
    }

    /** One bit mask of queues per worker thread: the platform runs all of a device's queues on one thread. */
    long[] queuesPerThread();

    /** The config space's size in bytes. */
    int configSize();

    /** Reads {@code length} config bytes from {@code offset}; bytes past {@link #configSize()} read as 0. */
    void readConfig(int offset, byte[] into, int at, int length);

    /**
     * Writes config bytes (section 2.5: only fields the device makes writable change).
     *
     * @throws IllegalArgumentException if the range leaves the config space
     */
    void writeConfig(int offset, byte[] from, int at, int length);

    /**
     * The memory the {@link io.bundlevisor.core.partition.GuestRam} this backend was created with describes has
     * changed: the worker finishes the IO in flight and each running queue looks its rings up again.
     */
    void memoryChanged();

    /**
     * Queue {@code queue} runs from now: its rings (guest-physical addresses), the avail index to take first, and
     * the notifier the frontend kicks, which the backend owns from now (and closes). A queue already running is
     * restarted with the new setup.
     *
     * @throws IllegalArgumentException if the queue index or size is out of range; the notifier is closed
     * @throws IllegalStateException    if no features were acknowledged, or the device's bundle has gone
     */
    void startQueue(int queue, QueueSetup setup);

    /**
     * Stops queue {@code queue} once its IO in flight has finished into the used ring (no acknowledged request is
     * lost) and returns the index of the next avail entry it would have taken (vhost-user GET_VRING_BASE), or -1 if
     * it was not running. The last queue to stop resets the device.
     */
    int stopQueue(int queue);

    /** Whether the queue runs. */
    boolean isRunning(int queue);

    /**
     * Changes the device under the running frontend (since 1.7), to {@code options} in its factory's syntax, as
     * {@link VirtioDevice#update} does for a machine's device (a virtio-blk's new image): the worker finishes the IO in
     * flight, the device changes on its thread, and then {@link BackendEvents#configChanged} tells the transport, whose
     * frontend reads the new config space. Refusals change nothing.
     *
     * @throws DeviceException with one line: the device cannot change so, or is closed or between two bundles
     */
    default void update(String options) throws DeviceException {
        throw new DeviceException(name() + " cannot be changed while it is served");
    }

    /** Stops every queue (their IO finishing first), resets the device and forgets the acknowledged features. */
    void reset();

    /** Whether the device's bundle is still there; when it goes, {@link BackendEvents#deviceGone} is called once. */
    boolean isBound();

    /**
     * How long the device has been between two bundles (its bundle went, the guest's IO waits for the next one, see
     * the package documentation), in milliseconds; -1 when it is not (since 1.4).
     */
    default long handoverMillis() {
        return -1;
    }

    /** Chains completed since the backend was created. */
    long completedChains();

    /** Chains completed on each queue since the backend was created, indexed by queue. */
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

    /**
     * Writes the device's own state (not the rings', which the frontend owns) for a device-state transfer; only
     * while no queue runs.
     *
     * @throws IOException if a queue runs or the device cannot save
     */
    void saveState(DataOutput out) throws IOException;

    /** Reads what {@link #saveState} wrote, into a backend of the same type with no queue running. */
    void restoreState(DataInput in) throws IOException;

    /** Finishes the IO in flight, stops the worker and closes the device. Idempotent. */
    @Override
    void close();

    /**
     * How a queue runs.
     *
     * @param size      queue size, a power of two up to {@link #maxQueueSize()}
     * @param desc      guest-physical address of the descriptor table
     * @param driver    guest-physical address of the driver (available) area
     * @param device    guest-physical address of the device (used) area
     * @param nextAvail the avail index to take first (vhost-user SET_VRING_BASE); the used index is read from the
     *                  used ring
     * @param kick      the notifier the frontend signals for this queue
     * @param tracker   follows the queue's chains for in-flight tracking (since 1.7), or null
     */
    record QueueSetup(int size, long desc, long driver, long device, int nextAvail, Notifier kick,
            ChainTracker tracker) {

        /** A queue without a {@link ChainTracker}. */
        public QueueSetup(int size, long desc, long driver, long device, int nextAvail, Notifier kick) {
            this(size, desc, driver, device, nextAvail, kick, null);
        }
    }
}
