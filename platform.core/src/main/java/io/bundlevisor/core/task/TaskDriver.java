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

    /**
     * Targets another VP from now on (of the same {@link VpGroup} when the driver was built from one). Work in
     * progress continues where it is.
     *
     * @throws IllegalArgumentException for a VP the driver's group does not have
     */
    void retargetVp(int vp);

    /** True with no target VP, else whether the target VP is ready ({@link VpState#RUNNING}). */
    boolean isTargetVpReady();

    /**
     * The target VP's state (since 1.1); {@link VpState#RUNNING} with no target VP, as {@link #isTargetVpReady()}
     * answers.
     */
    default VpState targetVpState() {
        return isTargetVpReady() ? VpState.RUNNING : VpState.STOPPED;
    }

    /**
     * Completes on the driver's thread once {@code delay} has passed (since 1.1), through an
     * {@code IORING_OP_TIMEOUT} on the driver's ring: no thread of its own, no timer thread. Cancelling the future
     * cancels the timeout in the kernel.
     *
     * @throws RingUnavailableException if io_uring is unavailable on this host
     * @throws IllegalArgumentException if {@code delay} is negative
     */
    default CompletableFuture<Void> sleep(java.time.Duration delay) {
        throw new UnsupportedOperationException("this task driver has no timers");
    }

    /**
     * Completes on the driver's thread with the events ({@code POLLIN} ...) that became ready on {@code fd}
     * (since 1.1), through a one-shot {@code IORING_OP_POLL_ADD} on the driver's ring. Cancelling the future
     * cancels the poll in the kernel. The caller keeps {@code fd} open until the future is done.
     *
     * @throws RingUnavailableException if io_uring is unavailable on this host
     */
    default CompletableFuture<Integer> poll(int fd, int events) {
        throw new UnsupportedOperationException("this task driver cannot poll");
    }

    /** Completes once the target VP (as of the call) is ready; at once if it is already or there is none. */
    CompletionStage<Void> waitTargetVpReady();

    /**
     * Releases what the driver alone owns: a dedicated thread (its queued tasks run first) and its ring. Drivers
     * that share an executor close nothing. Idempotent.
     */
    @Override
    void close();
}
