package io.bundlevisor.api.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.Partition;
import io.bundlevisor.core.partition.PartitionService;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.manage.VmManager;

/**
 * {@code bundlevisor --api-sock PATH [--id ID] [--config-file FILE]} and {@code --no-api --config-file FILE}, as
 * Firecracker: when the framework property {@value #SOCKET} is set, serves Firecracker's API on that socket for one
 * microVM (its id from {@value #ID}; its console on this process's stdout and stdin); with {@value #CONFIG}, configures
 * the microVM from that file and starts it at once. The process ends when the guest halts, with the halt's exit
 * status. A socket that cannot be served or a configuration file refused is one line and exit 64.
 */
@Component(immediate = true)
public final class ApiLauncher {

    public static final String SOCKET = "bundlevisor.api.socket";
    public static final String ID = "bundlevisor.api.id";
    /** Firecracker's {@code --config-file}: the microVM configured from this file and started at once. */
    public static final String CONFIG = "bundlevisor.api.config";
    static final String DEFAULT_ID = "anonymous-instance";
    private static final int USAGE_ERROR = 64;

    private ApiServer server;

    @Activate
    public ApiLauncher(BundleContext context, @Reference VmManager vms, @Reference PartitionService partitions,
            @Reference RingService rings) {
        String socket = context.getProperty(SOCKET);
        String config = context.getProperty(CONFIG);
        if (socket == null && config == null) {
            return;
        }
        String id = context.getProperty(ID) != null ? context.getProperty(ID) : DEFAULT_ID;
        Microvm vm = new Microvm(id, vms, Console.stdio());
        org.osgi.framework.Version v = context.getBundle().getVersion();
        ApiRoutes routes = new ApiRoutes(vm, v.getMajor() + "." + v.getMinor() + "." + v.getMicro(),
                new Metrics(vms, rings));
        if (socket != null) {
            try {
                server = ApiServer.start(Path.of(socket), routes);
            } catch (IOException e) {
                fail(e.getMessage());
                return;
            }
            // The socket goes with the process, however it ends (a halt below, SIGTERM).
            ApiServer serving = server;
            Runtime.getRuntime().addShutdownHook(new Thread(serving::close, "api-close " + id));
        }
        if (config != null) {
            try {
                ConfigFile.boot(Path.of(config), routes);
            } catch (ApiException e) {
                fail("--config-file " + config + ": " + e.getMessage());
                return;
            }
        }
        ApiServer serving = server;
        // As Firecracker: the process ends with its guest.
        Thread.ofPlatform().daemon().name("api-halt " + id).start(() -> {
            try {
                Partition p = null;
                while (p == null) {
                    Thread.sleep(50); // until InstanceStart or a snapshot load made the VM
                    p = vm.vmName().flatMap(n -> partitions.partitions().stream()
                            .filter(x -> x.name().equals(n)).findFirst()).orElse(null);
                }
                HaltReason reason = p.awaitHalt(Duration.ofDays(36_500));
                if (reason.exitStatus() != 0) {
                    System.err.println("bundlevisor: " + id + " stopped: " + reason.describe());
                }
                System.err.flush();
                if (serving != null) {
                    serving.close();
                }
                System.exit(reason.exitStatus());
            } catch (InterruptedException | java.util.concurrent.TimeoutException e) {
                // the bundle stopped, or a century passed
            }
        });
    }

    private void fail(String message) {
        System.err.println("bundlevisor: " + message);
        System.err.flush();
        if (server != null) {
            server.close();
        }
        System.exit(USAGE_ERROR);
    }

    @Deactivate
    void deactivate() {
        if (server != null) {
            server.close();
        }
    }
}
