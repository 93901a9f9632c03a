package io.bundlevisor.kvm.internal.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.DeviceOptions;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.EmulationPolicy;
import io.bundlevisor.core.partition.MachineConfig;

/**
 * The arguments of {@code bundlevisor run}: {@code --kernel K [--initrd I] [--cmdline C] [--cpus N]
 * [--memory M] [--console stdio|file:PATH|socket:PATH[,wait]|none] [--name NAME] [--no-reboot]
 * [--disk PATH[,readonly][,serial=ID]]... [--net tap=NAME[,mac=MAC][,queues=N][,mtu=N]]...
 * [--device TYPE[,OPTIONS]]... [--on-emulation-failure auto|halt|inject]}.
 * Every mistake is an
 * {@link IllegalArgumentException} with one line for a person.
 *
 * <p>{@code --disk} and {@code --device} declare devices in command-line order (the guest finds them in that order:
 * window and interrupt {@code i} for the {@code i}th). {@code --disk X} is {@code --device virtio-blk,X} and
 * {@code --net X} is {@code --device virtio-net,X}: naming the
 * type here keeps the platform's core free of device types. The device bundle checks the options when the machine
 * is created.
 */
public record RunArguments(MachineConfig config, boolean reboot) {

    public static final String USAGE = "usage: bundlevisor run --kernel FILE [--initrd FILE] [--cmdline TEXT] "
            + "[--cpus N] [--memory SIZE] [--console stdio|file:PATH|socket:PATH[,wait]|none] [--name NAME] [--no-reboot] "
            + "[--disk PATH[,readonly][,serial=ID]]... [--net tap=NAME[,mac=MAC][,queues=N][,mtu=N]]... "
            + "[--device TYPE[,OPTIONS]]... "
            + "[--on-emulation-failure auto|halt|inject]";
    /** The device type of {@code --disk}. */
    static final String DISK_TYPE = "virtio-blk";
    /** The device type of {@code --net}. */
    static final String NET_TYPE = "virtio-net";
    private static final int DEFAULT_CPUS = 1;
    private static final long DEFAULT_MEMORY = 512L << 20;
    private static final String DEFAULT_CMDLINE = "console=ttyS0 panic=-1";

    /** Parses {@code args}; {@code hostCpus} bounds --cpus (a VP per host CPU at most is a sane default limit). */
    public static RunArguments parse(List<String> given, int hostCpus) {
        List<String> args = splitEquals(given, List.of("--no-reboot"));
        Path kernel = null;
        Path initrd = null;
        String cmdline = DEFAULT_CMDLINE;
        int cpus = DEFAULT_CPUS;
        long memory = DEFAULT_MEMORY;
        Console console = Console.stdio();
        String name = "vm";
        boolean reboot = true;
        List<DeviceSpec> devices = new ArrayList<>();
        EmulationPolicy emulation = EmulationPolicy.AUTO;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            switch (a) {
                case "--kernel" -> kernel = Path.of(value(args, ++i, a));
                case "--initrd" -> initrd = Path.of(value(args, ++i, a));
                case "--cmdline" -> cmdline = value(args, ++i, a);
                case "--cpus" -> cpus = cpus(value(args, ++i, a), hostCpus);
                case "--memory" -> memory = MachineConfig.parseSize(value(args, ++i, a));
                case "--console" -> console = console(value(args, ++i, a));
                case "--name" -> name = value(args, ++i, a);
                case "--no-reboot" -> reboot = false;
                case "--disk" -> devices.add(disk(value(args, ++i, a)));
                case "--net" -> devices.add(net(value(args, ++i, a)));
                case "--device" -> devices.add(device(value(args, ++i, a)));
                case "--on-emulation-failure" -> emulation = EmulationPolicy.parse(value(args, ++i, a));
                default -> throw new IllegalArgumentException("unknown argument '" + a + "'; " + USAGE);
            }
        }
        if (kernel == null) {
            throw new IllegalArgumentException("--kernel is required; " + USAGE);
        }
        requireFile(kernel, "--kernel");
        if (initrd != null) {
            requireFile(initrd, "--initrd");
        }
        if (devices.size() > MachineConfig.MAX_DEVICES) {
            throw new IllegalArgumentException("at most " + MachineConfig.MAX_DEVICES
                    + " --disk, --net and --device in all, not " + devices.size());
        }
        MachineConfig config = new MachineConfig(name, cpus, memory, kernel, Optional.ofNullable(initrd), cmdline,
                console, devices, emulation);
        return new RunArguments(config, reboot);
    }

    /**
     * {@code --opt=value} as {@code --opt value} (the first '=' splits; an empty value stays empty, for the option to
     * refuse); {@code flags} take no value, every other option takes the next argument as it is (a value may
     * itself start with {@code --}).
     */
    public static List<String> splitEquals(List<String> args, List<String> flags) {
        List<String> out = new ArrayList<>(args.size() + 4);
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 2) {
                String flag = a.substring(0, eq);
                if (flags.contains(flag)) {
                    throw new IllegalArgumentException(flag + " takes no value");
                }
                out.add(flag);
                out.add(a.substring(eq + 1));
            } else {
                out.add(a);
                if (a.startsWith("--") && !flags.contains(a) && i + 1 < args.size()) {
                    out.add(args.get(++i));
                }
            }
        }
        return out;
    }

    private static String value(List<String> args, int i, String flag) {
        if (i >= args.size()) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        return args.get(i);
    }

    private static DeviceSpec net(String text) {
        if (text.isBlank() || text.startsWith(",")) {
            throw new IllegalArgumentException("--net needs tap=NAME[,mac=MAC][,queues=N][,mtu=N], not '" + text + "'");
        }
        try {
            return new DeviceSpec(NET_TYPE, text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--net: " + e.getMessage());
        }
    }

    private static DeviceSpec disk(String text) {
        if (text.isBlank() || text.startsWith(",")) {
            throw new IllegalArgumentException("--disk needs PATH[,readonly][,serial=ID], not '" + text + "'");
        }
        try {
            return new DeviceSpec(DISK_TYPE, text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--disk: " + e.getMessage());
        }
    }

    private static DeviceSpec device(String text) {
        try {
            return DeviceSpec.parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--device: " + e.getMessage());
        }
    }

    private static int cpus(String text, int hostCpus) {
        int n;
        try {
            n = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--cpus '" + text + "' is not a number");
        }
        int max = Math.min(MachineConfig.MAX_CPUS, Math.max(hostCpus, 1) * 8);
        if (n < 1 || n > max) {
            throw new IllegalArgumentException("--cpus must be 1.." + max + " on this host, not " + n);
        }
        return n;
    }

    private static Console console(String text) {
        if (text.equals("stdio")) {
            return Console.stdio();
        }
        if (text.equals("none")) {
            return Console.none();
        }
        if (text.startsWith("file:") && text.length() > 5) {
            return Console.file(Path.of(text.substring(5)));
        }
        if (text.startsWith("socket:") && text.length() > 7) {
            // The shared option syntax: socket:PATH[,wait], a comma in the path written ",,".
            DeviceOptions o = DeviceOptions.parse("--console socket", text.substring(7), "socket:PATH[,wait]");
            String path = o.positionalOr("path", java.util.Set.of("wait"));
            boolean wait = o.flag("wait");
            o.done();
            if (path == null || path.isEmpty()) {
                throw new IllegalArgumentException("--console socket needs a path: socket:PATH[,wait]");
            }
            return Console.socket(Path.of(path), wait);
        }
        throw new IllegalArgumentException("--console must be stdio, none, file:PATH or socket:PATH[,wait], not '"
                + text + "'");
    }

    private static void requireFile(Path p, String flag) {
        if (!Files.isRegularFile(p)) {
            throw new IllegalArgumentException(flag + " " + p + ": no such file");
        }
        if (!Files.isReadable(p)) {
            throw new IllegalArgumentException(flag + " " + p + ": not readable");
        }
    }
}
