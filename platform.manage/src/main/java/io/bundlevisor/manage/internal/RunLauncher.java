package io.bundlevisor.manage.internal;

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

import org.osgi.framework.BundleContext;
import org.osgi.framework.startlevel.FrameworkStartLevel;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.Partition;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.partition.PartitionService;
import io.bundlevisor.manage.cli.ArgumentList;
import io.bundlevisor.manage.cli.Cli;
import io.bundlevisor.manage.VmManager;
import io.bundlevisor.manage.cli.RunArguments;
import io.bundlevisor.manage.cli.RunOptions;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.Terminal;

/**
 * {@code bundlevisor run}: when the framework property {@value #PROPERTY} holds arguments (the launcher checked them
 * before the framework started, and joined them with {@link ArgumentList}), boots that VM with the console on the
 * terminal and ends the process with the halt's exit status: 0 power off, 1 triple fault or internal error, 2 reset
 * with --no-reboot, 3 quit from the console (Ctrl-A x), 64 a VM that could not be built. A guest reset reboots the VM
 * unless --no-reboot.
 *
 * <p>When the console is this process's terminal, the terminal is raw while the VM runs (every key, Ctrl-C included,
 * goes to the guest; {@link ConsoleEscapes} takes Ctrl-A x and Ctrl-A h out), and is restored when the run ends, on
 * the signals that end the JVM (a shutdown hook), and when the VM fails.
 */
@Component(immediate = true)
public final class RunLauncher {

    public static final String PROPERTY = "bundlevisor.run";
    /** The exit status of Ctrl-A x: the person ended the run, the guest did not. */
    static final int QUIT = 3;
    private static final Duration POLL = Duration.ofMillis(100);
    /** How long the exit waits for the bundles to stop. */
    private static final Duration EXIT_GRACE = Duration.ofSeconds(2);

    @Activate
    public RunLauncher(BundleContext context, @Reference PartitionService partitions, @Reference VmManager vms) {
        String property = context.getProperty(PROPERTY);
        if (property == null) {
            return;
        }
        List<String> args = ArgumentList.split(property);
        Thread.ofPlatform().name("bundlevisor-run").start(() -> {
            int status;
            try {
                status = run(args, partitions, vms, System.err);
            } catch (RuntimeException | Error e) {
                System.err.println("bundlevisor: " + e);
                status = 1;
            }
            System.err.flush();
            stopBundles(context);
            System.exit(status);
        });
    }

    /**
     * Stops every bundle (the framework's start level down to 1; the framework itself stays, so bnd's launcher does
     * not exit with its own status meanwhile) before the process exits. The JVM's exit waits up to 300 ms for each
     * thread blocked in a system call to come back (HotSpot's VM_Exit, 30 times 10 ms), and the platform's rings
     * keep a thread in {@code io_uring_enter}: stopping the bundles closes them, which takes a few milliseconds.
     */
    static void stopBundles(BundleContext context) {
        try {
            CountDownLatch stopped = new CountDownLatch(1);
            context.getBundle(0).adapt(FrameworkStartLevel.class).setStartLevel(1, e -> stopped.countDown());
            stopped.await(EXIT_GRACE.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RuntimeException | InterruptedException e) {
            // The exit goes on: at worst it waits for the threads itself.
        }
    }

    static int run(List<String> args, PartitionService service, VmManager vms, PrintStream err) {
        RunOptions options;
        MachineConfig config = null;
        RunOptions.RestoreArguments restore = null;
        Console console;
        boolean reboot;
        try {
            options = Cli.runOptions(args);
            if (options.restoring()) {
                restore = options.toRestore();
                console = restore.console();
                reboot = restore.reboot();
            } else {
                RunArguments parsed = options.toArguments(Runtime.getRuntime().availableProcessors());
                config = parsed.config();
                console = config.console();
                reboot = parsed.reboot();
            }
        } catch (IllegalArgumentException e) {
            err.println("bundlevisor: " + e.getMessage());
            return Cli.USAGE_ERROR;
        }
        if (!service.isAvailable()) {
            err.println("bundlevisor: " + service.unavailabilityCause().orElse("KVM is unavailable"));
            return Cli.USAGE_ERROR;
        }
        if (console instanceof Console.Socket s && s.waitForClient()) {
            err.println("bundlevisor: waiting for a console client on " + s.path() + " (e.g. socat - UNIX-CONNECT:"
                    + s.path() + ")");
            err.flush();
        }
        AtomicBoolean quit = new AtomicBoolean();
        Terminal raw = null;
        if (console instanceof Console.Stdio && Terminal.isTerminal(0) && Terminal.isTerminal(1)) {
            try {
                raw = Terminal.raw(0);
            } catch (SyscallException e) {
                err.println("bundlevisor: the terminal stays in line mode: " + e.getMessage());
            }
        }
        if (raw != null) {
            Terminal terminal = raw;
            Runtime.getRuntime().addShutdownHook(new Thread(terminal::close, "bundlevisor-terminal"));
            console = Console.streams(
                    new ConsoleEscapes(new FileInputStream(FileDescriptor.in), err, () -> quit.set(true)),
                    new BufferedOutputStream(new FileOutputStream(FileDescriptor.out)));
        }
        try (Partition vm = restore == null ? service.create(config.withConsole(console))
                : restored(vms, service, restore, console)) {
            vm.consolePty().ifPresent(p -> {
                err.println("bundlevisor: " + vm.name() + ": console on " + p + " (e.g. screen " + p + ")");
                err.flush();
            });
            vm.config().gdb().ifPresent(gdb -> {
                err.println("bundlevisor: " + vm.name() + ": gdb stub on " + gdb.describe() + " (in gdb: "
                        + gdb.gdbCommand() + ")" + (gdb.waitForAttach() ? "; the VM waits for gdb" : ""));
                err.flush();
            });
            vm.start();
            while (true) {
                HaltReason reason;
                try {
                    reason = vm.awaitHalt(POLL);
                } catch (TimeoutException e) {
                    if (quit.get()) {
                        vm.stop();
                        restore(raw);
                        err.println("bundlevisor: " + vm.name() + ": quit from the console (Ctrl-A x)");
                        return QUIT;
                    }
                    continue;
                }
                if (reason instanceof HaltReason.Reset && reboot) {
                    vm.stop();
                    vm.reset();
                    vm.start();
                    continue;
                }
                restore(raw);
                if (reason.exitStatus() != 0) {
                    err.println("bundlevisor: " + vm.name() + " stopped: " + reason.describe());
                }
                return reason.exitStatus();
            }
        } catch (PartitionException e) {
            restore(raw);
            err.println("bundlevisor: " + e.getMessage());
            return Cli.USAGE_ERROR;
        } catch (InterruptedException e) {
            restore(raw);
            err.println("bundlevisor: interrupted");
            return 1;
        } finally {
            restore(raw);
        }
    }

    /** The VM a snapshot describes, restored (paused) through the manager. */
    private static Partition restored(VmManager vms, PartitionService service, RunOptions.RestoreArguments r,
            Console console) throws PartitionException {
        String name = vms.restore(r.state(), r.memory(), console, false).name();
        return service.partitions().stream().filter(p -> p.name().equals(name)).findFirst()
                .orElseThrow(() -> new PartitionException(name + ": restored, then gone"));
    }

    /** Puts the terminal back before anything more is printed (lines would otherwise lack their carriage return). */
    private static void restore(Terminal raw) {
        if (raw != null) {
            raw.close();
        }
    }
}
