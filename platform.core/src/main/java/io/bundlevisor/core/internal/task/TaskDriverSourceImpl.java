package io.bundlevisor.core.internal.task;

import java.util.OptionalInt;

import io.bundlevisor.core.task.TaskDriver;
import io.bundlevisor.core.task.TaskDriverBuilder;
import io.bundlevisor.core.task.TaskDriverSource;

/** The task-driver source over one backend; the DS component publishes it. */
final class TaskDriverSourceImpl implements TaskDriverSource {

    private final VpReadiness readiness = new VpReadiness();
    private final Backend backend;

    /**
     * @param backend {@code single} or {@code thread}
     * @param rings   makes each executor thread's ring; with no ring service, executors run without io_uring
     * @throws IllegalArgumentException for an unknown backend
     */
    TaskDriverSourceImpl(String backend, RingFactory rings) {
        this.backend = switch (backend) {
            case SingleDriverBackend.NAME -> new SingleDriverBackend(rings, readiness);
            case ThreadDriverBackend.NAME -> new ThreadDriverBackend(rings, readiness);
            default -> throw new IllegalArgumentException(
                    "task backend '" + backend + "' is not one of: single, thread");
        };
    }

    @Override
    public TaskDriver simple() {
        return backend.defaultDriver();
    }

    @Override
    public TaskDriver current() {
        Driver driver = ExecutorThread.current();
        // The calling thread may belong to another source (one replaced by a reconfiguration).
        return driver != null && driver.belongsTo(readiness) ? driver : backend.defaultDriver();
    }

    @Override
    public TaskDriverBuilder builder() {
        return new TaskDriverBuilder() {
            private OptionalInt targetVp = OptionalInt.empty();
            private boolean runOnTarget;

            @Override
            public TaskDriverBuilder targetVp(int vp) {
                VpReadiness.checkVp(vp);
                targetVp = OptionalInt.of(vp);
                return this;
            }

            @Override
            public TaskDriverBuilder runOnTarget(boolean run) {
                runOnTarget = run;
                return this;
            }

            @Override
            public TaskDriver build(String name) {
                if (name == null || name.isBlank()) {
                    throw new IllegalArgumentException("a task driver needs a non-blank name");
                }
                return backend.build(name, targetVp, runOnTarget);
            }
        };
    }

    @Override
    public void setVpReady(int vp, boolean ready) {
        readiness.set(vp, ready);
    }

    @Override
    public String backend() {
        return backend.name();
    }

    void shutdown() {
        backend.shutdown();
    }
}
