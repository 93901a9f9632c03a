package io.bundlevisor.core.internal.virtio;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.partition.DeviceSlot;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.task.TaskDriverSource;
import io.bundlevisor.core.virtio.BackendEvents;
import io.bundlevisor.core.virtio.DeviceResources;
import io.bundlevisor.core.virtio.VirtioBackend;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.core.virtio.VirtioService;

/**
 * The shared io_uring virtio worker service. Device factories arrive and leave as whiteboard services keyed by
 * {@value VirtioDeviceFactory#DEVICE_TYPE}; this class names no device. When a factory leaves, its devices are
 * handed over to the next factory of their type (see the package documentation of {@code io.bundlevisor.core.virtio}).
 * Outside OSGi, construct it and call {@link #addFactory}/{@link #removeFactory} yourself, and {@link #close} it.
 */
@Component(service = VirtioService.class, immediate = true, configurationPid = VirtioServiceImpl.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = VirtioServiceImpl.Config.class)
public final class VirtioServiceImpl implements VirtioService, AutoCloseable {

    /** The Config Admin PID. */
    public static final String PID = "io.bundlevisor.virtio";

    @ObjectClassDefinition(name = "Bundlevisor virtio devices")
    @interface Config {
        @AttributeDefinition(description = "How long a device whose bundle stopped waits for a bundle of its type to "
                + "take it over (an update) before its driver is told DEVICE_NEEDS_RESET, in seconds; 0 turns "
                + "handovers off.")
        double handover_grace_seconds() default HandoverPolicy.DEFAULT_GRACE_MILLIS / 1000.0;
    }

    private static final Logger LOG = LoggerFactory.getLogger(VirtioServiceImpl.class);

    private final RingService rings;
    /** Factories by type, in arrival order: the first one serves. Guarded by this. */
    private final Map<String, List<VirtioDeviceFactory>> factories = new LinkedHashMap<>();
    private final List<Binding> bindings = new CopyOnWriteArrayList<>();
    private final List<BackendBinding> backends = new CopyOnWriteArrayList<>();
    private final HandoverPolicy policy;

    /**
     * Outside OSGi: a grace period of {@value HandoverPolicy#DEFAULT_GRACE_MILLIS} ms, timed by a task-driver source
     * of its own that {@link #close()} stops.
     */
    public VirtioServiceImpl(RingService rings) {
        this.rings = rings;
        this.policy = new HandoverPolicy(rings);
    }

    /** In the framework: grace periods are timed on the default task driver's ring, with no thread of their own. */
    @Activate
    public VirtioServiceImpl(Config config, @Reference RingService rings, @Reference TaskDriverSource drivers) {
        this.rings = rings;
        this.policy = new HandoverPolicy(drivers.simple());
        modified(config);
    }

    @Modified
    void modified(Config config) {
        double seconds = config.handover_grace_seconds();
        if (!(seconds >= 0) || seconds > 86_400) {
            LOG.error("{}: handover.grace.seconds={} is not 0 to 86400; keeping {} ms", PID, seconds,
                    policy.graceMillis());
            return;
        }
        setHandoverGrace(java.time.Duration.ofMillis(Math.round(seconds * 1000)));
    }

    /** How long a device waits between two bundles before its driver is told it needs a reset; zero: no handovers. */
    public void setHandoverGrace(java.time.Duration grace) {
        policy.setGraceMillis(grace.toMillis());
        LOG.debug("handover grace period {} ms", grace.toMillis());
    }

    /** The grace period in effect. */
    public java.time.Duration handoverGrace() {
        return java.time.Duration.ofMillis(policy.graceMillis());
    }

    @Deactivate
    @Override
    public void close() {
        policy.close();
    }

    @Reference(service = VirtioDeviceFactory.class, cardinality = ReferenceCardinality.MULTIPLE,
            policy = ReferencePolicy.DYNAMIC, policyOption = ReferencePolicyOption.GREEDY)
    void bindFactory(VirtioDeviceFactory factory, Map<String, Object> properties) {
        String type = typeOf(properties);
        if (type == null) {
            LOG.error("a virtio device factory without a {} property is ignored", VirtioDeviceFactory.DEVICE_TYPE);
            return;
        }
        addFactory(factory, type);
    }

    void unbindFactory(VirtioDeviceFactory factory, Map<String, Object> properties) {
        String type = typeOf(properties);
        if (type != null) {
            removeFactory(factory, type);
        }
    }

    private static String typeOf(Map<String, Object> properties) {
        Object t = properties.get(VirtioDeviceFactory.DEVICE_TYPE);
        return t instanceof String s && !s.isBlank() ? s : null;
    }

    /** Makes {@code type} available; devices of running machines that lost theirs get a fresh one. */
    public void addFactory(VirtioDeviceFactory factory, String type) {
        synchronized (this) {
            factories.computeIfAbsent(type, t -> new ArrayList<>()).add(factory);
        }
        LOG.info("device type {} available", type);
        for (BackendBinding b : backends) {
            if (b.type().equals(type) && b.waitsForDevice()) {
                b.bind(current(type));
            }
        }
        for (Binding b : bindings) {
            if (b.type().equals(type) && b.waitsForDevice()) {
                b.bind(current(type));
            }
        }
    }

    /**
     * Takes the factory away: its devices are handed over to another factory of the type, now or when one comes
     * within the grace period; otherwise they drain, close and need a reset.
     */
    public void removeFactory(VirtioDeviceFactory factory, String type) {
        synchronized (this) {
            List<VirtioDeviceFactory> list = factories.get(type);
            if (list == null || !list.remove(factory)) {
                return;
            }
            if (list.isEmpty()) {
                factories.remove(type);
            }
        }
        LOG.info("device factory for {} gone", type);
        // The successor is looked up after each unbind, not before: a factory that addFactory registers meanwhile
        // found this binding still bound (not waiting) and left it to us; one registered after our look-up finds it
        // waiting and binds it itself.
        for (BackendBinding b : backends) {
            if (b.factory() == factory) {
                b.unbind(factory);
                VirtioDeviceFactory next = current(type);
                if (next != null) {
                    b.bind(next);
                }
            }
        }
        for (Binding b : bindings) {
            if (b.factory() == factory) {
                b.unbind(factory);
                VirtioDeviceFactory next = current(type);
                if (next != null) {
                    b.bind(next);
                }
            }
        }
    }

    private synchronized VirtioDeviceFactory current(String type) {
        List<VirtioDeviceFactory> list = factories.get(type);
        return list == null || list.isEmpty() ? null : list.get(0);
    }

    @Override
    public synchronized Set<String> deviceTypes() {
        return new TreeSet<>(factories.keySet());
    }

    @Override
    public VirtioBinding attach(DeviceSlot slot) throws PartitionException {
        String type = slot.spec().type();
        VirtioDeviceFactory factory = current(type);
        if (factory == null) {
            throw new PartitionException("no installed bundle provides device type '" + type + "' (available: "
                    + (deviceTypes().isEmpty() ? "none" : String.join(", ", deviceTypes())) + ")");
        }
        Binding b = new Binding(slot, rings, factory, policy, bindings::remove);
        bindings.add(b);
        return b;
    }

    @Override
    public VirtioBackend serve(String name, DeviceSpec spec, int vpCount, GuestRam ram, BackendEvents events)
            throws PartitionException {
        return serve(name, spec, vpCount, ram, events, DeviceResources.NONE);
    }

    @Override
    public VirtioBackend serve(String name, DeviceSpec spec, int vpCount, GuestRam ram, BackendEvents events,
            VirtioBackend predecessor) throws PartitionException {
        if (!(predecessor instanceof BackendBinding b) || !backends.contains(b)) {
            predecessor.close();
            return serve(name, spec, vpCount, ram, events);
        }
        try (ResourceShelf shelf = b.surrender()) {
            return serve(name, spec, vpCount, ram, events, shelf);
        }
    }

    private VirtioBackend serve(String name, DeviceSpec spec, int vpCount, GuestRam ram, BackendEvents events,
            DeviceResources resources) throws PartitionException {
        String type = spec.type();
        VirtioDeviceFactory factory = current(type);
        if (factory == null) {
            throw new PartitionException("no installed bundle provides device type '" + type + "' (available: "
                    + (deviceTypes().isEmpty() ? "none" : String.join(", ", deviceTypes())) + ")");
        }
        BackendBinding b = new BackendBinding(name, spec, vpCount, ram, events, rings, factory, policy, resources,
                backends::remove);
        backends.add(b);
        boolean gone;
        synchronized (this) {
            List<VirtioDeviceFactory> list = factories.get(type);
            gone = list == null || !list.contains(factory);
        }
        if (gone) {
            // The factory left while the device was being made: removeFactory did not see this backend.
            b.unbind();
            throw new PartitionException("the bundle providing device type '" + type + "' went away");
        }
        return b;
    }

    @Override
    public List<VirtioBackend> backends() {
        return List.copyOf(backends);
    }

    @Override
    public List<VirtioBinding> bindings() {
        return List.copyOf(bindings);
    }
}
