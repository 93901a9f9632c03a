package io.bundlevisor.core.internal.virtio;

import java.io.DataInput;
import java.io.DataOutput;

import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.VirtioContext;
import io.bundlevisor.core.virtio.VirtioDevice;

/** A device with one queue of 128, device feature bit 6 and an 8-byte config 01 02 .. 08. */
final class FakeDevice implements VirtioDevice {
    @Override
    public int deviceId() {
        return 2;
    }

    @Override
    public long features() {
        return 1L << 6 | 1L << 40; // bit 40 is not the device's to offer: filtered
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int maxQueueSize() {
        return 128;
    }

    @Override
    public int configSize() {
        return 8;
    }

    @Override
    public int readConfig(int offset, int size) {
        int v = 0;
        for (int i = size - 1; i >= 0; i--) {
            v = v << 8 | (offset + i + 1);
        }
        return v;
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
    }

    @Override
    public void activate(VirtioContext context) {
    }

    @Override
    public int handleDesc(int queue, DescChain chain, Sqe sqe) {
        return 0;
    }

    @Override
    public int completeDesc(int queue, DescChain chain, int result) {
        return 0;
    }

    @Override
    public void reset() {
    }

    @Override
    public void saveState(DataOutput out) {
    }

    @Override
    public void restoreState(DataInput in) {
    }

    @Override
    public void close() {
    }
}
