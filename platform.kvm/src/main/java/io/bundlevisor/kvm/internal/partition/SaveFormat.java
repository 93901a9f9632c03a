package io.bundlevisor.kvm.internal.partition;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
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
import java.util.List;

import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.kvm.internal.GuestMemory;
import io.bundlevisor.kvm.internal.machine.Machine;
import io.bundlevisor.uring.host.SyscallException;

/**
 * The saved-machine stream, version 2: a header naming the shape (VPs, RAM bytes), then length-prefixed blobs for
 * the VM (irqchip, PIT, clock), each VP (its own versioned blob), and the console UART, then the devices (their
 * count, then for each its type and the length-prefixed blob its binding wrote), then all of RAM. Every length is
 * checked before anything is allocated, and the whole stream is read before any device state is applied, so a
 * malformed or truncated stream is refused with one line. A stream whose device types differ from this machine's,
 * in count or order, is refused before RAM is touched (the options, such as a disk's path, may differ: the same
 * guest may be restored over a copied disk). RAM is read in place, so a refused stream may leave it overwritten:
 * reset or restore a good save before starting again.
 *
 * <p>Version 1 (no device section) is refused: no machine saved by it had devices, but this reader does not
 * carry a second layout for them.
 */
final class SaveFormat {

    private static final long MAGIC = 0x4256_5341_5645_0001L; // "BVSAVE" + 1
    private static final int VERSION = 2;
    /** No blob of ours is near this; a larger length means a corrupt stream. */
    private static final int MAX_BLOB = 1 << 20;
    private static final int CHUNK = 1 << 20;

    private SaveFormat() {
    }

    static void write(Machine machine, List<VirtioBinding> devices, OutputStream stream) throws IOException {
        write(machine, devices, stream, true);
    }

    /** Where a reader takes RAM from when the stream does not carry it (a snapshot's memory file). */
    interface RamSource {
        void load(GuestMemory ram) throws IOException, PartitionException;
    }

    /** The stream, with RAM at its end ({@code withRam}) or without it (a snapshot writes RAM to a file of its own). */
    static void write(Machine machine, List<VirtioBinding> devices, OutputStream stream, boolean withRam)
            throws IOException {
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
        out.writeInt(devices.size());
        for (VirtioBinding d : devices) {
            ByteArrayOutputStream state = new ByteArrayOutputStream();
            DataOutputStream deviceOut = new DataOutputStream(state);
            d.save(deviceOut);
            deviceOut.flush();
            if (state.size() > MAX_BLOB) {
                throw new IOException("saving " + d.name() + ": its state is " + state.size()
                        + " bytes, the saved-machine format takes " + MAX_BLOB);
            }
            out.writeUTF(d.type());
            blob(out, state.toByteArray());
        }
        out.flush();
        if (!withRam) {
            return;
        }
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

    static void read(Machine machine, List<VirtioBinding> devices, InputStream stream)
            throws IOException, PartitionException {
        read(machine, devices, stream, null);
    }

    /** Reads a stream; RAM from {@code ram} when given, else from the stream's end. */
    static void read(Machine machine, List<VirtioBinding> devices, InputStream stream, RamSource ram)
            throws IOException, PartitionException {
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
            long ramBytes = in.readLong();
            if (cpus != machine.vcpus().size() || ramBytes != machine.ram().size()) {
                throw new PartitionException(name + ": saved machine has " + cpus + " VPs and " + (ramBytes >> 20)
                        + " MiB, this one " + machine.vcpus().size() + " and " + (machine.ram().size() >> 20));
            }
            byte[] vm = blob(in);
            byte[][] vps = new byte[cpus][];
            for (int i = 0; i < cpus; i++) {
                vps[i] = blob(in);
            }
            byte[] uart = blob(in);
            byte[][] deviceStates = readDevices(name, devices, in);
            // The devices stop touching RAM before it is overwritten, and restore into freshly reset bindings.
            for (VirtioBinding d : devices) {
                d.reset();
            }
            MemorySegment memory = machine.ram().segment();
            ReadableByteChannel channel = Channels.newChannel(in);
            if (ram != null) {
                if (in.read() >= 0) {
                    throw new PartitionException(name + ": saved state has bytes after its devices");
                }
                ram.load(machine.ram());
            }
            for (long at = 0; ram == null && at < memory.byteSize(); at += CHUNK) {
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
            for (int i = 0; i < devices.size(); i++) {
                restoreDevice(name, devices.get(i), deviceStates[i]);
            }
        } catch (EOFException e) {
            throw new PartitionException(name + ": saved machine is truncated");
        } catch (IllegalArgumentException | SyscallException e) {
            throw new PartitionException(name + ": saved machine refused: " + e.getMessage(), e);
        }
    }

    /** The device section: refused unless it lists this machine's device types in this machine's order. */
    private static byte[][] readDevices(String name, List<VirtioBinding> devices, DataInputStream in)
            throws IOException, PartitionException {
        int count = in.readInt();
        if (count != devices.size()) {
            throw new PartitionException(name + ": saved machine has " + count + " devices, this one "
                    + devices.size());
        }
        byte[][] states = new byte[count][];
        for (int i = 0; i < count; i++) {
            String type = in.readUTF();
            if (!type.equals(devices.get(i).type())) {
                throw new PartitionException(name + ": saved machine's device " + i + " is " + printable(type)
                        + ", this one's " + devices.get(i).type());
            }
            states[i] = blob(in);
        }
        return states;
    }

    /** Hands a binding its blob; it must read all of it, no more. */
    private static void restoreDevice(String name, VirtioBinding device, byte[] state) throws PartitionException {
        ByteArrayInputStream bytes = new ByteArrayInputStream(state);
        try {
            device.restore(new DataInputStream(bytes));
        } catch (EOFException e) {
            throw new PartitionException(name + ": saved state of " + device.name() + " is truncated");
        } catch (IOException | RuntimeException e) {
            throw new PartitionException(name + ": " + device.name() + " refused its saved state: " + e.getMessage(),
                    e);
        }
        if (bytes.available() > 0) {
            throw new PartitionException(name + ": " + device.name() + " left " + bytes.available()
                    + " bytes of its saved state unread");
        }
    }

    /** A type read from a stream, safe for a one-line message. */
    private static String printable(String s) {
        String cut = s.length() > 40 ? s.substring(0, 40) + "..." : s;
        return "'" + cut.replaceAll("[^\\x20-\\x7E]", "?") + "'";
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
