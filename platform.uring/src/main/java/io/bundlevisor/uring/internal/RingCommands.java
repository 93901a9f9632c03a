package io.bundlevisor.uring.internal;

import java.util.ArrayList;
import java.util.List;

import io.bundlevisor.core.ring.Opcode;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingCounters;
import io.bundlevisor.core.ring.RingService;

import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** Gogo commands {@code ring:list} and {@code ring:probe}: they return text for the shell to print. */
@Component(service = RingCommands.class, property = {
    "osgi.command.scope=ring",
    "osgi.command.function=list",
    "osgi.command.function=probe"
})
public final class RingCommands {

    private final RingService rings;

    @Activate
    public RingCommands(@Reference RingService rings) {
        this.rings = rings;
    }

    @Descriptor("lists the open io_uring rings with their counters")
    public String list() {
        if (!rings.isAvailable()) {
            return "io_uring unavailable: " + rings.unavailabilityCause().orElseThrow();
        }
        List<String> lines = new ArrayList<>();
        lines.add(String.format("%-32s %6s %6s %10s %8s %8s %12s %8s", "RING", "SQ", "CQ", "ALLOCATED", "QUEUED",
                "WAITING", "COMPLETED", "DROPPED"));
        for (Ring ring : rings.rings()) {
            RingCounters c = ring.counters();
            lines.add(String.format("%-32s %6d %6d %10d %8d %8d %12d %8d", ring.name(), ring.submissionQueueSize(),
                    ring.completionQueueSize(), c.allocated(), c.queued(), c.waiting(), c.completed(), c.dropped()));
        }
        return String.join(System.lineSeparator(), lines);
    }

    @Descriptor("says which io_uring operations the running kernel supports")
    public String probe() {
        if (!rings.isAvailable()) {
            return "io_uring unavailable: " + rings.unavailabilityCause().orElseThrow();
        }
        List<String> lines = new ArrayList<>();
        for (Opcode op : Opcode.values()) {
            lines.add(String.format("%-14s %s", op, rings.probe(op) ? "supported" : "NOT supported"));
        }
        return String.join(System.lineSeparator(), lines);
    }
}
