package io.bundlevisor.manage.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.partition.DeviceInfo;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.Partition;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.partition.PartitionService;
import io.bundlevisor.manage.VmAction;
import io.bundlevisor.manage.VmManager;
import io.bundlevisor.manage.VmSummary;

/** {@link VmManager} over the partition service's exported API. */
@Component(service = VmManager.class)
public final class VmManagerImpl implements VmManager {

    private final PartitionService partitions;

    @Activate
    public VmManagerImpl(@Reference PartitionService partitions) {
        this.partitions = partitions;
    }

    @Override
    public List<VmSummary> list() {
        List<VmSummary> out = new ArrayList<>();
        for (Partition p : partitions.partitions()) {
            out.add(summary(p));
        }
        return out;
    }

    @Override
    public Optional<VmSummary> get(String name) {
        return find(name).map(VmManagerImpl::summary);
    }

    @Override
    public VmSummary run(MachineConfig config) throws PartitionException {
        if (find(config.name()).isPresent()) {
            throw new PartitionException("a VM named " + config.name() + " exists already");
        }
        Partition vm = partitions.create(config);
        vm.start();
        return summary(vm);
    }

    @Override
    public List<DeviceInfo> devices(String name) throws PartitionException {
        return require(name).devices();
    }

    @Override
    public void updateDevice(String name, String device, String options) throws PartitionException {
        require(name).updateDevice(device, options);
    }

    @Override
    public VmSummary apply(String name, VmAction action) throws PartitionException {
        Partition p = require(name);
        VmSummary before = summary(p);
        try {
            switch (action) {
                case RESUME -> p.start();
                case PAUSE -> p.stop();
                case RESET -> p.reset();
                case CLEAR_HALT -> p.clearHalt();
                case CLOSE -> {
                    p.close();
                    return before;
                }
            }
        } catch (IllegalStateException e) {
            throw new PartitionException(name + ": " + e.getMessage());
        }
        return summary(p);
    }

    @Override
    public VmSummary snapshot(String name, java.nio.file.Path state, java.nio.file.Path memory)
            throws PartitionException {
        Partition p = require(name);
        boolean wasRunning = p.isStarted();
        p.stop();
        try (java.io.OutputStream out = SnapshotFile.create(state,
                io.bundlevisor.manage.cli.RunOptions.arguments(p.config()))) {
            p.snapshot(out, memory);
        } catch (java.io.IOException e) {
            throw new PartitionException(name + ": snapshot not written: " + e.getMessage(), e);
        } catch (UnsupportedOperationException e) {
            throw new PartitionException(name + ": " + e.getMessage());
        } finally {
            if (wasRunning) {
                p.start();
            }
        }
        return summary(p);
    }

    @Override
    public VmSummary restore(java.nio.file.Path state, java.nio.file.Path memory,
            io.bundlevisor.core.partition.Console console, boolean start) throws PartitionException {
        try (SnapshotFile.Opened opened = SnapshotFile.open(state)) {
            MachineConfig config;
            try {
                config = io.bundlevisor.manage.cli.Cli.parseRun(opened.header().arguments(),
                        Runtime.getRuntime().availableProcessors()).config().withConsole(console);
            } catch (IllegalArgumentException e) {
                throw new PartitionException(state + ": its machine cannot be made here: " + e.getMessage());
            }
            if (find(config.name()).isPresent()) {
                throw new PartitionException("a VM named " + config.name() + " exists already");
            }
            Partition p = partitions.create(config);
            try {
                p.restoreSnapshot(opened.state(), memory);
            } catch (PartitionException | java.io.IOException | RuntimeException e) {
                p.close();
                throw e instanceof PartitionException pe ? pe
                        : new PartitionException(config.name() + ": snapshot refused: " + e.getMessage(), e);
            }
            if (start) {
                p.start();
            }
            return summary(p);
        } catch (java.io.IOException e) {
            throw new PartitionException(state + ": " + e.getMessage(), e);
        }
    }

    private Optional<Partition> find(String name) {
        return partitions.partitions().stream().filter(p -> p.name().equals(name)).findFirst();
    }

    private Partition require(String name) throws PartitionException {
        return find(name).orElseThrow(() -> new PartitionException("no VM named " + name));
    }

    static VmSummary summary(Partition p) {
        MachineConfig c = p.config();
        return new VmSummary(p.name(), c.cpus(), c.memoryBytes(), p.isStarted(), p.emulationPolicy(),
                p.emulationFailuresHandled(), p.halt().map(h -> h.describe()).orElse(""), c.devices().size(),
                p.consolePty().map(Object::toString).orElse(""));
    }
}
