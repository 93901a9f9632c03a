package io.bundlevisor.core.partition;

import java.util.List;
import java.util.Optional;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Creates partitions. Registered by the hypervisor bundle even where the host cannot run VMs, so that it can
 * say why.
 */
@ProviderType
public interface PartitionService {

    /** Whether VMs can be created on this host. */
    boolean isAvailable();

    /** When unavailable, why, in one sentence. */
    Optional<String> unavailabilityCause();

    /**
     * Builds a stopped partition: memory, VPs, devices and the boot image loaded, ready to {@link Partition#start()}.
     *
     * @throws PartitionException with a one-line reason (bad image, too little memory, no KVM, ...)
     */
    Partition create(MachineConfig config) throws PartitionException;

    /** The partitions created and not yet closed. */
    List<Partition> partitions();
}
