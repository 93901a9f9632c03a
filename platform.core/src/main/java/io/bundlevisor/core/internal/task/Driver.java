package io.bundlevisor.core.internal.task;

import java.util.OptionalInt;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;

import io.bundlevisor.core.ring.IoMemory;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.task.TaskDriver;

/** A driver: a name, a target VP, and the executor thread its work runs on (its own, or shared). */
final class Driver implements TaskDriver {

    private static final int NO_VP = -1;

    private final String name;
    private final boolean runOnTarget;
    private final ExecutorThread executor;
    private final boolean ownsExecutor;
    private final VpReadiness readiness;
    private final Consumer<Driver> onClose;
    private volatile int targetVp;
    private volatile boolean closed;

    Driver(String name, OptionalInt targetVp, boolean runOnTarget, ExecutorThread executor, boolean ownsExecutor,
            VpReadiness readiness, Consumer<Driver> onClose) {
        this.name = name;
        this.targetVp = targetVp.orElse(NO_VP);
        this.runOnTarget = runOnTarget;
        this.executor = executor;
        this.ownsExecutor = ownsExecutor;
        this.readiness = readiness;
        this.onClose = onClose;
    }

    ExecutorThread executor() {
        return executor;
    }

    /** Whether this driver was made by the source that keeps {@code sourceReadiness}. */
    boolean belongsTo(VpReadiness sourceReadiness) {
        return readiness == sourceReadiness;
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
    public void retargetVp(int vp) {
        VpReadiness.checkVp(vp);
        targetVp = vp;
    }

    @Override
    public boolean isTargetVpReady() {
        int vp = targetVp;
        return vp == NO_VP || readiness.isReady(vp);
    }

    @Override
    public CompletionStage<Void> waitTargetVpReady() {
        int vp = targetVp;
        return vp == NO_VP ? CompletableFuture.completedStage(null) : readiness.whenReady(vp);
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
        return "TaskDriver[" + name + (targetVp == NO_VP ? "" : ", vp " + targetVp) + " on "
                + executor.thread().getName() + "]";
    }
}
