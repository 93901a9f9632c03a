package io.bundlevisor.core.task;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Hands out {@link TaskDriver}s. Which backend places drivers on threads is configuration (PID
 * {@value #PID}, property {@value #BACKEND}: {@code single} puts everything on one executor thread; {@code thread}
 * gives every driver that names a target VP its own named platform thread with its own ring).
 */
@ProviderType
public interface TaskDriverSource {

    /** Configuration PID of the task-driver source. */
    String PID = "io.bundlevisor.task";
    /** Configuration property naming the backend: {@code single} or {@code thread}. */
    String BACKEND = "backend";

    /** The default driver: no name of its own, no target VP. */
    TaskDriver simple();

    /**
     * The driver of the calling thread when it is one of this source's executor threads, else {@link #simple()}.
     */
    TaskDriver current();

    /** Starts describing a named driver. */
    TaskDriverBuilder builder();

    /**
     * Records whether a VP is ready to run work (the partition calls this as its VPs start and stop). Drivers
     * targeted at a VP that is not ready stay usable; their {@link TaskDriver#waitTargetVpReady()} completes once
     * it is.
     */
    void setVpReady(int vp, boolean ready);

    /** The backend in force: {@code single} or {@code thread}. */
    String backend();
}
