package io.bundlevisor.core.partition;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What to build: VP count, RAM, the boot image (a bzImage, an ELF vmlinux or an ELF test guest, all entered in
 * 64-bit mode with a Linux boot_params), its initrd and command line, the console, the devices, and what to do
 * with an instruction KVM cannot emulate, where a gdb stub listens ({@link #gdb()}, since 1.6), and the host CPUs
 * each VP's thread is pinned to ({@link #vpAffinity()}, since 1.6). The constructor checks what it can without
 * touching the host; the service checks the rest (files, host limits) at creation.
 */
public record MachineConfig(String name, int cpus, long memoryBytes, Path kernel, Optional<Path> initrd,
        String cmdline, Console console, List<DeviceSpec> devices, EmulationPolicy emulation,
        Optional<GdbEndpoint> gdb, VpAffinity vpAffinity) {

    /** The most devices a machine declares: each takes one of the IOAPIC's eight PCI-range pins (16-23). */
    public static final int MAX_DEVICES = 8;

    /** The most VPs a machine has: xAPIC ids are 8 bits and 255 is the broadcast id. */
    public static final int MAX_CPUS = 254;
    /** The least RAM a machine has. */
    public static final long MIN_MEMORY = 16L << 20;
    /** The most RAM a machine has. */
    public static final long MAX_MEMORY = 1L << 40;
    /** The longest command line, including its terminating NUL, Linux accepts on x86 (COMMAND_LINE_SIZE). */
    public static final int MAX_CMDLINE = 2048;

    public MachineConfig {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(initrd, "initrd");
        Objects.requireNonNull(cmdline, "cmdline");
        Objects.requireNonNull(console, "console");
        Objects.requireNonNull(emulation, "emulation");
        Objects.requireNonNull(gdb, "gdb");
        Objects.requireNonNull(vpAffinity, "vpAffinity");
        devices = List.copyOf(devices);
        if (devices.size() > MAX_DEVICES) {
            throw new IllegalArgumentException("at most " + MAX_DEVICES + " devices, not " + devices.size());
        }
        if (!name.matches("[A-Za-z0-9._-]{1,64}")) {
            throw new IllegalArgumentException("machine name '" + printable(name)
                    + "' must be 1-64 letters, digits, '.', '_' or '-'");
        }
        if (cpus < 1 || cpus > MAX_CPUS) {
            throw new IllegalArgumentException("--cpus must be 1.." + MAX_CPUS + ", not " + cpus);
        }
        vpAffinity.check(cpus, VpAffinity.MAX_CPU + 1);
        if (memoryBytes < MIN_MEMORY || memoryBytes > MAX_MEMORY) {
            throw new IllegalArgumentException("--memory must be " + (MIN_MEMORY >> 20) + " MiB.." + (MAX_MEMORY >> 30)
                    + " GiB, not " + memoryBytes + " bytes");
        }
        if (memoryBytes % (2L << 20) != 0) {
            throw new IllegalArgumentException("--memory must be a multiple of 2 MiB, not " + memoryBytes + " bytes");
        }
        if (cmdline.length() + 1 > MAX_CMDLINE) {
            throw new IllegalArgumentException("--cmdline is " + cmdline.length() + " characters; at most "
                    + (MAX_CMDLINE - 1));
        }
        for (int i = 0; i < cmdline.length(); i++) {
            char c = cmdline.charAt(i);
            if (c < 0x20 || c > 0x7E) {
                throw new IllegalArgumentException("--cmdline may hold printable ASCII only (character " + i + ")");
            }
        }
    }

    /**
     * {@code text} (its first 200 characters) with control and non-ASCII characters escaped ({@code \\u0007}), so a
     * refusal that echoes input stays one printable line (since 1.5).
     */
    public static String printable(String text) {
        StringBuilder b = new StringBuilder();
        text.chars().limit(200).forEach(c -> b.append(c >= 0x20 && c < 0x7F ? Character.toString(c)
                : String.format("\\u%04x", c)));
        return b.toString();
    }

    /** A machine whose VP threads are not pinned (since 1.6). */
    public MachineConfig(String name, int cpus, long memoryBytes, Path kernel, Optional<Path> initrd, String cmdline,
            Console console, List<DeviceSpec> devices, EmulationPolicy emulation, Optional<GdbEndpoint> gdb) {
        this(name, cpus, memoryBytes, kernel, initrd, cmdline, console, devices, emulation, gdb, VpAffinity.none());
    }

    /** A machine without a gdb stub. */
    public MachineConfig(String name, int cpus, long memoryBytes, Path kernel, Optional<Path> initrd, String cmdline,
            Console console, List<DeviceSpec> devices, EmulationPolicy emulation) {
        this(name, cpus, memoryBytes, kernel, initrd, cmdline, console, devices, emulation, Optional.empty());
    }

    /** A machine with the host's default {@link EmulationPolicy}. */
    public MachineConfig(String name, int cpus, long memoryBytes, Path kernel, Optional<Path> initrd, String cmdline,
            Console console, List<DeviceSpec> devices) {
        this(name, cpus, memoryBytes, kernel, initrd, cmdline, console, devices, EmulationPolicy.AUTO);
    }

    /** A machine with no devices. */
    public MachineConfig(String name, int cpus, long memoryBytes, Path kernel, Optional<Path> initrd, String cmdline,
            Console console) {
        this(name, cpus, memoryBytes, kernel, initrd, cmdline, console, List.of(), EmulationPolicy.AUTO);
    }

    /** A machine with no initrd, an empty command line and no console. */
    public static MachineConfig of(String name, int cpus, long memoryBytes, Path kernel) {
        return new MachineConfig(name, cpus, memoryBytes, kernel, Optional.empty(), "", Console.none());
    }

    public MachineConfig withInitrd(Path path) {
        return new MachineConfig(name, cpus, memoryBytes, kernel, Optional.of(path), cmdline, console, devices,
                emulation, gdb, vpAffinity);
    }

    public MachineConfig withCmdline(String line) {
        return new MachineConfig(name, cpus, memoryBytes, kernel, initrd, line, console, devices, emulation, gdb,
                vpAffinity);
    }

    public MachineConfig withConsole(Console c) {
        return new MachineConfig(name, cpus, memoryBytes, kernel, initrd, cmdline, c, devices, emulation, gdb,
                vpAffinity);
    }

    /** This machine with one more device, declared after the others. */
    public MachineConfig withDevice(DeviceSpec device) {
        List<DeviceSpec> more = new java.util.ArrayList<>(devices);
        more.add(device);
        return new MachineConfig(name, cpus, memoryBytes, kernel, initrd, cmdline, console, more, emulation, gdb,
                vpAffinity);
    }

    /** This machine with device {@code index} (declaration order) declared as {@code device} instead (since 1.5). */
    public MachineConfig withDevice(int index, DeviceSpec device) {
        List<DeviceSpec> changed = new java.util.ArrayList<>(devices);
        changed.set(index, device);
        return new MachineConfig(name, cpus, memoryBytes, kernel, initrd, cmdline, console, changed, emulation, gdb,
                vpAffinity);
    }

    /** This machine with {@code policy} for instructions KVM cannot emulate. */
    public MachineConfig withEmulation(EmulationPolicy policy) {
        return new MachineConfig(name, cpus, memoryBytes, kernel, initrd, cmdline, console, devices, policy, gdb,
                vpAffinity);
    }

    /** This machine with a gdb remote stub at {@code endpoint} (since 1.6). */
    public MachineConfig withGdb(GdbEndpoint endpoint) {
        return new MachineConfig(name, cpus, memoryBytes, kernel, initrd, cmdline, console, devices, emulation,
                Optional.of(endpoint), vpAffinity);
    }

    /**
     * This machine with its VP threads pinned as {@code affinity} says (since 1.6); {@link VpAffinity#none()} for
     * none pinned.
     *
     * @throws IllegalArgumentException for a VP the machine does not have
     */
    public MachineConfig withVpAffinity(VpAffinity affinity) {
        return new MachineConfig(name, cpus, memoryBytes, kernel, initrd, cmdline, console, devices, emulation, gdb,
                affinity);
    }

    /**
     * Parses a size as people type it, for {@code --memory}: a number (a decimal fraction allowed: {@code 1.5G}) and a
     * binary unit, {@code K}, {@code M}, {@code G} or {@code T}, optionally followed by {@code iB} or {@code B}, in
     * any case ({@code 512M}, {@code 512MiB}, {@code 512mb} are all 512 MiB, as QEMU counts); {@code B} alone for
     * bytes. A bare number is refused with a hint, since {@code 512} meaning 512 bytes surprises everyone (since 1.3).
     *
     * @throws IllegalArgumentException with a one-line message
     */
    public static long parseSize(String text) {
        java.util.regex.Matcher m = SIZE.matcher(text.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + text + "' is not a size (e.g. 512M, 1.5G, 2GiB)");
        }
        if (m.group(2) == null) {
            throw new IllegalArgumentException("'" + text + "' has no unit: say " + m.group(1) + "M for " + m.group(1)
                    + " MiB, or " + m.group(1) + "B for bytes");
        }
        int shift = switch (Character.toUpperCase(m.group(2).charAt(0))) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            default -> 0;
        };
        java.math.BigDecimal bytes = new java.math.BigDecimal(m.group(1))
                .multiply(java.math.BigDecimal.valueOf(1L << shift));
        if (bytes.signum() <= 0 || bytes.compareTo(java.math.BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw new IllegalArgumentException("'" + text + "' is not a size (e.g. 512M, 1.5G, 2GiB)");
        }
        try {
            return bytes.longValueExact();
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("'" + text + "' is not a whole number of bytes");
        }
    }

    /** A number, then an optional unit: K, M, G or T with an optional iB or B, or B alone. */
    private static final java.util.regex.Pattern SIZE = java.util.regex.Pattern.compile(
            "(\\d+(?:\\.\\d+)?)\\s*([KkMmGgTt](?:[iI]?[bB])?|[bB])?");
}
