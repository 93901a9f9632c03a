package io.bundlevisor.core.partition;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A level-triggered interrupt line of a device, wired to the in-kernel interrupt controller through an irqfd with
 * a resample fd: {@link #assertLine()} raises the line; the hypervisor lowers it when the guest ends the interrupt
 * (EOI) and signals {@link #resample()}, whereupon the device raises it again if its interrupt status is still
 * set. Closing unwires it.
 */
@ProviderType
public interface InterruptLine extends AutoCloseable {

    /** The global system interrupt the line drives (as the DSDT announces it). */
    int gsi();

    /** Raises the line. Never blocks or throws; callable from any thread. */
    void assertLine();

    /**
     * Signalled each time the guest has ended an interrupt of this line and the line was lowered. It belongs to
     * the line: closing it does nothing, and it closes with the line.
     */
    Notifier resample();

    @Override
    void close();
}
