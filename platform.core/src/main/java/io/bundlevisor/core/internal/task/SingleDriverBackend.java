package io.bundlevisor.core.internal.task;

import java.util.OptionalInt;

/** Everything on one executor thread with one ring: the smallest footprint, no parallelism. */
final class SingleDriverBackend implements Backend {

    static final String NAME = "single";
    static final String THREAD_NAME = "bundlevisor-tasks";

    private final ExecutorThread executor;
    private final Driver defaultDriver;
    private final VpReadiness readiness;

    SingleDriverBackend(RingFactory rings, VpReadiness readiness) {
        this.readiness = readiness;
        this.executor = rings.newExecutor(THREAD_NAME);
        this.defaultDriver = new Driver("default", OptionalInt.empty(), false, executor, false, readiness, d -> { });
        executor.start(defaultDriver);
    }

    @Override
    public Driver defaultDriver() {
        return defaultDriver;
    }

    @Override
    public Driver build(String name, OptionalInt targetVp, boolean runOnTarget) {
        return new Driver(name, targetVp, runOnTarget, executor, false, readiness, d -> { });
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
