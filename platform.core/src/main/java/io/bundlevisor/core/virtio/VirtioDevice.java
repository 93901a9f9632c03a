package io.bundlevisor.core.virtio;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;

import org.osgi.annotation.versioning.ConsumerType;

import io.bundlevisor.core.ring.Sqe;

/**
 * A virtio device's own logic; the platform does the rest (see the package documentation).
 *
 * <p><b>Threads.</b> {@link #readConfig} and {@link #writeConfig} run on VP threads and must be thread-safe and
 * quick. Everything else runs on the device's worker thread, one call at a time, so the data path needs no locks.
 *
 * <p><b>The data path.</b> For each chain the driver makes available, {@link #handleDesc} either answers at once
 * (returns the bytes it wrote, {@code >= 0}), or prepares the worker's {@link Sqe} and returns {@link #SUBMIT}: the
 * worker submits it and later calls {@link #completeDesc} with its result. Either way the platform then puts the
 * chain in the used ring and interrupts the driver as EVENT_IDX allows. A chain the device cannot even answer
 * (for a block device: no room for the status byte) returns {@link #NEEDS_RESET}.
 *
 * <p><b>Held chains and the device's own IO</b> (since 1.3). A chain that waits for something outside the guest (a
 * receive buffer waiting for a packet) is {@linkplain #HOLD held}: after each pass over a queue the worker calls
 * {@link #queueServiced}, where the device may start IO of its own over the chains it holds through {@link QueueIo};
 * that IO completes in {@link #completeIo}, which puts chains in the used ring. Before pausing, resetting or stopping
 * the worker calls {@link #quiesce}: see {@link QueueIo} for the rule. A device that never holds a chain (a block
 * device) implements none of this.
 */
@ConsumerType
public interface VirtioDevice {

    /** {@link #handleDesc}: the SQE is prepared; submit it. */
    int SUBMIT = -1;
    /** {@link #handleDesc}/{@link #completeDesc}: the chain breaks the protocol beyond any error status. */
    int NEEDS_RESET = -2;
    /** {@link #handleDesc}: the device keeps the chain and completes or releases it later through {@link QueueIo}. */
    int HOLD = -3;

    /** The virtio device ID (section 5: 2 for a block device). */
    int deviceId();

    /** Device-specific feature bits offered (bits 0-23); the platform adds {@link VirtioFeatures#TRANSPORT}. */
    long features();

    /** Queues the device has (the driver may enable fewer). */
    int queueCount();

    /**
     * Which group queue {@code queue} belongs to (since 1.7): queues of different groups may be served by different
     * worker threads at the same time, each with its own ring, one per vCPU up to the number of groups (Alioth's
     * worker; vhost-user's {@code queues_per_thread}); queues of one group always share a thread. All in group 0 by
     * default: everything on one thread, as the package documentation describes.
     *
     * <p>A device with more than one group must be safe for {@link #handleDesc} and {@link #completeDesc} of queues
     * of different groups running at once (its per-request state kept per queue), and must not hold chains nor do IO
     * of its own ({@link #HOLD}, {@link QueueIo}): {@link #quiesce} is called on the first group's worker only. Every
     * other method is still called one at a time, with every worker stopped where the call needs it (activation,
     * reset, save, restore, update, handover).
     */
    default int queueGroup(int queue) {
        return 0;
    }

    /** Largest size of each queue, a power of two from 2 to 32768. */
    int maxQueueSize();

    /** Bytes of config space (section 4.2.2: at offset 0x100 of the window). */
    int configSize();

    /** Reads {@code size} (1, 2 or 4) config bytes at {@code offset}, little-endian; the range is checked. */
    int readConfig(int offset, int size);

    /** A driver's config write; the range is checked. Devices ignore writes to read-only fields. */
    void writeConfig(int offset, int size, int value);

    /**
     * The driver set DRIVER_OK with these features and queues.
     *
     * @throws DeviceException if the device cannot run with them: the platform sets DEVICE_NEEDS_RESET
     */
    void activate(VirtioContext context) throws DeviceException;

    /**
     * Handles one chain of queue {@code queue}: returns the bytes written into it ({@code >= 0}, done now),
     * {@link #SUBMIT} after preparing {@code sqe}, or {@link #NEEDS_RESET}. Allocates nothing.
     */
    int handleDesc(int queue, DescChain chain, Sqe sqe);

    /**
     * The SQE of a chain completed with {@code result} (non-negative, or {@code -errno}): returns the bytes written
     * into the chain (device-writable bytes, status included), or {@link #NEEDS_RESET}. Allocates nothing.
     */
    int completeDesc(int queue, DescChain chain, int result);

    /**
     * The worker has taken what queue {@code queue} had (or an IO of it completed): the device may start IO of its
     * own over the chains it holds. Called after every pass over a running queue while the worker pulls chains.
     */
    default void queueServiced(int queue, QueueIo io) {
    }

    /**
     * IO the device submitted through {@link QueueIo#submit} completed with {@code result} (non-negative, or
     * {@code -errno}; {@code -ECANCELED} after {@link QueueIo#cancel}). Allocates nothing.
     */
    default void completeIo(int queue, int tag, int result, QueueIo io) {
    }

    /**
     * The worker stops taking chains (pause, save, reset, the bundle's stop, a backend queue's stop): the device
     * cancels IO that may wait indefinitely and releases its held chains once none of its IO is in flight, now or in
     * {@link #completeIo} (see {@link QueueIo}). Called once each time the worker stops pulling.
     */
    default void quiesce(QueueIo io) {
    }

    /**
     * What the device itself counts on queue {@code queue}, for the shell's {@code virtio:devices} (a network device:
     * {@code rx0 packets=3 bytes=180 drops=0 errors=0 pending=255}); empty when it counts nothing of its own. Any
     * thread; quick; may allocate (not on the data path).
     */
    default String queueCounters(int queue) {
        return "";
    }

    /** Back to the state before {@link #activate}; nothing is in flight. */
    void reset();

    /**
     * Changes the device while the guest may run (since 1.5), to {@code options} in the syntax of its factory's
     * (a virtio-blk's new image: Firecracker's {@code PATCH /drives}, how Kata Containers fills a placeholder
     * drive). Called on the worker thread with nothing in flight; the platform then tells the driver its config
     * changed (section 2.5.1). A device changes only what the driver can follow (a disk's capacity, not a feature it
     * negotiated) and refuses the rest, and anything invalid, with a one-line {@link DeviceException}, changing
     * nothing. By default nothing can change.
     */
    default void update(String options) throws DeviceException {
        throw new DeviceException("this device cannot be changed while it runs");
    }

    /**
     * Writes the device's state beyond what the platform saves (queues, features, status are saved by the
     * platform); nothing is in flight. A device that cannot be saved throws {@link IOException} saying so. The
     * stream starts with the device's own type tag and version: it is read by {@link #restoreState} of this
     * version, of later versions of the bundle (an update, a snapshot restored after one) and must be refused by
     * anything else.
     */
    void saveState(DataOutput out) throws IOException;

    /**
     * Reads what {@link #saveState} wrote, by this bundle's version or an older one it knows; refuses, with
     * an {@link IOException} of one line, a stream of another kind or shape of device or of a version it does not
     * know. After a refusal during a handover the guest sees DEVICE_NEEDS_RESET and resets a fresh device.
     */
    void restoreState(DataInput in) throws IOException;

    /**
     * The device's bundle is going while the guest runs and the platform hands the device over to its successor
     * (since 1.4): it is quiesced and saved ({@link #saveState}); now it keeps in {@code resources} the host
     * resources its successor should take over instead of opening again (see {@link DeviceResources}).
     * {@link #close()} follows and must not close what was kept. A device that keeps nothing is still handed over:
     * its successor opens its resources again, and for that moment another process could take them.
     */
    default void handOver(DeviceResources resources) {
    }

    /**
     * Releases host resources (files, locks) it did not {@linkplain #handOver hand over}; nothing is in flight and
     * the device is never used again.
     */
    void close();
}
