package io.bundlevisor.kvm.internal.cli;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.Partition;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.partition.PartitionService;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.kvm.internal.partition.KvmPartition;

import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Gogo commands to manage VMs from the platform shell: {@code vm:run}, {@code vm:list}, {@code vm:devices},
 * {@code vm:resume}, {@code vm:pause} (named so as not to shadow the shell's own {@code start} and
 * {@code stop} of bundles), {@code vm:reset}, {@code vm:clear} (clear a halt) and {@code vm:close}. They
 * return text; a mistake is one line, never a stack trace.
 */
@Component(service = VmCommands.class, property = {
    "osgi.command.scope=vm",
    "osgi.command.function=run",
    "osgi.command.function=list",
    "osgi.command.function=devices",
    "osgi.command.function=resume",
    "osgi.command.function=pause",
    "osgi.command.function=reset",
    "osgi.command.function=clear",
    "osgi.command.function=close"
})
public final class VmCommands {

    private final PartitionService partitions;

    @Activate
    public VmCommands(@Reference PartitionService partitions) {
        this.partitions = partitions;
    }

    /** What vm:run takes: bundlevisor run's options but --console stdio, with the name first. */
    static final String RUN_USAGE = "usage: vm:run NAME --kernel FILE [--initrd FILE] [--cmdline TEXT] [--cpus N] "
            + "[--memory SIZE] [--console file:PATH|socket:PATH|none] [--disk PATH[,readonly][,serial=ID]]... "
            + "[--net tap=NAME[,mac=MAC][,queues=N][,mtu=N]]... [--device TYPE[,OPTIONS]]... "
            + "[--on-emulation-failure auto|halt|inject]; the console defaults to NAME.console.log";

    @Descriptor("creates and starts a VM; with no arguments, shows its usage")
    public String run() {
        return RUN_USAGE;
    }

    @Descriptor("creates and starts a VM: " + RUN_USAGE)
    public String run(@Descriptor("the VM's name") String name,
            @Descriptor("the options of bundlevisor run (--kernel FILE is required)") String... args) {
        if (args.length == 0) {
            return "vm:run: --kernel is required; " + RUN_USAGE;
        }
        List<String> all = new ArrayList<>(Arrays.asList(args));
        all.addAll(List.of("--name", name));
        if (!all.contains("--console")) {
            all.addAll(List.of("--console", "file:" + name + ".console.log"));
        }
        try {
            RunArguments parsed = RunArguments.parse(all, Runtime.getRuntime().availableProcessors());
            if (parsed.config().console() instanceof io.bundlevisor.core.partition.Console.Stdio) {
                return "vm:run: the shell owns the terminal; use --console file:PATH or socket:PATH";
            }
            Partition vm = partitions.create(parsed.config());
            vm.start();
            return "started " + describe(vm);
        } catch (IllegalArgumentException | PartitionException e) {
            return "vm:run: " + e.getMessage();
        }
    }

    @Descriptor("lists the VMs: name, VPs, memory, state, the emulation-failure policy and how many failures it "
            + "handled, and the pending halt")
    public String list() {
        List<String> lines = new ArrayList<>();
        lines.add(String.format("%-20s %4s %8s %-8s %-15s %s", "NAME", "VPS", "MEMORY", "STATE", "EMULATION", "HALT"));
        for (Partition p : partitions.partitions()) {
            MachineConfig c = p.config();
            String emulation = p instanceof KvmPartition k
                    ? k.emulationPolicy().name().toLowerCase(java.util.Locale.ROOT) + " " + k.emulationFailuresHandled()
                    : "-";
            lines.add(String.format("%-20s %4d %7dM %-8s %-15s %s", p.name(), c.cpus(), c.memoryBytes() >> 20,
                    p.isStarted() ? "started" : "stopped", emulation, p.halt().map(h -> h.describe()).orElse("-")));
        }
        return String.join(System.lineSeparator(), lines);
    }

    @Descriptor("lists a VM's devices: name, type, bound to a device bundle, status, chains completed and in "
            + "flight, resets needed, chains completed per queue")
    public String devices(String name) {
        Partition p = find(name);
        if (p == null) {
            return "no VM named " + name;
        }
        if (!(p instanceof KvmPartition k) || k.devices().isEmpty()) {
            return name + " has no devices";
        }
        List<String> lines = new ArrayList<>();
        lines.add(String.format("%-28s %-12s %-8s %6s %12s %8s %11s %s", "DEVICE", "TYPE", "BOUND", "STATUS",
                "COMPLETED", "INFLIGHT", "NEEDS-RESET", "PER-QUEUE"));
        for (VirtioBinding b : k.devices()) {
            long[] perQueue = b.completedChainsPerQueue();
            List<String> queues = new ArrayList<>();
            for (int q = 0; q < perQueue.length; q++) {
                queues.add("q" + q + "=" + perQueue[q]);
            }
            lines.add(String.format("%-28s %-12s %-8s %#6x %12d %8d %11d %s", b.name(), b.type(),
                    b.isBound() ? "yes" : b.handoverMillis() >= 0 ? "handover" : "no", b.status(), b.completedChains(), b.inFlight(), b.needsResetCount(),
                    queues.isEmpty() ? "-" : String.join(" ", queues)));
        }
        return String.join(System.lineSeparator(), lines);
    }

    @Descriptor("starts or resumes a VM's VPs")
    public String resume(String name) {
        return with(name, p -> p.start(), "started");
    }

    @Descriptor("stops a VM's VPs; returns once none runs")
    public String pause(String name) {
        return with(name, p -> p.stop(), "stopped");
    }

    @Descriptor("resets a stopped VM to power-on, its boot image loaded again")
    public String reset(String name) {
        return with(name, p -> p.reset(), "reset");
    }

    @Descriptor("forgets a VM's pending halt so that its VPs run again")
    public String clear(String name) {
        return with(name, p -> p.clearHalt(), "cleared the halt of");
    }

    @Descriptor("stops a VM and frees it")
    public String close(String name) {
        return with(name, p -> p.close(), "closed");
    }

    private interface Action {
        void apply(Partition p) throws PartitionException;
    }

    private Partition find(String name) {
        return partitions.partitions().stream().filter(x -> x.name().equals(name)).findFirst().orElse(null);
    }

    private String with(String name, Action action, String done) {
        Partition p = find(name);
        if (p == null) {
            return "no VM named " + name;
        }
        try {
            action.apply(p);
            return done + " " + name;
        } catch (PartitionException | IllegalStateException e) {
            return e.getMessage();
        }
    }

    private static String describe(Partition p) {
        return p.name() + " (" + p.vpCount() + " VPs, " + (p.config().memoryBytes() >> 20) + " MiB)";
    }
}
