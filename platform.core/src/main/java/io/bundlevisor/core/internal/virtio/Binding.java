package io.bundlevisor.core.internal.virtio;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInput;
import java.io.DataInputStream;
import java.io.DataOutput;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.function.Consumer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.partition.DeviceSlot;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.virtio.DeviceContext;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.DeviceResources;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;

/**
 * A declared device behind its virtio-mmio window. The transport lives as long as the machine; the device lives as
 * long as the device bundle's factory. When the factory goes, the device is handed over (see the package
 * documentation of {@code io.bundlevisor.core.virtio}): the worker finishes the IO in flight into the used rings,
 * parks with the queues, notifiers and activation kept, and the next factory of the type (the updated bundle's)
 * makes the device that takes over; the guest sees its IO pause, nothing else. When no factory comes within the
 * grace period, or the new device cannot take over, the worker stops, the device closes and the driver sees
 * DEVICE_NEEDS_RESET; when a factory comes back after that, a fresh device waits for the driver's reset.
 */
final class Binding implements VirtioBinding, TransportEvents {

    private static final Logger LOG = LoggerFactory.getLogger(Binding.class);
    private static final int SAVE_VERSION = 1;

    private final DeviceSlot slot;
    private final RingService rings;
    private final String name;
    private final GuestErrors errors;
    private final Consumer<Binding> onClose;
    private final MmioTransport transport;
    private final AutoCloseable window;
    private final HandoverPolicy policy;

    // Guarded by this.
    private VirtioDeviceFactory factory;
    private VirtioDevice device;
    /** The device's workers: one, or one per vCPU up to its queue groups. */
    private WorkerGroup worker;
    private boolean closed;
    private long completedBefore;
    private long[] completedBeforePerQueue = new long[0];
    private long needsResetBefore;
    /** The handover under way while the device is between two bundles, else null. */
    private Handover handover;

    /** Creates the device with {@code first} and claims the window; refuses in one line. */
    Binding(DeviceSlot slot, RingService rings, VirtioDeviceFactory first, HandoverPolicy policy,
            Consumer<Binding> onClose) throws PartitionException {
        this.slot = slot;
        this.policy = policy;
        this.rings = rings;
        this.name = slot.machineName() + "/" + slot.spec().type() + slot.index();
        this.errors = new GuestErrors(LOG, name);
        this.onClose = onClose;
        VirtioDevice d = create(first, DeviceResources.NONE);
        this.transport = new MmioTransport(d.deviceId(), slot.interrupt(), this, errors);
        try {
            start(first, d);
            this.window = slot.claim(transport);
        } catch (PartitionException | RuntimeException e) {
            stopDevice();
            throw e;
        }
    }

    private VirtioDevice create(VirtioDeviceFactory f, DeviceResources resources) throws PartitionException {
        try {
            return f.create(context(resources));
        } catch (DeviceException e) {
            throw new PartitionException(name + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new PartitionException(name + ": the device failed to start: " + e, e);
        }
    }

    private synchronized void start(VirtioDeviceFactory f, VirtioDevice d) throws PartitionException {
        try {
            worker = WorkerGroup.create(name, d, slot, transport, errors, rings);
        } catch (PartitionException e) {
            d.close();
            throw e;
        }
        factory = f;
        device = d;
        transport.setDevice(d);
    }

    private DeviceContext context(DeviceResources resources) {
        return new Context(slot.machineName(), slot.index(), slot.vpCount(), slot.spec().options(), name, false,
                resources);
    }

    // ---- the device bundle comes and goes ---------------------------------------------------------------------

    synchronized VirtioDeviceFactory factory() {
        return factory;
    }

    /** Whether the device waits for a factory: between two bundles, or with none since its bundle went. */
    synchronized boolean waitsForDevice() {
        return !closed && device == null;
    }

    /**
     * A factory of our type arrived while we have no device: the device between two bundles is taken over by one it
     * makes; one with none gets a fresh device (the driver must reset first).
     */
    synchronized void bind(VirtioDeviceFactory f) {
        if (closed || device != null) {
            return;
        }
        if (handover != null) {
            takeOver(f);
            return;
        }
        try {
            VirtioDevice d = create(f, DeviceResources.NONE);
            if (d.deviceId() != transport.deviceIdRegister()) {
                d.close();
                LOG.error("{}: the new device has virtio id {}, the guest knows {}; not bound", name, d.deviceId(),
                        transport.deviceIdRegister());
                return;
            }
            start(f, d);
            LOG.info("{}: device bound; the driver resets it to use it", name);
        } catch (PartitionException e) {
            LOG.error("{}", e.getMessage());
        }
    }

    /**
     * Our factory is going: hand the device over (park it, close the old device, wait for a successor), or when
     * handovers are off or the device cannot be saved, finish the IO, close the device, tell the driver it needs a
     * reset.
     */
    synchronized void unbind(VirtioDeviceFactory f) {
        if (factory != f) {
            return;
        }
        if (!policy.handsOver()) {
            stopDevice();
            transport.markNeedsReset();
            LOG.info("{}: device unbound (its bundle stopped; handovers are off); the guest sees DEVICE_NEEDS_RESET",
                    name);
            return;
        }
        ResourceShelf s = new ResourceShelf(name);
        long started = System.nanoTime();
        VirtioWorker.Parked p;
        try {
            p = worker.parkNow(s);
        } catch (IOException e) {
            s.discard();
            stopDevice();
            transport.markNeedsReset();
            LOG.warn("{}: its bundle stopped and it cannot be handed over: {}; the guest sees DEVICE_NEEDS_RESET",
                    name, e.getMessage());
            return;
        }
        closeQuietly(p.old());
        device = null;
        factory = null;
        handover = new Handover(p, s, started, policy.afterGrace(this::graceExpired));
        transport.replaceDevice(p.standIn());
        LOG.info("{}: its bundle stopped; handing over, the guest's IO waits up to {} ms for the next bundle{}", name,
                policy.graceMillis(), s.keys().isEmpty() ? "" : " (kept: " + s.keys() + ")");
    }

    /** The device between two bundles is taken over by one {@code f} makes; any refusal ends in a reset. */
    private void takeOver(VirtioDeviceFactory f) {
        long takeStart = System.nanoTime();
        VirtioWorker.Parked p = handover.parked;
        StandIn standIn = p.standIn();
        VirtioDevice d;
        try {
            d = create(f, handover.shelf());
        } catch (PartitionException e) {
            fallBack(e.getMessage());
            return;
        }
        String shape = sameShape(name, standIn, d);
        if (shape != null) {
            closeQuietly(d);
            fallBack(shape);
            return;
        }
        String refusal;
        try {
            refusal = worker.attach(d, p.state(), () -> transport.replaceDevice(d))
                    .get(VirtioWorker.DRAIN_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            closeQuietly(d);
            fallBack("the new device could not be attached: " + e);
            return;
        }
        String took = handover.took(takeStart);
        endHandover(true);
        factory = f;
        device = d;
        if (refusal != null) {
            LOG.warn("{}: handed over with a reset after {}: {}; the guest sees DEVICE_NEEDS_RESET", name, took,
                    refusal);
        } else {
            LOG.info("{}: handed over to the next bundle in {}; the guest saw no reset", name, took);
        }
    }

    /** Null if {@code d} can stand where {@code was} stood (same id, queues and queue size), else why not. */
    static String sameShape(String name, VirtioDevice was, VirtioDevice d) {
        if (d.deviceId() != was.deviceId() || d.queueCount() != was.queueCount()
                || d.maxQueueSize() != was.maxQueueSize() || d.configSize() != was.configSize()) {
            return String.format("the new device (virtio id %d, %d queues of %d, %d config bytes) is not the one the "
                    + "guest knows (virtio id %d, %d queues of %d, %d config bytes)", d.deviceId(), d.queueCount(),
                    d.maxQueueSize(), d.configSize(), was.deviceId(), was.queueCount(), was.maxQueueSize(),
                    was.configSize());
        }
        return null;
    }

    private void graceExpired() {
        synchronized (this) {
            if (handover == null || closed) {
                return;
            }
            fallBack("no bundle took the device over within " + policy.graceMillis() + " ms");
        }
    }

    /** Ends a handover in today's path: the worker stops, the driver is told DEVICE_NEEDS_RESET. */
    private void fallBack(String why) {
        endHandover(false);
        stopDevice();
        transport.markNeedsReset();
        LOG.warn("{}: {}; the guest sees DEVICE_NEEDS_RESET", name, why);
    }

    private void endHandover(boolean tookOver) {
        if (handover != null) {
            handover.end(tookOver);
            handover = null;
        }
    }

    private void closeQuietly(VirtioDevice d) {
        try {
            d.close();
        } catch (RuntimeException e) {
            LOG.error("{}: device close failed", name, e);
        }
    }

    private synchronized void stopDevice() {
        if (worker != null) {
            worker.stop();
            completedBefore += worker.completedChains();
            completedBeforePerQueue = add(completedBeforePerQueue, worker.completedChainsPerQueue());
            needsResetBefore += worker.needsResets();
            worker = null;
        }
        if (device != null) {
            try {
                device.close();
            } catch (RuntimeException e) {
                LOG.error("{}: device close failed", name, e);
            }
            device = null;
        }
        factory = null;
        if (transport != null) {
            transport.setDevice(null);
        }
    }

    // ---- TransportEvents (VP threads) -----------------------------------------------------------------------

    private synchronized WorkerGroup worker() {
        return worker;
    }

    @Override
    public void driverOk(long features, QueueConfig[] queues) {
        WorkerGroup w = worker();
        if (w != null) {
            w.activate(features, queues, null, null);
        }
    }

    @Override
    public void deviceReset() {
        WorkerGroup w = worker();
        if (w != null) {
            w.reset();
        }
    }

    @Override
    public void notifyQueue(int queue) {
        WorkerGroup w = worker();
        if (w != null) {
            w.notifyQueue(queue);
        }
    }

    // ---- VirtioBinding ------------------------------------------------------------------------------------------

    @Override
    public String name() {
        return name;
    }

    @Override
    public String type() {
        return slot.spec().type();
    }

    @Override
    public synchronized boolean isBound() {
        return device != null;
    }

    @Override
    public synchronized long handoverMillis() {
        return handover == null ? -1 : handover.millis();
    }

    @Override
    public int status() {
        return transport.status();
    }

    @Override
    public synchronized long completedChains() {
        return completedBefore + (worker == null ? 0 : worker.completedChains());
    }

    @Override
    public synchronized long[] completedChainsPerQueue() {
        return add(completedBeforePerQueue, worker == null ? new long[0] : worker.completedChainsPerQueue());
    }

    @Override
    public synchronized java.util.List<String> queueCounters() {
        return counters(device);
    }

    /** Each queue's counters of {@code d}, or none for no device; a device's failure reads as no counters. */
    static java.util.List<String> counters(VirtioDevice d) {
        if (d == null) {
            return java.util.List.of();
        }
        java.util.List<String> out = new java.util.ArrayList<>();
        try {
            for (int q = 0; q < d.queueCount(); q++) {
                out.add(java.util.Objects.requireNonNullElse(d.queueCounters(q), ""));
            }
        } catch (RuntimeException e) {
            return java.util.List.of();
        }
        return out;
    }

    /** Element-wise sum, as long as the longer. */
    private static long[] add(long[] a, long[] b) {
        long[] sum = java.util.Arrays.copyOf(a.length >= b.length ? a : b, Math.max(a.length, b.length));
        long[] other = a.length >= b.length ? b : a;
        for (int i = 0; i < other.length; i++) {
            sum[i] += other[i];
        }
        return sum;
    }

    @Override
    public synchronized int inFlight() {
        return worker == null ? 0 : worker.inFlight();
    }

    @Override
    public synchronized long needsResetCount() {
        return needsResetBefore + (worker == null ? 0 : worker.needsResets());
    }

    @Override
    public long guestErrors() {
        return errors.total();
    }

    @Override
    public void reset() {
        deviceReset();
        transport.resetRegisters();
    }

    /** Why the device cannot be {@code done} now (between two bundles, or none bound), or null if it can. */
    private String unavailable(String done) {
        if (handover != null) {
            return name + " cannot be " + done + ": it is between two bundles (a handover is under way)";
        }
        if (worker == null) {
            return name + " cannot be " + done + ": no device is bound (its bundle is not active)";
        }
        return null;
    }

    @Override
    public synchronized void update(String options) throws DeviceException {
        String unavailable = unavailable("changed");
        if (unavailable != null) {
            throw new DeviceException(unavailable);
        }
        try {
            worker.pause().get(VirtioWorker.DRAIN_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
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
        if (status() != 0) {
            transport.configChanged(); // a driver that has not begun reads the new config when it does
        }
        LOG.info("{} changed: {}", name, options);
    }

    @Override
    public synchronized void save(DataOutput out) throws IOException {
        String unavailable = unavailable("saved");
        if (unavailable != null) {
            throw new IOException(unavailable);
        }
        try {
            worker.pause().get(VirtioWorker.DRAIN_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IOException(name + ": IO did not finish for the save: " + e.getMessage(), e);
        }
        try {
            int[][] indices = worker.indices();
            ByteArrayOutputStream deviceState = new ByteArrayOutputStream();
            VirtioDevice d = device;
            worker.call(() -> {
                d.saveState(new DataOutputStream(deviceState));
                return null;
            });
            out.writeInt(SAVE_VERSION);
            out.writeInt(transport.deviceIdRegister());
            transport.save(out);
            for (int q = 0; q < indices[0].length; q++) {
                out.writeShort(indices[0][q]);
                out.writeShort(indices[1][q]);
            }
            out.writeInt(deviceState.size());
            out.write(deviceState.toByteArray());
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(name + ": save failed: " + e.getMessage(), e);
        } finally {
            worker.resume();
        }
    }

    @Override
    public synchronized void restore(DataInput in) throws IOException {
        String unavailable = unavailable("restored");
        if (unavailable != null) {
            throw new IOException(unavailable);
        }
        int version = in.readInt();
        if (version != SAVE_VERSION) {
            throw new IOException(name + ": saved device state version " + version + ", expected " + SAVE_VERSION);
        }
        int id = in.readInt();
        if (id != transport.deviceIdRegister()) {
            throw new IOException(name + ": saved virtio device id " + id + ", this is " + transport.deviceIdRegister());
        }
        reset();
        long features = transport.restore(in);
        int queues = transport.queueCount();
        int[] avail = new int[queues];
        int[] used = new int[queues];
        for (int q = 0; q < queues; q++) {
            avail[q] = in.readUnsignedShort();
            used[q] = in.readUnsignedShort();
        }
        int length = in.readInt();
        if (length < 0 || length > (1 << 20)) {
            throw new IOException(name + ": saved device state of " + length + " bytes");
        }
        byte[] blob = new byte[length];
        in.readFully(blob);
        VirtioDevice d = device;
        try {
            worker.call(() -> {
                d.restoreState(new DataInputStream(new ByteArrayInputStream(blob)));
                return null;
            });
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(name + ": restore failed: " + e.getMessage(), e);
        }
        if (features != -1) {
            worker.activate(features, transport.queueConfigs(), avail, used);
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            endHandover(false);
            stopDevice();
        }
        try {
            window.close();
        } catch (Exception e) {
            LOG.error("{}: releasing the window failed", name, e);
        }
        onClose.accept(this);
    }

    @Override
    public String toString() {
        return name;
    }
}
