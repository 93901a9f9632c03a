package io.bundlevisor.core.internal.task;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingUnavailableException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A named platform thread that runs tasks and completes its ring's IO, one at a time. While idle it blocks in
 * io_uring_enter, so an IO completion and a new task wake it alike (a task wakes it with {@link Ring#wakeup()}).
 * Without io_uring it parks instead, and only runs tasks.
 */
final class ExecutorThread {

    private static final Logger LOG = LoggerFactory.getLogger(ExecutorThread.class);
    private static final ThreadLocal<Driver> CURRENT = new ThreadLocal<>();

    private final Thread thread;
    private final Ring ring;
    private final String ringUnavailable;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean sleeping = new AtomicBoolean();
    private volatile boolean stopping;
    private volatile Driver owner;

    /**
     * @param ring            the thread's ring, or {@code null} when io_uring is unavailable
     * @param ringUnavailable why there is no ring, when there is none
     */
    ExecutorThread(String name, Ring ring, String ringUnavailable) {
        this.ring = ring;
        this.ringUnavailable = ringUnavailable;
        this.thread = Thread.ofPlatform().name(name).daemon(true).unstarted(this::loop);
    }

    /** Starts the thread; {@code owner} is what {@code current()} answers on it. */
    void start(Driver owner) {
        this.owner = owner;
        thread.start();
    }

    /** The driver owning the calling thread, if it is an executor thread. */
    static Driver current() {
        return CURRENT.get();
    }

    Thread thread() {
        return thread;
    }

    Ring ring() {
        if (ring == null) {
            throw new RingUnavailableException(ringUnavailable);
        }
        return ring;
    }

    void execute(Runnable task) {
        if (stopping) {
            throw new RejectedExecutionException("executor thread " + thread.getName() + " is shut down");
        }
        tasks.add(task);
        if (sleeping.compareAndSet(true, false)) {
            if (ring != null) {
                ring.wakeup();
            } else {
                LockSupport.unpark(thread);
            }
        }
    }

    /** Stops taking tasks, runs those queued, closes the ring (after its IO completes) and joins the thread. */
    void shutdown() {
        stopping = true;
        if (ring != null) {
            ring.wakeup();
        }
        LockSupport.unpark(thread);
        if (Thread.currentThread() == thread) {
            return; // the loop ends once this task returns
        }
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void loop() {
        CURRENT.set(owner);
        try {
            while (true) {
                int work = runTasks();
                if (ring != null) {
                    work += ring.processCompletions();
                }
                if (stopping && tasks.isEmpty()) {
                    break;
                }
                if (work == 0) {
                    idle();
                }
            }
        } catch (Throwable t) {
            LOG.error("executor thread {} died", thread.getName(), t);
        } finally {
            if (ring != null) {
                ring.close();
            }
            CURRENT.remove();
        }
    }

    private void idle() {
        sleeping.set(true);
        // Re-check after announcing sleep: a task added before the flag was seen would otherwise wait.
        if (tasks.isEmpty() && !stopping) {
            if (ring != null) {
                ring.submitAndWait(1);
            } else {
                LockSupport.park(this);
            }
        }
        sleeping.set(false);
    }

    private int runTasks() {
        int ran = 0;
        Runnable task;
        while ((task = tasks.poll()) != null) {
            ran++;
            try {
                task.run();
            } catch (Throwable t) {
                LOG.error("task on {} failed", thread.getName(), t);
            }
        }
        return ran;
    }
}
