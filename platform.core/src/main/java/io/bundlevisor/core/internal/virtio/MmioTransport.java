package io.bundlevisor.core.internal.virtio;

import static io.bundlevisor.core.internal.virtio.MmioLayout.*;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

import io.bundlevisor.core.partition.InterruptLine;
import io.bundlevisor.core.partition.IoHandler;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.core.virtio.VirtioFeatures;

/**
 * The virtio-mmio register window of one device (virtio 1.2 section 4.2): the device status state machine (section
 * 2.1 and 3.1.1), feature negotiation (section 2.2, VERSION_1 required), queue setup registers, the interrupt status
 * and the config generation (section 2.5). Written once here for every device.
 *
 * <p>Runs on VP threads, several at once: register state is under one lock, never held while calling out. A guest
 * access never throws: bad widths, offsets and values are ignored (reads give 0) and counted as guest errors.
 */
final class MmioTransport implements IoHandler, WorkerTransport {

    private final ReentrantLock lock = new ReentrantLock();
    private final InterruptLine line;
    private final TransportEvents events;
    private final GuestErrors errors;
    private final int deviceId;
    private final AtomicInteger interruptStatus = new AtomicInteger();

    /** The device behind the window, or null while its bundle is away. Set by the binding. */
    private volatile VirtioDevice device;

    // Register state, guarded by lock.
    private int status;
    private int deviceFeaturesSel;
    private int driverFeaturesSel;
    private long driverFeatures;
    private int queueSel;
    private int configGeneration;
    private QueueConfig[] queues = new QueueConfig[0];

    MmioTransport(int deviceId, InterruptLine line, TransportEvents events, GuestErrors errors) {
        this.deviceId = deviceId;
        this.line = line;
        this.events = events;
        this.errors = errors;
    }

    /** Binds a device (or null): its queue registers start cleared. The caller resets the driver's view. */
    void setDevice(VirtioDevice d) {
        lock.lock();
        try {
            this.device = d;
            QueueConfig[] fresh = new QueueConfig[d == null ? 0 : d.queueCount()];
            for (int i = 0; i < fresh.length; i++) {
                fresh[i] = new QueueConfig();
            }
            queues = fresh;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Puts {@code d} in place of the device behind the window without touching the registers: a handover, where
     * {@code d} has the queues of the device it replaces (see {@link Binding}).
     */
    void replaceDevice(VirtioDevice d) {
        lock.lock();
        try {
            if (d.queueCount() != queues.length) {
                throw new IllegalArgumentException("a device of " + d.queueCount() + " queues cannot replace one of "
                        + queues.length);
            }
            this.device = d;
        } finally {
            lock.unlock();
        }
    }

    VirtioDevice device() {
        return device;
    }

    /** The DeviceID register: the type the guest knows this window as, bound or not. */
    int deviceIdRegister() {
        return deviceId;
    }

    // ---- guest accesses ----------------------------------------------------------------------------------------

    @Override
    public long read(long offset, int size) {
        try {
            if (offset >= CONFIG) {
                return readConfig(offset - CONFIG, size);
            }
            if (size != 4 || (offset & 3) != 0) {
                errors.report("read of " + size + " bytes at 0x" + Long.toHexString(offset)
                        + ": control registers are 32-bit (virtio 4.2.2.2)");
                return 0;
            }
            return readRegister((int) offset) & 0xFFFF_FFFFL;
        } catch (RuntimeException e) {
            // A device's config reader failing must not reach the VP thread.
            errors.report("read at 0x" + Long.toHexString(offset) + " failed: " + e);
            return 0;
        }
    }

    @Override
    public void write(long offset, int size, long value) {
        try {
            if (offset >= CONFIG) {
                writeConfig(offset - CONFIG, size, (int) value);
                return;
            }
            if (size != 4 || (offset & 3) != 0) {
                errors.report("write of " + size + " bytes at 0x" + Long.toHexString(offset)
                        + ": control registers are 32-bit (virtio 4.2.2.2)");
                return;
            }
            writeRegister((int) offset, (int) value);
        } catch (RuntimeException e) {
            errors.report("write at 0x" + Long.toHexString(offset) + " failed: " + e);
        }
    }

    private int readRegister(int offset) {
        VirtioDevice d = device;
        switch (offset) {
            case MAGIC_VALUE:
                return MAGIC;
            case VERSION:
                return MODERN_VERSION;
            case DEVICE_ID:
                return deviceId;
            case VENDOR_ID:
                return VENDOR;
            case INTERRUPT_STATUS:
                return interruptStatus.get();
            case SHM_LEN_LOW:
            case SHM_LEN_HIGH:
            case SHM_BASE_LOW:
            case SHM_BASE_HIGH:
                // No shared memory regions: a length of all ones means "no such region" (section 4.2.2).
                return -1;
            default:
                break;
        }
        lock.lock();
        try {
            switch (offset) {
                case DEVICE_FEATURES:
                    return deviceFeaturesSel == 0 || deviceFeaturesSel == 1
                            ? (int) (offeredFeatures(d) >>> (32 * deviceFeaturesSel)) : 0;
                case QUEUE_NUM_MAX:
                    return selected() != null && d != null ? d.maxQueueSize() : 0;
                case QUEUE_READY:
                    return selected() != null && selected().ready ? 1 : 0;
                case STATUS:
                    return status;
                case CONFIG_GENERATION:
                    return configGeneration;
                default:
                    // Write-only registers and holes read as zero.
                    return 0;
            }
        } finally {
            lock.unlock();
        }
    }

    /** Features on offer: the device's own bits and the transport's; none while the device is away. */
    private static long offeredFeatures(VirtioDevice d) {
        if (d == null) {
            return 0;
        }
        return (d.features() & VirtioFeatures.DEVICE_SPECIFIC) | VirtioFeatures.TRANSPORT;
    }

    private void writeRegister(int offset, int value) {
        if (offset == QUEUE_NOTIFY) {
            // Normally taken by an ioeventfd without an exit; this is the fallback path.
            if (value >= 0 && value < queueCount() && (status() & VirtioFeatures.DRIVER_OK) != 0) {
                events.notifyQueue(value);
            } else {
                // 4.2.3.3: only queues the device has, once the driver is OK; a hostile guest's storm is counted.
                errors.report("QueueNotify of queue " + value + " ignored (" + queueCount() + " queues, status 0x"
                        + Integer.toHexString(status()) + ")");
            }
            return;
        }
        if (offset == INTERRUPT_ACK) {
            // Non-capturing: a guest's ACK write (one per interrupt) allocates nothing.
            interruptStatus.accumulateAndGet(~value, (s, keep) -> s & keep);
            return;
        }
        if (offset == STATUS) {
            writeStatus(value & 0xFF);
            return;
        }
        lock.lock();
        try {
            QueueConfig q = selected();
            boolean setup = (status & VirtioFeatures.DRIVER_OK) == 0;
            long v = value & 0xFFFF_FFFFL;
            switch (offset) {
                case DEVICE_FEATURES_SEL -> deviceFeaturesSel = value;
                case DRIVER_FEATURES_SEL -> driverFeaturesSel = value;
                case DRIVER_FEATURES -> {
                    // Only before FEATURES_OK (section 3.1.1); banks beyond 1 hold no features we know.
                    if ((status & VirtioFeatures.FEATURES_OK) == 0 && driverFeaturesSel >= 0 && driverFeaturesSel < 2) {
                        int shift = 32 * driverFeaturesSel;
                        driverFeatures = (driverFeatures & ~(0xFFFF_FFFFL << shift)) | (v << shift);
                    } else {
                        errors.report("DriverFeatures written after FEATURES_OK or in bank " + driverFeaturesSel);
                    }
                }
                case QUEUE_SEL -> queueSel = value;
                case QUEUE_NUM -> {
                    if (q != null && setup && !q.ready) {
                        q.size = value;
                    }
                }
                case QUEUE_READY -> {
                    if (q != null && setup) {
                        q.ready = (value & 1) != 0;
                    }
                }
                case QUEUE_DESC_LOW -> { if (q != null && setup && !q.ready) q.desc = low(q.desc, v); }
                case QUEUE_DESC_HIGH -> { if (q != null && setup && !q.ready) q.desc = high(q.desc, v); }
                case QUEUE_DRIVER_LOW -> { if (q != null && setup && !q.ready) q.driver = low(q.driver, v); }
                case QUEUE_DRIVER_HIGH -> { if (q != null && setup && !q.ready) q.driver = high(q.driver, v); }
                case QUEUE_DEVICE_LOW -> { if (q != null && setup && !q.ready) q.device = low(q.device, v); }
                case QUEUE_DEVICE_HIGH -> { if (q != null && setup && !q.ready) q.device = high(q.device, v); }
                case SHM_SEL -> { }
                default -> errors.report("write to read-only or unknown register 0x" + Integer.toHexString(offset));
            }
        } finally {
            lock.unlock();
        }
    }

    /** The queue QueueSel names, or null for one the device lacks (any value, negative included). Under lock. */
    private QueueConfig selected() {
        return queueSel >= 0 && queueSel < queues.length ? queues[queueSel] : null;
    }

    private static long low(long old, long v) {
        return (old & 0xFFFF_FFFF_0000_0000L) | v;
    }

    private static long high(long old, long v) {
        return (old & 0xFFFF_FFFFL) | (v << 32);
    }

    /**
     * The status state machine (section 2.1, 3.1.1): 0 resets; otherwise the driver only adds bits, in order.
     * FEATURES_OK sticks only for an acceptable feature set (VERSION_1, nothing not offered); DRIVER_OK hands the
     * queues to the device.
     */
    private void writeStatus(int value) {
        if (value == 0) {
            events.deviceReset();
            resetRegisters();
            return;
        }
        long features = 0;
        QueueConfig[] activate = null;
        lock.lock();
        try {
            int old = status;
            if ((value & old) != old) {
                errors.report("status 0x" + Integer.toHexString(value) + " clears bits of 0x"
                        + Integer.toHexString(old) + " without a reset");
                return;
            }
            int added = value & ~old;
            int next = old | (added & ~VirtioFeatures.DEVICE_NEEDS_RESET);
            if ((added & VirtioFeatures.FEATURES_OK) != 0) {
                long offered = offeredFeatures(device);
                boolean acceptable = (driverFeatures & ~offered) == 0
                        && (driverFeatures & VirtioFeatures.VERSION_1) != 0;
                if (!acceptable) {
                    // The driver reads Status back and gives up (section 3.1.1 step 6).
                    next &= ~VirtioFeatures.FEATURES_OK;
                    errors.report("features 0x" + Long.toHexString(driverFeatures) + " refused (offered 0x"
                            + Long.toHexString(offered) + "; VERSION_1 is required)");
                }
            }
            if ((added & VirtioFeatures.DRIVER_OK) != 0) {
                if ((old & VirtioFeatures.DEVICE_NEEDS_RESET) != 0) {
                    // Section 2.1.2: a device needing reset runs again only after the driver resets it.
                    next &= ~VirtioFeatures.DRIVER_OK;
                    errors.report("DRIVER_OK on a device that needs a reset");
                } else if ((next & VirtioFeatures.FEATURES_OK) == 0 || device == null) {
                    next &= ~VirtioFeatures.DRIVER_OK;
                    next |= VirtioFeatures.DEVICE_NEEDS_RESET;
                    errors.report("DRIVER_OK without FEATURES_OK or without a device");
                } else {
                    features = driverFeatures;
                    activate = new QueueConfig[queues.length];
                    for (int i = 0; i < queues.length; i++) {
                        activate[i] = queues[i].copy();
                    }
                }
            }
            status = next;
        } finally {
            lock.unlock();
        }
        if (activate != null) {
            events.driverOk(features, activate);
        }
    }

    /** Back to the power-on register state (section 2.4: what a reset leaves). The interrupt line is lowered by the guest's EOI. */
    void resetRegisters() {
        lock.lock();
        try {
            status = 0;
            deviceFeaturesSel = 0;
            driverFeaturesSel = 0;
            driverFeatures = 0;
            queueSel = 0;
            for (QueueConfig q : queues) {
                q.clear();
            }
            interruptStatus.set(0);
        } finally {
            lock.unlock();
        }
    }

    private long readConfig(long offset, int size) {
        VirtioDevice d = device;
        if (d == null || !configRange(d, offset, size)) {
            return 0;
        }
        if (size == 8) {
            // 64-bit fields may be read as one access by some drivers; the device answers 32 bits at a time.
            long lo = d.readConfig((int) offset, 4) & 0xFFFF_FFFFL;
            long hi = d.readConfig((int) offset + 4, 4) & 0xFFFF_FFFFL;
            return lo | hi << 32;
        }
        return d.readConfig((int) offset, size) & mask(size);
    }

    private void writeConfig(long offset, int size, int value) {
        VirtioDevice d = device;
        if (d == null || size == 8 || !configRange(d, offset, size)) {
            errors.report("config write of " + size + " bytes at " + offset + " outside the config space");
            return;
        }
        d.writeConfig((int) offset, size, value);
    }

    private static boolean configRange(VirtioDevice d, long offset, int size) {
        return (size == 1 || size == 2 || size == 4 || size == 8) && offset >= 0 && offset + size <= d.configSize();
    }

    private static long mask(int size) {
        return size == 4 ? 0xFFFF_FFFFL : (1L << (8 * size)) - 1;
    }

    // ---- what the worker and binding do -------------------------------------------------------------------------

    int status() {
        lock.lock();
        try {
            return status;
        } finally {
            lock.unlock();
        }
    }

    int queueCount() {
        lock.lock();
        try {
            return queues.length;
        } finally {
            lock.unlock();
        }
    }

    int interruptStatus() {
        return interruptStatus.get();
    }

    @Override
    public void usedBuffers(long queues) {
        raiseUsedBuffer();
    }

    @Override
    public void needsReset() {
        markNeedsReset();
    }

    @Override
    public void resampled() {
        resample();
    }

    /** A used buffer was returned: InterruptStatus bit 0, and the line (section 4.2.3.4). */
    void raiseUsedBuffer() {
        interruptStatus.getAndUpdate(s -> s | INT_USED_BUFFER);
        line.assertLine();
    }

    /** The device changed its config: a new generation and a config-change interrupt (section 2.5.1, 4.2.3.4). */
    @Override
    public void configChanged() {
        lock.lock();
        try {
            configGeneration++;
        } finally {
            lock.unlock();
        }
        interruptStatus.getAndUpdate(s -> s | INT_CONFIG_CHANGE);
        line.assertLine();
    }

    /**
     * The device cannot go on: DEVICE_NEEDS_RESET, announced as a configuration change (section 2.1.2). A driver
     * that has not got far enough to be told is told by the status it reads.
     */
    void markNeedsReset() {
        lock.lock();
        try {
            if (status == 0) {
                return;
            }
            status |= VirtioFeatures.DEVICE_NEEDS_RESET;
        } finally {
            lock.unlock();
        }
        interruptStatus.getAndUpdate(s -> s | INT_CONFIG_CHANGE);
        line.assertLine();
    }

    /** The resample fd fired: the guest ended an interrupt; raise the line again if a status bit is still set. */
    void resample() {
        if (interruptStatus.get() != 0) {
            line.assertLine();
        }
    }

    // ---- saved state ---------------------------------------------------------------------------------------------

    void save(DataOutput out) throws IOException {
        lock.lock();
        try {
            out.writeInt(status);
            out.writeLong(driverFeatures);
            out.writeInt(configGeneration);
            out.writeInt(interruptStatus.get());
            out.writeInt(queues.length);
            for (QueueConfig q : queues) {
                out.writeInt(q.size);
                out.writeBoolean(q.ready);
                out.writeLong(q.desc);
                out.writeLong(q.driver);
                out.writeLong(q.device);
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Reads what {@link #save} wrote; returns the features to activate with, or -1 if DRIVER_OK was not set. The
     * whole record is read and checked before anything changes (a snapshot is untrusted input): a refused one leaves
     * the registers as they were.
     *
     * @throws IOException if the record is cut short or holds what no driver could have set through this window
     */
    long restore(DataInput in) throws IOException {
        lock.lock();
        try {
            int s = in.readInt();
            long f = in.readLong();
            int generation = in.readInt();
            int isr = in.readInt();
            int count = in.readInt();
            if (count != queues.length) {
                throw new IOException("saved device has " + count + " queues, this one " + queues.length);
            }
            if ((s & ~0xFF) != 0 || (isr & ~3) != 0) {
                throw new IOException("saved device status 0x" + Integer.toHexString(s) + " is not a status");
            }
            if ((s & VirtioFeatures.DRIVER_OK) != 0 && (s & VirtioFeatures.FEATURES_OK) == 0) {
                throw new IOException("saved device status 0x" + Integer.toHexString(s) + " has DRIVER_OK without "
                        + "FEATURES_OK");
            }
            long offered = offeredFeatures(device);
            if ((s & VirtioFeatures.FEATURES_OK) != 0 && (f & ~offered) != 0) {
                throw new IOException("saved driver features 0x" + Long.toHexString(f) + " were never offered (0x"
                        + Long.toHexString(offered) + ")");
            }
            // Queues are checked where the device will be activated with them: before DRIVER_OK, or once the device
            // needs a reset, any value a driver wrote is a legal register.
            boolean activates = (s & VirtioFeatures.DRIVER_OK) != 0 && (s & VirtioFeatures.DEVICE_NEEDS_RESET) == 0;
            int max = device == null ? 0 : device.maxQueueSize();
            QueueConfig[] read = new QueueConfig[count];
            for (int i = 0; i < count; i++) {
                QueueConfig q = new QueueConfig();
                q.size = in.readInt();
                q.ready = in.readBoolean();
                q.desc = in.readLong();
                q.driver = in.readLong();
                q.device = in.readLong();
                if (activates && q.ready && (q.size < 1 || q.size > max || Integer.bitCount(q.size) != 1)) {
                    throw new IOException("saved queue " + i + " is ready with size " + q.size + " (a power of two "
                            + "up to " + max + " is needed)");
                }
                read[i] = q;
            }
            queues = read;
            status = s;
            driverFeatures = f;
            configGeneration = generation;
            interruptStatus.set(isr);
            return activates ? f : -1;
        } finally {
            lock.unlock();
        }
    }

    /** Copies of the queue registers, for activating after a restore. */
    QueueConfig[] queueConfigs() {
        lock.lock();
        try {
            QueueConfig[] c = new QueueConfig[queues.length];
            for (int i = 0; i < c.length; i++) {
                c[i] = queues[i].copy();
            }
            return c;
        } finally {
            lock.unlock();
        }
    }
}
