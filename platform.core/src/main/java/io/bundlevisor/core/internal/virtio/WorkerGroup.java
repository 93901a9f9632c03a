package io.bundlevisor.core.internal.virtio;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.core.partition.DeviceSlot;
import io.bundlevisor.core.partition.Notifier;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.virtio.VirtioDevice;

/**
 * The workers of one device behind a machine's window: one, or, for a device whose queues fall in several
 * {@linkplain VirtioDevice#queueGroup groups}, one per vCPU up to the number of groups where the host has CPUs to spare
 * beside the VM's vCPUs (Alioth's worker, vhost-user's {@code queues_per_thread}), each a thread with its own ring
 * serving its share of the queues. On a host with no CPU to spare the extra workers only wait for a CPU behind the
 * vCPUs: measured at 0.55x the IOPS of one worker on 2 CPUs (BENCHMARKS.md, issue 18 §2). The first is the
 * leader: it alone calls the device as a whole. Control fans out so that the device sees what one worker would show
 * it: the leader activates the device before the others start on their queues; a reset, a save or a handover waits
 * until every worker has finished its IO; the leader resets, saves or hands over the device last.
 */
final class WorkerGroup {

    /**
     * System property setting the workers of a device with several queue groups ({@value}; at most one per group):
     * 1 puts every device on one worker. 0 or absent: one per vCPU up to the groups, but no more than the host's CPUs
     * beyond the VM's vCPUs, and one where there are none to spare.
     */
    static final String WORKERS_PROPERTY = "bundlevisor.virtio.workersPerDevice";
    /**
     * System property ({@value}, default false): true pins worker k, which serves the queues of VP k's group, to the
     * CPUs the machine pins VP k to ({@code --vp-affinity}), next to it (a task driver's runOnTarget). Off by default:
     * measured, it cost a guest that polls for its completions a third of its QD1 IOPS (the worker must preempt the
     * spinning VP) and bought a guest that waits in HLT nothing measurable (bench/near-vp-bench.sh, BENCHMARKS.md).
     */
    static final String NEAR_VP_PROPERTY = "bundlevisor.virtio.nearVp";

    private final VirtioWorker[] workers;
    /** Each queue's worker. */
    private final int[] owner;

    private WorkerGroup(VirtioWorker[] workers, int[] owner) {
        this.workers = workers;
        this.owner = owner;
    }

    /** How many workers a device of {@code groups} queue groups gets on a machine of {@code vps} VPs. */
    static int workersFor(int groups, int vps) {
        int asked = Integer.getInteger(WORKERS_PROPERTY, 0);
        if (asked > 0) {
            return Math.max(1, Math.min(groups, asked));
        }
        int spare = Runtime.getRuntime().availableProcessors() - vps;
        return Math.max(1, Math.min(groups, Math.min(vps, spare)));
    }

    /**
     * The device's queue groups in order; queue q's group is the index in the result of
     * {@code device.queueGroup(q)} (negative values count as group 0).
     */
    static int[] groupIndex(VirtioDevice device) {
        int count = device.queueCount();
        int[] raw = new int[count];
        TreeSet<Integer> distinct = new TreeSet<>();
        for (int q = 0; q < count; q++) {
            raw[q] = Math.max(0, device.queueGroup(q));
            distinct.add(raw[q]);
        }
        List<Integer> order = new ArrayList<>(distinct);
        int[] index = new int[count];
        for (int q = 0; q < count; q++) {
            index[q] = order.indexOf(raw[q]);
        }
        return index;
    }

    /** The workers for {@code device} behind {@code slot}: queue group g goes to worker g modulo their number. */
    static WorkerGroup create(String name, VirtioDevice device, DeviceSlot slot, WorkerTransport transport,
            GuestErrors errors, RingService rings) throws PartitionException {
        int count = device.queueCount();
        Notifier[] all = VirtioWorker.mmioNotifiers(slot, count);
        if (count < 1 || count > VirtioWorker.MAX_QUEUES) {
            // The worker refuses the shape with its one-line reason (and closes the notifiers).
            return new WorkerGroup(new VirtioWorker[] {new VirtioWorker(name, device, slot.ram(), all,
                    slot.interrupt().resample(), transport, errors, rings)}, new int[0]);
        }
        int[] group = groupIndex(device);
        int groups = java.util.Arrays.stream(group).max().orElse(0) + 1;
        int n = workersFor(groups, slot.vpCount());
        int[] owner = new int[count];
        long[] masks = new long[n];
        for (int q = 0; q < count; q++) {
            owner[q] = group[q] % n;
            masks[owner[q]] |= 1L << q;
        }
        VirtioWorker[] workers = new VirtioWorker[n];
        try {
            for (int w = 0; w < n; w++) {
                Notifier[] mine = new Notifier[count];
                StringBuilder label = new StringBuilder(n == 1 ? "" : " q");
                for (int q = 0; q < count; q++) {
                    if (owner[q] == w) {
                        mine[q] = all[q];
                        all[q] = null; // the worker owns it from here
                        if (n > 1) {
                            label.append(label.length() > 2 ? "," : "").append(q);
                        }
                    }
                }
                java.util.BitSet cpus = nearVp() ? slot.vpCpus(w).orElse(null) : null;
                workers[w] = new VirtioWorker(name, label.toString(), device, slot.ram(), mine,
                        w == 0 ? slot.interrupt().resample() : null, transport, errors, rings, masks[w], w == 0,
                        cpus);
            }
        } catch (PartitionException | RuntimeException e) {
            for (VirtioWorker w : workers) {
                if (w != null) {
                    w.stop();
                }
            }
            for (Notifier left : all) {
                if (left != null) {
                    left.close();
                }
            }
            throw e;
        }
        return new WorkerGroup(workers, owner);
    }

    private static boolean nearVp() {
        return Boolean.getBoolean(NEAR_VP_PROPERTY);
    }

    int size() {
        return workers.length;
    }

    private VirtioWorker leader() {
        return workers[0];
    }

    /** The driver set DRIVER_OK: the leader activates the device, then the others configure their queues. */
    void activate(long features, QueueConfig[] configs, int[] lastAvail, int[] usedIndex) {
        leader().activate(features, configs, lastAvail, usedIndex);
        if (workers.length > 1) {
            leader().afterActivation(() -> {
                for (int w = 1; w < workers.length; w++) {
                    workers[w].activate(features, configs, lastAvail, usedIndex);
                }
            });
        }
    }

    void notifyQueue(int queue) {
        if (queue >= 0 && queue < owner.length) {
            workers[owner[queue]].notifyQueue(queue);
        }
    }

    /** Driver reset: every worker drains (their completions discarded); the leader resets the device last. */
    void reset() {
        for (int w = workers.length - 1; w >= 0; w--) {
            workers[w].reset();
        }
    }

    CompletableFuture<Void> pause() {
        CompletableFuture<?>[] all = new CompletableFuture<?>[workers.length];
        for (int w = 0; w < workers.length; w++) {
            all[w] = workers[w].pause();
        }
        return CompletableFuture.allOf(all);
    }

    void resume() {
        for (VirtioWorker w : workers) {
            w.resume();
        }
    }

    /**
     * Parks the device for a handover: the other workers finish their IO and stop pulling, the leader parks (saves
     * the device and puts a stand-in in its place), and the others take the stand-in.
     */
    VirtioWorker.Parked parkNow(ResourceShelf shelf) throws java.io.IOException {
        if (workers.length > 1) {
            try {
                CompletableFuture<?>[] others = new CompletableFuture<?>[workers.length - 1];
                for (int w = 1; w < workers.length; w++) {
                    others[w - 1] = workers[w].pause();
                }
                CompletableFuture.allOf(others).get(VirtioWorker.DRAIN_SECONDS, TimeUnit.SECONDS);
            } catch (Exception e) {
                resumeOthers();
                if (e instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
                throw new java.io.IOException("the IO of its other workers did not finish: " + e.getMessage(), e);
            }
        }
        VirtioWorker.Parked parked;
        try {
            parked = leader().parkNow(shelf);
        } catch (java.io.IOException e) {
            resumeOthers();
            throw e;
        }
        for (int w = 1; w < workers.length; w++) {
            workers[w].adopt(parked.standIn(), true, false);
        }
        return parked;
    }

    private void resumeOthers() {
        for (int w = 1; w < workers.length; w++) {
            workers[w].resume();
        }
    }

    /** The leader attaches {@code successor}; then the others take it and pull again. */
    CompletableFuture<String> attach(VirtioDevice successor, byte[] state, Runnable swapped) {
        return leader().attach(successor, state, swapped).thenApply(refusal -> {
            for (int w = 1; w < workers.length; w++) {
                workers[w].adopt(successor, false, refusal != null);
            }
            return refusal;
        });
    }

    /** Stops every worker, the leader last (its IO into the used rings first, as each does). */
    void stop() {
        for (int w = workers.length - 1; w >= 0; w--) {
            workers[w].stop();
        }
    }

    /** Runs {@code task} on the leader's thread (the device as a whole: save, restore, change). */
    <T> T call(Callable<T> task) throws Exception {
        return leader().call(task);
    }

    /** Each queue's {@code [lastAvail..., usedIndex...]} from the worker serving it, every worker paused. */
    int[][] indices() throws Exception {
        int[][] out = null;
        for (int w = 0; w < workers.length; w++) {
            VirtioWorker worker = workers[w];
            int[][] mine = worker.call(worker::indices);
            if (out == null) {
                out = mine;
                continue;
            }
            for (int q = 0; q < owner.length; q++) {
                if (owner[q] == w) {
                    out[0][q] = mine[0][q];
                    out[1][q] = mine[1][q];
                }
            }
        }
        return out;
    }

    long completedChains() {
        long n = 0;
        for (VirtioWorker w : workers) {
            n += w.completedChains();
        }
        return n;
    }

    long[] completedChainsPerQueue() {
        long[] out = null;
        for (VirtioWorker w : workers) {
            long[] mine = w.completedChainsPerQueue();
            if (out == null) {
                out = mine;
            } else {
                for (int q = 0; q < out.length && q < mine.length; q++) {
                    out[q] += mine[q];
                }
            }
        }
        return out;
    }

    int inFlight() {
        int n = 0;
        for (VirtioWorker w : workers) {
            n += w.inFlight();
        }
        return n;
    }

    String inFlightSummary() {
        StringBuilder b = new StringBuilder();
        for (int w = 0; w < workers.length; w++) {
            b.append(w == 0 ? "" : "; worker ").append(w == 0 ? "" : w + ": ").append(workers[w].inFlightSummary());
        }
        return b.toString();
    }

    long needsResets() {
        long n = 0;
        for (VirtioWorker w : workers) {
            n += w.needsResets();
        }
        return n;
    }
}
