package io.bundlevisor.kvm.internal.partition;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.Partition;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.partition.PartitionService;
import io.bundlevisor.core.task.TaskDriver;
import io.bundlevisor.core.task.TaskDriverSource;
import io.bundlevisor.core.virtio.VirtioService;
import io.bundlevisor.kvm.internal.CpuidPolicy;
import io.bundlevisor.kvm.internal.Kvm;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes the {@link PartitionService} on KVM. /dev/kvm is opened once at activation; where that fails the
 * service is still registered and says why. Halt listeners run on a task driver, never on a VP thread. A machine's
 * declared devices are attached to the {@link VirtioService} (mandatory: a machine's devices cannot outlive the
 * service that runs their transports, so losing it deactivates this component, closing every partition). Stopping
 * the bundle closes every partition it created.
 */
@Component(service = PartitionService.class, immediate = true)
public final class PartitionServiceComponent implements PartitionService {

    private static final Logger LOG = LoggerFactory.getLogger(PartitionServiceComponent.class);

    private final Kvm kvm;
    private final String cause;
    private final TaskDriver notifier;
    private final TaskDriverSource drivers;
    private final VirtioService virtio;
    private final List<Partition> partitions = new CopyOnWriteArrayList<>();

    @Activate
    public PartitionServiceComponent(@Reference TaskDriverSource drivers, @Reference VirtioService virtio) {
        Kvm opened = null;
        String why = null;
        try {
            opened = Kvm.open();
        } catch (Exception | LinkageError e) {
            why = e.getMessage();
            LOG.warn("KVM unavailable, no VMs can run: {}", why);
        }
        this.kvm = opened;
        this.cause = why;
        this.notifier = drivers.simple();
        this.drivers = drivers;
        this.virtio = virtio;
        if (opened != null) {
            LOG.info("partition service active on KVM: {}", opened.host().describe());
            if (opened.host().software()) {
                LOG.info("guests do not see these CPU features, which this KVM cannot run in guest kernel mode: {}",
                        CpuidPolicy.SOFTWARE_KVM_HIDDEN.stream().map(CpuidPolicy.Hidden::name)
                                .collect(java.util.stream.Collectors.joining(" ")));
            }
        }
    }

    @Deactivate
    void deactivate() {
        for (Partition p : partitions) {
            p.close();
        }
        if (kvm != null) {
            kvm.close();
        }
    }

    @Override
    public boolean isAvailable() {
        return kvm != null;
    }

    @Override
    public Optional<String> unavailabilityCause() {
        return Optional.ofNullable(cause);
    }

    @Override
    public Partition create(MachineConfig config) throws PartitionException {
        if (kvm == null) {
            throw new PartitionException("cannot create " + config.name() + ": " + cause);
        }
        if (partitions.stream().anyMatch(p -> p.name().equals(config.name()))) {
            throw new PartitionException("a VM named " + config.name() + " exists already");
        }
        KvmPartition p = KvmPartition.create(kvm, config, virtio, notifier::execute, partitions::remove,
                drivers.createVpGroup(config.name(), config.cpus()));
        partitions.add(p);
        return p;
    }

    @Override
    public List<Partition> partitions() {
        return List.copyOf(partitions);
    }
}
