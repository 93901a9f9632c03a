package io.bundlevisor.kvm.internal.machine;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;

import io.bundlevisor.core.partition.DeviceSlot;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.VpAffinity;
import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.core.partition.InterruptLine;
import io.bundlevisor.core.partition.IoHandler;
import io.bundlevisor.core.partition.Notifier;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.kvm.internal.KvmVm;
import io.bundlevisor.uring.host.SyscallException;

/**
 * One declared device's place in a machine ({@link DeviceWindows}): its MMIO window, routed through the machine's
 * MMIO bus to whoever claims it, its doorbells (ioeventfds in the window) and its level-triggered interrupt line
 * (a resampling irqfd, wired when the slot is made). The machine closes it after the device's transport: closing
 * releases the claim, deassigns every doorbell still open and unwires the line.
 */
public final class VirtioMmioSlot implements DeviceSlot, AutoCloseable {

    private final String machineName;
    private final int vpCount;
    private final int index;
    private final DeviceSpec spec;
    private final String name;
    private final long base;
    private final GuestRam ram;
    private final KvmVm vm;
    private final IoBus mmio;
    private final SlotInterrupt interrupt;
    /** Where the machine pins its VP threads. */
    private final VpAffinity affinity;
    // Guarded by this.
    private final Set<SlotNotifier> notifiers = new LinkedHashSet<>();
    private AutoCloseable claim;
    private boolean closed;

    private VirtioMmioSlot(String machineName, int vpCount, int index, DeviceSpec spec, GuestRam ram, KvmVm vm,
            IoBus mmio, SlotInterrupt interrupt, VpAffinity affinity) {
        this.machineName = machineName;
        this.affinity = affinity;
        this.vpCount = vpCount;
        this.index = index;
        this.spec = spec;
        this.name = machineName + "/" + spec.type() + index;
        this.base = DeviceWindows.base(index);
        this.ram = ram;
        this.vm = vm;
        this.mmio = mmio;
        this.interrupt = interrupt;
    }

    /**
     * Makes slot {@code index} of a machine and wires its interrupt line.
     *
     * @throws SyscallException if the line cannot be wired
     */
    static VirtioMmioSlot create(String machineName, int vpCount, int index, DeviceSpec spec, GuestRam ram,
            KvmVm vm, IoBus mmio, VpAffinity affinity) throws SyscallException {
        String name = machineName + "/" + spec.type() + index;
        SlotInterrupt line = SlotInterrupt.wire(name, vm, DeviceWindows.gsi(index));
        return new VirtioMmioSlot(machineName, vpCount, index, spec, ram, vm, mmio, line, affinity);
    }

    @Override
    public java.util.Optional<java.util.BitSet> vpCpus(int vp) {
        return affinity.cpus(vp);
    }

    @Override
    public String machineName() {
        return machineName;
    }

    @Override
    public int vpCount() {
        return vpCount;
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public DeviceSpec spec() {
        return spec;
    }

    @Override
    public long mmioBase() {
        return base;
    }

    @Override
    public long mmioSize() {
        return DeviceWindows.SIZE;
    }

    @Override
    public GuestRam ram() {
        return ram;
    }

    @Override
    public InterruptLine interrupt() {
        return interrupt;
    }

    /** {@code machine/type+index}, for logs. */
    public String name() {
        return name;
    }

    @Override
    public synchronized AutoCloseable claim(IoHandler handler) {
        if (closed) {
            throw new IllegalStateException(name + " is closed");
        }
        if (claim != null) {
            throw new IllegalStateException("the window of " + name + " is claimed already");
        }
        AutoCloseable registration = mmio.claim(base, DeviceWindows.SIZE, handler);
        claim = registration;
        return () -> release(registration);
    }

    private synchronized void release(AutoCloseable registration) throws Exception {
        if (claim == registration) {
            claim = null;
            registration.close();
        }
    }

    /** Whether the window is claimed now. */
    public synchronized boolean isClaimed() {
        return claim != null;
    }

    @Override
    public Notifier notifyOnWrite(long offset, int length, OptionalLong value) throws PartitionException {
        if (length != 1 && length != 2 && length != 4 && length != 8) {
            throw new IllegalArgumentException(name + ": a doorbell is 1, 2, 4 or 8 bytes wide, not " + length);
        }
        if (offset < 0 || offset > DeviceWindows.SIZE - length) {
            throw new IllegalArgumentException(name + ": doorbell offset 0x" + Long.toHexString(offset)
                    + " is outside the window");
        }
        if (value.isPresent() && length < 8 && (value.getAsLong() >>> (8 * length)) != 0) {
            throw new IllegalArgumentException(name + ": " + value.getAsLong() + " does not fit a " + length
                    + "-byte doorbell");
        }
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException(name + " is closed");
            }
            try {
                SlotNotifier n = SlotNotifier.register(name, vm, base + offset, length, value, this::forget);
                notifiers.add(n);
                return n;
            } catch (SyscallException e) {
                throw new PartitionException(name + ": " + e.getMessage(), e);
            }
        }
    }

    private synchronized void forget(SlotNotifier notifier) {
        notifiers.remove(notifier);
    }

    /** Whether the machine has closed the slot. */
    public synchronized boolean isClosed() {
        return closed;
    }

    /** Interrupt assertions whose eventfd write failed. */
    public long interruptFailures() {
        return interrupt.failures();
    }

    /** The doorbells open now. */
    public synchronized int openNotifiers() {
        return notifiers.size();
    }

    /** Releases the window, deassigns the doorbells still open and unwires the line. Idempotent. */
    @Override
    public void close() {
        List<SlotNotifier> open;
        AutoCloseable claimed;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            open = new ArrayList<>(notifiers);
            claimed = claim;
            claim = null;
        }
        if (claimed != null) {
            try {
                claimed.close();
            } catch (Exception ignored) {
                // Releasing a bus range cannot fail.
            }
        }
        for (SlotNotifier n : open) {
            n.close();
        }
        interrupt.close();
    }

    @Override
    public String toString() {
        return name + " at 0x" + Long.toHexString(base) + " gsi " + interrupt.gsi();
    }
}
