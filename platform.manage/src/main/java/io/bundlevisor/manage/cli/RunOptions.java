package io.bundlevisor.manage.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.DeviceOptions;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.EmulationPolicy;
import io.bundlevisor.core.partition.GdbEndpoint;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.VpAffinity;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The options of {@code bundlevisor run} and {@code vm:run}, for picocli. Syntax (unknown options, missing values,
 * numbers, sizes, the device-option lists) is checked while parsing; {@link #toArguments(int)} then checks what
 * needs the host (files, the CPU limit) and builds the machine. Every refusal is one line.
 *
 * <p>{@code --disk}, {@code --net} and {@code --device} are methods so that the devices keep their command-line order
 * (the guest finds them in that order: window and interrupt {@code i} for the {@code i}th). {@code --disk X} is
 * {@code --device virtio-blk,X} and {@code --net X} is {@code --device virtio-net,X}: naming the types here keeps the
 * platform's core free of device types. The device bundle checks a device's own options when the machine is made.
 */
@Command(name = "run", sortOptions = false, mixinStandardHelpOptions = true, versionProvider = Versions.class,
        usageHelpAutoWidth = true,
        description = "Boots a VM on KVM with its console on this terminal, and exits with the guest's outcome.",
        footerHeading = "%nDevices:%n",
        footer = {
            "The guest finds its devices in command-line order (at most 8): device i is",
            "a virtio-mmio window at 0xD0000000 + i * 0x1000 with interrupt GSI 16 + i.",
            "Device options are key=value lists; a comma in a value is written ',,'.",
            "",
            "Example:",
            "  bundlevisor run --kernel vmlinuz --initrd initrd.img --cpus 2 \\",
            "      --memory 1G --disk path=disk.img,serial=root \\",
            "      --cmdline \"console=ttyS0 root=/dev/vda\"",
            "",
            "Exit status: 0 the guest powered off; 1 triple fault or internal error",
            "(the message names the VP, RIP and instruction bytes); 2 the guest reset",
            "with --no-reboot; 3 quit from the console (Ctrl-A x); 64 a usage error or",
            "a VM that could not be built."})
public final class RunOptions {

    /** The device type of {@code --disk}. */
    public static final String DISK_TYPE = "virtio-blk";
    /** The device type of {@code --net}. */
    public static final String NET_TYPE = "virtio-net";
    static final String DEFAULT_CMDLINE = "console=ttyS0 panic=-1";

    @Spec
    CommandSpec spec;

    @Option(names = "--kernel", paramLabel = "FILE", order = 1,
            description = "a bzImage, an ELF vmlinux or a test guest ELF (required)")
    Path kernel;

    @Option(names = "--initrd", paramLabel = "FILE", order = 2,
            description = "an initramfs, placed as high as the kernel allows")
    Path initrd;

    @Option(names = "--cmdline", paramLabel = "TEXT", defaultValue = DEFAULT_CMDLINE, order = 3,
            description = "the kernel command line, printable ASCII (default: ${DEFAULT-VALUE})")
    String cmdline;

    @Option(names = "--cpus", paramLabel = "N", defaultValue = "1", order = 4,
            description = "virtual CPUs, 1 to 8 per host CPU (default: ${DEFAULT-VALUE})")
    int cpus;

    @Option(names = "--memory", paramLabel = "SIZE", defaultValue = "512M", converter = SizeConverter.class,
            order = 5, description = "RAM: 512M, 1.5G, 2GiB (binary units; a bare number is refused); 16 MiB to "
                    + "1 TiB, a multiple of 2 MiB (default: ${DEFAULT-VALUE})")
    long memory;

    @Option(names = "--console", paramLabel = "KIND", defaultValue = "stdio", order = 6,
            description = "stdio (on a terminal: raw, every key to the guest; Ctrl-A h lists the escapes, Ctrl-A x "
                    + "quits), pty (a new pseudo terminal; its path is printed), file:PATH (appended), "
                    + "socket:PATH[,wait] (a Unix socket; 'wait' holds "
                    + "the guest until a client connects), none (default: ${DEFAULT-VALUE})")
    String console;

    @Option(names = "--name", paramLabel = "NAME", defaultValue = "vm", order = 7,
            description = "for logs and thread names (default: ${DEFAULT-VALUE})")
    String name;

    @Option(names = "--no-reboot", order = 8,
            description = "a guest reset ends the run (exit 2) instead of rebooting the VM")
    boolean noReboot;

    @Option(names = "--on-emulation-failure", paramLabel = "auto|halt|inject", defaultValue = "auto", order = 9,
            description = "when KVM cannot emulate a guest instruction: halt the VM, or inject what the instruction "
                    + "would have done; auto: inject on a software KVM, halt with VMX/SVM (default: ${DEFAULT-VALUE})")
    String emulation;

    @Option(names = "--gdb", paramLabel = "PORT|PATH[,wait]", order = 14,
            description = "a gdb remote stub on 127.0.0.1:PORT or the Unix socket PATH (gdb: target remote ...); "
                    + "'wait' holds the VM before its first instruction until gdb continues it")
    String gdb;

    @Option(names = "--vp-affinity", paramLabel = "VP=CPUS[,VP=CPUS...]", order = 15,
            description = "pin VP threads to host CPUs, CPUS a Linux CPU list: 0=0-1,1=2 pins VP 0 to CPUs 0 and 1, "
                    + "VP 1 to CPU 2; task drivers that run on target follow their VP (default: none pinned)")
    String vpAffinity;

    @Option(names = "--restore", paramLabel = "DIR", order = 13,
            description = "restore the VM snapshotted into DIR (vm:snapshot, or the API's /snapshot/create): its "
                    + "state and memory files, its machine as it was; with it only --console and --no-reboot")
    Path restore;

    private final List<DeviceSpec> devices = new ArrayList<>();

    @Option(names = "--disk", paramLabel = "PATH[,OPTIONS]", order = 10, parameterConsumer = Cli.Repeatable.class,
            description = "a virtio-blk disk on a raw image or block device (repeatable): [path=]PATH, ro or "
                    + "readonly[=on|off], serial=ID, queues=N, direct=on|off")
    void disk(String text) {
        device(DISK_TYPE, text, "--disk", "PATH[,readonly][,serial=ID]");
    }

    @Option(names = "--net", paramLabel = "tap=NAME[,OPTIONS]", order = 11, parameterConsumer = Cli.Repeatable.class,
            description = "a virtio-net card on a tap interface (repeatable): tap=NAME, mac=MAC, queues=N, mtu=N")
    void net(String text) {
        device(NET_TYPE, text, "--net", "tap=NAME[,mac=MAC][,queues=N][,mtu=N]");
    }

    @Option(names = "--device", paramLabel = "TYPE[,OPTIONS]", order = 12, parameterConsumer = Cli.Repeatable.class,
            description = "any device type an installed bundle provides (repeatable); --disk X is --device "
                    + "virtio-blk,X")
    void device(String text) {
        try {
            devices.add(DeviceSpec.parse(text));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--device: " + e.getMessage());
        }
    }

    private void device(String type, String text, String flag, String form) {
        if (text.isBlank() || text.startsWith(",")) {
            throw new ParameterException(spec.commandLine(), flag + " needs " + form + ", not '" + text + "'");
        }
        try {
            // The shared option syntax, checked now (its messages name the flag); the device bundle checks the keys.
            DeviceOptions.parse(flag, text, form);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        try {
            devices.add(new DeviceSpec(type, text));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), flag + ": " + e.getMessage());
        }
    }

    /**
     * The machine these options describe; {@code hostCpus} bounds {@code --cpus} (8 VPs per host CPU at most) and
     * the CPUs {@code --vp-affinity} may name ({@code 0..hostCpus-1}).
     *
     * @throws IllegalArgumentException with one line for a person
     */
    public RunArguments toArguments(int hostCpus) {
        if (kernel == null) {
            throw new IllegalArgumentException("--kernel FILE is required");
        }
        int max = Math.min(MachineConfig.MAX_CPUS, Math.max(hostCpus, 1) * 8);
        if (cpus < 1 || cpus > max) {
            throw new IllegalArgumentException("--cpus must be 1.." + max + " on this host, not " + cpus);
        }
        requireFile(kernel, "--kernel");
        if (initrd != null) {
            requireFile(initrd, "--initrd");
        }
        if (devices.size() > MachineConfig.MAX_DEVICES) {
            throw new IllegalArgumentException("at most " + MachineConfig.MAX_DEVICES
                    + " --disk, --net and --device in all, not " + devices.size());
        }
        EmulationPolicy policy = EmulationPolicy.parse(emulation);
        MachineConfig config = new MachineConfig(name, cpus, memory, kernel, Optional.ofNullable(initrd), cmdline,
                console(console), devices, policy);
        if (gdb != null) {
            config = config.withGdb(GdbEndpoint.parse(gdb));
        }
        if (vpAffinity != null) {
            VpAffinity affinity = VpAffinity.parse(vpAffinity);
            affinity.check(cpus, Math.max(hostCpus, 1));
            config = config.withVpAffinity(affinity);
        }
        return new RunArguments(config, !noReboot);
    }

    /**
     * {@code config} as this command line's arguments (its console left out, for whoever makes the machine again to
     * choose): what a snapshot records of its machine.
     */
    public static List<String> arguments(MachineConfig config) {
        List<String> a = new ArrayList<>(List.of("--name", config.name(), "--cpus", Integer.toString(config.cpus()),
                "--memory", config.memoryBytes() + "B", "--kernel", config.kernel().toAbsolutePath().toString(),
                "--cmdline", config.cmdline(), "--on-emulation-failure",
                config.emulation().name().toLowerCase(java.util.Locale.ROOT)));
        config.initrd().ifPresent(i -> a.addAll(List.of("--initrd", i.toAbsolutePath().toString())));
        if (!config.vpAffinity().isEmpty()) {
            a.addAll(List.of("--vp-affinity", config.vpAffinity().toString()));
        }
        for (DeviceSpec d : config.devices()) {
            a.addAll(List.of("--device", d.options().isEmpty() ? d.type() : d.type() + "," + d.options()));
        }
        return a;
    }

    /** What {@code run --restore DIR} asked for: the snapshot's two files, the console, the reboot choice. */
    public record RestoreArguments(Path state, Path memory, Console console, boolean reboot) {
    }

    /** The file names in a snapshot folder. */
    public static final String STATE_FILE = "state";
    public static final String MEMORY_FILE = "memory";

    /** Whether {@code --restore} was given. */
    public boolean restoring() {
        return restore != null;
    }

    /**
     * The restore these options describe.
     *
     * @throws IllegalArgumentException with one line: options that describe a machine given with it, a folder
     *                                  without the snapshot's files
     */
    public RestoreArguments toRestore() {
        List<String> machine = new ArrayList<>();
        for (var o : spec.commandLine().getParseResult().matchedOptions()) {
            String n = o.longestName();
            if (!List.of("--restore", "--console", "--no-reboot", "--verbose", "--log-level", "--log-file")
                    .contains(n)) {
                machine.add(n);
            }
        }
        if (!machine.isEmpty()) {
            throw new IllegalArgumentException("--restore takes the machine from its snapshot: "
                    + String.join(", ", machine) + " cannot go with it (only --console and --no-reboot)");
        }
        Path state = restore.resolve(STATE_FILE);
        Path memory = restore.resolve(MEMORY_FILE);
        if (!Files.isRegularFile(state) || !Files.isRegularFile(memory)) {
            throw new IllegalArgumentException("--restore " + restore + ": no snapshot there (its " + STATE_FILE
                    + " and " + MEMORY_FILE + " files)");
        }
        return new RestoreArguments(state, memory, console(console), !noReboot);
    }

    static Console console(String text) {
        if (text.equals("stdio")) {
            return Console.stdio();
        }
        if (text.equals("none")) {
            return Console.none();
        }
        if (text.equals("pty")) {
            return Console.pty();
        }
        if (text.startsWith("file:") && text.length() > 5) {
            return Console.file(Path.of(text.substring(5)));
        }
        if (text.startsWith("socket:") && text.length() > 7) {
            // The shared option syntax: socket:PATH[,wait], a comma in the path written ",,".
            DeviceOptions o = DeviceOptions.parse("--console socket", text.substring(7), "socket:PATH[,wait]");
            String path = o.positionalOr("path", Set.of("wait"));
            boolean wait = o.flag("wait");
            o.done();
            if (path == null || path.isEmpty()) {
                throw new IllegalArgumentException("--console socket needs a path: socket:PATH[,wait]");
            }
            return Console.socket(Path.of(path), wait);
        }
        throw new IllegalArgumentException("--console must be stdio, pty, none, file:PATH or socket:PATH[,wait], not '"
                + text + "'");
    }

    /** A regular, readable file; else one line saying what {@code p} is instead. */
    private static void requireFile(Path p, String flag) {
        String shown = flag + " " + MachineConfig.printable(p.toString());
        if (Files.isRegularFile(p)) {
            if (!Files.isReadable(p)) {
                throw new IllegalArgumentException(shown + ": not readable");
            }
            return;
        }
        if (Files.isDirectory(p)) {
            throw new IllegalArgumentException(shown + ": is a directory, not a file");
        }
        if (Files.exists(p)) {
            throw new IllegalArgumentException(shown + ": not a regular file (a device, a FIFO or a socket)");
        }
        if (Files.isSymbolicLink(p)) {
            throw new IllegalArgumentException(shown + ": a symbolic link that leads nowhere (a loop or a missing "
                    + "target)");
        }
        throw new IllegalArgumentException(shown + ": no such file");
    }
}
