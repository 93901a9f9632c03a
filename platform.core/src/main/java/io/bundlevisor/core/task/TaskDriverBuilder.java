package io.bundlevisor.core.task;

import org.osgi.annotation.versioning.ProviderType;

/** Describes a driver to build; not thread-safe, use one per build. */
@ProviderType
public interface TaskDriverBuilder {

    /**
     * The VP whose work this driver mostly does (its queue's VP, say); none by default.
     *
     * @throws IllegalArgumentException for a negative VP, or one the builder's {@link VpGroup} does not have
     */
    TaskDriverBuilder targetVp(int vp);

    /**
     * Whether the driver should run on its target VP's own thread when the backend has such threads, rather than
     * merely near it. Neither built-in backend runs work on VP threads, so this is recorded and reported.
     */
    TaskDriverBuilder runOnTarget(boolean runOnTarget);

    /**
     * Builds the driver. With the {@code thread} backend and a target VP, this starts a platform thread named
     * {@code name}, stopped by {@link TaskDriver#close()} or when the backend shuts down.
     */
    TaskDriver build(String name);
}
