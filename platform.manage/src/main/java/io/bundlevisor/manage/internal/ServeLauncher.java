package io.bundlevisor.manage.internal;

import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.virtio.VirtioService;
import io.bundlevisor.manage.cli.ArgumentList;
import io.bundlevisor.manage.cli.Cli;
import io.bundlevisor.manage.cli.ServeArguments;
import io.bundlevisor.vhost.VhostBackendInfo;
import io.bundlevisor.vhost.VhostService;

/**
 * {@code bundlevisor serve}: when the framework property {@value #PROPERTY} holds arguments (checked by the launcher,
 * joined with {@link ArgumentList}), serves that device on that socket until the process is killed. Prints one line
 * when it listens; a device that cannot be served prints one line and ends the process with status 64.
 */
@Component(immediate = true)
public final class ServeLauncher {

    public static final String PROPERTY = "bundlevisor.serve";
    private static final long TYPE_WAIT_NANOS = 10_000_000_000L;

    @Activate
    public ServeLauncher(BundleContext context, @Reference VhostService vhost, @Reference VirtioService virtio) {
        String property = context.getProperty(PROPERTY);
        if (property == null) {
            return;
        }
        // Off the activation thread: device bundles may still be starting (they come at a later start level).
        Thread.ofPlatform().name("bundlevisor-serve").start(() -> {
            try {
                ServeArguments parsed = Cli.parseServe(ArgumentList.split(property));
                awaitType(virtio, parsed.device().type());
                VhostBackendInfo b = vhost.serve(parsed.socket(), parsed.device());
                System.err.println("bundlevisor: serving " + b.type() + " on " + b.socket() + " (vhost-user)");
            } catch (IllegalArgumentException | PartitionException e) {
                System.err.println("bundlevisor: " + e.getMessage());
                System.err.flush();
                System.exit(Cli.USAGE_ERROR);
            }
        });
    }

    /** Device bundles start after the platform; waits (bounded) for the type to be provided. */
    private static void awaitType(VirtioService virtio, String type) {
        long deadline = System.nanoTime() + TYPE_WAIT_NANOS;
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
