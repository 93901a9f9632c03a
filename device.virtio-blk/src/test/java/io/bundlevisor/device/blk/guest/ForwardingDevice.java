package io.bundlevisor.device.blk.guest;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;

import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.DeviceResources;
import io.bundlevisor.core.virtio.VirtioContext;
import io.bundlevisor.core.virtio.VirtioDevice;

/** A device that forwards everything to a real one; tests override what they change. */
class ForwardingDevice implements VirtioDevice {

    protected final VirtioDevice d;

    ForwardingDevice(VirtioDevice d) {
        this.d = d;
    }

    @Override
    public int deviceId() {
        return d.deviceId();
    }

    @Override
    public long features() {
        return d.features();
    }

    @Override
    public int queueCount() {
        return d.queueCount();
    }

    @Override
    public int maxQueueSize() {
        return d.maxQueueSize();
    }

    @Override
    public int configSize() {
        return d.configSize();
    }

    @Override
    public int readConfig(int offset, int size) {
        return d.readConfig(offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        d.writeConfig(offset, size, value);
    }

    @Override
    public void activate(VirtioContext c) throws DeviceException {
        d.activate(c);
    }

    @Override
    public int handleDesc(int queue, DescChain chain, Sqe sqe) {
        return d.handleDesc(queue, chain, sqe);
    }

    @Override
    public int completeDesc(int queue, DescChain chain, int result) {
        return d.completeDesc(queue, chain, result);
    }

    @Override
    public void reset() {
        d.reset();
    }

    @Override
    public void saveState(DataOutput out) throws IOException {
        d.saveState(out);
    }

    @Override
    public void restoreState(DataInput in) throws IOException {
        d.restoreState(in);
    }

    @Override
    public void handOver(DeviceResources resources) {
        d.handOver(resources);
    }

    @Override
    public void close() {
        d.close();
    }
}
