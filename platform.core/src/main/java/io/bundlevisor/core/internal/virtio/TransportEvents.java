package io.bundlevisor.core.internal.virtio;

/** What the transport asks of its binding when the driver acts. Called on VP threads, outside the transport lock. */
interface TransportEvents {

    /** The driver set DRIVER_OK with these features and queues (copies). */
    void driverOk(long features, QueueConfig[] queues);

    /**
     * The driver wrote 0 to Status: stop the device's work and wait (bounded) until nothing is in flight, so no
     * late completion touches memory the driver reclaims (section 2.4.1).
     */
    void deviceReset();

    /** A QueueNotify write that no ioeventfd took (none registered for that value). */
    void notifyQueue(int queue);
}
