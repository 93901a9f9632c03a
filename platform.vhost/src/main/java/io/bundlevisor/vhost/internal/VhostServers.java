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
import io.bundlevisor.vhost.VhostBackendInfo;
import io.bundlevisor.vhost.VhostService;

/**
 * The vhost-user back-ends this platform serves, by socket path. Deactivating (the bundle stops) closes them all:
 * each front-end is dropped after its device has finished its IO.
 */
@Component(service = VhostService.class, immediate = true)
public final class VhostServers implements VhostService {

    private static final Logger LOG = LoggerFactory.getLogger(VhostServers.class);

    private final VirtioService virtio;
    private final Map<Path, VhostServer> servers = new ConcurrentHashMap<>();

    @Activate
    public VhostServers(@Reference VirtioService virtio) {
        this.virtio = virtio;
    }

    @Override
    public synchronized VhostBackendInfo serve(Path socket, DeviceSpec spec) throws PartitionException {
        Path key = socket.toAbsolutePath().normalize();
        if (servers.containsKey(key)) {
            throw new PartitionException("--socket " + socket + " is already served here");
        }
        VhostServer s = new VhostServer("vhost-user " + socket, key, spec, virtio);
        servers.put(key, s);
        LOG.debug("serving {} on {} (vhost-user)", spec.type(), socket);
        return info(s);
    }

    @Override
    public void update(Path socket, String options) throws PartitionException {
        VhostServer s = servers.get(socket.toAbsolutePath().normalize());
        if (s == null) {
            throw new PartitionException("--socket " + socket + " is not served here");
        }
        s.update(options);
    }

    @Override
    public boolean stop(Path socket) {
        VhostServer s = servers.remove(socket.toAbsolutePath().normalize());
        if (s == null) {
            return false;
        }
        s.close();
        return true;
    }

    @Override
    public List<VhostBackendInfo> backends() {
        List<VhostBackendInfo> out = new ArrayList<>();
        for (VhostServer s : servers.values()) {
            out.add(info(s));
        }
        return out;
    }

    private static VhostBackendInfo info(VhostServer s) {
        return new VhostBackendInfo(s.path(), s.spec().type(), s.isConnected(), s.connections(), s.lastEnd());
    }

    @Deactivate
    void deactivate() {
        for (Path p : List.copyOf(servers.keySet())) {
            stop(p);
        }
    }
}
