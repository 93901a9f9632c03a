package io.bundlevisor.kvm.internal.partition;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

import io.bundlevisor.core.partition.DeviceSlot;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.virtio.BackendEvents;
import io.bundlevisor.core.virtio.VirtioBackend;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.core.virtio.VirtioService;

/**
 * A virtio service for partition tests: it records each slot it is given and answers with a {@link Binding} that
 * records what the partition does to it, or refuses every device (for machines that declare none).
 */
final class TestVirtio implements VirtioService {

    /** Refuses every attach, as a service with no device bundles would. */
    static final TestVirtio NONE = new TestVirtio(true);

    final List<DeviceSlot> slots = new CopyOnWriteArrayList<>();
    final List<Binding> bindings = new CopyOnWriteArrayList<>();
    /** What happened to the bindings, in order: "reset virtio-blk0", "close ...", "save ...", "restore ...". */
    final List<String> events = new CopyOnWriteArrayList<>();
    private final boolean refuse;
    /** Refuse the attach of this device index (-1: none). */
    volatile int refuseIndex = -1;

    TestVirtio() {
        this(false);
    }

    private TestVirtio(boolean refuse) {
        this.refuse = refuse;
    }

    @Override
    public Set<String> deviceTypes() {
        return refuse ? Set.of() : Set.of("virtio-blk", "test-dev");
    }

    @Override
    public VirtioBinding attach(DeviceSlot slot) throws PartitionException {
        if (refuse || slot.index() == refuseIndex) {
            throw new PartitionException(slot.machineName() + ": no device bundle provides " + slot.spec().type());
        }
        slots.add(slot);
        Binding b = new Binding(slot);
        bindings.add(b);
        return b;
    }

    @Override
    public List<VirtioBinding> bindings() {
        return List.copyOf(bindings);
    }

    /** Partitions never serve back-ends; the vhost-user bundle's tests cover {@link VirtioService#serve}. */
    @Override
    public VirtioBackend serve(String name, DeviceSpec spec, int vpCount, GuestRam ram, BackendEvents events)
            throws PartitionException {
        throw new PartitionException("partition tests serve no back-ends");
    }

    @Override
    public List<VirtioBackend> backends() {
        return List.of();
    }

    /** A binding with a one-long state the tests set, saved and restored as 12 bytes (a tag, then the long). */
    final class Binding implements VirtioBinding {

        static final int TAG = 0x7E57_0001;

        final DeviceSlot slot;
        volatile long state;
        volatile boolean closed;
        volatile int resets;

        Binding(DeviceSlot slot) {
            this.slot = slot;
        }

        @Override
        public String name() {
            return slot.machineName() + "/" + type() + slot.index();
        }

        @Override
        public String type() {
            return slot.spec().type();
        }

        @Override
        public boolean isBound() {
            return !closed;
        }

        @Override
        public int status() {
            return 0;
        }

        @Override
        public long completedChains() {
            return 0;
        }

        @Override
        public long[] completedChainsPerQueue() {
            return new long[0];
        }

        @Override
        public int inFlight() {
            return 0;
        }

        @Override
        public long needsResetCount() {
            return 0;
        }

        @Override
        public void reset() {
            resets++;
            state = 0;
            events.add("reset " + name());
        }

        @Override
        public void save(DataOutput out) throws IOException {
            events.add("save " + name());
            out.writeInt(TAG);
            out.writeLong(state);
        }

        @Override
        public void restore(DataInput in) throws IOException {
            events.add("restore " + name());
            if (in.readInt() != TAG) {
                throw new IOException("not a test device's state");
            }
            state = in.readLong();
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                events.add("close " + name());
            }
        }
    }
}
