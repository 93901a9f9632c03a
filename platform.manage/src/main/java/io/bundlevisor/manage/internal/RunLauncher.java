package io.bundlevisor.manage.internal;

import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeoutException;

import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.Partition;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.partition.PartitionService;
import io.bundlevisor.manage.cli.ArgumentList;
import io.bundlevisor.manage.cli.Cli;
import io.bundlevisor.manage.cli.RunArguments;

/**
 * {@code bundlevisor run}: when the framework property {@value #PROPERTY} holds arguments (the launcher checked them
 * before the framework started, and joined them with {@link ArgumentList}), boots that VM with the console on the
 * terminal and ends the process with the halt's exit status: 0 power off, 1 triple fault or internal error, 2 reset
 * with --no-reboot, 64 a VM that could not be built. A guest reset reboots the VM unless --no-reboot.
 */
@Component(immediate = true)
public final class RunLauncher {

    public static final String PROPERTY = "bundlevisor.run";
    private static final Duration FOREVER = Duration.ofSeconds(Long.MAX_VALUE);

    @Activate
    public RunLauncher(BundleContext context, @Reference PartitionService partitions) {
        String property = context.getProperty(PROPERTY);
        if (property == null) {
            return;
        }
        List<String> args = ArgumentList.split(property);
        Thread.ofPlatform().name("bundlevisor-run").start(() -> {
            int status;
            try {
                status = run(args, partitions, System.err);
            } catch (RuntimeException | Error e) {
                System.err.println("bundlevisor: " + e);
                status = 1;
            }
            System.err.flush();
            System.exit(status);
        });
    }

    static int run(List<String> args, PartitionService service, PrintStream err) {
        RunArguments parsed;
        try {
            parsed = Cli.parseRun(args, Runtime.getRuntime().availableProcessors());
        } catch (IllegalArgumentException e) {
            err.println("bundlevisor: " + e.getMessage());
            return Cli.USAGE_ERROR;
        }
        if (!service.isAvailable()) {
            err.println("bundlevisor: " + service.unavailabilityCause().orElse("KVM is unavailable"));
            return Cli.USAGE_ERROR;
        }
        if (parsed.config().console() instanceof Console.Socket s && s.waitForClient()) {
            err.println("bundlevisor: waiting for a console client on " + s.path() + " (e.g. socat - UNIX-CONNECT:"
                    + s.path() + ")");
            err.flush();
        }
        try (Partition vm = service.create(parsed.config())) {
            vm.start();
            while (true) {
                HaltReason reason = vm.awaitHalt(FOREVER);
                if (reason instanceof HaltReason.Reset && parsed.reboot()) {
                    vm.stop();
                    vm.reset();
                    vm.start();
                    continue;
                }
                if (reason.exitStatus() != 0) {
                    err.println("bundlevisor: " + vm.name() + " stopped: " + reason.describe());
                }
                return reason.exitStatus();
            }
        } catch (PartitionException e) {
            err.println("bundlevisor: " + e.getMessage());
            return Cli.USAGE_ERROR;
        } catch (InterruptedException | TimeoutException e) {
            err.println("bundlevisor: interrupted");
            return 1;
        }
    }
}
