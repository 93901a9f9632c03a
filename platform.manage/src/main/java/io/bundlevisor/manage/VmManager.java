package io.bundlevisor.manage;

import java.util.List;
import java.util.Optional;

import org.osgi.annotation.versioning.ProviderType;

import io.bundlevisor.core.partition.DeviceInfo;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.PartitionException;

/** The platform's VMs, for people and programs: every answer is a data record, every refusal one line. */
@ProviderType
public interface VmManager {

    /** Every VM, in creation order. */
    List<VmSummary> list();

    /** The VM named {@code name}, if there is one. */
    Optional<VmSummary> get(String name);

    /**
     * Creates the VM and starts it.
     *
     * @throws PartitionException with one line: the name is taken, a device cannot be made, KVM refused
     */
    VmSummary run(MachineConfig config) throws PartitionException;

    /**
     * The VM's devices, in the guest's order.
     *
     * @throws PartitionException if there is no VM of that name
     */
    List<DeviceInfo> devices(String name) throws PartitionException;

    /**
     * Changes the VM's device {@code device} ({@link DeviceInfo#name()}) to {@code options}, in the syntax of
     * {@code run}'s device options, while the VM runs or not (since 1.1): e.g. a disk's new image
     * ({@code path=/new.img,serial=rootfs}).
     *
     * @throws PartitionException if there is no VM or device of that name, or the device refused, in one line
     */
    void updateDevice(String name, String device, String options) throws PartitionException;

    /**
     * Applies a lifecycle action to the VM; its summary after it (or, for {@link VmAction#CLOSE}, before).
     *
     * @throws PartitionException if there is no VM of that name, or the action is refused in its state (a reset of a
     *                            started VM), in one line
     */
    VmSummary apply(String name, VmAction action) throws PartitionException;

    /**
     * Snapshots the VM into two files: {@code state} (its definition, and its VM, VP, console and device state,
     * versioned) and {@code memory} (its RAM, sparse: pages of zeros are holes). A running VM is paused for it and
     * resumed after; a paused one stays paused.
     *
     * @throws PartitionException if there is no VM of that name or a file cannot be written, in one line
     */
    VmSummary snapshot(String name, java.nio.file.Path state, java.nio.file.Path memory) throws PartitionException;

    /**
     * Makes the VM a {@link #snapshot} describes, with {@code console}, restores it, and starts it if {@code start}
     * (else it stays paused). Its disks must be the same images (checked); nothing is left behind when refused.
     *
     * @throws PartitionException if the files are not a snapshot (foreign, corrupt, truncated, another machine's
     *                            memory) or the machine cannot be made again, in one line
     */
    VmSummary restore(java.nio.file.Path state, java.nio.file.Path memory, io.bundlevisor.core.partition.Console console,
            boolean start) throws PartitionException;
}
