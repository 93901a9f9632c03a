package io.bundlevisor.kvm.internal.machine;

import java.util.OptionalLong;
import java.util.function.Consumer;

import io.bundlevisor.kvm.internal.KvmVm;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.SyscallException;

/**
 * A queue doorbell: an eventfd KVM signals, in the kernel and without an exit to us, for each guest MMIO write
 * of {@code length} bytes at {@code address} (with value {@code match}, if given): KVM_IOEVENTFD
 * (Documentation/virt/kvm/api.rst, 4.59). Every other access to the address still exits to the MMIO bus.
 * Closing deassigns it with the same arguments, then closes the eventfd.
 */
final class SlotNotifier extends EventNotifier {

    private final KvmVm vm;
    private final long address;
    private final int length;
    private final OptionalLong match;
    private final Consumer<SlotNotifier> onClose;

    private SlotNotifier(String name, EventFd event, KvmVm vm, long address, int length, OptionalLong match,
            Consumer<SlotNotifier> onClose) {
        super(name, event);
        this.vm = vm;
        this.address = address;
        this.length = length;
        this.match = match;
        this.onClose = onClose;
    }

    /**
     * Creates the eventfd and registers it.
     *
     * @param onClose told once, when the notifier is closed
     * @throws SyscallException if KVM refuses (EEXIST: the same address, length and match are taken)
     */
    static SlotNotifier register(String name, KvmVm vm, long address, int length, OptionalLong match,
            Consumer<SlotNotifier> onClose) throws SyscallException {
        EventFd event = EventFd.create();
        try {
            vm.registerIoeventfd(address, length, false, match, event.fd());
        } catch (SyscallException | RuntimeException e) {
            event.close();
            throw e;
        }
        return new SlotNotifier(name, event, vm, address, length, match, onClose);
    }

    @Override
    void unregister() throws SyscallException {
        try {
            vm.unregisterIoeventfd(address, length, false, match, fd());
        } finally {
            onClose.accept(this);
        }
    }

    @Override
    public String toString() {
        return name() + " doorbell 0x" + Long.toHexString(address) + "/" + length
                + (match.isPresent() ? " = " + match.getAsLong() : "");
    }
}
