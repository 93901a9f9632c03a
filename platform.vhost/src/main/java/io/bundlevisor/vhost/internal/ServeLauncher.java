package io.bundlevisor.vhost.internal;

import java.util.Arrays;
import java.util.List;

import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.virtio.VirtioService;

/**
 * {@code bundlevisor serve}: when the framework property {@value #PROPERTY} holds arguments (separated by U+001F),
 * serves that device on that socket until the process is killed. Prints one line when it listens; bad arguments or
 * a device that cannot be served print one line and end the process with status 64.
 */
@Component(immediate = true)
public final class ServeLauncher {

    public static final String PROPERTY = "bundlevisor.serve";
    static final int USAGE_ERROR = 64;

    @Activate
    public ServeLauncher(BundleContext context, @Reference VhostServers servers, @Reference VirtioService virtio) {
        String property = context.getProperty(PROPERTY);
        if (property == null) {
            return;
        }
        List<String> args = property.isEmpty() ? List.of() : Arrays.asList(property.split("\u001f", -1));
        // Off the activation thread: device bundles may still be starting (they come at a later start level).
        Thread.ofPlatform().name("bundlevisor-serve").start(() -> {
            try {
                ServeArguments parsed = ServeArguments.parse(args);
                awaitType(virtio, parsed.device().type());
                System.err.println("bundlevisor: " + servers.serve(parsed.socket(), parsed.device()));
            } catch (IllegalArgumentException | PartitionException e) {
                System.err.println("bundlevisor: " + e.getMessage());
                System.err.flush();
                System.exit(USAGE_ERROR);
            }
        });
    }

    /** Device bundles start after the platform; waits (bounded) for the type to be provided. */
    private static void awaitType(VirtioService virtio, String type) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!virtio.deviceTypes().contains(type) && System.nanoTime() - deadline < 0) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
