package io.bundlevisor.device.blk.internal;

import java.util.ArrayList;
import java.util.List;

import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** The {@code blk:} shell commands: {@code blk:list}. They return text for Gogo to print. */
@Component(service = BlkCommands.class, property = {
    "osgi.command.scope=blk",
    "osgi.command.function=list"
})
public final class BlkCommands {

    private final BlkDeviceFactory factory;

    @Activate
    public BlkCommands(@Reference BlkDeviceFactory factory) {
        this.factory = factory;
    }

    @Descriptor("lists the virtio-blk disks: device, image, size, access, IO mode and counters")
    public String list() {
        List<String> lines = new ArrayList<>();
        lines.add(String.format("%-20s %-32s %10s %-2s %-6s %9s %10s %10s %7s %7s %6s %6s", "DEVICE", "PATH", "SIZE",
                "RO", "IO", "REQUESTS", "READ", "WRITTEN", "FLUSHES", "DISCARD", "ERRORS", "FLIGHT"));
        for (BlkDevice d : factory.devices()) {
            BlkDisk disk = d.disk();
            BlkCounters.Snapshot c = d.counters();
            lines.add(String.format("%-20s %-32s %10s %-2s %-6s %9d %10s %10s %7d %7d %6d %6d", d.name(), disk.path(),
                    bytes(disk.capacity() << BlkSpec.SECTOR_SHIFT), disk.readOnly() ? "ro" : "rw",
                    disk.directFd() >= 0 ? "direct" : "cached", c.requests(), bytes(c.bytesRead()),
                    bytes(c.bytesWritten()), c.flushes(), c.discards(), c.errors(), c.inFlight()));
        }
        return String.join(System.lineSeparator(), lines);
    }

    /** Bytes in the largest binary unit that keeps them whole-ish: 512, 64K, 100M, 2G. */
    static String bytes(long n) {
        String[] units = {"", "K", "M", "G", "T", "P"};
        int u = 0;
        long v = n;
        while (v >= 10 * 1024 && u < units.length - 1) {
            v >>= 10;
            u++;
        }
        return v + units[u];
    }
}
