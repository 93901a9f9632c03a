package io.bundlevisor.core.partition;

import org.osgi.annotation.versioning.ProviderType;

/**
 * An eventfd the hypervisor signals (a queue notification through ioeventfd, an interrupt's end through a resample
 * fd). Poll {@link #fd()} for {@code POLLIN} in a ring, then {@link #drain()} it. Closing unregisters it.
 */
@ProviderType
public interface Notifier extends AutoCloseable {

    /** The eventfd, non-blocking; for a poll in a ring. */
    int fd();

    /** Reads the counter back to zero; returns how many signals it held (0 when none). Never blocks or throws. */
    long drain();

    @Override
    void close();
}
