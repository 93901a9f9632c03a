package io.bundlevisor.core.internal.task;

import java.util.BitSet;
import java.util.Optional;

import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingService;

/**
 * Makes the ring of each executor thread, or says why there is none, and places threads on CPUs through the same
 * service. With no ring service at all, or io_uring unavailable, executors still run tasks; only IO is refused.
 */
record RingFactory(RingService service, int entries) {

    /** The ring for a new executor thread, or {@code null} (then {@link #whyNone()} says why). */
    Ring create(String threadName) {
        if (service == null || !service.isAvailable()) {
            return null;
        }
        return service.create("task:" + threadName, entries);
    }

    String whyNone() {
        if (service == null) {
            return "no io_uring ring service is registered (is the platform.uring bundle active?)";
        }
        return service.unavailabilityCause().orElse("io_uring is unavailable");
    }

    /** Pins the calling thread to {@code cpus} through the ring service; false without one, or where it cannot. */
    boolean pinCurrentThread(BitSet cpus) {
        return service != null && service.pinCurrentThread(cpus);
    }

    /** The calling thread's CPUs, where the ring service can tell. */
    Optional<BitSet> currentThreadCpus() {
        return service == null ? Optional.empty() : service.currentThreadCpus();
    }

    ExecutorThread newExecutor(String threadName) {
        return new ExecutorThread(threadName, create(threadName), whyNone());
    }
}
