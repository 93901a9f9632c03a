package io.bundlevisor.core.ring;

import java.util.BitSet;
import java.util.concurrent.CompletableFuture;

import org.osgi.annotation.versioning.ProviderType;

/**
 * One io_uring instance: a submission queue, a completion queue, and the IOs in between.
 *
 * <p><b>Threads.</b> Any number of threads may submit, flush, take, drop and read counters. One thread at a time
 * completes: it calls {@link #submitAndWait(int)} and {@link #processCompletions()}, and handlers run there,
 * outside the ring's lock.
 *
 * <p><b>An IO's life.</b> {@link #submit} copies the entry into the submission queue, or into an overflow queue
 * (flushed in order) when the submission queue is full, and returns the IO's id. The kernel sees it at the next
 * {@link #flush()} or {@link #submitAndWait(int)}. With a {@link CompletionHandler} the IO is called back and
 * forgotten; without one its result waits to be {@link #take(long) taken} or the IO is {@link #drop(long)
 * dropped}. The {@link IoMemory} pushed with an IO is never released while the kernel may still touch it.
 *
 * <p><b>Raw IOs</b> skip the ring's bookkeeping for hot paths that keep their own (a virtio queue packs its queue
 * and descriptor index into the user data): {@link #submitRaw} takes a caller-chosen 63-bit user data, and every
 * completion goes to the raw handler the ring was created with. The ring does not own a raw IO's memory: the
 * caller keeps it valid until the raw handler has seen the IO's final completion. A {@link #batch()} pushes many
 * entries under one lock, so a queue's burst costs one lock and one tail store.
 *
 * <p><b>Programming errors</b> (taking an IO twice or after dropping it, dropping it twice, a completion for an
 * IO the ring does not know) throw {@link IllegalStateException}; they are never silent.
 */
@ProviderType
public interface Ring extends AutoCloseable {

    /** The name given at creation, shown by the {@code ring:list} shell command. */
    String name();

    /** Entries in the submission queue (a power of two, as the kernel sized it). */
    int submissionQueueSize();

    /** Entries in the completion queue. */
    int completionQueueSize();

    /**
     * Queues an IO and returns its id.
     *
     * @param sqe     the operation; copied, so the caller may reuse it at once
     * @param memory  what the IO references; owned by the ring until final completion
     * @param handler called back on each completion; {@code null} to take the result with {@link #take(long)}
     * @throws IllegalStateException if the ring is closed
     */
    long submit(Sqe sqe, IoMemory memory, CompletionHandler handler);

    /**
     * Queues an IO whose single result completes the returned future on the completing thread (exceptionally
     * with a {@link RingIoException} on failure). Cancelling the future drops the IO: the memory stays owned by
     * the ring until the kernel completes it. Allocates a future; hot paths use {@link #submit}.
     */
    CompletableFuture<Integer> submitAsync(Sqe sqe, IoMemory memory);

    /** Largest user data a raw IO may carry: 63 bits, less one value the ring reserves. */
    long MAX_RAW_USER_DATA = Long.MAX_VALUE - 1;

    /**
     * Queues a raw IO whose completions go to the ring's raw handler with {@code userData}. Thread-safe. A raw
     * {@link Sqe#cancel} names its target by the user data that target was queued with here.
     *
     * @throws IllegalArgumentException if {@code userData} is negative or above {@link #MAX_RAW_USER_DATA}
     * @throws IllegalStateException    if the ring has no raw handler, or is closed
     */
    void submitRaw(Sqe sqe, long userData);

    /**
     * Opens a batch: the caller holds the ring's submission lock until {@link Batch#close()}, so keep the batch
     * short and close it in a finally (try-with-resources). Entries become visible to the kernel at close; they
     * are handed over by the next {@link #flush()} or {@link #submitAndWait(int)}. Allocates nothing.
     *
     * @throws IllegalStateException if the ring is closed
     */
    Batch batch();

    /** Entries pushed under one lock acquisition; valid on the opening thread until closed. */
    @ProviderType
    interface Batch extends AutoCloseable {

        /** As {@link Ring#submit}. */
        long submit(Sqe sqe, IoMemory memory, CompletionHandler handler);

        /** As {@link Ring#submitRaw}. */
        void submitRaw(Sqe sqe, long userData);

        /** Publishes the batch's entries to the submission queue and releases the lock. Idempotent. */
        @Override
        void close();
    }

    /** Hands queued entries to the kernel without waiting; returns how many it accepted. */
    int flush();

    /**
     * Flushes, then blocks until at least {@code minCompletions} completions are ready to process (or
     * {@link #wakeup()} is called). Retries EINTR; a full completion queue (EBUSY) is handled by returning so the
     * caller processes completions.
     */
    void submitAndWait(int minCompletions);

    /** Makes a thread blocked in {@link #submitAndWait(int)} return soon. Callable from any thread. */
    void wakeup();

    /**
     * Reaps every ready completion: runs handlers, records results for {@link #take(long)}, releases the memory
     * of dropped IOs. Returns the number of completion entries processed.
     */
    int processCompletions();

    /** Whether the handler-less IO {@code io} has completed and can be taken. */
    boolean isDone(long io);

    /**
     * Takes the result of a completed handler-less IO, returning ownership of its memory to the caller.
     *
     * @throws RingIoException       if the kernel completed it with an error
     * @throws IllegalStateException if it is not complete yet, was already taken, or was dropped
     */
    int take(long io) throws RingIoException;

    /**
     * Forgets an IO: its result is discarded and its memory released once the kernel completes it (at once if it
     * already has).
     *
     * @throws IllegalStateException if it was already dropped or taken
     */
    void drop(long io);

    /** Asks the kernel to cancel an IO; it still completes (usually with ECANCELED) through the normal path. */
    void cancel(long io);

    /** The ring's counters now. */
    RingCounters counters();

    /**
     * Limits the kernel's io-wq workers for this ring ({@code IORING_REGISTER_IOWQ_MAX_WORKERS}); 0 leaves a
     * limit as it is. Returns the previous limits, {@code [bounded, unbounded]}.
     */
    int[] setIoWorkerLimits(int bounded, int unbounded);

    /** Pins this ring's io-wq workers to {@code cpus} ({@code IORING_REGISTER_IOWQ_AFF}). */
    void setIoWorkerAffinity(BitSet cpus);

    /**
     * Cancels what is in flight, waits (bounded) for the kernel to finish with it, releases dropped memory and
     * unmaps the ring. Memory of IOs that never completed is leaked rather than freed under the kernel.
     */
    @Override
    void close();
}
