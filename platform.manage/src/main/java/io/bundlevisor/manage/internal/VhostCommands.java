package io.bundlevisor.manage.internal;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.vhost.VhostBackendInfo;
import io.bundlevisor.vhost.VhostService;

/**
 * Gogo {@code vhost:serve}, {@code vhost:change}, {@code vhost:stop} and {@code vhost:list}: vhost-user back-ends of a
 * running platform. Not {@code vhost:update}: an unscoped {@code update} must stay Felix's bundle update.
 */
@Component(service = VhostCommands.class, property = {
    "osgi.command.scope=vhost",
    "osgi.command.function=serve",
    "osgi.command.function=change",
    "osgi.command.function=stop",
    "osgi.command.function=list"
})
public final class VhostCommands {

    private final VhostService vhost;

    @Activate
    public VhostCommands(@Reference VhostService vhost) {
        this.vhost = vhost;
    }

    @Descriptor("serves a device to a vhost-user front-end (QEMU) on a Unix socket: vhost:serve PATH TYPE[,OPTIONS]")
    public String serve(@Descriptor("socket path") String socket,
            @Descriptor("device, e.g. virtio-blk,/path/disk.img,serial=d1") String device) {
        try {
            VhostBackendInfo b = vhost.serve(Path.of(socket), DeviceSpec.parse(device));
            return "serving " + b.type() + " on " + socket + " (vhost-user)";
        } catch (PartitionException | IllegalArgumentException e) {
            return "vhost: " + e.getMessage();
        }
    }

    @Descriptor("changes the device served on a socket under its front-end (a disk's new image: the front-end is told "
            + "its config changed): vhost:change PATH OPTIONS")
    public String change(@Descriptor("socket path") String socket,
            @Descriptor("the device's options, e.g. /path/bigger.img,serial=d1") String options) {
        try {
            vhost.update(Path.of(socket), options);
            return "updated " + socket;
        } catch (PartitionException | IllegalArgumentException e) {
            return "vhost: " + e.getMessage();
        }
    }

    @Descriptor("stops the back-end on a socket (its front-end is dropped once the device's IO has finished)")
    public String stop(@Descriptor("socket path") String socket) {
        return vhost.stop(Path.of(socket)) ? "stopped " + socket : "vhost: nothing is served on " + socket;
    }

    @Descriptor("lists the vhost-user back-ends: socket, device type, connected or waiting, front-ends so far")
    public List<String> list() {
        List<String> lines = new ArrayList<>();
        for (VhostBackendInfo b : vhost.backends()) {
            lines.add(String.format("%s %s %s connections=%d%s", b.socket(), b.type(),
                    b.connected() ? "connected" : "waiting", b.connections(),
                    b.lastEnd().isEmpty() ? "" : " last-end=\"" + b.lastEnd() + "\""));
        }
        return lines;
    }
}
