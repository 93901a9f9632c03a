package io.bundlevisor.device.net.internal;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.EOFException;
import java.io.IOException;

import io.bundlevisor.core.partition.MachineConfig;

/**
 * A network device's saved state. The platform saves the queues, features and status; nothing is in flight (the
 * receive buffers were given back) when a device is saved. What is left: the device's shape, which a restore checks
 * so that a guest never resumes on another tap or another number of queues, and what the driver set through the
 * control queue (MAC address, queue pairs in use, receive modes).
 *
 * <p>Stream: magic {@code "vnet"}, version (1), tap name (UTF), queue pairs, control queue, MTU, MAC, pairs in use,
 * receive modes.
 */
record NetState(String tap, int pairs, boolean control, int mtu, long mac, int pairsInUse, int rxModes) {

    private static final int MAGIC = 0x766E6574; // "vnet"
    static final int VERSION = 1;

    void write(DataOutput out) throws IOException {
        out.writeInt(MAGIC);
        out.writeInt(VERSION);
        out.writeUTF(tap);
        out.writeInt(pairs);
        out.writeBoolean(control);
        out.writeInt(mtu);
        out.writeLong(mac);
        out.writeInt(pairsInUse);
        out.writeInt(rxModes);
    }

    /**
     * Reads a state and checks its fields' ranges.
     *
     * @throws IOException with a one-line reason when the stream is not a valid virtio-net state of a known version
     */
    static NetState read(DataInput in) throws IOException {
        try {
            return readFields(in);
        } catch (EOFException e) {
            throw new IOException("the virtio-net saved state is cut short");
        }
    }

    private static NetState readFields(DataInput in) throws IOException {
        int magic = in.readInt();
        if (magic != MAGIC) {
            throw new IOException("not a virtio-net saved state (magic 0x" + Integer.toHexString(magic) + ")");
        }
        int version = in.readInt();
        if (version != VERSION) {
            throw new IOException("virtio-net saved state version " + version + " is not supported (only " + VERSION
                    + ")");
        }
        NetState s = new NetState(in.readUTF(), in.readInt(), in.readBoolean(), in.readInt(), in.readLong(),
                in.readInt(), in.readInt());
        if (s.pairs < 1 || s.pairs > NetOptions.MAX_PAIRS || s.pairsInUse < 1 || s.pairsInUse > s.pairs
                || (s.mac & ~0xFFFF_FFFF_FFFFL) != 0 || s.mtu < NetSpec.MIN_MTU || s.mtu > NetSpec.MAX_MTU
                || (s.rxModes & ~0x3F) != 0) {
            throw new IOException("the virtio-net saved state is out of range: " + s.describe());
        }
        return s;
    }

    /** The record in one printable line (the tap name escaped). */
    private String describe() {
        return "tap " + MachineConfig.printable(tap) + ", " + pairs + " pairs (" + pairsInUse + " in use), control "
                + control + ", MTU " + mtu + ", MAC 0x" + Long.toHexString(mac) + ", receive modes 0x"
                + Integer.toHexString(rxModes);
    }

    /**
     * Checks that a saved state was taken of a device of this shape.
     *
     * @throws IOException with a one-line reason naming both
     */
    void requireSameShape(NetState saved) throws IOException {
        if (!tap.equals(saved.tap) || pairs != saved.pairs || control != saved.control || mtu != saved.mtu) {
            throw new IOException("the saved virtio-net state is for tap " + MachineConfig.printable(saved.tap) + " ("
                    + saved.pairs + " pairs, MTU " + saved.mtu + "), not tap " + tap + " (" + pairs + " pairs, MTU "
                    + mtu + ")");
        }
    }
}
