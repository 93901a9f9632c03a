package io.bundlevisor.core.task;

import java.util.OptionalInt;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;

import io.bundlevisor.core.ring.IoMemory;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingUnavailableException;
import io.bundlevisor.core.ring.Sqe;

import org.osgi.annotation.versioning.ProviderType;

/**
 * An executor for asynchronous work, and the ring its IO goes through. Tasks and IO completions of one driver
 * run on one thread, one at a time, so a device needs no locks between its queue's tasks.
 */
@ProviderType
public interface TaskDriver extends Executor, AutoCloseable {

    /** The name it was built with ({@code "default"} for {@link TaskDriverSource#simple()}). */
    String name();

    /** The VP it targets, if any. */
    OptionalInt targetVp();

    /** Whether it asked to run on its target VP's thread. */
    boolean runOnTarget();

    /** Runs {@code task} on the driver's thread. */
    @Override
    void execute(Runnable task);

    /** Runs {@code task} on the driver's thread; the future completes with its result or exception. */
    <T> CompletableFuture<T> spawn(String taskName, Callable<T> task);

    /**
     * The ring of the driver's thread: IO submitted here completes on that thread.
     *
     * @throws RingUnavailableException if io_uring is unavailable on this host
     */
    Ring ring();

    /**
     * Issues one IO through {@link #ring()} and hands it to the kernel; the future completes on the driver's
     * thread.
     */
    CompletableFuture<Integer> submit(Sqe sqe, IoMemory memory);

    /** Targets another VP from now on. Work in progress continues where it is. */
    void retargetVp(int vp);

    /** True with no target VP, else whether the target VP is ready. */
    boolean isTargetVpReady();

    /** Completes once the target VP (as of the call) is ready; at once if it is already or there is none. */
    CompletionStage<Void> waitTargetVpReady();

    /**
     * Releases what the driver alone owns: a dedicated thread (its queued tasks run first) and its ring. Drivers
     * that share an executor close nothing. Idempotent.
     */
    @Override
    void close();
}
