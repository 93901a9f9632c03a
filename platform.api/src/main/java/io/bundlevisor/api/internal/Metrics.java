package io.bundlevisor.api.internal;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.bundlevisor.core.partition.DeviceInfo;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingCounters;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.manage.VmManager;
import io.bundlevisor.manage.VmSummary;

/**
 * Every counter the platform keeps, read at one instant through the exported APIs (VMs and their devices from the
 * {@link VmManager}, rings from the {@link RingService}), as metric families: a name, a type, a help line and
 * labelled samples. The hot paths are not touched: each counter is read where it is kept (plain or atomic longs).
 * Rendered as OpenMetrics text ({@link #openMetrics}) and as a JSON line ({@link #jsonLine}).
 */
final class Metrics {

    /** A family of samples. {@code counter} names end in {@code _total} in the samples, as OpenMetrics has it. */
    record Family(String name, String type, String help, List<Sample> samples) {
    }

    /** One value and its labels. */
    record Sample(Map<String, String> labels, long value) {
    }

    private final VmManager vms;
    private final RingService rings;

    Metrics(VmManager vms, RingService rings) {
        this.vms = vms;
        this.rings = rings;
    }

    List<Family> read() {
        Family vcpus = gauge("bundlevisor_vm_vcpus", "virtual CPUs of the VM");
        Family memory = gauge("bundlevisor_vm_memory_bytes", "guest RAM of the VM");
        Family running = gauge("bundlevisor_vm_running", "1 while the VM's VPs run, 0 when paused or halted");
        Family emulation = counter("bundlevisor_vm_emulation_failures", "instructions KVM could not emulate that the "
                + "inject policy handled");
        Family chains = counter("bundlevisor_device_chains_completed", "descriptor chains completed into used rings");
        Family perQueue = counter("bundlevisor_device_queue_chains_completed", "chains completed, per queue");
        Family inFlight = gauge("bundlevisor_device_in_flight", "chains handed to the device and not yet completed");
        Family resets = counter("bundlevisor_device_needs_reset", "times the device was marked DEVICE_NEEDS_RESET");
        Family bound = gauge("bundlevisor_device_bound", "1 while a device bundle serves the device");
        for (VmSummary v : vms.list()) {
            Map<String, String> vm = Map.of("vm", v.name());
            vcpus.samples().add(new Sample(vm, v.cpus()));
            memory.samples().add(new Sample(vm, v.memoryBytes()));
            running.samples().add(new Sample(vm, v.started() && v.halt().isEmpty() ? 1 : 0));
            emulation.samples().add(new Sample(vm, v.emulationFailures()));
            List<DeviceInfo> devices;
            try {
                devices = vms.devices(v.name());
            } catch (PartitionException gone) {
                continue; // closed between the list and now
            }
            for (DeviceInfo d : devices) {
                Map<String, String> dev = labels("vm", v.name(), "device", d.name(), "type", d.type());
                chains.samples().add(new Sample(dev, d.completedChains()));
                inFlight.samples().add(new Sample(dev, d.inFlight()));
                resets.samples().add(new Sample(dev, d.needsResets()));
                bound.samples().add(new Sample(dev, d.binding() == DeviceInfo.Binding.BOUND ? 1 : 0));
                for (int q = 0; q < d.completedPerQueue().size(); q++) {
                    perQueue.samples().add(new Sample(labels("vm", v.name(), "device", d.name(), "type", d.type(),
                            "queue", Integer.toString(q)), d.completedPerQueue().get(q)));
                }
            }
        }
        Family ringCompleted = counter("bundlevisor_ring_completed", "IOs the ring completed");
        Family ringDropped = counter("bundlevisor_ring_dropped", "completions the ring dropped (overflow)");
        Family ringAllocated = gauge("bundlevisor_ring_allocated", "IOs allocated, not yet completed");
        Family ringQueued = gauge("bundlevisor_ring_queued", "submissions waiting beyond the submission queue");
        Family ringWaiting = gauge("bundlevisor_ring_waiting", "IOs in the kernel");
        for (Ring r : rings.rings()) {
            RingCounters c = r.counters();
            Map<String, String> ring = Map.of("ring", r.name());
            ringCompleted.samples().add(new Sample(ring, c.completed()));
            ringDropped.samples().add(new Sample(ring, c.dropped()));
            ringAllocated.samples().add(new Sample(ring, c.allocated()));
            ringQueued.samples().add(new Sample(ring, c.queued()));
            ringWaiting.samples().add(new Sample(ring, c.waiting()));
        }
        return List.of(vcpus, memory, running, emulation, chains, perQueue, inFlight, resets, bound, ringCompleted,
                ringDropped, ringAllocated, ringQueued, ringWaiting);
    }

    /** The OpenMetrics text exposition (openmetrics.io 1.0): families, then {@code # EOF}. */
    String openMetrics() {
        StringBuilder out = new StringBuilder();
        for (Family f : read()) {
            out.append("# TYPE ").append(f.name()).append(' ').append(f.type()).append('\n');
            out.append("# HELP ").append(f.name()).append(' ').append(f.help()).append('\n');
            String sampleName = f.type().equals("counter") ? f.name() + "_total" : f.name();
            for (Sample s : f.samples()) {
                out.append(sampleName);
                if (!s.labels().isEmpty()) {
                    out.append('{');
                    boolean first = true;
                    for (Map.Entry<String, String> l : s.labels().entrySet()) {
                        out.append(first ? "" : ",").append(l.getKey()).append("=\"").append(escape(l.getValue()))
                                .append('"');
                        first = false;
                    }
                    out.append('}');
                }
                out.append(' ').append(s.value()).append('\n');
            }
        }
        return out.append("# EOF\n").toString();
    }

    /** One JSON object on one line: the time, then each family's samples (for {@code PUT /metrics}'s file). */
    String jsonLine(long utcMillis) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("utc_timestamp_ms", utcMillis);
        for (Family f : read()) {
            List<Map<String, Object>> samples = new ArrayList<>();
            for (Sample s : f.samples()) {
                Map<String, Object> one = new LinkedHashMap<>(s.labels());
                one.put("value", s.value());
                samples.add(one);
            }
            line.put(f.name().substring("bundlevisor_".length()), samples);
        }
        return Json.write(line);
    }

    private static Family gauge(String name, String help) {
        return new Family(name, "gauge", help, new ArrayList<>());
    }

    private static Family counter(String name, String help) {
        return new Family(name, "counter", help, new ArrayList<>());
    }

    private static Map<String, String> labels(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    private static String escape(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    /** The content type of {@link #openMetrics}. */
    static final String OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";
}
