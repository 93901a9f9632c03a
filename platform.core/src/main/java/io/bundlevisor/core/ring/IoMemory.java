package io.bundlevisor.core.ring;

import java.lang.foreign.Arena;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * The memory an IO references, handed to the ring with the IO.
 *
 * <p>The ring owns it from submission until the kernel's final completion of the IO. If the issuer takes the
 * result ({@link Ring#take(long)}) or is called back ({@link CompletionHandler}), ownership returns to the
 * issuer and the ring never calls {@link #release()}. If the issuer drops the IO ({@link Ring#drop(long)}), the
 * ring calls {@link #release()} exactly once, on its completing thread, after the kernel is done with the
 * memory and never before.
 */
@ConsumerType
@FunctionalInterface
public interface IoMemory {

    /** Memory the IO does not own (or none at all): releasing it does nothing. */
    IoMemory NONE = () -> {};

    /** Frees the memory; called by the ring only for dropped IOs, after their final completion. */
    void release();

    /**
     * Memory from an arena that the ring closes if the IO is dropped. The arena must be closable from the
     * ring's completing thread: a shared arena, not a confined one.
     */
    static IoMemory of(Arena arena) {
        return arena::close;
    }
}
