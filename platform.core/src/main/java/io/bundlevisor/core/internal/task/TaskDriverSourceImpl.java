package io.bundlevisor.core.internal.task;

import java.util.OptionalInt;

import io.bundlevisor.core.task.TaskDriver;
import io.bundlevisor.core.task.TaskDriverBuilder;
import io.bundlevisor.core.task.TaskDriverSource;
import io.bundlevisor.core.task.VpGroup;

/** The task-driver source over one backend; the DS component publishes it. */
final class TaskDriverSourceImpl implements TaskDriverSource {

    private final Vps unnamed = Vps.unbounded(this);
    private final Backend backend;

    /**
     * @param backend {@code single} or {@code thread}
     * @param rings   makes each executor thread's ring; with no ring service, executors run without io_uring
     * @throws IllegalArgumentException for an unknown backend
     */
    TaskDriverSourceImpl(String backend, RingFactory rings) {
        this.backend = switch (backend) {
            case SingleDriverBackend.NAME -> new SingleDriverBackend(rings, unnamed);
            case ThreadDriverBackend.NAME -> new ThreadDriverBackend(rings, unnamed);
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
        return driver != null && driver.belongsTo(this) ? driver : backend.defaultDriver();
    }

    @Override
    public TaskDriverBuilder builder() {
        return builder(unnamed);
    }

    /** A builder of drivers that target VPs of {@code group}. */
    TaskDriverBuilder builder(Vps group) {
        return new TaskDriverBuilder() {
            private OptionalInt targetVp = OptionalInt.empty();
            private boolean runOnTarget;

            @Override
            public TaskDriverBuilder targetVp(int vp) {
                group.checkVp(vp);
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
                return backend.build(name, group, targetVp, runOnTarget);
            }
        };
    }

    @Override
    public void setVpReady(int vp, boolean ready) {
        unnamed.setReady(vp, ready);
    }

    @Override
    public VpGroup createVpGroup(String name, int vpCount) {
        // A partition reports from its VP threads: waiters run on the default driver, never there.
        return Vps.of(this, name, vpCount, task -> backend.defaultDriver().execute(task));
    }

    @Override
    public String backend() {
        return backend.name();
    }

    void shutdown() {
        backend.shutdown();
    }
}
