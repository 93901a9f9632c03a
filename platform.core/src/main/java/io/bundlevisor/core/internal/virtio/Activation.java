package io.bundlevisor.core.internal.virtio;

import io.bundlevisor.core.virtio.VirtioContext;

/**
 * What a device is activated with (section 3.1.1 step 8): the agreed features and the sizes of the queues the driver
 * enabled (0 for the others).
 */
final class Activation implements VirtioContext {

    private final long features;
    private final int[] sizes;
    private final WorkerTransport transport;
    private final WorkerEvents events;

    Activation(long features, int[] sizes, WorkerTransport transport, WorkerEvents events) {
        this.features = features;
        this.sizes = sizes.clone();
        this.transport = transport;
        this.events = events;
    }

    /** The sizes of the ready queues of {@code queues}, 0 for the others. */
    static int[] sizes(QueueConfig[] queues) {
        int[] sizes = new int[queues.length];
        for (int i = 0; i < queues.length; i++) {
            sizes[i] = queues[i] != null && queues[i].ready ? queues[i].size : 0;
        }
        return sizes;
    }

    @Override
    public long features() {
        return features;
    }

    @Override
    public int queueSize(int queue) {
        return queue >= 0 && queue < sizes.length ? sizes[queue] : 0;
    }

    /** Whether a queue of {@code size} at {@code queue} is what the device was activated with. */
    boolean covers(int queue, int size) {
        return queue >= 0 && queue < sizes.length && sizes[queue] == size;
    }

    @Override
    public void configChanged() {
        transport.configChanged();
    }

    @Override
    public io.bundlevisor.core.virtio.DeviceEvents events() {
        return events;
    }
}
