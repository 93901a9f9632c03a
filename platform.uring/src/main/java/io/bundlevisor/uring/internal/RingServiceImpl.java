package io.bundlevisor.uring.internal;

import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CopyOnWriteArrayList;

import io.bundlevisor.core.ring.CompletionHandler;
import io.bundlevisor.core.ring.Opcode;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.ring.RingUnavailableException;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.CpuAffinity;
import io.bundlevisor.uring.sys.SyscallFilter;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ring service. It is registered whether or not io_uring works, so the platform stays up and can say why;
 * availability is probed once, at activation, and logged once when missing.
 */
@Component(service = RingService.class)
public final class RingServiceImpl implements RingService {

    private static final Logger LOG = LoggerFactory.getLogger(RingServiceImpl.class);

    private final Availability availability;
    private final List<IoRing> rings = new CopyOnWriteArrayList<>();
    private final boolean[] supported = new boolean[Opcode.values().length];

    public RingServiceImpl() {
        this.availability = Availability.probe();
        if (availability.available()) {
            try (IoRing probeRing = open("probe", 2, null)) {
                for (Opcode op : Opcode.values()) {
                    supported[op.ordinal()] = probeRing.probe(op);
                }
            } catch (SyscallException e) {
                // Kernels before 5.6 have no probe; everything else failed already in the availability check.
                LOG.warn("io_uring opcode probe failed: {}", e.getMessage());
            }
        } else {
            LOG.error("io_uring is unavailable, the platform runs without asynchronous IO: {}",
                    availability.cause().orElseThrow());
        }
    }

    @Override
    public boolean isAvailable() {
        return availability.available();
    }

    @Override
    public Optional<String> unavailabilityCause() {
        return availability.cause();
    }

    @Override
    public boolean probe(Opcode opcode) {
        requireAvailable();
        return supported[opcode.ordinal()];
    }

    @Override
    public Ring create(String name, int entries) {
        return create(name, entries, null);
    }

    @Override
    public Ring create(String name, int entries, CompletionHandler rawHandler) {
        requireAvailable();
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a ring needs a non-blank name");
        }
        try {
            IoRing ring = open(name, entries, rawHandler);
            rings.add(ring);
            return ring;
        } catch (SyscallException e) {
            throw new IllegalStateException("cannot create ring " + name + ": " + e.getMessage(), e);
        }
    }

    private IoRing open(String name, int entries, CompletionHandler rawHandler) throws SyscallException {
        return new IoRing(name, IoUring.setup(entries), rawHandler, rings::remove);
    }

    @Override
    public boolean confineWorkerThread() {
        return SyscallFilter.confine(SyscallFilter.Profile.DEVICE_WORKER);
    }

    @Override
    public boolean pinCurrentThread(BitSet cpus) {
        CpuAffinity.check(cpus);
        try {
            CpuAffinity.pinCurrentThread(cpus);
            return true;
        } catch (SyscallException e) {
            LOG.warn("thread {} stays where it was: {}", Thread.currentThread().getName(), e.getMessage());
            return false;
        }
    }

    @Override
    public Optional<BitSet> currentThreadCpus() {
        try {
            return Optional.of(CpuAffinity.currentThreadCpus());
        } catch (SyscallException e) {
            LOG.debug("the CPUs of thread {}: {}", Thread.currentThread().getName(), e.getMessage());
            return Optional.empty();
        }
    }

    @Override
    public OptionalInt currentCpu() {
        try {
            return OptionalInt.of(CpuAffinity.currentCpu());
        } catch (SyscallException e) {
            return OptionalInt.empty();
        }
    }

    @Override
    public List<Ring> rings() {
        return List.copyOf(rings);
    }

    private void requireAvailable() {
        if (!availability.available()) {
            throw new RingUnavailableException(availability.cause().orElseThrow());
        }
    }

    /** Rings their owners did not close go with the service; their IO is cancelled first. */
    @Deactivate
    void deactivate() {
        for (IoRing ring : rings) {
            LOG.warn("closing ring {} that its owner left open", ring.name());
            ring.close();
        }
    }
}
