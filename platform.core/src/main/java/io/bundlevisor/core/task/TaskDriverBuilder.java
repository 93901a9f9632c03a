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
     * Whether the driver's work should run next to its target VP, for latency-sensitive device work. A JVM cannot run
     * Java tasks on a VP's thread while it sits in {@code KVM_RUN}, so "on the target" means beside it: with the
     * {@code thread} backend, a driver with a target VP and this flag has its own thread pinned to the CPUs its
     * target VP's thread is pinned to ({@link VpGroup#cpus}), as its first task; when those CPUs become known later,
     * or the driver is retargeted, the thread moves at its next loop iteration. A driver whose VP is not pinned stays
     * unpinned. The {@code single} backend pins nothing (one thread serves every VP); the flag is still reported by
     * {@link TaskDriver#runOnTarget()}.
     */
    TaskDriverBuilder runOnTarget(boolean runOnTarget);

    /**
     * Builds the driver. With the {@code thread} backend and a target VP, this starts a platform thread named
     * {@code name}, stopped by {@link TaskDriver#close()} or when the backend shuts down.
     */
    TaskDriver build(String name);
}
