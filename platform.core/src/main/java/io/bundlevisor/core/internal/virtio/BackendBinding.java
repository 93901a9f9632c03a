package io.bundlevisor.core.internal.virtio;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInput;
import java.io.DataInputStream;
import java.io.DataOutput;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.core.partition.Notifier;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.virtio.BackendEvents;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.VirtioBackend;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.core.virtio.VirtioFeatures;

/**
 * A device served through a backend transport: the device, its worker and the queues the frontend started. Unlike a
 * machine's {@link Binding}, it lives no longer than its device: when the device's bundle goes, the IO in flight
 * finishes into the used rings, the device closes and the transport is told ({@link BackendEvents#deviceGone}) so
 * it can drop its frontend.
 */
final class BackendBinding implements VirtioBackend, WorkerTransport {

    private static final Logger LOG = LoggerFactory.getLogger(BackendBinding.class);

    private final String name;
    private final DeviceSpec spec;
    private final BackendEvents events;
    private final Consumer<BackendBinding> onClose;
    private final GuestErrors errors;
    private final VirtioDeviceFactory factory;
    private final VirtioDevice device;
    private final VirtioWorker worker;
    private final long offered;
    private final int queueCount;
    private final int maxQueueSize;
    private final int configSize;

    // Guarded by this.
    private long acked;
    private final boolean[] running;
    private boolean closed;

    BackendBinding(String name, DeviceSpec spec, int vpCount, GuestRam ram, BackendEvents events, RingService rings,
            VirtioDeviceFactory factory, Consumer<BackendBinding> onClose) throws PartitionException {
        this.name = name + "/" + spec.type();
        this.spec = spec;
        this.events = events;
        this.onClose = onClose;
        this.errors = new GuestErrors(LOG, this.name);
        this.factory = factory;
        try {
            this.device = factory.create(new Context(name, 0, vpCount, spec.options(), this.name, true));
        } catch (DeviceException e) {
            throw new PartitionException(this.name + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new PartitionException(this.name + ": the device failed to start: " + e, e);
        }
        this.queueCount = device.queueCount();
        this.maxQueueSize = device.maxQueueSize();
        this.configSize = device.configSize();
        this.offered = (device.features() & VirtioFeatures.DEVICE_SPECIFIC) | VirtioFeatures.TRANSPORT;
        try {
            this.worker = new VirtioWorker(this.name, device, ram,
                    new Notifier[Math.clamp(queueCount, 0, VirtioWorker.MAX_QUEUES)], null, this, errors, rings);
        } catch (PartitionException | RuntimeException e) {
            device.close();
            throw e;
        }
        this.running = new boolean[queueCount];
    }

    VirtioDeviceFactory factory() {
        return factory;
    }

    // ---- WorkerTransport (worker thread) --------------------------------------------------------------------------

    @Override
    public void usedBuffers(long queues) {
        long q = queues;
        while (q != 0) {
            int i = Long.numberOfTrailingZeros(q);
            q &= q - 1;
            events.usedBuffers(i);
        }
    }

    @Override
    public void needsReset() {
        events.needsReset();
    }

    @Override
    public void configChanged() {
        events.configChanged();
    }

    // ---- VirtioBackend ---------------------------------------------------------------------------------------------

    @Override
    public String name() {
        return name;
    }

    @Override
    public String type() {
        return spec.type();
    }

    @Override
    public int deviceId() {
        return device.deviceId();
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
    public long features() {
        return offered;
    }

    @Override
    public synchronized void setAckedFeatures(long features) {
        checkOpen();
        if ((features & ~offered) != 0) {
            throw new IllegalArgumentException(String.format("features 0x%x were not offered (offered 0x%x)",
                    features & ~offered, offered));
        }
        if ((features & VirtioFeatures.VERSION_1) == 0) {
            throw new IllegalArgumentException("VIRTIO_F_VERSION_1 is required (legacy devices are not served)");
        }
        for (boolean r : running) {
            if (r) {
                throw new IllegalStateException("features cannot change while a queue runs");
            }
        }
        acked = features;
    }

    @Override
    public synchronized long ackedFeatures() {
        return acked;
    }

    @Override
    public long[] queuesPerThread() {
        return new long[] {queueCount == 64 ? -1L : (1L << queueCount) - 1};
    }

    @Override
    public int configSize() {
        return configSize;
    }

    @Override
    public void readConfig(int offset, byte[] into, int at, int length) {
        java.util.Objects.checkFromIndexSize(at, length, into.length);
        for (int i = 0; i < length; i++) {
            long o = (long) offset + i;
            into[at + i] = o >= 0 && o < configSize ? (byte) device.readConfig((int) o, 1) : 0;
        }
    }

    @Override
    public void writeConfig(int offset, byte[] from, int at, int length) {
        java.util.Objects.checkFromIndexSize(at, length, from.length);
        if (offset < 0 || (long) offset + length > configSize) {
            throw new IllegalArgumentException("config write of " + length + " bytes at " + offset
                    + " leaves the " + configSize + "-byte config space");
        }
        for (int i = 0; i < length; i++) {
            device.writeConfig(offset + i, 1, from[at + i] & 0xFF);
        }
    }

    @Override
    public void memoryChanged() {
        await(worker.memoryChanged(), "memory update");
    }

    @Override
    public void startQueue(int queue, QueueSetup setup) {
        long features;
        synchronized (this) {
            if (queue < 0 || queue >= queueCount || setup.size() < 1 || setup.size() > maxQueueSize
                    || Integer.bitCount(setup.size()) != 1 || (setup.nextAvail() & ~0xFFFF) != 0) {
                setup.kick().close();
                throw new IllegalArgumentException("queue " + queue + " of size " + setup.size() + " from "
                        + setup.nextAvail() + ": this device has " + queueCount + " queues of at most "
                        + maxQueueSize + " (a power of two), indices are 16-bit");
            }
            if (closed || acked == 0) {
                setup.kick().close();
                throw new IllegalStateException(closed ? name + " is closed" : "no features were acknowledged");
            }
            features = acked;
            running[queue] = true;
        }
        QueueConfig c = new QueueConfig();
        c.size = setup.size();
        c.ready = true;
        c.desc = setup.desc();
        c.driver = setup.driver();
        c.device = setup.device();
        try {
            await(worker.startQueue(features, new int[queueCount], queue, c, setup.nextAvail(), setup.kick()),
                    "queue " + queue + " start");
        } catch (IllegalStateException e) {
            synchronized (this) {
                running[queue] = false;
            }
            throw e;
        }
    }

    @Override
    public int stopQueue(int queue) {
        synchronized (this) {
            if (queue < 0 || queue >= queueCount || !running[queue]) {
                return -1;
            }
            running[queue] = false;
        }
        Integer next = await(worker.stopQueue(queue), "queue " + queue + " stop");
        return next == null ? -1 : next;
    }

    @Override
    public synchronized boolean isRunning(int queue) {
        return queue >= 0 && queue < queueCount && running[queue];
    }

    @Override
    public void reset() {
        await(worker.resetBackend(), "reset");
        synchronized (this) {
            java.util.Arrays.fill(running, false);
            acked = 0;
        }
    }

    @Override
    public synchronized boolean isBound() {
        return !closed;
    }

    @Override
    public long completedChains() {
        return worker.completedChains();
    }

    @Override
    public long[] completedChainsPerQueue() {
        return worker.completedChainsPerQueue();
    }

    @Override
    public java.util.List<String> queueCounters() {
        return Binding.counters(device);
    }

    @Override
    public int inFlight() {
        return worker.inFlight();
    }

    @Override
    public void saveState(DataOutput out) throws IOException {
        checkStopped("saved");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            worker.call(() -> {
                device.saveState(new DataOutputStream(bytes));
                return null;
            });
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(name + ": save failed: " + e.getMessage(), e);
        }
        out.writeInt(device.deviceId());
        out.writeInt(bytes.size());
        out.write(bytes.toByteArray());
    }

    @Override
    public void restoreState(DataInput in) throws IOException {
        checkStopped("restored");
        int id = in.readInt();
        if (id != device.deviceId()) {
            throw new IOException(name + ": the state is of virtio device " + id + ", this is " + device.deviceId());
        }
        int length = in.readInt();
        if (length < 0 || length > (1 << 20)) {
            throw new IOException(name + ": a device state of " + length + " bytes");
        }
        byte[] blob = new byte[length];
        in.readFully(blob);
        try {
            worker.call(() -> {
                device.restoreState(new DataInputStream(new ByteArrayInputStream(blob)));
                return null;
            });
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(name + ": restore failed: " + e.getMessage(), e);
        }
    }

    private synchronized void checkStopped(String what) throws IOException {
        if (closed) {
            throw new IOException(name + " is closed");
        }
        for (boolean r : running) {
            if (r) {
                throw new IOException(name + " cannot be " + what + " while a queue runs");
            }
        }
    }

    private synchronized void checkOpen() {
        if (closed) {
            throw new IllegalStateException(name + " is closed");
        }
    }

    /** The device's factory went: finish the IO, close the device, tell the transport. */
    void unbind() {
        if (shutDown()) {
            LOG.info("{}: device unbound (its bundle stopped); the frontend is dropped", name);
            events.deviceGone();
        }
    }

    @Override
    public void close() {
        shutDown();
    }

    private boolean shutDown() {
        synchronized (this) {
            if (closed) {
                return false;
            }
            closed = true;
            java.util.Arrays.fill(running, false);
        }
        worker.stop();
        try {
            device.close();
        } catch (RuntimeException e) {
            LOG.error("{}: device close failed", name, e);
        }
        onClose.accept(this);
        return true;
    }

    private <T> T await(CompletableFuture<T> f, String what) {
        try {
            return f.get(VirtioWorker.DRAIN_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new IllegalStateException(name + ": " + what + " waited " + VirtioWorker.DRAIN_SECONDS
                    + " s for the device's IO (" + worker.inFlightSummary() + ")");
        } catch (ExecutionException e) {
            throw new IllegalStateException(name + ": " + what + " failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(name + ": " + what + " interrupted");
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
