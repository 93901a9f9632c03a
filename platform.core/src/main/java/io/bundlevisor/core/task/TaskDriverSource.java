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
     * Records whether a VP of the source's unnamed group is ready to run work: the group of drivers built with
     * {@link #builder()}, for code that runs one machine of its own (tests, tools). A partition reports its VPs
     * through its own {@link #createVpGroup group} instead. Drivers targeted at a VP that is not ready stay usable;
     * their {@link TaskDriver#waitTargetVpReady()} completes once it is.
     */
    void setVpReady(int vp, boolean ready);

    /**
     * A group for the {@code vpCount} VPs of the partition {@code name} (since 1.1): the partition reports their
     * states to it, and drivers built from it target them.
     *
     * @throws IllegalArgumentException if {@code vpCount < 1} or the name is blank
     */
    VpGroup createVpGroup(String name, int vpCount);

    /** The backend in force: {@code single} or {@code thread}. */
    String backend();
}
