package io.bundlevisor.core.virtio;

import org.osgi.annotation.versioning.ProviderType;

import io.bundlevisor.core.ring.Sqe;

/**
 * The worker's hand to a device that does IO of its own on a queue, not one SQE per chain: a network device's
 * receive queue, where one read from a tap fills one or several chains the device {@linkplain VirtioDevice#HOLD held}
 * until a packet came (virtio 1.x section 5.1.6.4, mergeable receive buffers).
 *
 * <p>Worker thread only, inside {@link VirtioDevice#queueServiced}, {@link VirtioDevice#completeIo} and
 * {@link VirtioDevice#quiesce}. Allocates nothing.
 *
 * <p><b>IO that waits on the outside world</b> (a read posted on an idle tap) must never hold up a pause, a reset,
 * a save, the bundle's stop or a front-end's GET_VRING_BASE. Before any of those the worker calls
 * {@link VirtioDevice#quiesce}: the device {@linkplain #cancel cancels} its waiting IO and, once nothing of it is in
 * flight, {@linkplain #releaseHeld releases} the chains it still holds. No chain is lost (each goes back to the driver)
 * and none is used twice (a cancelled read that had already taken a packet completes with it, and the device puts
 * that packet's chains in the used ring before releasing the rest).
 */
@ProviderType
public interface QueueIo {

    /** The entry to prepare before {@link #submit}; the worker's own, reused. */
    Sqe sqe();

    /**
     * Submits the prepared {@link #sqe()} for {@code queue}; its completion comes to {@link VirtioDevice#completeIo}
     * with {@code tag}. Returns false (nothing submitted) when the worker has no room for another IO on that queue
     * now: the device tries again at the next {@link VirtioDevice#queueServiced}.
     *
     * @param tag 0..65535, the device's name for the IO (unique among its IO in flight on the queue)
     */
    boolean submit(int queue, int tag);

    /** Asks the kernel to cancel the IO with {@code tag} on {@code queue}; its completion still comes. */
    void cancel(int queue, int tag);

    /**
     * Puts a chain the device held in the used ring with {@code written} bytes (clamped to its writable bytes); the
     * driver is interrupted as EVENT_IDX allows. Ignored while the driver is resetting the device.
     */
    void complete(int queue, DescChain chain, int written);

    /**
     * Gives every chain the device still holds on {@code queue} back to the driver, unused. Where they are the last
     * chains the queue took (a device that holds every chain of a queue and fills them in order) the queue takes
     * them again next, as if never taken (Linux's {@code vhost_discard_vq_desc} does the same); otherwise each goes
     * to the used ring with 0 bytes written. The device must forget them; none may have IO in flight.
     */
    void releaseHeld(int queue);
}
