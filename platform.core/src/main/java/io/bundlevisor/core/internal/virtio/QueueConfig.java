package io.bundlevisor.core.internal.virtio;

/**
 * What the driver wrote for one queue through the transport (section 4.2.3.2): its size, whether it is ready, and
 * the guest-physical addresses of its three areas. Not validated here: the worker checks it against guest RAM when
 * the driver sets DRIVER_OK, and a bad one makes the device need a reset.
 */
final class QueueConfig {

    int size;
    boolean ready;
    long desc;
    long driver;
    long device;
    /** A backend transport's in-flight tracking of this queue, or null (machines). */
    io.bundlevisor.core.virtio.ChainTracker tracker;

    void clear() {
        size = 0;
        ready = false;
        desc = 0;
        driver = 0;
        device = 0;
        tracker = null;
    }

    QueueConfig copy() {
        QueueConfig c = new QueueConfig();
        c.size = size;
        c.ready = ready;
        c.desc = desc;
        c.driver = driver;
        c.device = device;
        c.tracker = tracker;
        return c;
    }
}
