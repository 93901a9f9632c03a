package io.bundlevisor.api.internal;

import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.AttributeNotFoundException;
import javax.management.DynamicMBean;
import javax.management.JMException;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanInfo;
import javax.management.MBeanServer;
import javax.management.ObjectName;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.manage.VmManager;

/**
 * The platform's counters ({@link Metrics}) as JMX MBeans, for jconsole and JMX exporters: one MBean per subject,
 * {@code io.bundlevisor:kind=vm,vm=web}, {@code io.bundlevisor:kind=device,vm=web,device=web/virtio-blk0,...},
 * {@code kind=queue} (per queue), {@code kind=ring,ring=NAME}, each attribute one family ({@code vcpus},
 * {@code chains_completed}, ...), read live. Subjects are registered and unregistered as VMs, devices and rings come
 * and go ({@value #REFRESH_MILLIS} ms).
 */
@Component(immediate = true, service = {})
public final class MetricsMBeans {

    static final String DOMAIN = "io.bundlevisor";
    static final long REFRESH_MILLIS = 2000;
    private static final Logger LOG = LoggerFactory.getLogger(MetricsMBeans.class);

    private final Metrics metrics;
    private final MBeanServer server = ManagementFactory.getPlatformMBeanServer();
    private final Map<ObjectName, Subject> registered = new ConcurrentHashMap<>();
    private final Thread refresher;

    @Activate
    public MetricsMBeans(@Reference VmManager vms, @Reference RingService rings) {
        this.metrics = new Metrics(vms, rings);
        refresh();
        refresher = Thread.ofPlatform().daemon().name("metrics-mbeans").start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    Thread.sleep(REFRESH_MILLIS);
                } catch (InterruptedException e) {
                    return;
                }
                refresh();
            }
        });
    }

    /** Registers the subjects that appeared, unregisters those that went. */
    synchronized void refresh() {
        Map<ObjectName, Map<String, Long>> now = read();
        for (ObjectName name : now.keySet()) {
            if (!registered.containsKey(name)) {
                Subject s = new Subject(name, now.get(name).keySet().toArray(String[]::new));
                try {
                    server.registerMBean(s, name);
                    registered.put(name, s);
                } catch (JMException e) {
                    LOG.debug("MBean {}: {}", name, e.toString());
                }
            }
        }
        for (ObjectName name : registered.keySet()) {
            if (!now.containsKey(name)) {
                unregister(name);
            }
        }
    }

    /** Every subject's attributes now. */
    Map<ObjectName, Map<String, Long>> read() {
        Map<ObjectName, Map<String, Long>> out = new LinkedHashMap<>();
        for (Metrics.Family f : metrics.read()) {
            String rest = f.name().substring("bundlevisor_".length());
            String kind = rest.startsWith("device_queue_") ? "queue" : rest.substring(0, rest.indexOf('_'));
            String attribute = rest.substring((kind.equals("queue") ? "device_queue_" : kind + "_").length());
            for (Metrics.Sample s : f.samples()) {
                Map<String, String> keys = new LinkedHashMap<>();
                keys.put("kind", kind);
                s.labels().forEach((k, v) -> keys.put(k.equals("type") ? "devicetype" : k, quoteIfNeeded(v)));
                try {
                    ObjectName name = new ObjectName(DOMAIN, new java.util.Hashtable<>(keys));
                    out.computeIfAbsent(name, n -> new LinkedHashMap<>()).put(attribute, s.value());
                } catch (JMException e) {
                    LOG.debug("no MBean name for {}: {}", keys, e.toString());
                }
            }
        }
        return out;
    }

    private static String quoteIfNeeded(String v) {
        return v.matches("[A-Za-z0-9._-]*") ? v : ObjectName.quote(v);
    }

    private void unregister(ObjectName name) {
        registered.remove(name);
        try {
            server.unregisterMBean(name);
        } catch (JMException e) {
            LOG.debug("MBean {}: {}", name, e.toString());
        }
    }

    @Deactivate
    void deactivate() {
        refresher.interrupt();
        for (ObjectName name : Map.copyOf(registered).keySet()) {
            unregister(name);
        }
    }

    /** One subject's counters, read live. */
    private final class Subject implements DynamicMBean {
        private final ObjectName name;
        private final MBeanInfo info;

        Subject(ObjectName name, String[] attributes) {
            this.name = name;
            MBeanAttributeInfo[] infos = new MBeanAttributeInfo[attributes.length];
            for (int i = 0; i < attributes.length; i++) {
                infos[i] = new MBeanAttributeInfo(attributes[i], "long", attributes[i], true, false, false);
            }
            this.info = new MBeanInfo(Subject.class.getName(), "Bundlevisor counters of " + name, infos, null, null,
                    null);
        }

        private Map<String, Long> now() {
            return read().getOrDefault(name, new HashMap<>());
        }

        @Override
        public Object getAttribute(String attribute) throws AttributeNotFoundException {
            Long v = now().get(attribute);
            if (v == null) {
                throw new AttributeNotFoundException(attribute);
            }
            return v;
        }

        @Override
        public void setAttribute(Attribute attribute) throws AttributeNotFoundException {
            throw new AttributeNotFoundException("read-only: " + attribute.getName());
        }

        @Override
        public AttributeList getAttributes(String[] attributes) {
            Map<String, Long> now = now();
            AttributeList list = new AttributeList();
            for (String a : attributes) {
                if (now.containsKey(a)) {
                    list.add(new Attribute(a, now.get(a)));
                }
            }
            return list;
        }

        @Override
        public AttributeList setAttributes(AttributeList attributes) {
            return new AttributeList();
        }

        @Override
        public Object invoke(String action, Object[] params, String[] signature) {
            throw new UnsupportedOperationException(action);
        }

        @Override
        public MBeanInfo getMBeanInfo() {
            return info;
        }
    }
}
