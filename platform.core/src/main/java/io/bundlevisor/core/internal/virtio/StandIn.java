package io.bundlevisor.core.internal.virtio;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.VirtioContext;
import io.bundlevisor.core.virtio.VirtioDevice;

/**
 * Stands in for a device between two bundles (a handover): the transport reads the features, queue sizes and config
 * space the guest read before; config writes are kept for the successor; a driver reset is remembered, because it
 * makes the saved state moot. No chain reaches it: the worker does not pull while it stands in.
 */
final class StandIn implements VirtioDevice {

    /** More config writes than this during one gap are not replayed one by one; the last bytes still are. */
    private static final int MAX_WRITES = 256;

    private final int deviceId;
    private final long features;
    private final int queueCount;
    private final int maxQueueSize;
    // Guarded by this.
    private final byte[] config;
    private final List<int[]> writes = new ArrayList<>();
    private boolean reset;

    private StandIn(int deviceId, long features, int queueCount, int maxQueueSize, byte[] config) {
        this.deviceId = deviceId;
        this.features = features;
        this.queueCount = queueCount;
        this.maxQueueSize = maxQueueSize;
        this.config = config;
    }

    /** What {@code d} shows the guest now; on its worker thread, with nothing in flight. */
    static StandIn of(VirtioDevice d) {
        return new StandIn(d.deviceId(), d.features(), d.queueCount(), d.maxQueueSize(), configOf(d));
    }

    /** The config space of {@code d}, byte by byte. */
    static byte[] configOf(VirtioDevice d) {
        byte[] c = new byte[Math.max(0, d.configSize())];
        for (int i = 0; i < c.length; i++) {
            c[i] = (byte) d.readConfig(i, 1);
        }
        return c;
    }

    /** Whether the driver reset the device during the gap: the successor then starts fresh, with no state. */
    synchronized boolean wasReset() {
        return reset;
    }

    /** Gives {@code d} the config writes of the gap, in order. */
    synchronized void replayConfigWrites(VirtioDevice d) {
        for (int[] w : writes) {
            d.writeConfig(w[0], w[1], w[2]);
        }
    }

    /** Null if {@code d} shows the config space the guest knows, else where it differs (one line). */
    synchronized String configDifference(VirtioDevice d) {
        byte[] now = configOf(d);
        if (now.length != config.length) {
            return "the new device's config space has " + now.length + " bytes, the guest knows " + config.length;
        }
        for (int i = 0; i < now.length; i++) {
            if (now[i] != config[i]) {
                return String.format("the new device's config space differs at byte %d (0x%02x, the guest knows "
                        + "0x%02x)", i, now[i] & 0xFF, config[i] & 0xFF);
            }
        }
        return null;
    }

    @Override
    public int deviceId() {
        return deviceId;
    }

    @Override
    public long features() {
        return features;
    }

    @Override
    public int queueCount() {
        return queueCount;
    }

    @Override
    public int maxQueueSize() {
        return maxQueueSize;
    }

    @Override
    public int configSize() {
        return config.length;
    }

    @Override
    public synchronized int readConfig(int offset, int size) {
        int v = 0;
        for (int i = 0; i < size; i++) {
            v |= (config[offset + i] & 0xFF) << (8 * i);
        }
        return v;
    }

    @Override
    public synchronized void writeConfig(int offset, int size, int value) {
        if (writes.size() < MAX_WRITES) {
            writes.add(new int[] {offset, size, value});
        }
    }

    @Override
    public void activate(VirtioContext context) {
        // The worker keeps the activation for the successor.
    }

    @Override
    public int handleDesc(int queue, DescChain chain, Sqe sqe) {
        return NEEDS_RESET; // never called: the worker does not pull while the device is between bundles
    }

    @Override
    public int completeDesc(int queue, DescChain chain, int result) {
        return NEEDS_RESET;
    }

    @Override
    public synchronized void reset() {
        reset = true;
    }

    @Override
    public void saveState(DataOutput out) throws IOException {
        throw new IOException("the device is between two bundles (a handover is under way)");
    }

    @Override
    public void restoreState(DataInput in) throws IOException {
        throw new IOException("the device is between two bundles (a handover is under way)");
    }

    @Override
    public void close() {
    }
}
