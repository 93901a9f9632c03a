package io.bundlevisor.core.internal.virtio;

import java.util.ArrayList;
import java.util.List;

import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.virtio.VirtioBackend;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.core.virtio.VirtioService;

/** Gogo {@code virtio:types} and {@code virtio:devices}: what device types are installed, and each VM's devices. */
@Component(service = VirtioCommands.class, property = {
    "osgi.command.scope=virtio",
    "osgi.command.function=types",
    "osgi.command.function=devices"
})
public final class VirtioCommands {

    private final VirtioService virtio;

    @Activate
    public VirtioCommands(@Reference VirtioService virtio) {
        this.virtio = virtio;
    }

    @Descriptor("lists the device types the installed device bundles provide")
    public List<String> types() {
        return new ArrayList<>(virtio.deviceTypes());
    }

    @Descriptor("lists every VM's virtio devices (bound, unbound or handing over between two bundles, status, "
            + "chains completed in all and per queue, in flight, resets needed, guest errors, and what the device counts on "
            + "each queue) "
            + "and the devices served to other VMMs (running queues, chains completed, in flight)")
    public List<String> devices() {
        List<String> lines = new ArrayList<>();
        for (VirtioBinding b : virtio.bindings()) {
            lines.add(String.format("%s %s status=0x%02x completed=%d%s inflight=%d needs-reset=%d guest-errors=%d",
                    b.name(), bound(b.isBound(), b.handoverMillis()), b.status(), b.completedChains(),
                    perQueue(b.completedChainsPerQueue()), b.inFlight(), b.needsResetCount(), b.guestErrors()));
            counters(lines, b.queueCounters());
        }
        for (VirtioBackend b : virtio.backends()) {
            StringBuilder queues = new StringBuilder();
            for (int q = 0; q < b.queueCount(); q++) {
                if (b.isRunning(q)) {
                    queues.append(queues.isEmpty() ? "" : ",").append(q);
                }
            }
            long handover = b.handoverMillis();
            lines.add(String.format("%s backend%s queues=[%s] completed=%d%s inflight=%d", b.name(),
                    handover < 0 ? "" : " handing-over=" + handover + "ms", queues, b.completedChains(),
                    perQueue(b.completedChainsPerQueue()), b.inFlight()));
            counters(lines, b.queueCounters());
        }
        return lines;
    }

    /** "bound", "unbound", or "handing-over=Nms" for a device between two bundles. */
    static String bound(boolean bound, long handoverMillis) {
        return bound ? "bound" : handoverMillis >= 0 ? "handing-over=" + handoverMillis + "ms" : "unbound";
    }

    /** One indented line for each queue whose device counts something of its own. */
    private static void counters(List<String> lines, List<String> perQueue) {
        for (String c : perQueue) {
            if (!c.isEmpty()) {
                lines.add("  " + c);
            }
        }
    }

    /** " (q0=N q1=M)" for a device with more than one queue, else nothing. */
    private static String perQueue(long[] counts) {
        if (counts.length < 2) {
            return "";
        }
        StringBuilder b = new StringBuilder(" (");
        for (int q = 0; q < counts.length; q++) {
            b.append(q == 0 ? "" : " ").append('q').append(q).append('=').append(counts[q]);
        }
        return b.append(')').toString();
    }
}
