package io.bundlevisor.kvm.internal.machine;

import io.bundlevisor.core.partition.InterruptLine;
import io.bundlevisor.core.partition.Notifier;
import io.bundlevisor.kvm.internal.KvmVm;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.SyscallException;

/**
 * A device's level-triggered interrupt line through a resampling irqfd (KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE,
 * Documentation/virt/kvm/api.rst 4.75): writing the trigger eventfd raises the GSI in the in-kernel IOAPIC and
 * keeps it high; at the guest's EOI KVM lowers it and signals the resample eventfd. Raising it is one eventfd
 * write on a preallocated buffer: no allocation, no VM exit, no lock shared with the VPs.
 */
final class SlotInterrupt implements InterruptLine {

    private final int gsi;
    private final EventNotifier trigger;
    private final EventNotifier resample;
    private final Notifier resampleView;

    private SlotInterrupt(int gsi, EventNotifier trigger, EventNotifier resample) {
        this.gsi = gsi;
        this.trigger = trigger;
        this.resample = resample;
        this.resampleView = new Notifier() {
            @Override
            public int fd() {
                return resample.fd();
            }

            @Override
            public long drain() {
                return resample.drain();
            }

            /** The resample fd belongs to the line: it is closed with it, so a re-bound device finds it open. */
            @Override
            public void close() {
            }
        };
    }

    /**
     * Wires GSI {@code gsi} (which must route to an irqchip pin) to a new trigger eventfd with a new resample
     * eventfd.
     *
     * @throws SyscallException if an eventfd cannot be created or KVM refuses the irqfd
     */
    static SlotInterrupt wire(String name, KvmVm vm, int gsi) throws SyscallException {
        EventFd triggerFd = EventFd.create();
        EventFd resampleFd;
        try {
            resampleFd = EventFd.create();
        } catch (SyscallException | RuntimeException e) {
            triggerFd.close();
            throw e;
        }
        try {
            vm.registerIrqfdResample(gsi, triggerFd.fd(), resampleFd.fd());
        } catch (SyscallException | RuntimeException e) {
            triggerFd.close();
            resampleFd.close();
            throw e;
        }
        EventNotifier trigger = new EventNotifier(name + " irq " + gsi, triggerFd) {
            @Override
            void unregister() throws SyscallException {
                // KVM lowers the line as it deassigns the last resampling irqfd of a GSI (virt/kvm/eventfd.c).
                vm.unregisterIrqfd(gsi, fd());
            }
        };
        return new SlotInterrupt(gsi, trigger, new EventNotifier(name + " irq " + gsi + " resample", resampleFd));
    }

    @Override
    public int gsi() {
        return gsi;
    }

    @Override
    public void assertLine() {
        trigger.signal(); // a failure is counted and logged, rate-limited; never thrown at a worker
    }

    @Override
    public Notifier resample() {
        return resampleView;
    }

    /** Assertions whose eventfd write failed (an assertion after close is dropped, not counted). */
    long failures() {
        return trigger.failures();
    }

    boolean isClosed() {
        return trigger.isClosed();
    }

    /** Deassigns the irqfd, then closes the trigger and resample eventfds. Idempotent. */
    @Override
    public void close() {
        trigger.close();
        resample.close();
    }
}
