package io.bundlevisor.core.internal.task;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.IoMemory;
import io.bundlevisor.core.ring.Opcode;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingIoException;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.task.TaskDriver;
import io.bundlevisor.core.task.VpState;

/**
 * A driver: a name, a target VP of its group, and the executor thread its work runs on (its own, or shared).
 */
final class Driver implements TaskDriver {

    private static final int NO_VP = -1;

    private final String name;
    private final boolean runOnTarget;
    private final ExecutorThread executor;
    private final boolean ownsExecutor;
    private final Vps group;
    private final Consumer<Driver> onClose;
    /** Keeps its own thread next to the target VP ({@code runOnTarget} on a thread of its own); else null. */
    private final TargetPlacement placement;
    private volatile int targetVp;
    private volatile boolean closed;

    Driver(String name, OptionalInt targetVp, boolean runOnTarget, ExecutorThread executor, boolean ownsExecutor,
            Vps group, Consumer<Driver> onClose) {
        this(name, targetVp, runOnTarget, executor, ownsExecutor, group, onClose, null);
    }

    /**
     * @param placer pins the driver's own thread next to its target VP when it runs on target; null: never pinned
     */
    Driver(String name, OptionalInt targetVp, boolean runOnTarget, ExecutorThread executor, boolean ownsExecutor,
            Vps group, Consumer<Driver> onClose, RingFactory placer) {
        this.name = name;
        this.targetVp = group.checked(targetVp).orElse(NO_VP);
        this.runOnTarget = runOnTarget;
        this.executor = executor;
        this.ownsExecutor = ownsExecutor;
        this.group = group;
        this.onClose = onClose;
        this.placement = runOnTarget && ownsExecutor && placer != null ? new TargetPlacement(this, group, placer)
                : null;
    }

    /**
     * Moves the driver's thread next to its target VP at the thread's next loop iteration (a task posted to it), when
     * the driver runs on target; else nothing.
     */
    void requestPlacement() {
        if (placement == null || closed) {
            return;
        }
        try {
            executor.execute(placement::apply);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // Closed meanwhile: nothing left to place.
        }
    }

    ExecutorThread executor() {
        return executor;
    }

    /** Whether this driver was made by {@code source}. */
    boolean belongsTo(TaskDriverSourceImpl source) {
        return group.source() == source;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public OptionalInt targetVp() {
        int vp = targetVp;
        return vp == NO_VP ? OptionalInt.empty() : OptionalInt.of(vp);
    }

    @Override
    public boolean runOnTarget() {
        return runOnTarget;
    }

    @Override
    public void execute(Runnable task) {
        executor.execute(task);
    }

    @Override
    public <T> CompletableFuture<T> spawn(String taskName, Callable<T> task) {
        CompletableFuture<T> result = new CompletableFuture<>();
        executor.execute(() -> {
            try {
                result.complete(task.call());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        return result;
    }

    @Override
    public Ring ring() {
        return executor.ring();
    }

    @Override
    public CompletableFuture<Integer> submit(Sqe sqe, IoMemory memory) {
        Ring ring = executor.ring();
        CompletableFuture<Integer> result = ring.submitAsync(sqe, memory);
        ring.flush();
        return result;
    }

    @Override
    public CompletableFuture<Void> sleep(Duration delay) {
        if (delay.isNegative()) {
            throw new IllegalArgumentException("a sleep cannot be negative: " + delay);
        }
        Ring ring = executor.ring();
        // struct __kernel_timespec (include/uapi/linux/time_types.h): tv_sec, tv_nsec. Memory the GC frees once
        // unreachable: the completion handler below keeps it reachable until the kernel is done with it (a shared
        // arena's close would cost a handshake with every thread, for each sleep).
        MemorySegment timespec = Arena.ofAuto().allocate(16, 8);
        timespec.set(JAVA_LONG, 0, delay.getSeconds());
        timespec.set(JAVA_LONG, 8, delay.getNano());
        CompletableFuture<Void> result = new CompletableFuture<>();
        return armed(ring, new Sqe().timeout(timespec, 0), timespec, result, res -> {
            if (res == -Errno.ETIME || res >= 0) {
                result.complete(null);
            } else {
                result.completeExceptionally(new RingIoException(Opcode.TIMEOUT, -res));
            }
        });
    }

    @Override
    public CompletableFuture<Integer> poll(int fd, int events) {
        Ring ring = executor.ring();
        CompletableFuture<Integer> result = new CompletableFuture<>();
        return armed(ring, new Sqe().pollAdd(fd, events, false), MemorySegment.NULL, result, res -> {
            if (res >= 0) {
                result.complete(res);
            } else {
                result.completeExceptionally(new RingIoException(Opcode.POLL_ADD, -res));
            }
        });
    }

    /**
     * Submits a one-shot IO whose completion (on this driver's thread) settles {@code result}; cancelling
     * {@code result} cancels the IO in the kernel. {@code memory}, what the IO points at, stays reachable until its
     * final completion.
     */
    private <T> CompletableFuture<T> armed(Ring ring, Sqe sqe, MemorySegment memory, CompletableFuture<T> result,
            java.util.function.IntConsumer settle) {
        long io = ring.submit(sqe, IoMemory.NONE, (id, res, flags) -> {
            java.lang.ref.Reference.reachabilityFence(memory);
            if (res == -Errno.ECANCELED && result.isCancelled()) {
                return;
            }
            settle.accept(res);
        });
        ring.flush();
        result.whenComplete((r, t) -> {
            if (result.isCancelled()) {
                ring.cancel(io);
            }
        });
        return result;
    }

    @Override
    public void retargetVp(int vp) {
        group.checkVp(vp);
        targetVp = vp;
        requestPlacement();
    }

    @Override
    public boolean isTargetVpReady() {
        int vp = targetVp;
        return vp == NO_VP || group.isReady(vp);
    }

    @Override
    public VpState targetVpState() {
        int vp = targetVp;
        return vp == NO_VP ? VpState.RUNNING : group.state(vp);
    }

    @Override
    public CompletionStage<Void> waitTargetVpReady() {
        int vp = targetVp;
        return vp == NO_VP ? CompletableFuture.completedStage(null) : group.whenReady(vp);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (ownsExecutor) {
            executor.shutdown();
            onClose.accept(this);
        }
    }

    @Override
    public String toString() {
        return "TaskDriver[" + name + (targetVp == NO_VP ? "" : ", vp " + targetVp + " of " + group) + " on "
                + executor.thread().getName() + "]";
    }
}
