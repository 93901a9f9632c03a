package io.bundlevisor.core.internal.task;

import java.util.OptionalInt;

/**
 * Everything on one executor thread with one ring: the smallest footprint, no parallelism. Nothing is pinned, not
 * even for drivers that run on target: one thread cannot sit next to every VP.
 */
final class SingleDriverBackend implements Backend {

    static final String NAME = "single";
    static final String THREAD_NAME = "bundlevisor-tasks";

    private final ExecutorThread executor;
    private final Driver defaultDriver;
    private final Vps unnamed;

    SingleDriverBackend(RingFactory rings, Vps unnamed) {
        this.unnamed = unnamed;
        this.executor = rings.newExecutor(THREAD_NAME);
        this.defaultDriver = new Driver("default", OptionalInt.empty(), false, executor, false, unnamed, d -> { });
        executor.start(defaultDriver);
    }

    @Override
    public Driver defaultDriver() {
        return defaultDriver;
    }

    @Override
    public Driver build(String name, Vps group, OptionalInt targetVp, boolean runOnTarget) {
        return new Driver(name, targetVp, runOnTarget, executor, false, group, d -> { });
    }

    @Override
    public void shutdown() {
        executor.shutdown();
    }

    @Override
    public String name() {
        return NAME;
    }
}
