package io.bundlevisor.api.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.felix.service.command.Descriptor;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.manage.VmManager;

/**
 * Gogo {@code api:serve}, {@code api:list} and {@code api:stop}: Firecracker's API for a new microVM of a running
 * platform, on a Unix socket (its console in {@code ID.console.log}). Stopping the socket leaves the VM running; the
 * {@code vm:} commands manage it. Immediate: it holds the sockets it serves, so it must outlive each command.
 */
@Component(service = ApiCommands.class, immediate = true, property = {
    "osgi.command.scope=api",
    "osgi.command.function=serve",
    "osgi.command.function=list",
    "osgi.command.function=stop"
})
public final class ApiCommands {

    private final VmManager vms;
    private final String version;
    private final Map<Path, Served> servers = new ConcurrentHashMap<>();

    private record Served(ApiServer server, Microvm vm) {
    }

    private final Metrics metrics;

    @Activate
    public ApiCommands(BundleContext context, @Reference VmManager vms, @Reference RingService rings) {
        this.vms = vms;
        this.metrics = new Metrics(vms, rings);
        org.osgi.framework.Version v = context.getBundle().getVersion();
        this.version = v.getMajor() + "." + v.getMinor() + "." + v.getMicro();
    }

    @Descriptor("serves Firecracker's API for a new microVM on a Unix socket; its console goes to ID.console.log")
    public String serve(@Descriptor("the socket path") String socket, @Descriptor("the microVM's id") String id) {
        if (!id.matches("[A-Za-z0-9._-]{1,64}")) {
            return "api: the id must be 1-64 letters, digits, '.', '_' or '-'";
        }
        Path key = Path.of(socket).toAbsolutePath().normalize();
        if (servers.containsKey(key)) {
            return "api: " + socket + " is served already";
        }
        Microvm vm = new Microvm(id, vms, Console.file(Path.of(id + ".console.log")));
        try {
            servers.put(key, new Served(ApiServer.start(key, new ApiRoutes(vm, version, metrics)), vm));
        } catch (IOException e) {
            return "api: " + e.getMessage();
        }
        return "serving Firecracker's API for " + id + " on " + socket;
    }

    @Descriptor("lists the API sockets: path, microVM id, state")
    public List<String> list() {
        List<String> lines = new ArrayList<>();
        servers.forEach((path, s) -> lines.add(path + " " + s.vm().id() + " " + s.vm().state()));
        return lines;
    }

    @Descriptor("stops serving the API on a socket (the microVM, if started, keeps running)")
    public String stop(@Descriptor("the socket path") String socket) {
        Served s = servers.remove(Path.of(socket).toAbsolutePath().normalize());
        if (s == null) {
            return "api: nothing is served on " + socket;
        }
        s.server().close();
        return "stopped " + socket;
    }

    @Deactivate
    void deactivate() {
        servers.values().forEach(s -> s.server().close());
        servers.clear();
    }
}
