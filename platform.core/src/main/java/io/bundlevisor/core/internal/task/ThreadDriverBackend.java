package io.bundlevisor.core.internal.task;

import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A driver that names a target VP gets its own platform thread, named after the driver, with its own ring;
 * drivers without a target share the default thread. A driver that also runs on target has its thread pinned next to
 * its VP ({@link TargetPlacement}).
 */
final class ThreadDriverBackend implements Backend {

    static final String NAME = "thread";
    static final String DEFAULT_THREAD_NAME = "bundlevisor-default";

    private final RingFactory rings;
    private final Vps unnamed;
    private final ExecutorThread defaultExecutor;
    private final Driver defaultDriver;
    private final Set<Driver> dedicated = ConcurrentHashMap.newKeySet();
    private volatile boolean shutDown;

    ThreadDriverBackend(RingFactory rings, Vps unnamed) {
        this.rings = rings;
        this.unnamed = unnamed;
        this.defaultExecutor = rings.newExecutor(DEFAULT_THREAD_NAME);
        this.defaultDriver = new Driver("default", OptionalInt.empty(), false, defaultExecutor, false, unnamed,
                d -> { });
        defaultExecutor.start(defaultDriver);
    }

    @Override
    public Driver defaultDriver() {
        return defaultDriver;
    }

    @Override
    public Driver build(String name, Vps group, OptionalInt targetVp, boolean runOnTarget) {
        if (targetVp.isEmpty()) {
            return new Driver(name, targetVp, runOnTarget, defaultExecutor, false, group, d -> { });
        }
        if (shutDown) {
            throw new IllegalStateException("the thread task backend is shut down");
        }
        ExecutorThread executor = rings.newExecutor(name);
        Driver driver = new Driver(name, targetVp, runOnTarget, executor, true, group, d -> {
            dedicated.remove(d);
            group.unfollow(d);
        }, rings);
        dedicated.add(driver);
        if (runOnTarget) {
            // Its first task: the thread pins itself next to its VP (if that VP's CPUs are known) before any other.
            group.follow(driver);
            driver.requestPlacement();
        }
        executor.start(driver);
        return driver;
    }

    @Override
    public void shutdown() {
        shutDown = true;
        for (Driver driver : dedicated) {
            driver.close();
        }
        defaultExecutor.shutdown();
    }

    @Override
    public String name() {
        return NAME;
    }
}
