package io.bundlevisor.core.partition;

import java.util.OptionalLong;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Where a declared device lives in a machine: a 4 KiB MMIO window and a level-triggered interrupt, announced to the
 * guest in the DSDT as a virtio-mmio device ({@code LNRO0005}) in declaration order. The hypervisor gives one to the
 * transport of each {@link DeviceSpec} of a {@link MachineConfig}.
 */
@ProviderType
public interface DeviceSlot {

    /** The machine's name. */
    String machineName();

    /** The machine's VP count (devices size per-VP queues by it). */
    int vpCount();

    /**
     * The CPUs VP {@code vp}'s thread is pinned to ({@link MachineConfig#vpAffinity()}), empty when it is not
     * pinned (since 1.6): a device's worker that serves that VP's queue runs next to it.
     */
    default java.util.Optional<java.util.BitSet> vpCpus(int vp) {
        return java.util.Optional.empty();
    }

    /** Position among the machine's devices, from 0. */
    int index();

    /** What was declared. */
    DeviceSpec spec();

    /** Guest-physical base of the window. */
    long mmioBase();

    /** Size of the window in bytes. */
    long mmioSize();

    /** The machine's RAM. */
    GuestRam ram();

    /** The window's interrupt line. */
    InterruptLine interrupt();

    /**
     * Routes the window's MMIO accesses to {@code handler} until closed.
     *
     * @throws IllegalStateException if the window is already claimed
     */
    AutoCloseable claim(IoHandler handler);

    /**
     * A notifier signalled, without a VM exit to the VMM, by each guest write of {@code length} bytes at
     * {@code offset} in the window ({@code ioeventfd}), only when the value written equals {@code value} if given.
     *
     * @throws PartitionException if the hypervisor refuses it
     */
    Notifier notifyOnWrite(long offset, int length, OptionalLong value) throws PartitionException;
}
