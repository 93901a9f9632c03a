package io.bundlevisor.core.internal.virtio;

/**
 * The driver broke the virtqueue protocol (virtio 1.x section 2.7): a ring that does not fit guest RAM, a chain that
 * loops or leaves RAM, an index that runs too far ahead. The message is one line saying what the driver did, for a
 * rate-limited log line; the transport answers with DEVICE_NEEDS_RESET (section 2.1.2), since the queue's state can
 * no longer be trusted.
 *
 * <p>A guest can raise these at will, so they carry no stack trace: it would say nothing about the guest and cost
 * a stack walk each time.
 */
public final class QueueException extends Exception {

    private static final long serialVersionUID = 1L;

    private final int queue;

    QueueException(int queue, String problem) {
        super("queue " + queue + ": " + problem, null, false, false);
        this.queue = queue;
    }

    /** The index of the queue the driver misused. */
    public int queue() {
        return queue;
    }
}
