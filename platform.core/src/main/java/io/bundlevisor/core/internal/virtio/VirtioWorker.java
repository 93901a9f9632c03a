package io.bundlevisor.core.internal.virtio;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.partition.DeviceSlot;
import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.core.partition.Notifier;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.ring.CompletionHandler;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.QueueIo;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.core.virtio.VirtioFeatures;

/**
 * The io_uring virtio worker of one device (Alioth's design): a named thread with its own ring, in which each
 * queue's ioeventfd and the interrupt's resample fd are armed as multishot polls. Its loop drains completions,
 * pulls available chains into the device's {@link VirtioDevice#handleDesc}, submits the SQEs the device prepares,
 * hands completions to {@link VirtioDevice#completeDesc}, writes used-ring entries and raises the interrupt as
 * EVENT_IDX allows. Control (activate, reset, pause for save, stop) arrives as tasks through the ring's wakeup.
 *
 * <p>Everything the device does runs on this one thread. Anything a guest or a device gets wrong ends in
 * DEVICE_NEEDS_RESET, never in the thread dying.
 */
final class VirtioWorker {

    private static final Logger LOG = LoggerFactory.getLogger(VirtioWorker.class);

    /** The platform's rings, and its system-call filter for this thread. */
    private final RingService rings;
    /** Submission entries of the ring, and so the IOs a device may have in flight across its queues. */
    static final int RING_ENTRIES = 256;
    /** The most queues a device may have (bit masks below are longs). */
    static final int MAX_QUEUES = 64;
    /** How long a driver reset or a detach waits for the device's IO to finish. */
    static final long DRAIN_SECONDS = 30;
    private static final int POLLIN = 0x001;
    /**
     * How long the worker keeps looking at its rings after work before it sleeps and asks for notifications
     * again (system property {@value #POLL_PROPERTY}, microseconds; 0 turns polling off). A notification is a VM
     * exit, and on a nested hypervisor an MMIO exit costs hundreds of microseconds; a driver that answers a
     * completion with a new request within the window never pays it (QEMU's iothread poll-max-ns, the same idea).
     * Off by default: on a 2-CPU nested host a spinning worker slows the guest more than the exits it saves (see
     * BENCHMARKS.md).
     */
    static final String POLL_PROPERTY = "bundlevisor.virtio.pollMicros";
    private static final long POLL_NANOS = Math.max(0, Long.getLong(POLL_PROPERTY, 0)) * 1000;
    /**
     * Whether a queue with IO in flight asks for notifications before the worker sleeps too (system property
     * {@value #NOTIFY_IN_FLIGHT_PROPERTY}, default false; QEMU's virtio-blk and libvhost-user do so). Off, a chain
     * the driver adds while IO is in flight waits for the next completion to be seen, which saves the driver a
     * notification but leaves the device's queue shallower: with a vhost-user-blk front-end at QD 32-128 it cost
     * 12-19 % of the IOPS (bench/vhost-blk-path-bench.sh, BENCHMARKS.md). Not the default: on our KVM, where a
     * notification is an MMIO exit, and on virtio-net's transmit path it measured lower with it on.
     */
    static final String NOTIFY_IN_FLIGHT_PROPERTY = "bundlevisor.virtio.notifyInFlight";
    private static final boolean NOTIFY_IN_FLIGHT = Boolean.getBoolean(NOTIFY_IN_FLIGHT_PROPERTY);

    private final String name;
    /**
     * The queues this worker serves: all of the device's, or, for a device whose queues run on several workers
     * ({@link WorkerGroup}), its share. Only the {@link #leader} calls the device as a whole (activate, reset,
     * quiesce, save, hand over) and has its event sources; the others serve their queues.
     */
    private final long mask;
    private final boolean leader;
    /** The CPUs to pin this worker's thread to (those of the VP whose queues it serves), or null. */
    private final java.util.BitSet cpus;
    /** The device; a {@link StandIn} while parked between two bundles. Worker thread only after construction. */
    private VirtioDevice device;
    private final WorkerTransport transport;
    private final GuestErrors errors;
    private final Ring ring;
    private final SplitQueue[] queues;
    private final Chain[][] inFlightChains;
    /** Chains the device holds ({@link VirtioDevice#HOLD}), by queue and head; null where none. */
    private final Chain[][] heldChains;
    /** The avail index each held chain was taken at, by queue and head. */
    private final int[][] heldAt;
    private final int[] heldCount;
    /** Scratch for releasing a queue's held chains, the size of the largest queue. */
    private final Chain[] releasing;
    private final DeviceIo deviceIo = new DeviceIo();
    private final Notifier[] notifiers;
    /** Bumped when a queue's notifier is replaced, so a completion of the old poll is told apart (UserData head). */
    private final int[] notifierGeneration;
    private final Notifier resample;
    private final QueueBudget budget;
    private final Sqe sqe = new Sqe();
    /** For cancellations a device asks for, which may come between its preparing {@link #sqe} and submitting it. */
    private final Sqe cancelSqe = new Sqe();
    private final ConcurrentLinkedQueue<Runnable> control = new ConcurrentLinkedQueue<>();
    private final Thread thread;
    /** The event sources the device registered (worker thread only). */
    private final WorkerEvents events;
    private final CompletableFuture<Void> finished = new CompletableFuture<>();

    // Worker-thread state.
    private boolean active;
    private boolean pulling = true;
    /** Between two bundles (a handover): nothing is pulled until the successor is attached. */
    private boolean parked;
    private boolean discard;
    private boolean stopping;
    /** Whether the device was told to quiesce since the worker last pulled chains. */
    private boolean quiesced;
    private long pendingService;
    private long blocked;
    private long dirty;
    private long rearm;
    private boolean rearmResample;
    private final List<CompletableFuture<Void>> drainWaiters = new ArrayList<>();
    private final List<Runnable> idleTasks = new ArrayList<>();
    private boolean resetPending;
    /** What the device was last activated with; null while it is not. */
    private Activation activation;
    /** Backend transports: each running queue's setup, null for the others. */
    private final QueueConfig[] running;

    // Read by other threads for inspection; written by the worker only.
    private volatile long completedChains;
    /** Chains completed per queue; written by the worker only (release), read by others (acquire). */
    private final java.util.concurrent.atomic.AtomicLongArray completedPerQueue;
    private volatile int inFlight;
    private volatile long needsResets;

    /**
     * @param ram       where the queues live
     * @param notifiers each queue's notifier, or null where a backend transport will give one when the queue starts;
     *                  the worker owns them (closes them when it ends or replaces one)
     * @param resample  the interrupt's resample fd, or null; not owned
     */
    VirtioWorker(String name, VirtioDevice device, GuestRam ram, Notifier[] notifiers, Notifier resample,
            WorkerTransport transport, GuestErrors errors, RingService rings) throws PartitionException {
        this(name, "", device, ram, notifiers, resample, transport, errors, rings, -1L, true, null);
    }

    /**
     * One worker of a {@link WorkerGroup}: it serves the queues of {@code mask} (its notifiers are those queues'),
     * and only a {@code leader} calls the device as a whole.
     *
     * @param label what its thread and ring add to the device's name ({@code " q1"}), or empty
     * @param cpus  the CPUs its thread pins itself to before it confines itself (its VP's), or null
     */
    VirtioWorker(String name, String label, VirtioDevice device, GuestRam ram, Notifier[] notifiers,
            Notifier resample, WorkerTransport transport, GuestErrors errors, RingService rings, long mask,
            boolean leader, java.util.BitSet cpus) throws PartitionException {
        this.name = name;
        this.leader = leader;
        this.cpus = cpus;
        this.device = device;
        this.transport = transport;
        this.errors = errors;
        int count = device.queueCount();
        int max = device.maxQueueSize();
        if (count < 1 || count > MAX_QUEUES || max < 2 || max > 32768 || Integer.bitCount(max) != 1
                || notifiers.length != count) {
            closeAll(notifiers);
            throw new PartitionException(name + ": a device must have 1-" + MAX_QUEUES
                    + " queues of a power-of-two size up to 32768, not " + count + " of " + max);
        }
        this.mask = count == 64 ? mask : mask & ((1L << count) - 1);
        this.queues = new SplitQueue[count];
        this.completedPerQueue = new java.util.concurrent.atomic.AtomicLongArray(count);
        this.inFlightChains = new Chain[count][];
        this.heldChains = new Chain[count][];
        this.heldAt = new int[count][];
        this.heldCount = new int[count];
        this.releasing = new Chain[max];
        for (int q = 0; q < count; q++) {
            queues[q] = new SplitQueue(ram, q, max);
            inFlightChains[q] = new Chain[max];
            heldChains[q] = new Chain[max];
            heldAt[q] = new int[max];
        }
        this.budget = new QueueBudget(count, Math.max(RING_ENTRIES, count));
        this.resample = resample;
        this.notifiers = notifiers.clone();
        this.notifierGeneration = new int[count];
        this.running = new QueueConfig[count];
        Ring created;
        try {
            created = rings.create("virtio " + name + label, Math.max(RING_ENTRIES, count), this::completed);
        } catch (RuntimeException e) {
            closeAll(notifiers);
            throw new PartitionException(name + ": no io_uring for the device worker: " + e.getMessage(), e);
        }
        this.ring = created;
        this.rings = rings;
        this.thread = Thread.ofPlatform().name("virtio " + name + label).daemon().unstarted(this::run);
        this.events = new WorkerEvents(ring, thread);
        thread.start();
    }

    /** The notifiers for a virtio-mmio window: the driver notifies queue q by writing q to QueueNotify (4.2.3.3). */
    static Notifier[] mmioNotifiers(DeviceSlot slot, int count) throws PartitionException {
        Notifier[] n = new Notifier[Math.max(0, Math.min(count, MAX_QUEUES))];
        try {
            for (int q = 0; q < n.length; q++) {
                n[q] = slot.notifyOnWrite(MmioLayout.QUEUE_NOTIFY, 4, OptionalLong.of(q));
            }
        } catch (PartitionException | RuntimeException e) {
            closeAll(n);
            throw e;
        }
        return n;
    }

    private static void closeAll(Notifier[] notifiers) {
        for (Notifier n : notifiers) {
            if (n != null) {
                n.close();
            }
        }
    }

    // ---- control, from any thread ------------------------------------------------------------------------------

    /** The driver set DRIVER_OK: configure the queues and activate the device. */
    void activate(long features, QueueConfig[] configs, int[] lastAvail, int[] usedIndex) {
        post(() -> doActivate(features, configs, lastAvail, usedIndex));
    }

    /**
     * Runs {@code then} on the worker thread after the activation posted before it, if the device took it: how a
     * {@link WorkerGroup} activates its other workers only once the leader has activated the device.
     */
    void afterActivation(Runnable then) {
        post(() -> {
            if (active) {
                then.run();
            }
        });
    }

    /**
     * A worker of a group that is not its leader takes the group's device (the leader parked it, or a successor took
     * over): {@code parked} while between two bundles; once attached it pulls again, unless the successor was
     * {@code refused} (the driver was told DEVICE_NEEDS_RESET).
     */
    void adopt(VirtioDevice d, boolean parked, boolean refused) {
        post(() -> {
            device = d;
            this.parked = parked;
            if (refused) {
                active = false;
                activation = null;
            }
            if (!parked) {
                pulling = true;
                pendingService = allQueues();
            }
        });
    }

    /** A notification that came the slow way (an MMIO exit, not the ioeventfd). */
    void notifyQueue(int queue) {
        post(() -> {
            pendingService |= 1L << queue;
        });
    }

    /**
     * Driver reset: stops pulling, waits for in-flight IO (whose completions are not put in the used ring: the
     * driver is taking its memory back), then resets the device and the queues.
     */
    void reset() {
        awaitQuietly(drain(true), "reset");
    }

    /** Stops pulling and waits for in-flight IO, completing it into the used rings (for save, and detach). */
    CompletableFuture<Void> pause() {
        return drain(false);
    }

    /** Pulls again after {@link #pause()}. */
    void resume() {
        post(() -> {
            pulling = !parked;
            pendingService = allQueues();
        });
    }

    // ---- handing the device over between bundles -----------------------------------------------------------------

    /** What a parked worker let go of: the old device (closed by the caller), its stand-in and its saved state. */
    record Parked(VirtioDevice old, StandIn standIn, byte[] state) {
    }

    /**
     * Parks the worker for a handover: stops pulling, quiesces the device, lets its IO finish into the used rings and
     * its held chains go back; then saves the device's state, lets it keep its host resources in {@code shelf} and
     * puts a {@link StandIn} in its place. Queues, notifiers and the activation stay; notifications that come are
     * kept for the successor. Fails (and the worker goes on with the device) if the device cannot be saved.
     */
    CompletableFuture<Parked> park(ResourceShelf shelf) {
        CompletableFuture<Parked> f = new CompletableFuture<>();
        if (!post(() -> whenIdle(() -> doPark(shelf, f)))) {
            f.completeExceptionally(new IllegalStateException(name + ": the device's worker has ended"));
        }
        return f;
    }

    /**
     * {@link #park} and waits for it (at most {@link #DRAIN_SECONDS}).
     *
     * @throws java.io.IOException with a one-line reason: the device cannot be saved, its IO did not finish, or the
     *                             wait was interrupted (the worker then goes on with the device)
     */
    Parked parkNow(ResourceShelf shelf) throws java.io.IOException {
        try {
            return park(shelf).get(DRAIN_SECONDS, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new java.io.IOException(e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new java.io.IOException("its IO did not finish in " + DRAIN_SECONDS + " s (" + inFlightSummary()
                    + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.IOException("the wait for its IO was interrupted");
        }
    }

    /**
     * Puts {@code successor} in the stand-in's place and goes on: unless the driver reset the device during the
     * gap, the successor restores {@code state}, takes the config writes of the gap and must show the config space
     * the guest knows; it is activated with the features and queues already negotiated (if they were). Completes
     * with null, or with the reason (one line) why the successor could not take over, in which case the driver has
     * been told DEVICE_NEEDS_RESET. {@code swapped} runs on the worker thread once the successor is in place.
     */
    CompletableFuture<String> attach(VirtioDevice successor, byte[] state, Runnable swapped) {
        CompletableFuture<String> f = new CompletableFuture<>();
        if (!post(() -> doAttach(successor, state, swapped, f))) {
            f.completeExceptionally(new IllegalStateException(name + ": the device's worker has ended"));
        }
        return f;
    }

    private void doPark(ResourceShelf shelf, CompletableFuture<Parked> f) {
        if (parked) {
            f.completeExceptionally(new IllegalStateException(name + " is already between two bundles"));
            return;
        }
        VirtioDevice old = device;
        try {
            java.io.ByteArrayOutputStream state = new java.io.ByteArrayOutputStream();
            old.saveState(new java.io.DataOutputStream(state));
            StandIn standIn = StandIn.of(old);
            old.handOver(shelf);
            events.closeAll(); // the old device's handlers never run again; its successor registers its own
            device = standIn;
            parked = true;
            f.complete(new Parked(old, standIn, state.toByteArray()));
        } catch (java.io.IOException | RuntimeException e) {
            f.completeExceptionally(e);
        }
    }

    private void doAttach(VirtioDevice successor, byte[] state, Runnable swapped, CompletableFuture<String> f) {
        if (!parked || !(device instanceof StandIn standIn)) {
            f.completeExceptionally(new IllegalStateException(name + " is not between two bundles"));
            return;
        }
        device = successor;
        parked = false;
        String refusal = takeOver(standIn, successor, state);
        try {
            swapped.run();
        } catch (RuntimeException e) {
            LOG.error("{}: swapping the device failed", name, e);
        }
        if (refusal == null && activation != null) {
            try {
                successor.activate(activation);
            } catch (DeviceException | RuntimeException e) {
                refusal = "the new device refused the activation the driver made: " + e.getMessage();
            }
        }
        if (refusal != null) {
            active = false;
            activation = null;
            needsResets++;
            transport.needsReset();
        }
        pulling = true;
        pendingService = allQueues();
        f.complete(refusal);
    }

    /** Restores the successor and checks that the guest would see no change; null, or why not (one line). */
    private String takeOver(StandIn standIn, VirtioDevice successor, byte[] state) {
        long inUse = (activation != null ? activation.features() : standIn.features())
                & VirtioFeatures.DEVICE_SPECIFIC;
        long missing = inUse & ~successor.features();
        if (missing != 0) {
            return String.format("the new device does not offer features 0x%x that the driver uses", missing);
        }
        if (standIn.wasReset()) {
            return null; // the driver reset the device during the gap: its successor starts fresh
        }
        try {
            successor.restoreState(new java.io.DataInputStream(new java.io.ByteArrayInputStream(state)));
            standIn.replayConfigWrites(successor);
            return standIn.configDifference(successor);
        } catch (java.io.IOException | RuntimeException e) {
            return "the new device refused the saved state: " + e.getMessage();
        }
    }

    // ---- backend transports (vhost-user): queues start and stop one by one ---------------------------------------

    /**
     * Queue {@code q} runs from now with {@code config} (ring addresses guest-physical), taking chains from
     * {@code nextAvail}; {@code kick} is its notifier (owned by the worker from now). The device is activated when
     * the first queue starts, with {@code sizes} (every queue's size as the frontend set it, 0 where unknown); a
     * queue whose size the activation did not cover makes the worker finish the IO in flight, reset the device and
     * activate it again with the running queues kept where they were.
     */
    CompletableFuture<Void> startQueue(long features, int[] sizes, int q, QueueConfig config, int nextAvail,
            Notifier kick) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (!post(() -> doStartQueue(features, sizes.clone(), q, config.copy(), nextAvail, kick, done))) {
            kick.close();
            done.completeExceptionally(new IllegalStateException(name + ": the device's worker has ended"));
        }
        return done;
    }

    /**
     * Stops queue {@code q} once the IO in flight has finished (into the used rings): the index of the next avail
     * entry it would have taken, or -1 if it was not running. The last queue to stop resets the device.
     */
    CompletableFuture<Integer> stopQueue(int q) {
        CompletableFuture<Integer> done = new CompletableFuture<>();
        if (!post(() -> whenIdle(() -> done.complete(doStopQueue(q))))) {
            done.complete(-1);
        }
        return done;
    }

    /**
     * The backend's memory table changed: once the IO in flight has finished, each running queue looks its rings up
     * again, keeping its indices.
     */
    CompletableFuture<Void> memoryChanged() {
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (!post(() -> whenIdle(() -> {
            reconfigureRunning();
            done.complete(null);
        }))) {
            done.complete(null);
        }
        return done;
    }

    /** Backend device reset: finishes the IO in flight (into the used rings), stops every queue, resets the device. */
    CompletableFuture<Void> resetBackend() {
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (!post(() -> whenIdle(() -> {
            deactivate();
            done.complete(null);
        }))) {
            done.complete(null);
        }
        return done;
    }

    /** Runs {@code task} on the worker thread, for save and restore. */
    <T> T call(Callable<T> task) throws Exception {
        CompletableFuture<T> f = new CompletableFuture<>();
        if (!post(() -> {
            try {
                f.complete(task.call());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        })) {
            throw new IllegalStateException(name + ": the device's worker has ended");
        }
        try {
            return f.get(DRAIN_SECONDS, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof Exception ex) {
                throw ex;
            }
            throw e;
        }
    }

    /**
     * Finishes the IO in flight (into the used rings: a completed write is acknowledged, never lost), stops the
     * thread, closes the ring and the notifiers. The device itself is the caller's to close. Idempotent.
     */
    void stop() {
        if (!post(() -> {
            pulling = false;
            stopping = true;
        }) && !finished.isDone()) {
            return;
        }
        try {
            finished.get(DRAIN_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            LOG.error("{}: the device's IO did not finish in {} s; its worker is abandoned", name, DRAIN_SECONDS);
        } catch (Exception e) {
            LOG.error("{}: worker stop failed", name, e);
        }
    }

    long completedChains() {
        return completedChains;
    }

    /** Chains completed on each queue. */
    long[] completedChainsPerQueue() {
        long[] out = new long[completedPerQueue.length()];
        for (int q = 0; q < out.length; q++) {
            out[q] = completedPerQueue.getAcquire(q);
        }
        return out;
    }

    int inFlight() {
        return inFlight;
    }

    /** For a stuck drain's message: IO in flight and chains held, per queue (read racily, from any thread). */
    String inFlightSummary() {
        StringBuilder b = new StringBuilder("in flight per queue:");
        for (int q = 0; q < queues.length; q++) {
            b.append(' ').append(budget.inFlight(q));
        }
        b.append("; held per queue:");
        for (int q = 0; q < queues.length; q++) {
            b.append(' ').append(heldCount[q]);
        }
        return b.append("; pulling=").append(pulling).append(", quiesced=").append(quiesced).toString();
    }

    long needsResets() {
        return needsResets;
    }

    /** Queue indices {@code [lastAvail..., usedIndex...]}, on the worker thread while paused. */
    int[][] indices() {
        int[] avail = new int[queues.length];
        int[] used = new int[queues.length];
        for (int q = 0; q < queues.length; q++) {
            avail[q] = queues[q].lastAvail();
            used[q] = queues[q].usedIndex();
        }
        return new int[][] {avail, used};
    }

    private CompletableFuture<Void> drain(boolean driverReset) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        if (!post(() -> {
            pulling = false;
            if (driverReset) {
                discard = true;
                active = false;
                resetPending = true;
            }
            drainWaiters.add(f);
        })) {
            f.complete(null); // nothing runs, so nothing is in flight
        }
        return f;
    }

    private void awaitQuietly(CompletableFuture<Void> f, String what) {
        try {
            f.get(DRAIN_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            LOG.error("{}: {} waited {} s for the device's IO; going on without it", name, what, DRAIN_SECONDS);
        } catch (Exception e) {
            LOG.error("{}: {} failed", name, what, e);
        }
    }

    /** Queues a control task; false if the thread has ended (stopped, or died and logged why) and never will run it. */
    private boolean post(Runnable task) {
        if (finished.isDone()) {
            return false;
        }
        control.add(task);
        try {
            ring.wakeup();
        } catch (RuntimeException e) {
            // The thread closed its ring between the check and the wakeup: it is gone, and so is the task.
            LOG.debug("{}: wakeup after the worker ended: {}", name, e.toString());
            return false;
        }
        return true;
    }

    // ---- the worker thread ---------------------------------------------------------------------------------------

    private void run() {
        if (cpus != null) {
            pin(); // before the confinement, which refuses sched_setaffinity
        }
        // Guest-driven code runs here: confine the thread before the first notification is read (RingService).
        rings.confineWorkerThread();
        try {
            for (int q = 0; q < queues.length; q++) {
                armNotify(q);
            }
            if (resample != null) {
                armResample();
            }
            while (true) {
                try {
                    Runnable task;
                    while ((task = control.poll()) != null) {
                        task.run();
                    }
                    if (pulling) {
                        quiesced = false;
                    } else if (!quiesced) {
                        quiesced = true;
                        quiesceDevice();
                    }
                    deliverEvents();
                    serviceQueues();
                    publish();
                    finishDrains();
                    if (stopping && budget.total() == 0) {
                        break;
                    }
                    if (pollForWork() || armNotifications()) {
                        continue;
                    }
                    ring.submitAndWait(1);
                    ring.processCompletions();
                    rearmPolls();
                } catch (InternalError e) {
                    // How the JVM reports a fault (SIGBUS) on an unsafe or FFM access: guest memory that its owner
                    // truncated under its mapping (a vhost-user front-end shrinking its memfd). The device cannot go
                    // on; its thread must, to answer the reset.
                    needsReset("a fault on guest memory (" + e.getMessage() + "): its owner shrank or unmapped it");
                } catch (RuntimeException e) {
                    // A bug here must not kill the device's thread; the device cannot go on, the VM can.
                    LOG.error("{}: worker error", name, e);
                    needsReset("internal error: " + e);
                }
            }
        } catch (Throwable t) {
            LOG.error("{}: worker died", name, t);
        } finally {
            LOG.debug("{}: worker ends (stopping={})", name, stopping);
            ring.close();
            closeAll(notifiers);
            finished.complete(null);
        }
    }

    /** Runs next to the VP whose queues this worker serves; a refused pin leaves the thread where it was. */
    private void pin() {
        try {
            if (!rings.pinCurrentThread(cpus)) {
                LOG.warn("{}: this host cannot pin the worker next to its VP", name);
            }
        } catch (RuntimeException e) {
            LOG.warn("{}: the worker runs unpinned: {}", name, e.getMessage());
        }
    }

    private void armNotify(int q) {
        if (notifiers[q] == null) {
            return;
        }
        sqe.pollAdd(notifiers[q].fd(), POLLIN, true);
        ring.submitRaw(sqe, UserData.of(UserData.NOTIFY, q, notifierGeneration[q]));
    }

    /** Puts {@code kick} in place of queue q's notifier: the old poll is cancelled and the old notifier closed. */
    private void replaceNotifier(int q, Notifier kick) {
        Notifier old = notifiers[q];
        if (old == kick) {
            return;
        }
        if (old != null) {
            sqe.cancel(UserData.of(UserData.NOTIFY, q, notifierGeneration[q]));
            ring.submitRaw(sqe, UserData.of(UserData.CANCEL, q, 0));
            // The poll holds its own reference to the file, so closing the descriptor now is safe.
            old.close();
        }
        notifierGeneration[q] = (notifierGeneration[q] + 1) & 0xFFFF;
        notifiers[q] = kick;
        rearm &= ~(1L << q);
        armNotify(q);
    }

    private void armResample() {
        sqe.pollAdd(resample.fd(), POLLIN, true);
        ring.submitRaw(sqe, UserData.of(UserData.RESAMPLE, 0, 0));
    }

    /** A multishot poll that ended (no F_MORE: the kernel dropped it) is armed again. */
    private void rearmPolls() {
        if ((rearm == 0 && !rearmResample) || stopping) {
            return;
        }
        for (int q = 0; q < queues.length; q++) {
            if ((rearm & 1L << q) != 0) {
                armNotify(q);
            }
        }
        if (rearmResample && resample != null) {
            armResample();
        }
        rearm = 0;
        rearmResample = false;
    }

    /** The raw completion handler: runs on this thread inside {@link Ring#processCompletions()}. */
    private void completed(long userData, int result, int flags) {
        int q = UserData.queue(userData);
        switch (UserData.kind(userData)) {
            case UserData.NOTIFY -> {
                if (UserData.head(userData) != notifierGeneration[q] || notifiers[q] == null) {
                    return; // the poll of a notifier since replaced (its cancellation, or a last wakeup)
                }
                notifiers[q].drain();
                pendingService |= 1L << q;
                if ((flags & CompletionHandler.F_MORE) == 0) {
                    rearm |= 1L << q;
                }
            }
            case UserData.CANCEL -> {
                // The cancellation's own completion: nothing to do.
            }
            case UserData.DEVICE -> deviceIoDone(q, UserData.head(userData), result);
            case UserData.EVENT -> events.completed(q, UserData.head(userData), result, flags);
            case UserData.RESAMPLE -> {
                resample.drain();
                transport.resampled();
                if ((flags & CompletionHandler.F_MORE) == 0) {
                    rearmResample = true;
                }
            }
            default -> completeIo(q, UserData.head(userData), result);
        }
    }

    private void completeIo(int q, int head, int result) {
        Chain chain = inFlightChains[q][head];
        inFlightChains[q][head] = null;
        budget.release(q);
        inFlight = budget.total();
        // Each completion looks at its queue again: while a queue has IO in flight its notifications stay off.
        blocked &= ~(1L << q);
        pendingService |= 1L << q;
        if (chain == null) {
            LOG.error("{}: a completion for queue {} head {} that is not in flight", name, q, head);
            return;
        }
        int written;
        try {
            written = device.completeDesc(q, chain, result);
        } catch (RuntimeException e) {
            needsReset("device failed completing a chain of queue " + q + ": " + e);
            return;
        }
        if (discard) {
            return;
        }
        if (written < 0) {
            needsReset("device refused a completed chain of queue " + q);
            return;
        }
        queues[q].pushUsed(chain, written);
        dirty |= 1L << q;
        completedChains++;
        completedPerQueue.setRelease(q, completedPerQueue.getPlain(q) + 1);
    }

    private void serviceQueues() {
        long pending = pendingService;
        pendingService = 0;
        if (!active || !pulling) {
            return;
        }
        for (int q = 0; q < queues.length && active; q++) {
            if ((pending & 1L << q) != 0) {
                serviceQueue(q);
            }
        }
    }

    /**
     * Pops and dispatches what queue {@code q} has, notifications off (they come back on before the worker sleeps),
     * then lets the device start IO of its own over the chains it holds.
     */
    private void serviceQueue(int q) {
        SplitQueue vq = queues[q];
        if (!vq.isConfigured()) {
            return;
        }
        vq.disableNotifications();
        try {
            pull(q, vq);
        } catch (QueueException e) {
            needsReset(e.getMessage()); // QueueException names its queue
            return;
        }
        if (active && pulling) {
            try {
                device.queueServiced(q, deviceIo);
            } catch (RuntimeException e) {
                needsReset("device failed serving queue " + q + ": " + e);
            }
        }
    }

    private void pull(int q, SplitQueue vq) throws QueueException {
        while (budget.canTake(q)) {
            Chain chain = vq.pop();
            if (chain == null) {
                return;
            }
            dispatch(q, vq, chain);
            if (!active) {
                return;
            }
        }
        // Completions free room and put the queue back in service.
        blocked |= 1L << q;
    }

    /**
     * Spins for up to {@link #POLL_NANOS} looking for completions, chains and control tasks; true if it found
     * any (the loop then handles them).
     */
    private boolean pollForWork() {
        if (POLL_NANOS == 0 || !active || !pulling) {
            return false;
        }
        long deadline = System.nanoTime() + POLL_NANOS;
        do {
            if (!control.isEmpty() || ring.processCompletions() > 0) {
                return true;
            }
            for (int q = 0; q < queues.length; q++) {
                if (owns(q) && (blocked & 1L << q) == 0 && queues[q].hasAvailable()) {
                    pendingService |= 1L << q;
                }
            }
            if (pendingService != 0) {
                return true;
            }
            Thread.onSpinWait();
        } while (System.nanoTime() - deadline < 0);
        return false;
    }

    /**
     * Before sleeping: asks the driver of every running queue with nothing in flight to notify again (section
     * 2.7.10); true if a chain slipped in meanwhile, so the loop services it instead of sleeping. A queue with IO
     * in flight is looked at again when that IO completes, so its driver need not pay for a notification; the
     * cost is that a chain added behind a slow IO waits for that IO's completion. With {@link #NOTIFY_IN_FLIGHT},
     * every queue that has room in its budget asks, IO in flight or not.
     */
    private boolean armNotifications() {
        if (!active || !pulling) {
            return false;
        }
        for (int q = 0; q < queues.length; q++) {
            if (!owns(q)) {
                continue;
            }
            boolean ask = NOTIFY_IN_FLIGHT ? (blocked & 1L << q) == 0 : budget.inFlight(q) == 0;
            if (ask && queues[q].isConfigured() && queues[q].enableNotifications()) {
                pendingService |= 1L << q;
            }
        }
        return pendingService != 0;
    }

    private void dispatch(int q, SplitQueue vq, Chain chain) {
        int r;
        try {
            r = device.handleDesc(q, chain, sqe);
        } catch (RuntimeException e) {
            needsReset("device failed on a chain of queue " + q + ": " + e);
            return;
        }
        if (r == VirtioDevice.SUBMIT) {
            inFlightChains[q][chain.head()] = chain;
            budget.take(q);
            inFlight = budget.total();
            ring.submitRaw(sqe, UserData.of(UserData.IO, q, chain.head()));
        } else if (r >= 0) {
            vq.pushUsed(chain, r);
            dirty |= 1L << q;
            completedChains++;
            completedPerQueue.setRelease(q, completedPerQueue.getPlain(q) + 1);
        } else if (r == VirtioDevice.HOLD) {
            heldChains[q][chain.head()] = chain;
            heldAt[q][chain.head()] = (vq.lastAvail() - 1) & 0xFFFF;
            heldCount[q]++;
        } else {
            needsReset("device could not answer a chain of queue " + q);
        }
    }

    /** Publishes used indices and raises the interrupt once if any queue's driver wants one (section 2.7.10). */
    private void publish() {
        if (dirty == 0) {
            return;
        }
        long interrupt = 0;
        for (int q = 0; q < queues.length; q++) {
            if ((dirty & 1L << q) != 0 && queues[q].publishUsed()) {
                interrupt |= 1L << q;
            }
        }
        dirty = 0;
        if (interrupt != 0) {
            transport.usedBuffers(interrupt);
        }
    }

    /** Runs {@code task} on this thread once nothing is in flight; no chain is taken meanwhile. */
    private void whenIdle(Runnable task) {
        pulling = false;
        idleTasks.add(task);
    }

    private void finishDrains() {
        if (budget.total() != 0) {
            return;
        }
        if (!pulling) {
            releaseForgotten();
        }
        if (!idleTasks.isEmpty()) {
            List<Runnable> tasks = new ArrayList<>(idleTasks);
            idleTasks.clear();
            for (Runnable t : tasks) {
                try {
                    t.run();
                } catch (RuntimeException e) {
                    needsReset("internal error: " + e);
                }
            }
            if (drainWaiters.isEmpty() && idleTasks.isEmpty() && !stopping) {
                pulling = !parked;
                pendingService = allQueues();
            }
        }
        if (drainWaiters.isEmpty()) {
            return;
        }
        if (resetPending) {
            resetPending = false;
            forgetHeld();
            for (SplitQueue vq : queues) {
                vq.reset();
            }
            resetDevice();
            discard = false;
            active = false;
            pulling = !parked;
        }
        for (CompletableFuture<Void> f : drainWaiters) {
            f.complete(null);
        }
        drainWaiters.clear();
    }

    private void doActivate(long features, QueueConfig[] configs, int[] lastAvail, int[] usedIndex) {
        boolean eventIdx = (features & VirtioFeatures.EVENT_IDX) != 0;
        boolean indirect = (features & VirtioFeatures.INDIRECT_DESC) != 0;
        forgetHeld();
        for (SplitQueue vq : queues) {
            vq.reset();
        }
        try {
            for (int q = 0; q < queues.length && q < configs.length; q++) {
                QueueConfig c = configs[q];
                if (c.ready && owns(q)) {
                    queues[q].configure(c.size, c.desc, c.driver, c.device, eventIdx, indirect);
                    if (lastAvail != null) {
                        queues[q].restoreIndices(lastAvail[q], usedIndex[q]);
                    }
                }
            }
        } catch (QueueException e) {
            needsReset("queue setup: " + e.getMessage());
            return;
        }
        Activation a = new Activation(features, Activation.sizes(configs), transport, events);
        if (leader) {
            if (!activateDevice(a)) {
                return;
            }
        } else {
            activation = a; // the leader activated the device before this worker was told to (WorkerGroup)
        }
        active = true;
        pulling = !parked;
        pendingService = allQueues();
    }

    private boolean activateDevice(Activation a) {
        try {
            device.activate(a);
        } catch (DeviceException | RuntimeException e) {
            needsReset("device refused activation: " + e.getMessage());
            return false;
        }
        activation = a;
        return true;
    }

    private void resetDevice() {
        activation = null;
        if (!leader) {
            return; // the leader resets the device, once every worker has drained (WorkerGroup)
        }
        events.closeAll(); // what the device registered lasts until its reset (DeviceEvents)
        try {
            device.reset();
        } catch (RuntimeException e) {
            LOG.error("{}: device reset failed", name, e);
        }
    }

    // ---- backend transports, on the worker thread ----------------------------------------------------------------

    private void doStartQueue(long features, int[] sizes, int q, QueueConfig config, int nextAvail, Notifier kick,
            CompletableFuture<Void> done) {
        try {
            replaceNotifier(q, kick);
            Activation a = activation;
            if (active && a != null && a.features() == features && a.covers(q, config.size)) {
                running[q] = config;
                configureRunning(q, nextAvail, -1, features);
                pendingService |= 1L << q;
                done.complete(null);
                return;
            }
            // First queue, or one the activation did not cover: activate (again) once nothing is in flight.
            whenIdle(() -> {
                reactivate(features, sizes, q, config, nextAvail);
                done.complete(null);
            });
        } catch (RuntimeException e) {
            done.completeExceptionally(e);
            throw e;
        }
    }

    private void reactivate(long features, int[] sizes, int q, QueueConfig config, int nextAvail) {
        running[q] = config;
        int[] avail = new int[queues.length];
        int[] used = new int[queues.length];
        for (int r = 0; r < queues.length; r++) {
            avail[r] = queues[r].lastAvail();
            used[r] = queues[r].isConfigured() ? queues[r].usedIndex() : -1;
        }
        if (activation != null) {
            resetDevice();
        }
        forgetHeld();
        for (SplitQueue vq : queues) {
            vq.reset();
        }
        int[] activeSizes = sizes.clone();
        for (int r = 0; r < queues.length && r < activeSizes.length; r++) {
            if (running[r] != null) {
                activeSizes[r] = running[r].size;
            }
        }
        active = false;
        if (!activateDevice(new Activation(features, activeSizes, transport, events))) {
            return;
        }
        for (int r = 0; r < queues.length; r++) {
            if (running[r] != null && !configureRunning(r, r == q ? nextAvail : avail[r], r == q ? -1 : used[r],
                    features)) {
                return;
            }
        }
        active = true;
        pulling = !parked;
        pendingService = allQueues();
    }

    /** Configures running queue r; usedIdx -1 takes it from the ring. False (device needs reset) if refused. */
    private boolean configureRunning(int r, int nextAvail, int usedIdx, long features) {
        QueueConfig c = running[r];
        try {
            queues[r].configure(c.size, c.desc, c.driver, c.device, (features & VirtioFeatures.EVENT_IDX) != 0,
                    (features & VirtioFeatures.INDIRECT_DESC) != 0);
            queues[r].track(c.tracker); // a backend transport's in-flight tracking (take/used hooks), or none
            queues[r].restoreIndices(nextAvail & 0xFFFF, usedIdx < 0 ? queues[r].usedIndexInRing() : usedIdx);
            return true;
        } catch (QueueException e) {
            running[r] = null;
            queues[r].reset();
            needsReset("queue setup: " + e.getMessage());
            return false;
        }
    }

    /** Re-looks-up every running queue's rings (new memory table), keeping indices. */
    private void reconfigureRunning() {
        if (activation == null) {
            return;
        }
        long features = activation.features();
        for (int r = 0; r < queues.length; r++) {
            if (running[r] != null) {
                int avail = queues[r].lastAvail();
                int used = queues[r].usedIndex();
                if (!configureRunning(r, avail, used, features)) {
                    return;
                }
            }
        }
    }

    private int doStopQueue(int q) {
        if (q < 0 || q >= queues.length || running[q] == null) {
            return -1;
        }
        int next = queues[q].lastAvail();
        running[q] = null;
        forgetHeld(q);
        queues[q].reset();
        boolean any = false;
        for (QueueConfig c : running) {
            any |= c != null;
        }
        if (!any) {
            deactivate();
        }
        return next;
    }

    private void deactivate() {
        java.util.Arrays.fill(running, null);
        forgetHeld();
        for (SplitQueue vq : queues) {
            vq.reset();
        }
        if (activation != null) {
            resetDevice();
        }
        active = false;
    }

    // ---- held chains and the device's own IO ------------------------------------------------------------------------

    /** Calls the handlers of the device's event sources that fired, while the worker pulls chains. */
    private void deliverEvents() {
        if (!events.hasPending() || !active || !pulling || discard) {
            return;
        }
        RuntimeException failure = events.deliver(deviceIo);
        if (failure != null) {
            needsReset("device failed handling an event: " + failure);
        }
    }

    private void quiesceDevice() {
        if (!leader) {
            return; // a device whose queues run on several workers holds no chains (VirtioDevice#queueGroup)
        }
        try {
            device.quiesce(deviceIo);
        } catch (RuntimeException e) {
            LOG.error("{}: device failed to quiesce", name, e);
        }
    }

    /** A device's own IO completed: like a chain's IO, it frees budget and puts its queue back in service. */
    private void deviceIoDone(int q, int tag, int result) {
        budget.release(q);
        inFlight = budget.total();
        blocked &= ~(1L << q);
        pendingService |= 1L << q;
        try {
            device.completeIo(q, tag, result, deviceIo);
        } catch (RuntimeException e) {
            needsReset("device failed completing its IO on queue " + q + ": " + e);
        }
    }

    /**
     * Nothing is in flight and the worker does not pull: chains a device still holds (it did not release them when
     * told to quiesce) go back to the driver all the same, so no pause or drain waits on them.
     */
    private void releaseForgotten() {
        for (int q = 0; q < queues.length; q++) {
            if (heldCount[q] != 0) {
                LOG.warn("{}: the device kept {} chains of queue {} after it was told to quiesce; released", name,
                        heldCount[q], q);
                releaseHeld(q);
            }
        }
    }

    private void releaseHeld(int q) {
        int n = heldCount[q];
        if (n == 0) {
            return;
        }
        if (discard || !queues[q].isConfigured()) {
            forgetHeld(q);
            return;
        }
        // The held chains are the last n taken when every one of them was taken within the last n avail entries.
        int last = queues[q].lastAvail();
        Chain[] held = heldChains[q];
        int found = 0;
        boolean tail = true;
        for (int head = 0; head < held.length && found < n; head++) {
            if (held[head] != null) {
                releasing[found++] = held[head];
                tail &= ((last - heldAt[q][head]) & 0xFFFF) <= n;
            }
        }
        forgetHeld(q);
        if (tail) {
            queues[q].unpop(releasing, found);
        } else {
            for (int i = 0; i < found; i++) {
                queues[q].pushUsed(releasing[i], 0);
                completedChains++;
                completedPerQueue.setRelease(q, completedPerQueue.getPlain(q) + 1);
            }
            dirty |= 1L << q;
        }
        java.util.Arrays.fill(releasing, 0, found, null);
    }

    private void forgetHeld(int q) {
        if (heldCount[q] != 0) {
            java.util.Arrays.fill(heldChains[q], null);
            heldCount[q] = 0;
        }
    }

    private void forgetHeld() {
        for (int q = 0; q < queues.length; q++) {
            forgetHeld(q);
        }
    }

    /** What a device sees of the worker for IO of its own; worker thread only. */
    private final class DeviceIo implements QueueIo {

        @Override
        public Sqe sqe() {
            return sqe;
        }

        @Override
        public boolean submit(int queue, int tag) {
            if (queue < 0 || queue >= queues.length || tag < 0 || tag > 0xFFFF) {
                throw new IllegalArgumentException("device IO on queue " + queue + " with tag " + tag);
            }
            if (!budget.canTake(queue)) {
                blocked |= 1L << queue;
                return false;
            }
            budget.take(queue);
            inFlight = budget.total();
            ring.submitRaw(sqe, UserData.of(UserData.DEVICE, queue, tag));
            return true;
        }

        @Override
        public void cancel(int queue, int tag) {
            cancelSqe.cancel(UserData.of(UserData.DEVICE, queue, tag));
            ring.submitRaw(cancelSqe, UserData.of(UserData.CANCEL, queue, 0));
        }

        @Override
        public void complete(int queue, DescChain chain, int written) {
            int head = chain.head();
            if (queue < 0 || queue >= queues.length || head >= heldChains[queue].length
                    || heldChains[queue][head] != chain) {
                throw new IllegalStateException("queue " + queue + ": chain " + head + " is not held");
            }
            heldChains[queue][head] = null;
            heldCount[queue]--;
            if (discard) {
                return;
            }
            queues[queue].pushUsed((Chain) chain, written);
            dirty |= 1L << queue;
            completedChains++;
            completedPerQueue.setRelease(queue, completedPerQueue.getPlain(queue) + 1);
        }

        @Override
        public void releaseHeld(int queue) {
            VirtioWorker.this.releaseHeld(queue);
        }
    }

    /** The queues this worker serves. */
    private long allQueues() {
        return mask;
    }

    private boolean owns(int q) {
        return (mask & 1L << q) != 0;
    }

    private void needsReset(String why) {
        errors.report(why + "; device needs reset");
        active = false;
        needsResets++;
        transport.needsReset();
    }
}
