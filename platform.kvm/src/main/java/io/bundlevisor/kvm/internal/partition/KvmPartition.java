package io.bundlevisor.kvm.internal.partition;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.InitialRegisters;
import io.bundlevisor.core.partition.IoHandler;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.Partition;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.task.VpGroup;
import io.bundlevisor.core.task.VpState;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.core.virtio.VirtioService;
import io.bundlevisor.kvm.internal.Kvm;
import io.bundlevisor.kvm.internal.machine.Machine;
import io.bundlevisor.kvm.internal.machine.VirtioMmioSlot;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A partition on KVM. One lock guards the lifecycle: whether VPs may run ({@code started}, no pending halt, not
 * closing), and which VPs are inside KVM_RUN. {@link #stop()} clears the permission, kicks every VP out of KVM_RUN
 * (immediate_exit plus a signal) and waits until none is active. A halt is accepted only while none is pending:
 * the first VP to report wins, the others' reports in the same episode are dropped.
 *
 * <p>Each declared device is attached to the virtio service behind its machine slot at creation, and its binding
 * follows the partition: reset before RAM is scrubbed, saved and restored with the machine, closed before RAM and
 * the VM are freed. A device's worker touches guest RAM on its own thread, so every one of these steps runs with
 * the VPs stopped and the binding drained before RAM changes under it.
 */
public final class KvmPartition implements Partition {

    private static final Logger LOG = LoggerFactory.getLogger(KvmPartition.class);

    private final Machine machine;
    private final Executor notifier;
    private final Consumer<KvmPartition> onClose;
    private final List<VirtualProcessor> vps = new ArrayList<>();
    private final List<VirtioBinding> devices = new ArrayList<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final List<Consumer<HaltReason>> listeners = new CopyOnWriteArrayList<>();
    private final EmulationFailures emulation;
    /** Where each VP's state is reported for its task drivers; null when the creator gave none. */
    private final VpGroup vpGroup;
    // Guarded by lock.
    private boolean started;
    private boolean closing;
    private HaltReason pending;
    private long haltEpisodes;
    private int guards;
    /** Whether a VP ran since creation, reset or restore: the scrub rule of {@link #setInitialRegisters}. */
    private boolean ranSinceReset;
    private boolean resumeAfterGuards;
    /** Read without the lock by VPs on their hot path: may VPs run now? */
    private volatile boolean runnable;
    /** The gdb stub's side, or null without one (set before the VP threads start). */
    private DebugControl debug;
    /** Guarded by lock: the debugger holds every VP stopped (all-stop). */
    private boolean debugStopped;
    /** The one VP the debugger lets run (single-stepping), or -1 for all; written under the lock. */
    private volatile int debugOnly = -1;

    private KvmPartition(Machine machine, Executor notifier, Consumer<KvmPartition> onClose,
            EmulationFailures emulation, VpGroup vpGroup) {
        this.machine = machine;
        this.vpGroup = vpGroup;
        this.emulation = emulation;
        this.notifier = notifier;
        this.onClose = onClose;
    }

    /**
     * Builds the machine, loads the boot image, attaches each declared device to {@code virtio} (in declaration
     * order) and starts the (parked) VP threads. A device that cannot be attached closes what was built.
     *
     * @param virtio puts a device behind each slot
     * @param notifier runs halt listeners, off the VP threads
     * @param onClose told when the partition is closed
     * @throws PartitionException with a one-line reason
     */
    public static KvmPartition create(Kvm kvm, MachineConfig config, VirtioService virtio, Executor notifier,
            Consumer<KvmPartition> onClose) throws PartitionException {
        return create(kvm, config, virtio, notifier, onClose, null);
    }

    /**
     * As {@link #create(Kvm, MachineConfig, VirtioService, Executor, Consumer)}, reporting each VP's state to
     * {@code vpGroup} (of {@code config.cpus()} VPs), which the partition closes with itself.
     */
    public static KvmPartition create(Kvm kvm, MachineConfig config, VirtioService virtio, Executor notifier,
            Consumer<KvmPartition> onClose, VpGroup vpGroup) throws PartitionException {
        if (vpGroup != null && vpGroup.vpCount() != config.cpus()) {
            throw new IllegalArgumentException("a VP group of " + vpGroup.vpCount() + " VPs for " + config.cpus());
        }
        KvmPartition[] self = new KvmPartition[1];
        Machine machine;
        try {
            machine = Machine.create(kvm, config, reason -> self[0].report(reason));
        } catch (PartitionException | RuntimeException e) {
            if (vpGroup != null) {
                vpGroup.close();
            }
            throw e;
        }
        KvmPartition p = new KvmPartition(machine, notifier, onClose,
                new EmulationFailures(config.name(), config.emulation(), kvm.host()), vpGroup);
        self[0] = p;
        try {
            machine.powerOn(false);
            for (VirtioMmioSlot slot : machine.slots()) {
                p.devices.add(virtio.attach(slot));
            }
        } catch (PartitionException | RuntimeException e) {
            p.closeDevices();
            machine.close();
            if (vpGroup != null) {
                vpGroup.close();
            }
            throw e;
        }
        for (int i = 0; i < config.cpus(); i++) {
            p.vps.add(new VirtualProcessor(p, machine, i, p.emulation));
        }
        if (config.gdb().isPresent()) {
            try {
                p.debug = DebugControl.start(p, machine, config.gdb().get(), kvm.host().software());
            } catch (PartitionException e) {
                p.closeDevices();
                machine.close();
                throw e;
            }
            // With ",wait" the VPs hold before their first instruction until gdb continues them.
            p.debugStopped = config.gdb().get().waitForAttach();
        }
        p.vps.forEach(VirtualProcessor::startThread);
        return p;
    }

    @Override
    public io.bundlevisor.core.partition.EmulationPolicy emulationPolicy() {
        return emulation.policy();
    }

    @Override
    public long emulationFailuresHandled() {
        return emulation.handled();
    }

    @Override
    public String name() {
        return machine.config().name();
    }

    @Override
    public MachineConfig config() {
        return machine.config();
    }

    @Override
    public int vpCount() {
        return vps.size();
    }

    @Override
    public void start() {
        lock.lock();
        try {
            if (closing) {
                return;
            }
            started = true;
            update();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void stop() {
        lock.lock();
        try {
            started = false;
            update();
            quiesce();
        } finally {
            lock.unlock();
        }
    }

    /** Kicks every VP and waits until none is inside KVM_RUN. Holds the lock (the wait releases it). */
    private void quiesce() {
        for (VirtualProcessor vp : vps) {
            vp.kick();
        }
        boolean interrupted = false;
        while (vps.stream().anyMatch(vp -> vp.active)) {
            try {
                changed.await();
            } catch (InterruptedException e) {
                interrupted = true; // stop cannot fail: finish waiting, then restore the flag
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void update() {
        runnable = started && !closing && pending == null && !debugStopped;
        changed.signalAll();
    }

    @Override
    public boolean isStarted() {
        lock.lock();
        try {
            return started;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<HaltReason> halt() {
        lock.lock();
        try {
            return Optional.ofNullable(pending);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public HaltReason awaitHalt(Duration timeout) throws InterruptedException, TimeoutException {
        long left = timeout.compareTo(Duration.ofNanos(Long.MAX_VALUE)) >= 0 ? Long.MAX_VALUE
                : Math.max(0, timeout.toNanos());
        lock.lock();
        try {
            while (pending == null) {
                if (left <= 0 || closing) {
                    throw new TimeoutException(name() + " did not halt within " + timeout);
                }
                left = changed.awaitNanos(left);
            }
            return pending;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public AutoCloseable onHalt(Consumer<HaltReason> listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    @Override
    public void clearHalt() {
        lock.lock();
        try {
            pending = null;
            update();
        } finally {
            lock.unlock();
        }
    }

    /** A VP or device reports a halt: parks every VP; reported unless one is already pending. */
    void report(HaltReason reason) {
        lock.lock();
        try {
            if (pending != null || closing) {
                LOG.debug("{}: dropped halt '{}' while '{}' is pending", name(), reason.describe(),
                        pending == null ? "closing" : pending.describe());
                return;
            }
            pending = reason;
            haltEpisodes++;
            update();
            for (VirtualProcessor vp : vps) {
                vp.kick();
            }
        } finally {
            lock.unlock();
        }
        machine.flushConsole();
        LOG.info("{} halted: {}", name(), reason.describe());
        if (debug != null) {
            debug.halted(reason);
        }
        for (Consumer<HaltReason> l : listeners) {
            notifier.execute(() -> l.accept(reason));
        }
    }

    /** How many halts were reported since creation (for tests and diagnostics). */
    public long haltCount() {
        lock.lock();
        try {
            return haltEpisodes;
        } finally {
            lock.unlock();
        }
    }

    boolean runnable() {
        return runnable;
    }

    /** The gdb stub's side, or null without one. */
    DebugControl debug() {
        return debug;
    }

    /**
     * A VP stops every VP for the debugger: false if they are stopped or stopping already (another VP's stop, an
     * interrupt, a halt), else true and every VP is kicked. Does not wait.
     */
    boolean debugStop() {
        lock.lock();
        try {
            if (debugStopped || pending != null || closing) {
                return false;
            }
            debugStopped = true;
            update();
            for (VirtualProcessor vp : vps) {
                vp.kick();
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** The debugger stops every VP and waits until none is inside KVM_RUN. */
    void debugQuiesce() {
        lock.lock();
        try {
            debugStopped = true;
            update();
            quiesce();
        } finally {
            lock.unlock();
        }
    }

    /** The debugger lets the VPs run again: all, or only {@code onlyVp}. */
    void debugResume(int onlyVp) {
        lock.lock();
        try {
            debugOnly = onlyVp;
            debugStopped = false;
            update();
        } finally {
            lock.unlock();
        }
    }

    private boolean mayRun(VirtualProcessor vp) {
        int only = debugOnly;
        return runnable && (only < 0 || only == vp.index());
    }

    /**
     * Called by a VP whose state is consistent: marks it inactive and waits until VPs may run; false when the
     * partition closes.
     */
    boolean awaitRunnable(VirtualProcessor vp) throws InterruptedException {
        if (vp.active && mayRun(vp)) {
            return true; // fast path: only this VP's thread sets its own flag to true
        }
        lock.lock();
        try {
            vp.active = false;
            changed.signalAll();
            while (!mayRun(vp) && !closing) {
                reportVp(vp, pending != null ? VpState.HALTED : VpState.STOPPED);
                changed.await();
            }
            if (closing) {
                return false;
            }
            vp.active = true;
            ranSinceReset = true;
            reportVp(vp, VpState.RUNNING);
            return true;
        } finally {
            lock.unlock();
        }
    }

    void vpDied(VirtualProcessor vp) {
        lock.lock();
        try {
            vp.active = false;
            reportVp(vp, VpState.HALTED); // its report of the error parks the others; it never runs again
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Tells the VP group the CPUs {@code vp}'s thread is now pinned to; on that thread, before it is confined. */
    void vpPinned(VirtualProcessor vp, java.util.BitSet cpus) {
        if (vpGroup != null) {
            vpGroup.reportCpus(vp.index(), cpus);
        }
    }

    /**
     * Tells the VP group, when the state changed since the VP's last report (a VP woken by another change but
     * still parked reports nothing). Under the lock, on the VP's thread: the group runs no waiter's code here.
     */
    private void reportVp(VirtualProcessor vp, VpState state) {
        if (vpGroup != null && vp.reported != state) {
            vp.reported = state;
            vpGroup.report(vp.index(), state);
        }
    }

    @Override
    public void setInitialRegisters(int vp, InitialRegisters registers) throws PartitionException {
        if (vp < 0 || vp >= vps.size()) {
            throw new IllegalArgumentException(name() + " has VPs 0.." + (vps.size() - 1) + ", not " + vp);
        }
        lock.lock();
        try {
            requireStopped("setting initial registers");
            quiesce();
            if (ranSinceReset) {
                machine.scrubVps();
                ranSinceReset = false;
            }
            machine.enter(vp, registers);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<VpGroup> vpGroup() {
        return Optional.ofNullable(vpGroup);
    }

    @Override
    public StopGuard temporarilyStopVps() {
        lock.lock();
        try {
            if (guards++ == 0) {
                resumeAfterGuards = started;
                started = false;
                update();
                quiesce();
            }
        } finally {
            lock.unlock();
        }
        boolean[] closed = new boolean[1];
        return () -> {
            lock.lock();
            try {
                if (closed[0]) {
                    return;
                }
                closed[0] = true;
                if (--guards == 0 && resumeAfterGuards && !closing) {
                    started = true;
                    update();
                }
            } finally {
                lock.unlock();
            }
        };
    }

    private void requireStopped(String what) {
        if (started || guards > 0 && resumeAfterGuards) {
            throw new IllegalStateException(name() + ": " + what + " needs a stopped partition");
        }
    }

    @Override
    public void reset() throws PartitionException {
        lock.lock();
        try {
            requireStopped("reset");
            quiesce();
            // Devices first: each drains its IO and forgets the driver's rings before RAM is punched under them.
            for (VirtioBinding d : devices) {
                d.reset();
            }
            machine.powerOn(true);
            pending = null;
            ranSinceReset = false;
            update();
            if (debug != null) {
                debug.reset();
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void save(OutputStream out) throws IOException {
        lock.lock();
        try {
            requireStopped("save");
            quiesce();
            SaveFormat.write(machine, devices, out);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void restore(InputStream in) throws IOException, PartitionException {
        lock.lock();
        try {
            requireStopped("restore");
            quiesce();
            SaveFormat.read(machine, devices, in);
            pending = null;
            ranSinceReset = false;
            update();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void snapshot(OutputStream state, java.nio.file.Path memory) throws IOException {
        lock.lock();
        try {
            requireStopped("snapshot");
            quiesce();
            SaveFormat.write(machine, devices, state, false);
            RamFile.write(machine.ram(), memory);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void restoreSnapshot(InputStream state, java.nio.file.Path memory) throws IOException, PartitionException {
        lock.lock();
        try {
            requireStopped("restore");
            quiesce();
            SaveFormat.read(machine, devices, state, ram -> RamFile.map(memory, ram, name()));
            pending = null;
            ranSinceReset = false;
            update();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public AutoCloseable claimPorts(int port, int length, IoHandler handler) {
        return machine.ports().claim(port, length, handler);
    }

    @Override
    public AutoCloseable claimMmio(long address, long length, IoHandler handler) {
        return machine.mmio().claim(address, length, handler);
    }

    @Override
    public Optional<java.nio.file.Path> consolePty() {
        return machine.consolePty();
    }

    /** The machine, for the platform's own devices and tests. */
    public Machine machine() {
        return machine;
    }

    /** The declared devices' bindings, in declaration order (for the platform's own tests). */
    public List<VirtioBinding> bindings() {
        return List.copyOf(devices);
    }

    @Override
    public void updateDevice(String name, String options) throws PartitionException {
        lock.lock();
        try {
            for (int i = 0; i < devices.size(); i++) {
                if (devices.get(i).name().equals(name)) {
                    io.bundlevisor.core.partition.DeviceSpec spec;
                    try {
                        spec = new io.bundlevisor.core.partition.DeviceSpec(devices.get(i).type(), options);
                        devices.get(i).update(options);
                    } catch (IllegalArgumentException | io.bundlevisor.core.virtio.DeviceException e) {
                        throw new PartitionException(e.getMessage(), e);
                    }
                    machine.deviceChanged(i, spec);
                    return;
                }
            }
            throw new PartitionException(name() + " has no device " + name);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<io.bundlevisor.core.partition.DeviceInfo> devices() {
        List<io.bundlevisor.core.partition.DeviceInfo> out = new ArrayList<>(devices.size());
        for (VirtioBinding b : devices) {
            List<Long> perQueue = new ArrayList<>();
            for (long n : b.completedChainsPerQueue()) {
                perQueue.add(n);
            }
            long handover = b.handoverMillis();
            io.bundlevisor.core.partition.DeviceInfo.Binding binding = b.isBound()
                    ? io.bundlevisor.core.partition.DeviceInfo.Binding.BOUND
                    : handover >= 0 ? io.bundlevisor.core.partition.DeviceInfo.Binding.HANDOVER
                    : io.bundlevisor.core.partition.DeviceInfo.Binding.UNBOUND;
            out.add(new io.bundlevisor.core.partition.DeviceInfo(b.name(), b.type(), binding, handover, b.status(),
                    b.completedChains(), perQueue, b.inFlight(), b.needsResetCount()));
        }
        return out;
    }

    /** Closes every device's binding, last declared first; a binding's close is idempotent and must not throw. */
    private void closeDevices() {
        for (int i = devices.size() - 1; i >= 0; i--) {
            try {
                devices.get(i).close();
            } catch (RuntimeException e) {
                LOG.error("{}: closing {} failed: {}", name(), devices.get(i).name(), e.toString());
            }
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closing) {
                return;
            }
            closing = true;
            update();
            quiesce();
        } finally {
            lock.unlock();
        }
        boolean interrupted = false;
        for (VirtualProcessor vp : vps) {
            try {
                vp.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (debug != null) {
            debug.close(); // tells an attached gdb the VM's end; before the vCPUs and RAM go
        }
        closeDevices(); // before RAM and the VM: a device's worker may still be finishing IO into RAM
        machine.close();
        if (vpGroup != null) {
            vpGroup.close();
        }
        onClose.accept(this);
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return name() + " (" + vps.size() + " VPs, " + (machine.config().memoryBytes() >> 20) + " MiB, "
                + (runnable ? "running" : started ? "halted" : "stopped") + ")";
    }
}
