package io.bundlevisor.core.internal.task;

import java.util.BitSet;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicReferenceArray;

import io.bundlevisor.core.task.TaskDriverBuilder;
import io.bundlevisor.core.task.VpGroup;
import io.bundlevisor.core.task.VpState;

/**
 * One group of VPs and their states: a partition's ({@link VpGroup}, bounded), or the source's unnamed group
 * ({@link #unbounded}, any VP index, ready only through the source's {@code setVpReady}). Each VP has a future that
 * completes when it becomes ready; leaving {@link VpState#RUNNING} starts a fresh one. A partition's reports come from
 * VP threads, so its futures are completed on {@code completer}, never on the reporting thread.
 */
final class Vps implements VpGroup {

    private final TaskDriverSourceImpl source;
    private final String name;
    /** The VP count; {@link Integer#MAX_VALUE} for the unnamed group. */
    private final int count;
    /** Bounded groups: each VP's state. Null for the unnamed group, which keeps only readiness. */
    private final AtomicReferenceArray<VpState> states;
    private final ConcurrentHashMap<Integer, CompletableFuture<Void>> readiness = new ConcurrentHashMap<>();
    private final Executor completer;
    /** Each pinned VP's CPUs, as its partition reported them. */
    private final ConcurrentHashMap<Integer, BitSet> cpus = new ConcurrentHashMap<>();
    /** Drivers whose own thread follows its target VP's CPUs ({@link TargetPlacement}). */
    private final Set<Driver> followers = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private Vps(TaskDriverSourceImpl source, String name, int count, Executor completer) {
        this.source = source;
        this.name = name;
        this.count = count;
        this.completer = completer;
        if (count == Integer.MAX_VALUE) {
            this.states = null;
        } else {
            this.states = new AtomicReferenceArray<>(count);
            for (int i = 0; i < count; i++) {
                states.set(i, VpState.STOPPED);
            }
        }
    }

    /** The source's unnamed group: readiness set by hand, waiters completed on the caller's thread. */
    static Vps unbounded(TaskDriverSourceImpl source) {
        return new Vps(source, "", Integer.MAX_VALUE, Runnable::run);
    }

    static Vps of(TaskDriverSourceImpl source, String name, int count, Executor completer) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a VP group needs a non-blank name");
        }
        if (count < 1) {
            throw new IllegalArgumentException("a VP group needs at least one VP, not " + count);
        }
        return new Vps(source, name, count, completer);
    }

    TaskDriverSourceImpl source() {
        return source;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int vpCount() {
        return count;
    }

    @Override
    public VpState state(int vp) {
        checkVp(vp);
        if (states == null) {
            return isReady(vp) ? VpState.RUNNING : VpState.STOPPED;
        }
        return states.get(vp);
    }

    @Override
    public void report(int vp, VpState state) {
        checkVp(vp);
        if (state == null) {
            throw new IllegalArgumentException("a VP state is required");
        }
        if (states != null) {
            if (closed) {
                return; // GONE is final
            }
            states.set(vp, state);
        }
        setReady(vp, state == VpState.RUNNING);
    }

    @Override
    public void reportCpus(int vp, BitSet set) {
        checkVp(vp);
        if (set == null) {
            throw new IllegalArgumentException("a CPU set is required (an empty one: not pinned)");
        }
        if (set.isEmpty()) {
            cpus.remove(vp);
        } else {
            cpus.put(vp, (BitSet) set.clone());
        }
        // The followers move on their own threads; the reporting VP thread only hands the news on.
        if (!followers.isEmpty()) {
            completer.execute(() -> {
                for (Driver d : followers) {
                    if (d.targetVp().orElse(-1) == vp) {
                        d.requestPlacement();
                    }
                }
            });
        }
    }

    @Override
    public Optional<BitSet> cpus(int vp) {
        checkVp(vp);
        BitSet set = cpus.get(vp);
        return set == null ? Optional.empty() : Optional.of((BitSet) set.clone());
    }

    /** {@code driver} moves next to its target VP whenever that VP's CPUs are reported, until {@link #unfollow}. */
    void follow(Driver driver) {
        followers.add(driver);
    }

    void unfollow(Driver driver) {
        followers.remove(driver);
    }

    /** The unnamed group's {@code setVpReady}. */
    void setReady(int vp, boolean ready) {
        checkVp(vp);
        if (ready) {
            CompletableFuture<Void> f = readiness.get(vp);
            if (f == null) {
                f = readiness.computeIfAbsent(vp, k -> new CompletableFuture<>());
            }
            if (!f.isDone()) {
                CompletableFuture<Void> waiting = f;
                completer.execute(() -> waiting.complete(null));
            }
        } else {
            readiness.compute(vp, (k, f) -> f == null || f.isDone() ? new CompletableFuture<>() : f);
        }
    }

    boolean isReady(int vp) {
        if (states != null) {
            return states.get(vp) == VpState.RUNNING;
        }
        CompletableFuture<Void> f = readiness.get(vp);
        return f != null && f.isDone();
    }

    CompletionStage<Void> whenReady(int vp) {
        if (closed) {
            return CompletableFuture.failedStage(
                    new java.util.concurrent.CancellationException("the VPs of " + name + " are gone"));
        }
        if (isReady(vp)) {
            return CompletableFuture.completedStage(null);
        }
        // A copy: callers cannot complete the shared future themselves.
        return readiness.computeIfAbsent(vp, k -> new CompletableFuture<>()).copy();
    }

    @Override
    public TaskDriverBuilder builder() {
        return source.builder(this);
    }

    @Override
    public void close() {
        if (states == null || closed) {
            return;
        }
        closed = true;
        for (int i = 0; i < count; i++) {
            states.set(i, VpState.GONE);
        }
        // Never ready again: waiters learn it rather than wait forever.
        for (CompletableFuture<Void> f : readiness.values()) {
            if (!f.isDone()) {
                completer.execute(() -> f.completeExceptionally(
                        new java.util.concurrent.CancellationException("the VPs of " + name + " are gone")));
            }
        }
        readiness.clear();
    }

    void checkVp(int vp) {
        if (vp < 0) {
            throw new IllegalArgumentException("VP index must be >= 0, got " + vp);
        }
        if (vp >= count) {
            throw new IllegalArgumentException(name + " has VPs 0.." + (count - 1) + ", not " + vp);
        }
    }

    OptionalInt checked(OptionalInt vp) {
        vp.ifPresent(this::checkVp);
        return vp;
    }

    @Override
    public String toString() {
        return states == null ? "VPs" : "VPs of " + name;
    }
}
