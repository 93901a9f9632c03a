package io.bundlevisor.core.partition;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A device's port or MMIO range. Called on VP threads, possibly several at once: implementations synchronise
 * themselves, must not block for long, and must not throw (a guest access is never an error to the VMM).
 * Offsets are relative to the start of the claimed range; sizes are 1, 2, 4 or 8 bytes.
 */
@ConsumerType
public interface IoHandler {

    /** A guest read; the low {@code size} bytes of the result are used. */
    long read(long offset, int size);

    /** A guest write of the low {@code size} bytes of {@code value}. */
    void write(long offset, int size, long value);
}
