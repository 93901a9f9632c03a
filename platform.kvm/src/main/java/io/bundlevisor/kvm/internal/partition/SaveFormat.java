package io.bundlevisor.kvm.internal.partition;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.kvm.internal.machine.Machine;
import io.bundlevisor.uring.host.SyscallException;

/**
 * The saved-machine stream, version 1: a header naming the shape (VPs, RAM bytes), then length-prefixed blobs for
 * the VM (irqchip, PIT, clock), each VP (its own versioned blob), and the console UART, then all of RAM. Every
 * length is checked before anything is allocated, and the whole stream is read before any device state is
 * applied, so a malformed or truncated stream is refused with one line. RAM is read in place, so a refused stream
 * may leave it overwritten: reset or restore a good save before starting again.
 */
final class SaveFormat {

    private static final long MAGIC = 0x4256_5341_5645_0001L; // "BVSAVE" + 1
    private static final int VERSION = 1;
    /** No blob of ours is near this; a larger length means a corrupt stream. */
    private static final int MAX_BLOB = 1 << 20;
    private static final int CHUNK = 1 << 20;

    private SaveFormat() {
    }

    static void write(Machine machine, OutputStream stream) throws IOException {
        DataOutputStream out = new DataOutputStream(stream);
        out.writeLong(MAGIC);
        out.writeInt(VERSION);
        out.writeInt(machine.vcpus().size());
        out.writeLong(machine.ram().size());
        try {
            blob(out, machine.vm().saveState());
            int[] msrs = machine.savedMsrs();
            for (var vcpu : machine.vcpus()) {
                blob(out, vcpu.saveState(msrs));
            }
        } catch (SyscallException e) {
            throw new IOException("saving " + machine.config().name() + ": " + e.getMessage(), e);
        }
        blob(out, machine.uart().save());
        out.flush();
        WritableByteChannel channel = Channels.newChannel(stream);
        MemorySegment ram = machine.ram().segment();
        for (long at = 0; at < ram.byteSize(); at += CHUNK) {
            ByteBuffer chunk = ram.asSlice(at, Math.min(CHUNK, ram.byteSize() - at)).asByteBuffer();
            while (chunk.hasRemaining()) {
                channel.write(chunk);
            }
        }
        stream.flush();
    }

    static void read(Machine machine, InputStream stream) throws IOException, PartitionException {
        String name = machine.config().name();
        DataInputStream in = new DataInputStream(stream);
        try {
            if (in.readLong() != MAGIC) {
                throw new PartitionException(name + ": not a Bundlevisor saved machine");
            }
            int version = in.readInt();
            if (version != VERSION) {
                throw new PartitionException(name + ": saved machine has version " + version + ", this reads "
                        + VERSION);
            }
            int cpus = in.readInt();
            long ram = in.readLong();
            if (cpus != machine.vcpus().size() || ram != machine.ram().size()) {
                throw new PartitionException(name + ": saved machine has " + cpus + " VPs and " + (ram >> 20)
                        + " MiB, this one " + machine.vcpus().size() + " and " + (machine.ram().size() >> 20));
            }
            byte[] vm = blob(in);
            byte[][] vps = new byte[cpus][];
            for (int i = 0; i < cpus; i++) {
                vps[i] = blob(in);
            }
            byte[] uart = blob(in);
            ReadableByteChannel channel = Channels.newChannel(in);
            MemorySegment memory = machine.ram().segment();
            for (long at = 0; at < memory.byteSize(); at += CHUNK) {
                ByteBuffer chunk = memory.asSlice(at, Math.min(CHUNK, memory.byteSize() - at)).asByteBuffer();
                while (chunk.hasRemaining()) {
                    if (channel.read(chunk) < 0) {
                        throw new EOFException();
                    }
                }
            }
            machine.vm().restoreState(vm);
            for (int i = 0; i < cpus; i++) {
                machine.vcpus().get(i).restoreState(vps[i]);
            }
            machine.uart().restore(uart);
        } catch (EOFException e) {
            throw new PartitionException(name + ": saved machine is truncated");
        } catch (IllegalArgumentException | SyscallException e) {
            throw new PartitionException(name + ": saved machine refused: " + e.getMessage(), e);
        }
    }

    private static void blob(DataOutputStream out, byte[] blob) throws IOException {
        out.writeInt(blob.length);
        out.write(blob);
    }

    private static byte[] blob(DataInputStream in) throws IOException, PartitionException {
        int n = in.readInt();
        if (n < 0 || n > MAX_BLOB) {
            throw new PartitionException("saved machine has a state blob of " + n + " bytes");
        }
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }
}
