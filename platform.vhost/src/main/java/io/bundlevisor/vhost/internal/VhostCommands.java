package io.bundlevisor.vhost.internal;

import java.nio.file.Path;
import java.util.List;

import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.PartitionException;

/** Gogo {@code vhost:serve}, {@code vhost:stop} and {@code vhost:list}: vhost-user back-ends of a running platform. */
@Component(service = VhostCommands.class, property = {
    "osgi.command.scope=vhost",
    "osgi.command.function=serve",
    "osgi.command.function=stop",
    "osgi.command.function=list"
})
public final class VhostCommands {

    private final VhostServers servers;

    @Activate
    public VhostCommands(@Reference VhostServers servers) {
        this.servers = servers;
    }

    @Descriptor("serves a device to a vhost-user front-end (QEMU) on a Unix socket: vhost:serve PATH TYPE[,OPTIONS]")
    public String serve(@Descriptor("socket path") String socket,
            @Descriptor("device, e.g. virtio-blk,/path/disk.img,serial=d1") String device) {
        try {
            return servers.serve(Path.of(socket), DeviceSpec.parse(device));
        } catch (PartitionException | IllegalArgumentException e) {
            return "vhost: " + e.getMessage();
        }
    }

    @Descriptor("stops the back-end on a socket (its front-end is dropped once the device's IO has finished)")
    public String stop(@Descriptor("socket path") String socket) {
        return servers.stop(Path.of(socket)) ? "stopped " + socket : "vhost: nothing is served on " + socket;
    }

    @Descriptor("lists the vhost-user back-ends: socket, device type, connected or waiting, front-ends so far")
    public List<String> list() {
        return servers.list();
    }
}
