package io.bundlevisor.core.ring;

import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Creates {@link Ring}s and says whether io_uring works here at all. Registered by the platform even when
 * io_uring is unavailable, so that the platform stays up and can say why.
 */
@ProviderType
public interface RingService {

    /** Whether io_uring can be used on this host. */
    boolean isAvailable();

    /** When unavailable, why, in one sentence; empty when available. */
    Optional<String> unavailabilityCause();

    /**
     * Whether the running kernel supports {@code opcode} (asked with {@code IORING_REGISTER_PROBE}).
     *
     * @throws RingUnavailableException if io_uring is unavailable
     */
    boolean probe(Opcode opcode);

    /**
     * Creates a ring with at least {@code entries} submission entries (rounded up to a power of two, at most
     * 32768), named for diagnostics.
     *
     * @throws RingUnavailableException if io_uring is unavailable
     * @throws IllegalArgumentException for a bad size
     */
    Ring create(String name, int entries);

    /**
     * Creates a ring that also carries raw IOs ({@link Ring#submitRaw}), whose completions all go to
     * {@code rawHandler}, on the completing thread, with the caller's user data.
     *
     * @throws RingUnavailableException if io_uring is unavailable
     */
    Ring create(String name, int entries, CompletionHandler rawHandler);

    /**
     * Confines the calling thread, a device worker, to the system calls such a thread makes (a seccomp filter of
     * the platform's system-call layer; others fail with {@code EPERM} and are logged), unless the operator turned
     * the filter off. A worker calls this as it starts; the filter cannot be lifted, and a thread confined so cannot
     * start threads or processes, create files or open sockets.
     *
     * @return whether the thread is now confined
     */
    boolean confineWorkerThread();

    /**
     * Pins the calling thread to the CPUs set in {@code cpus} (bit {@code n}: CPU {@code n}), as
     * {@code sched_setaffinity} does for one thread (since 1.2). Call it before {@link #confineWorkerThread()}: a
     * confined thread may not change its affinity. This default, for services without thread placement, pins
     * nothing.
     *
     * @return whether the thread is now pinned; false where that is not possible here (no such call on this host,
     *         a confined thread, CPUs outside this process's cpuset), which the implementation logs
     * @throws IllegalArgumentException for a null or empty set, or one naming a CPU the host does not have
     */
    default boolean pinCurrentThread(BitSet cpus) {
        if (cpus == null || cpus.isEmpty()) {
            throw new IllegalArgumentException("a CPU set needs at least one CPU");
        }
        return false;
    }

    /**
     * The CPUs the calling thread may run on (since 1.2); empty where the service cannot tell. The set is the
     * caller's to keep.
     */
    default Optional<BitSet> currentThreadCpus() {
        return Optional.empty();
    }

    /**
     * The CPU the calling thread runs on as it asks, which may change a moment later unless it is pinned to one
     * (since 1.2); empty where the service cannot tell.
     */
    default OptionalInt currentCpu() {
        return OptionalInt.empty();
    }

    /** The open rings this service created, for diagnostics. */
    List<Ring> rings();
}
