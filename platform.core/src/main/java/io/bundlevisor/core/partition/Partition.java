package io.bundlevisor.core.partition;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Consumer;

import org.osgi.annotation.versioning.ProviderType;

/**
 * A VM and its virtual processors (OpenVMM's partition unit). Lifecycle: created stopped; {@link #start()} runs
 * every VP; {@link #stop()} returns once every VP is out of the hypervisor, and a later start resumes exactly
 * there. A guest-caused halt parks all VPs and is reported once (to {@link #awaitHalt} and halt listeners) until
 * {@link #clearHalt()}. {@link #reset()}, {@link #save} and {@link #restore} need a stopped partition.
 */
@ProviderType
public interface Partition extends AutoCloseable {

    String name();

    MachineConfig config();

    int vpCount();

    /** Starts (or resumes) every VP. Cannot fail; a no-op when started. */
    void start();

    /** Stops every VP and returns when none is in the hypervisor. Cannot fail; a no-op when stopped. */
    void stop();

    boolean isStarted();

    /** The pending halt, if the VPs are parked by one. */
    Optional<HaltReason> halt();

    /** Waits for the next reported halt (or returns the pending one). */
    HaltReason awaitHalt(Duration timeout) throws InterruptedException, java.util.concurrent.TimeoutException;

    /** Calls {@code listener} once per reported halt, on a platform thread (never a VP thread). */
    AutoCloseable onHalt(Consumer<HaltReason> listener);

    /** Forgets the pending halt; started VPs run again. */
    void clearHalt();

    /**
     * Stops the VPs if they are running and gives a guard that restarts them on close; nested guards restart on
     * the last close. For short device work that must not race the guest.
     */
    StopGuard temporarilyStopVps();

    /**
     * Back to power-on: RAM zeroed, the boot image loaded again, every VP's state scrubbed, the pending halt
     * forgotten. Needs a stopped partition.
     *
     * @throws IllegalStateException if started
     * @throws PartitionException if the boot image cannot be loaded again
     */
    void reset() throws PartitionException;

    /**
     * Writes the whole machine (RAM, VM and per-VP state, devices) as a versioned stream. Needs a stopped partition.
     *
     * @throws IllegalStateException if started
     */
    void save(OutputStream out) throws IOException;

    /**
     * Replaces this machine's state with a saved one taken from a partition of the same shape (VPs, RAM). Needs
     * a stopped partition; a later start continues the saved guest.
     *
     * @throws IllegalStateException if started
     * @throws PartitionException if the stream is not a save of this shape, with a one-line reason
     */
    void restore(InputStream in) throws IOException, PartitionException;

    /**
     * Writes a snapshot (since 1.4): the machine's VM, VP, console and device state to {@code state}, as
     * {@link #save} does but for RAM, which goes to the file {@code memory} (replaced) byte for byte, its pages of
     * zeros left as holes. Needs a stopped partition.
     *
     * @throws IllegalStateException if started
     * @throws UnsupportedOperationException where the partition cannot snapshot to files
     */
    default void snapshot(OutputStream state, java.nio.file.Path memory) throws IOException {
        throw new UnsupportedOperationException("this partition does not snapshot to files");
    }

    /**
     * Restores a {@link #snapshot} taken from a partition of this shape (since 1.4); the disk images must be the same
     * ones (each device checks its own). Needs a stopped partition; a later start continues the guest.
     *
     * @throws IllegalStateException if started
     * @throws PartitionException if the snapshot is not one of this shape, or is corrupt or truncated, in one line
     */
    default void restoreSnapshot(InputStream state, java.nio.file.Path memory) throws IOException, PartitionException {
        throw new UnsupportedOperationException("this partition does not restore snapshots from files");
    }

    /**
     * Routes guest port accesses {@code [port, port + length)} to {@code handler} until the registration is
     * closed.
     *
     * @throws IllegalArgumentException if the range overlaps a claimed one
     */
    AutoCloseable claimPorts(int port, int length, IoHandler handler);

    /** Routes guest-physical MMIO accesses {@code [address, address + length)} to {@code handler}. */
    AutoCloseable claimMmio(long address, long length, IoHandler handler);

    /** The pseudo terminal a person attaches to, for a {@link Console#pty()} console (since 1.4). */
    default java.util.Optional<java.nio.file.Path> consolePty() {
        return java.util.Optional.empty();
    }

    /**
     * Changes the declared device {@code name} ({@link DeviceInfo#name()}) to {@code options}, running or stopped
     * (since 1.5): its device bundle applies what the driver can follow (a virtio-blk's new image and capacity) and
     * the machine's definition ({@link #config()}) holds the new options from then on, for a snapshot.
     *
     * @throws PartitionException with one line: no such device, or the device refused
     */
    default void updateDevice(String name, String options) throws PartitionException {
        throw new PartitionException(name + " cannot be changed on this partition");
    }

    /** The declared devices, in declaration order (the guest's order), as they are now (since 1.4). */
    default java.util.List<DeviceInfo> devices() {
        return java.util.List.of();
    }

    /**
     * The emulation-failure policy in force: {@link EmulationPolicy#HALT} or {@link EmulationPolicy#INJECT}, with
     * {@code AUTO} resolved for this host (since 1.4).
     */
    default EmulationPolicy emulationPolicy() {
        return config().emulation();
    }

    /** How many instructions the hypervisor could not emulate were handled by the inject policy (since 1.4). */
    default long emulationFailuresHandled() {
        return 0;
    }

    /**
     * Puts VP {@code vp} at {@code registers} for the next {@link #start()} (since 1.6), as a loader does: the rest of
     * its state is the machine's 64-bit boot state ({@link InitialRegisters}), and a VP other than 0 runs from there
     * rather than waiting for INIT/SIPI. Needs a stopped partition.
     *
     * <p><b>Scrub rule</b> (OpenVMM's partition unit): if any VP ran since the partition was created, reset or
     * restored, every VP's state (registers, LAPIC, pending events, MSRs) is first put back to power-on, so nothing
     * of the earlier run leaks into the new start; VP 0 is then no longer at the boot image's entry and the other
     * VPs wait for INIT/SIPI again, unless set here too. RAM is not touched.
     *
     * @throws IllegalStateException if started
     * @throws IllegalArgumentException for a VP the partition does not have
     * @throws PartitionException if the hypervisor refused the state, in one line
     */
    default void setInitialRegisters(int vp, InitialRegisters registers) throws PartitionException {
        throw new UnsupportedOperationException("this partition cannot set initial registers");
    }

    /**
     * The partition's VPs as its task drivers see them (since 1.6): the partition reports each VP's state there
     * ({@link io.bundlevisor.core.task.VpState#RUNNING} while it may run guest code, {@code STOPPED} while the
     * partition is stopped, {@code HALTED} while a halt is pending, {@code GONE} once closed), and drivers built
     * from its {@link io.bundlevisor.core.task.VpGroup#builder()} target its VPs. Empty where the partition has no
     * task-driver source.
     */
    default Optional<io.bundlevisor.core.task.VpGroup> vpGroup() {
        return Optional.empty();
    }

    /** Stops the VPs and frees the VM. */
    @Override
    void close();

    /** Restarts stopped VPs on close. */
    interface StopGuard extends AutoCloseable {
        @Override
        void close();
    }
}
