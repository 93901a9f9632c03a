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
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.partition.DeviceSlot;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.virtio.BackendEvents;
import io.bundlevisor.core.virtio.VirtioBackend;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.core.virtio.VirtioService;

/**
 * The shared io_uring virtio worker service. Device factories arrive and leave as whiteboard services keyed by
 * {@value VirtioDeviceFactory#DEVICE_TYPE}; this class names no device. Outside OSGi, construct it and call
 * {@link #addFactory}/{@link #removeFactory} yourself.
 */
@Component(service = VirtioService.class, immediate = true)
public final class VirtioServiceImpl implements VirtioService {

    private static final Logger LOG = LoggerFactory.getLogger(VirtioServiceImpl.class);

    private final RingService rings;
    /** Factories by type, in arrival order: the first one serves. Guarded by this. */
    private final Map<String, List<VirtioDeviceFactory>> factories = new LinkedHashMap<>();
    private final List<Binding> bindings = new CopyOnWriteArrayList<>();
    private final List<BackendBinding> backends = new CopyOnWriteArrayList<>();

    @Activate
    public VirtioServiceImpl(@Reference RingService rings) {
        this.rings = rings;
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
        for (Binding b : bindings) {
            if (b.type().equals(type) && !b.isBound()) {
                b.bind(current(type));
            }
        }
    }

    /** Takes the factory away: its devices drain, close and need a reset; another factory of the type takes over. */
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
        VirtioDeviceFactory next = current(type);
        for (BackendBinding b : backends) {
            if (b.factory() == factory) {
                b.unbind();
            }
        }
        for (Binding b : bindings) {
            if (b.factory() == factory) {
                b.unbind(factory);
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
        Binding b = new Binding(slot, rings, factory, bindings::remove);
        bindings.add(b);
        return b;
    }

    @Override
    public VirtioBackend serve(String name, DeviceSpec spec, int vpCount, GuestRam ram, BackendEvents events)
            throws PartitionException {
        String type = spec.type();
        VirtioDeviceFactory factory = current(type);
        if (factory == null) {
            throw new PartitionException("no installed bundle provides device type '" + type + "' (available: "
                    + (deviceTypes().isEmpty() ? "none" : String.join(", ", deviceTypes())) + ")");
        }
        BackendBinding b = new BackendBinding(name, spec, vpCount, ram, events, rings, factory, backends::remove);
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
