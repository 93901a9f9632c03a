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
import io.bundlevisor.core.virtio.DeviceResources;
import io.bundlevisor.core.virtio.VirtioBackend;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.core.virtio.VirtioFeatures;

/**
 * A device served through a backend transport: the device, its worker and the queues the frontend started. When
 * the device's bundle goes, the device is handed over as a machine's {@link Binding} is: the worker parks with the
 * running queues and their kick eventfds, and the next factory's device takes over; the frontend keeps its
 * connection and sees its IO pause. When no successor comes within the grace period, or it cannot take over, the
 * IO in flight has finished into the used rings, the device closes and the transport is told
 * ({@link BackendEvents#deviceGone}) so it can drop its frontend.
 */
final class BackendBinding implements VirtioBackend, WorkerTransport {

    private static final Logger LOG = LoggerFactory.getLogger(BackendBinding.class);

    private final String name;
    private final DeviceSpec spec;
    private final BackendEvents events;
    private final Consumer<BackendBinding> onClose;
    private final GuestErrors errors;
    private final String machineName;
    private final int vpCount;
    private final HandoverPolicy policy;
    private final VirtioWorker worker;
    /** The device; a {@link StandIn} between two bundles. */
    private volatile VirtioDevice device;
    private volatile long offered;
    private final int queueCount;
    private final int maxQueueSize;
    private final int configSize;

    // Guarded by this.
    private long acked;
    private final boolean[] running;
    private boolean closed;
    private VirtioDeviceFactory factory;
    /** The handover under way while the device is between two bundles, else null. */
    private Handover handover;

    BackendBinding(String name, DeviceSpec spec, int vpCount, GuestRam ram, BackendEvents events, RingService rings,
            VirtioDeviceFactory factory, HandoverPolicy policy, DeviceResources resources,
            Consumer<BackendBinding> onClose) throws PartitionException {
        this.name = name + "/" + spec.type();
        this.machineName = name;
        this.vpCount = vpCount;
        this.policy = policy;
        this.spec = spec;
        this.events = events;
        this.onClose = onClose;
        this.errors = new GuestErrors(LOG, this.name);
        this.factory = factory;
        this.device = create(factory, resources);
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

    private VirtioDevice create(VirtioDeviceFactory f, DeviceResources resources) throws PartitionException {
        try {
            return f.create(new Context(machineName, 0, vpCount, spec.options(), name, true, resources));
        } catch (DeviceException e) {
            throw new PartitionException(name + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new PartitionException(name + ": the device failed to start: " + e, e);
        }
    }

    synchronized VirtioDeviceFactory factory() {
        return factory;
    }

    // ---- the device bundle comes and goes ---------------------------------------------------------------------

    /**
     * Gives up the device for a successor that serves the next front-end: quiesces it, lets it keep its host
     * resources on the shelf returned (the caller's to close once the successor took what it needs), and closes
     * this backend. A device between two bundles gives the shelf it is waiting with. Nothing is kept if the device
     * cannot be handed over; the shelf is then empty.
     */
    ResourceShelf surrender() {
        ResourceShelf s;
        synchronized (this) {
            if (closed) {
                return new ResourceShelf(name);
            }
            if (handover != null) {
                s = handover.handOffShelf();
            } else {
                s = new ResourceShelf(name);
                try {
                    VirtioWorker.Parked p = worker.parkNow(s);
                    p.old().close();
                    device = p.standIn();
                } catch (IOException | RuntimeException e) {
                    LOG.warn("{}: its resources are not handed to the next front-end's device: {}", name,
                            e.getMessage());
                }
            }
        }
        shutDown();
        return s;
    }

    /** Whether the device is between two bundles, waiting for a factory. */
    synchronized boolean waitsForDevice() {
        return !closed && handover != null;
    }

    /**
     * Our factory is going: hand the device over (the worker parks, the old device closes, the frontend stays), or
     * when handovers are off or the device cannot be saved, drop the frontend as {@link #unbind()} does.
     */
    void unbind(VirtioDeviceFactory f) {
        ResourceShelf s = null;
        VirtioWorker.Parked p;
        String reason = "device unbound (its bundle stopped; handovers are off)";
        long started = System.nanoTime();
        synchronized (this) {
            if (closed || factory != f) {
                return;
            }
            if (!policy.handsOver()) {
                p = null;
            } else {
                s = new ResourceShelf(name);
                try {
                    p = worker.parkNow(s);
                } catch (IOException e) {
                    s.discard();
                    reason = "its bundle stopped and it cannot be handed over: " + e.getMessage();
                    p = null;
                }
            }
            if (p != null) {
                try {
                    p.old().close();
                } catch (RuntimeException e) {
                    LOG.error("{}: device close failed", name, e);
                }
                factory = null;
                handover = new Handover(p, s, started, policy.afterGrace(this::graceExpired));
                device = p.standIn();
                LOG.info("{}: its bundle stopped; handing over, the frontend's IO waits up to {} ms for the next "
                        + "bundle{}", name, policy.graceMillis(), s.keys().isEmpty() ? "" : " (kept: " + s.keys()
                        + ")");
                return;
            }
        }
        drop(reason);
    }

    /** The device between two bundles is taken over by one {@code f} makes; any refusal drops the frontend. */
    void bind(VirtioDeviceFactory f) {
        String refusal;
        synchronized (this) {
            if (closed || handover == null) {
                return;
            }
            refusal = takeOver(f);
            if (refusal == null) {
                return;
            }
            endHandover(false);
        }
        drop(refusal);
    }

    /** Under the lock: null once {@code f}'s device has taken over, else why it could not (the caller falls back). */
    private String takeOver(VirtioDeviceFactory f) {
        long takeStart = System.nanoTime();
        StandIn standIn = handover.parked.standIn();
        VirtioDevice d;
        try {
            d = create(f, handover.shelf());
        } catch (PartitionException e) {
            return e.getMessage();
        }
        String shape = Binding.sameShape(name, standIn, d);
        if (shape == null && (acked & VirtioFeatures.DEVICE_SPECIFIC & ~d.features()) != 0) {
            shape = String.format("the new device does not offer features 0x%x that the frontend acknowledged",
                    acked & VirtioFeatures.DEVICE_SPECIFIC & ~d.features());
        }
        if (shape != null) {
            d.close();
            return shape;
        }
        String refusal;
        try {
            refusal = worker.attach(d, handover.parked.state(), () -> device = d).get(VirtioWorker.DRAIN_SECONDS,
                    TimeUnit.SECONDS);
        } catch (Exception e) {
            refusal = "the new device could not be attached: " + e;
        }
        if (refusal != null) {
            device = d; // closed with the worker by unbind()
            return refusal;
        }
        String took = handover.took(takeStart);
        endHandover(true);
        factory = f;
        offered = (d.features() & VirtioFeatures.DEVICE_SPECIFIC) | VirtioFeatures.TRANSPORT;
        LOG.info("{}: handed over to the next bundle in {}; the frontend saw no reset", name, took);
        return null;
    }

    private void graceExpired() {
        synchronized (this) {
            if (handover == null || closed) {
                return;
            }
            endHandover(false);
        }
        drop("no bundle took the device over within " + policy.graceMillis() + " ms");
    }

    private void endHandover(boolean tookOver) {
        if (handover != null) {
            handover.end(tookOver);
            handover = null;
        }
    }

    @Override
    public synchronized long handoverMillis() {
        return handover == null ? -1 : handover.millis();
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
        c.tracker = setup.tracker();
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
    public void update(String options) throws DeviceException {
        synchronized (this) {
            if (closed || handover != null) {
                throw new DeviceException(name + " cannot be changed: " + (closed ? "it is closed"
                        : "it is between two bundles (a handover is under way)"));
            }
            try {
                worker.pause().get(VirtioWorker.DRAIN_SECONDS, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new DeviceException(name + ": IO did not finish for the change: " + e.getMessage(), e);
            }
            try {
                VirtioDevice d = device;
                worker.call(() -> {
                    d.update(options);
                    return null;
                });
            } catch (DeviceException e) {
                throw new DeviceException(name + ": " + e.getMessage(), e);
            } catch (Exception e) {
                throw new DeviceException(name + ": the change failed: " + e.getMessage(), e);
            } finally {
                worker.resume();
            }
        }
        LOG.info("{} changed: {}", name, options);
        events.configChanged(); // outside the lock: the frontend may ask for the config before it answers
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
        drop("device unbound (its bundle stopped)");
    }

    /** Finishes the IO, closes the device and tells the transport, with one log line saying why. */
    private void drop(String why) {
        if (shutDown()) {
            LOG.info("{}: {}; the frontend is dropped", name, why);
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
            endHandover(false);
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
