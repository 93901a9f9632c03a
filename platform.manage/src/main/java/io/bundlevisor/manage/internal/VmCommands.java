package io.bundlevisor.manage.internal;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.DeviceInfo;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.manage.VmAction;
import io.bundlevisor.manage.VmManager;
import io.bundlevisor.manage.VmSummary;
import io.bundlevisor.manage.cli.Cli;
import io.bundlevisor.manage.cli.RunArguments;
import io.bundlevisor.manage.cli.RunOptions;

import picocli.CommandLine;
import picocli.CommandLine.ParameterException;

/**
 * Gogo commands to manage VMs from the platform shell: {@code vm:run}, {@code vm:list}, {@code vm:devices},
 * {@code vm:resume}, {@code vm:pause} (named so as not to shadow the shell's own {@code start} and {@code stop} of
 * bundles), {@code vm:reset}, {@code vm:clear} (clear a halt) and {@code vm:close}. They print the
 * {@link VmManager}'s records as tables; a mistake is one line, never a stack trace.
 */
@Component(service = VmCommands.class, property = {
    "osgi.command.scope=vm",
    "osgi.command.function=run",
    "osgi.command.function=list",
    "osgi.command.function=names",
    "osgi.command.function=devices",
    "osgi.command.function=resume",
    "osgi.command.function=pause",
    "osgi.command.function=reset",
    "osgi.command.function=clear",
    "osgi.command.function=close",
    "osgi.command.function=snapshot",
    "osgi.command.function=restore",
    "osgi.command.function=change"
})
public final class VmCommands {

    private final VmManager vms;

    @Activate
    public VmCommands(@Reference VmManager vms) {
        this.vms = vms;
    }

    @Descriptor("creates and starts a VM; with no arguments or --help, lists its options")
    public String run() {
        return usage();
    }

    @Descriptor("creates and starts a VM named NAME with the options of bundlevisor run (vm:run --help lists them); "
            + "its console goes to NAME.console.log unless --console says otherwise")
    public String run(@Descriptor("the VM's name, or --help") String name,
            @Descriptor("--kernel FILE (required), --initrd FILE, --cmdline TEXT, --cpus N, --memory SIZE, "
                    + "--console file:PATH|socket:PATH[,wait]|pty|none, --disk PATH[,OPTIONS], "
                    + "--net tap=NAME[,OPTIONS], "
                    + "--device TYPE[,OPTIONS], --on-emulation-failure auto|halt|inject") String... args) {
        if (name.equals("--help") || name.equals("-h") || Arrays.asList(args).contains("--help")) {
            return usage();
        }
        if (name.startsWith("-")) {
            return "vm:run: the VM's name comes first: vm:run NAME --kernel FILE ...";
        }
        List<String> all = new ArrayList<>(Arrays.asList(args));
        all.addAll(List.of("--name", name));
        if (all.stream().noneMatch(a -> a.equals("--console") || a.startsWith("--console="))) {
            all.addAll(List.of("--console", "file:" + name + ".console.log"));
        }
        CommandLine parser = Cli.runParser("vm:run", false);
        try {
            parser.parseArgs(all.toArray(String[]::new));
            RunArguments parsed = ((RunOptions) parser.getCommand()).toArguments(
                    Runtime.getRuntime().availableProcessors());
            if (parsed.config().console() instanceof Console.Stdio) {
                return "vm:run: the shell owns the terminal; use --console file:PATH or socket:PATH";
            }
            VmSummary vm = vms.run(parsed.config());
            return "started " + vm.name() + " (" + vm.cpus() + " VPs, " + (vm.memoryBytes() >> 20) + " MiB)"
                    + (vm.consolePty().isEmpty() ? "" : "; console on " + vm.consolePty());
        } catch (ParameterException e) {
            return "vm:run: " + Cli.oneLine(e);
        } catch (IllegalArgumentException | PartitionException e) {
            return "vm:run: " + e.getMessage();
        }
    }

    private static String usage() {
        StringWriter text = new StringWriter();
        CommandLine c = Cli.runParser("vm:run", false);
        c.getCommandSpec().usageMessage().customSynopsis("vm:run NAME --kernel FILE [OPTIONS]")
                .description("Creates and starts a VM in this platform; its console goes to NAME.console.log "
                        + "unless --console says otherwise (not stdio: the shell owns the terminal).");
        c.usage(new PrintWriter(text));
        return text.toString().stripTrailing();
    }

    @Descriptor("lists the VMs: name, VPs, memory, state, the emulation-failure policy and how many failures it "
            + "handled, and the pending halt")
    public String list() {
        List<String> lines = new ArrayList<>();
        lines.add(String.format("%-20s %4s %8s %-8s %-15s %s", "NAME", "VPS", "MEMORY", "STATE", "EMULATION", "HALT"));
        for (VmSummary v : vms.list()) {
            lines.add(String.format("%-20s %4d %7dM %-8s %-15s %s", v.name(), v.cpus(), v.memoryBytes() >> 20,
                    v.started() ? "started" : "stopped",
                    v.emulation().name().toLowerCase(Locale.ROOT) + " " + v.emulationFailures(),
                    v.halt().isEmpty() ? "-" : v.halt()));
        }
        return String.join(System.lineSeparator(), lines);
    }

    @Descriptor("the VMs' names (for Tab completion)")
    public List<String> names() {
        return vms.list().stream().map(VmSummary::name).toList();
    }

    @Descriptor("lists a VM's devices: name, type, bound to a device bundle, status, chains completed and in "
            + "flight, resets needed, chains completed per queue")
    public String devices(@Descriptor("the VM's name") String name) {
        List<DeviceInfo> devices;
        try {
            devices = vms.devices(name);
        } catch (PartitionException e) {
            return e.getMessage();
        }
        if (devices.isEmpty()) {
            return name + " has no devices";
        }
        List<String> lines = new ArrayList<>();
        lines.add(String.format("%-28s %-12s %-8s %6s %12s %8s %11s %s", "DEVICE", "TYPE", "BOUND", "STATUS",
                "COMPLETED", "INFLIGHT", "NEEDS-RESET", "PER-QUEUE"));
        for (DeviceInfo d : devices) {
            List<String> queues = new ArrayList<>();
            for (int q = 0; q < d.completedPerQueue().size(); q++) {
                queues.add("q" + q + "=" + d.completedPerQueue().get(q));
            }
            String bound = switch (d.binding()) {
                case BOUND -> "yes";
                case HANDOVER -> "handover";
                case UNBOUND -> "no";
            };
            lines.add(String.format("%-28s %-12s %-8s %#6x %12d %8d %11d %s", d.name(), d.type(), bound, d.status(),
                    d.completedChains(), d.inFlight(), d.needsResets(),
                    queues.isEmpty() ? "-" : String.join(" ", queues)));
        }
        return String.join(System.lineSeparator(), lines);
    }

    @Descriptor("starts or resumes a VM's VPs")
    public String resume(@Descriptor("the VM's name") String name) {
        return apply(name, VmAction.RESUME, "started");
    }

    @Descriptor("stops a VM's VPs; returns once none runs")
    public String pause(@Descriptor("the VM's name") String name) {
        return apply(name, VmAction.PAUSE, "stopped");
    }

    @Descriptor("resets a stopped VM to power-on, its boot image loaded again")
    public String reset(@Descriptor("the VM's name") String name) {
        return apply(name, VmAction.RESET, "reset");
    }

    @Descriptor("forgets a VM's pending halt so that its VPs run again")
    public String clear(@Descriptor("the VM's name") String name) {
        return apply(name, VmAction.CLEAR_HALT, "cleared the halt of");
    }

    @Descriptor("stops a VM and frees it")
    public String close(@Descriptor("the VM's name") String name) {
        return apply(name, VmAction.CLOSE, "closed");
    }

    @Descriptor("changes a device of a VM, running or not, to new options in run's syntax: a disk's new image "
            + "(vm:change web web/virtio-blk0 path=/srv/new.img); what the guest negotiated cannot change")
    public String change(@Descriptor("the VM's name") String name,
            @Descriptor("the device, as vm:devices names it") String device,
            @Descriptor("the device's options, all of them (a comma in a path is written ,,)") String options) {
        try {
            vms.updateDevice(name, device, options);
            return "changed " + device;
        } catch (PartitionException e) {
            return "vm:change: " + e.getMessage();
        }
    }

    @Descriptor("snapshots a VM into a folder (made if missing): its state file and its memory file (sparse); a "
            + "running VM is paused for it and resumed after")
    public String snapshot(@Descriptor("the VM's name") String name, @Descriptor("the folder") String dir) {
        java.nio.file.Path folder = java.nio.file.Path.of(dir);
        try {
            java.nio.file.Files.createDirectories(folder);
            vms.snapshot(name, folder.resolve(RunOptions.STATE_FILE), folder.resolve(RunOptions.MEMORY_FILE));
            return "snapshotted " + name + " into " + dir;
        } catch (java.io.IOException e) {
            return "vm:snapshot: " + dir + ": " + e.getMessage();
        } catch (PartitionException e) {
            return "vm:snapshot: " + e.getMessage();
        }
    }

    @Descriptor("makes the VM snapshotted in a folder again and starts it; its console goes to DIR/console.log")
    public String restore(@Descriptor("the folder vm:snapshot wrote") String dir) {
        java.nio.file.Path folder = java.nio.file.Path.of(dir);
        try {
            VmSummary vm = vms.restore(folder.resolve(RunOptions.STATE_FILE), folder.resolve(RunOptions.MEMORY_FILE),
                    Console.file(folder.resolve("console.log")), true);
            return "restored " + vm.name() + " (" + vm.cpus() + " VPs, " + (vm.memoryBytes() >> 20) + " MiB)";
        } catch (PartitionException e) {
            return "vm:restore: " + e.getMessage();
        }
    }

    private String apply(String name, VmAction action, String done) {
        try {
            vms.apply(name, action);
            return done + " " + name;
        } catch (PartitionException e) {
            return e.getMessage();
        }
    }
}
