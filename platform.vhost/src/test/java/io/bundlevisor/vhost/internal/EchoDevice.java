package io.bundlevisor.vhost.internal;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.VirtioContext;
import io.bundlevisor.core.virtio.VirtioDevice;

/**
 * A test device: copies each chain's readable bytes into its writable part, answering at once. Its config space
 * is 8 bytes 0x10..0x17 (byte 7 writable); its state is a version, the count of chains it answered and byte 7.
 * A device of another {@code version} reads no state but its own; one with other {@code features} offers those.
 */
final class EchoDevice implements VirtioDevice {

    static final int ID = 0x2a;
    static final long FEATURE = 1L << 3;
    private final MemorySegment scratch = Arena.ofAuto().allocate(65536);
    private final byte[] config = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17};
    volatile int activations;
    volatile int resets;
    volatile long answered;
    volatile boolean closed;
    private final int version;
    private final long features;
    /** A host file this device holds (locked), as a disk would; null for none. */
    private final io.bundlevisor.uring.host.HostFile held;
    private volatile boolean handedOver;

    EchoDevice() {
        this(1, FEATURE);
    }

    /** A device holding {@code held}, handing it to its successor rather than closing it. */
    EchoDevice(io.bundlevisor.uring.host.HostFile held) {
        this.version = 1;
        this.features = FEATURE;
        this.held = held;
    }

    EchoDevice(int version, long features) {
        this.version = version;
        this.features = features;
        this.held = null;
    }

    @Override
    public int deviceId() {
        return ID;
    }

    @Override
    public long features() {
        return features;
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public int maxQueueSize() {
        return 64;
    }

    @Override
    public int configSize() {
        return config.length;
    }

    @Override
    public int readConfig(int offset, int size) {
        int v = 0;
        for (int i = 0; i < size; i++) {
            v |= (config[offset + i] & 0xFF) << (8 * i);
        }
        return v;
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        if (offset == 7 && size == 1) {
            config[7] = (byte) value;
        }
    }

    /** {@code config0=N}: config byte 0 becomes N (a change the driver can follow, as a disk's new capacity). */
    @Override
    public void update(String options) throws io.bundlevisor.core.virtio.DeviceException {
        if (!options.matches("config0=\\d{1,3}") || Integer.parseInt(options.substring(8)) > 255) {
            throw new io.bundlevisor.core.virtio.DeviceException("echo takes config0=0..255, not " + options);
        }
        config[0] = (byte) Integer.parseInt(options.substring(8));
    }

    @Override
    public void activate(VirtioContext context) {
        activations++;
    }

    @Override
    public int handleDesc(int queue, DescChain chain, Sqe sqe) {
        int n = Math.min(Math.min(chain.readableBytes(), chain.writableBytes()), (int) scratch.byteSize());
        chain.read(0, scratch, 0, n);
        chain.write(0, scratch, 0, n);
        answered++;
        return n;
    }

    @Override
    public int completeDesc(int queue, DescChain chain, int result) {
        return NEEDS_RESET; // never submits
    }

    @Override
    public void reset() {
        resets++;
    }

    @Override
    public void saveState(DataOutput out) throws IOException {
        out.writeInt(version);
        out.writeLong(answered);
        out.writeByte(config[7]);
    }

    @Override
    public void restoreState(DataInput in) throws IOException {
        int v = in.readInt();
        if (v != version) {
            throw new IOException("echo state version " + v + " is not supported (only " + version + ")");
        }
        answered = in.readLong();
        config[7] = in.readByte();
    }

    @Override
    public void handOver(io.bundlevisor.core.virtio.DeviceResources resources) {
        if (held != null) {
            resources.keep("echo.file", held);
            handedOver = true;
        }
    }

    @Override
    public void close() {
        closed = true;
        if (held != null && !handedOver) {
            held.close();
        }
    }
}
