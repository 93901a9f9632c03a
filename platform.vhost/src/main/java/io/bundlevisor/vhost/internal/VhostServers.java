package io.bundlevisor.vhost.internal;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.virtio.VirtioService;

/**
 * The vhost-user back-ends this platform serves, by socket path. Deactivating (the bundle stops) closes them all:
 * each front-end is dropped after its device has finished its IO.
 */
@Component(service = VhostServers.class, immediate = true)
public final class VhostServers {

    private static final Logger LOG = LoggerFactory.getLogger(VhostServers.class);

    private final VirtioService virtio;
    private final Map<Path, VhostServer> servers = new ConcurrentHashMap<>();

    @Activate
    public VhostServers(@Reference VirtioService virtio) {
        this.virtio = virtio;
    }

    /** Starts serving {@code spec} on {@code socket}; refuses in one line. */
    public synchronized String serve(Path socket, DeviceSpec spec) throws PartitionException {
        Path key = socket.toAbsolutePath().normalize();
        if (servers.containsKey(key)) {
            throw new PartitionException("--socket " + socket + " is already served here");
        }
        VhostServer s = new VhostServer("vhost-user " + socket, key, spec, virtio);
        servers.put(key, s);
        LOG.info("serving {} on {} (vhost-user)", spec.type(), socket);
        return "serving " + spec.type() + " on " + socket + " (vhost-user)";
    }

    /** Stops the back-end on {@code socket}; false if none. */
    public boolean stop(Path socket) {
        VhostServer s = servers.remove(socket.toAbsolutePath().normalize());
        if (s == null) {
            return false;
        }
        s.close();
        return true;
    }

    /** One line per back-end. */
    public List<String> list() {
        List<String> lines = new ArrayList<>();
        for (VhostServer s : servers.values()) {
            lines.add(String.format("%s %s %s connections=%d%s", s.path(), s.spec().type(),
                    s.isConnected() ? "connected" : "waiting", s.connections(),
                    s.lastEnd().isEmpty() ? "" : " last-end=\"" + s.lastEnd() + "\""));
        }
        return lines;
    }

    @Deactivate
    void deactivate() {
        for (Path p : List.copyOf(servers.keySet())) {
            stop(p);
        }
    }
}
