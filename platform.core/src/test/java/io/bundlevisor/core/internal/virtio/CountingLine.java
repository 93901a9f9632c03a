package io.bundlevisor.core.internal.virtio;

import io.bundlevisor.core.partition.InterruptLine;
import io.bundlevisor.core.partition.Notifier;

/** An interrupt line for transport tests: GSI 16, counts its assertions, has no resample fd. */
final class CountingLine implements InterruptLine {

    int asserted;

    @Override
    public int gsi() {
        return 16;
    }

    @Override
    public void assertLine() {
        asserted++;
    }

    @Override
    public Notifier resample() {
        throw new UnsupportedOperationException();
    }

    @Override
    public void close() {
    }
}
