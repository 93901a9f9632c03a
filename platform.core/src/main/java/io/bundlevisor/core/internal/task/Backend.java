package io.bundlevisor.core.internal.task;

import java.util.OptionalInt;

/** Places drivers on executor threads. */
sealed interface Backend permits SingleDriverBackend, ThreadDriverBackend {

    /** The default driver, shared by everything that names no target VP. */
    Driver defaultDriver();

    Driver build(String name, Vps group, OptionalInt targetVp, boolean runOnTarget);

    /** Stops every thread the backend started, after running their queued tasks. */
    void shutdown();

    /** {@code single} or {@code thread}. */
    String name();
}
