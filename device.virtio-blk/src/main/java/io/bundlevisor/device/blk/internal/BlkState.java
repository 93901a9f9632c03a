package io.bundlevisor.device.blk.internal;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.EOFException;
import java.io.IOException;

import io.bundlevisor.core.partition.MachineConfig;

/**
 * A disk's saved state. The platform saves the queues, features and status; nothing is in flight when a device is
 * saved, so what is left is the disk's identity, which a restore checks so that a guest never resumes on another
 * disk, or on its disk grown, shrunk or with another shape.
 *
 * <p>Stream: magic {@code "vblk"}, version (1), path (UTF), capacity in sectors, read-only, queue count.
 */
record BlkState(String path, long capacity, boolean readOnly, int queues) {

    private static final int MAGIC = 0x76626C6B; // "vblk"
    static final int VERSION = 1;

    void write(DataOutput out) throws IOException {
        out.writeInt(MAGIC);
        out.writeInt(VERSION);
        out.writeUTF(path);
        out.writeLong(capacity);
        out.writeBoolean(readOnly);
        out.writeInt(queues);
    }

    /**
     * Reads a state.
     *
     * @throws IOException with a one-line reason when the stream is not a virtio-blk state of a known version, or is
     *         cut short
     */
    static BlkState read(DataInput in) throws IOException {
        try {
            return readFields(in);
        } catch (EOFException e) {
            throw new IOException("the virtio-blk saved state is cut short");
        }
    }

    private static BlkState readFields(DataInput in) throws IOException {
        int magic = in.readInt();
        if (magic != MAGIC) {
            throw new IOException("not a virtio-blk saved state (magic 0x" + Integer.toHexString(magic) + ")");
        }
        int version = in.readInt();
        if (version != VERSION) {
            throw new IOException("virtio-blk saved state version " + version + " is not supported (only "
                    + VERSION + ")");
        }
        return new BlkState(in.readUTF(), in.readLong(), in.readBoolean(), in.readInt());
    }

    /**
     * Checks that a saved state describes this disk.
     *
     * @throws IOException with a one-line reason naming both disks
     */
    void requireSame(BlkState saved) throws IOException {
        if (!equals(saved)) {
            throw new IOException("the saved virtio-blk state is for " + saved.describe() + ", not " + describe());
        }
    }

    private String describe() {
        return MachineConfig.printable(path) + " (" + capacity + " sectors, " + (readOnly ? "read-only" : "read-write") + ", " + queues
                + (queues == 1 ? " queue)" : " queues)");
    }
}
