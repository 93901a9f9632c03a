package io.bundlevisor.core.internal.virtio;

import io.bundlevisor.core.virtio.VirtioContext;

/** What a device is activated with (section 3.1.1 step 8): the agreed features and the enabled queues' sizes. */
final class Activation implements VirtioContext {

    private final long features;
    private final int[] sizes;
    private final MmioTransport transport;

    Activation(long features, QueueConfig[] queues, MmioTransport transport) {
        this.features = features;
        this.sizes = new int[queues.length];
        for (int i = 0; i < queues.length; i++) {
            sizes[i] = queues[i].ready ? queues[i].size : 0;
        }
        this.transport = transport;
    }

    @Override
    public long features() {
        return features;
    }

    @Override
    public int queueSize(int queue) {
        return queue >= 0 && queue < sizes.length ? sizes[queue] : 0;
    }

    @Override
    public void configChanged() {
        transport.configChanged();
    }
}
