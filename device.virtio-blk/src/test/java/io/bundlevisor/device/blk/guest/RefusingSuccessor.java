package io.bundlevisor.device.blk.guest;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;

import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.DeviceContext;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.DeviceResources;
import io.bundlevisor.core.virtio.VirtioContext;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.device.blk.internal.BlkDeviceFactory;

/**
 * A "newer bundle" of virtio-blk that cannot take a device over: its devices are the real ones, but either read no
 * saved state of the version the running device wrote ({@link Refusal#STATE}), or offer none of virtio-blk's own
 * features ({@link Refusal#FEATURES}). The platform must then fall back to DEVICE_NEEDS_RESET.
 */
final class RefusingSuccessor implements VirtioDeviceFactory {

    enum Refusal { STATE, FEATURES }

    private final BlkDeviceFactory real = new BlkDeviceFactory();
    private final Refusal refusal;

    RefusingSuccessor(Refusal refusal) {
        this.refusal = refusal;
    }

    @Override
    public VirtioDevice create(DeviceContext context) throws DeviceException {
        VirtioDevice d = real.create(context);
        return new VirtioDevice() {
            @Override
            public int deviceId() {
                return d.deviceId();
            }

            @Override
            public long features() {
                return refusal == Refusal.FEATURES ? 0 : d.features();
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
                if (refusal == Refusal.STATE) {
                    throw new IOException("virtio-blk saved state version 1 is not supported (only 9)");
                }
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
        };
    }
}
