package io.bundlevisor.device.net.internal;

import java.util.ArrayList;
import java.util.List;

import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** The {@code net:} shell commands: {@code net:list}. They return text for Gogo to print. */
@Component(service = NetCommands.class, property = {
    "osgi.command.scope=net",
    "osgi.command.function=list"
})
public final class NetCommands {

    private final NetDeviceFactory factory;

    @Activate
    public NetCommands(@Reference NetDeviceFactory factory) {
        this.factory = factory;
    }

    @Descriptor("lists the virtio-net devices: tap, MAC, link, MTU, pairs, and per queue packets, bytes, drops, "
            + "errors and receive buffers waiting")
    public String list() {
        List<String> lines = new ArrayList<>();
        for (NetDevice d : factory.devices()) {
            NetConfig c = d.config();
            lines.add(String.format("%s tap=%s mac=%s link=%s mtu=%d pairs=%d/%d rx-modes=0x%x", d.name(),
                    d.tap().name(), NetOptions.format(c.mac()), c.linkUp() ? "up" : "down", c.mtu(), d.pairsInUse(),
                    c.pairs(), d.rxModes()));
            lines.add(String.format("  %-6s %10s %10s %8s %8s %8s", "QUEUE", "PACKETS", "BYTES", "DROPS", "ERRORS",
                    "PENDING"));
            NetCounters counters = d.counters();
            for (int q = 0; q < counters.queues(); q++) {
                NetCounters.Queue s = counters.queue(q);
                lines.add(String.format("  %-6s %10d %10d %8d %8d %8d", queueName(q, c), s.packets(), s.bytes(),
                        s.drops(), s.errors(), s.pending()));
            }
        }
        if (lines.isEmpty()) {
            lines.add("no virtio-net devices");
        }
        return String.join(System.lineSeparator(), lines);
    }

    static String queueName(int q, NetConfig c) {
        if (q == c.controlQueue()) {
            return "ctrl";
        }
        return ((q & 1) == 0 ? "rx" : "tx") + (q >> 1);
    }
}
