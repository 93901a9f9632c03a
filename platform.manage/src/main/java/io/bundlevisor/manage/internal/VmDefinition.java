package io.bundlevisor.manage.internal;

import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.manage.cli.Cli;
import io.bundlevisor.manage.cli.RunOptions;

import picocli.CommandLine;
import picocli.CommandLine.ParameterException;

/**
 * A VM's definition from a configuration's properties, read as {@code bundlevisor run}'s command line: {@code kernel},
 * {@code initrd}, {@code cmdline}, {@code cpus}, {@code memory}, {@code console}, {@code emulation} (the option
 * {@code --on-emulation-failure}), and devices as {@code device.0}, {@code device.1}, ... in the guest's order, each
 * {@code TYPE,OPTIONS} as {@code --device} takes it (a string array {@code device} works too). The name is
 * {@code name}, else what follows the {@code ~} of the factory configuration's PID. The console defaults to
 * {@code file:NAME.console.log}, as {@code vm:run}'s. Unknown properties are refused, so a typo is not ignored.
 */
record VmDefinition(MachineConfig config) {

    /** What Config Admin, Declarative Services and FileInstall add to the properties, which is not the VM's. */
    private static final List<String> FRAMEWORK = List.of("service.", "component.", "osgi.", "felix.", "objectClass");
    private static final Map<String, String> OPTIONS = Map.of("kernel", "--kernel", "initrd", "--initrd", "cmdline",
            "--cmdline", "cpus", "--cpus", "memory", "--memory", "console", "--console", "emulation",
            "--on-emulation-failure");

    /**
     * The definition in {@code properties}.
     *
     * @throws IllegalArgumentException with one line: what is wrong, naming the property
     */
    static VmDefinition of(String pid, Map<String, Object> properties) {
        Map<String, String> own = own(properties);
        String name = own.containsKey("name") ? own.get("name")
                : pid.contains("~") ? pid.substring(pid.indexOf('~') + 1) : null;
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("no name: give the property name, or a factory configuration "
                    + "named io.bundlevisor.vm~NAME");
        }
        List<String> args = new ArrayList<>(List.of("--name", name));
        TreeMap<Integer, String> devices = new TreeMap<>();
        for (Map.Entry<String, String> e : own.entrySet()) {
            String k = e.getKey();
            if (k.equals("name")) {
                continue;
            }
            if (OPTIONS.containsKey(k)) {
                args.addAll(List.of(OPTIONS.get(k), e.getValue()));
            } else if (k.matches("device\\.\\d{1,3}")) {
                devices.put(Integer.parseInt(k.substring(7)), e.getValue());
            } else if (k.matches("device\\[\\d{1,3}]")) {
                devices.put(Integer.parseInt(k.substring(7, k.length() - 1)), e.getValue());
            } else {
                throw new IllegalArgumentException("unknown property '" + k + "' (known: name, "
                        + String.join(", ", new TreeMap<>(OPTIONS).keySet()) + ", device.N)");
            }
        }
        devices.values().forEach(d -> args.addAll(List.of("--device", d)));
        if (!own.containsKey("console") && !own.containsKey("--console")) {
            args.addAll(List.of("--console", "file:" + name + ".console.log"));
        }
        CommandLine parser = Cli.runParser(FACTORY_LABEL, false);
        try {
            parser.parseArgs(args.toArray(String[]::new));
        } catch (ParameterException e) {
            throw new IllegalArgumentException(Cli.oneLine(e).replace("option '--", "property '"), e);
        }
        MachineConfig config = ((RunOptions) parser.getCommand()).toArguments(
                Runtime.getRuntime().availableProcessors()).config();
        if (config.console() instanceof io.bundlevisor.core.partition.Console.Socket s && s.waitForClient()) {
            // Config Admin delivers on one thread for every configuration: a VM may not hold it for a client.
            throw new IllegalArgumentException("console socket:PATH,wait would hold the configuration thread until "
                    + "a client connects: use socket:PATH");
        }
        if (config.console() instanceof io.bundlevisor.core.partition.Console.Stdio) {
            throw new IllegalArgumentException("console stdio is the shell's terminal: use file:PATH, socket:PATH, "
                    + "pty or none");
        }
        return new VmDefinition(config);
    }

    private static final String FACTORY_LABEL = "io.bundlevisor.vm";

    /** The VM's own properties, as strings (an array {@code device} becomes {@code device[0]}, ...). */
    static Map<String, String> own(Map<String, Object> properties) {
        Map<String, String> own = new TreeMap<>();
        for (Map.Entry<String, Object> e : properties.entrySet()) {
            if (e.getKey().startsWith(".") || FRAMEWORK.stream().anyMatch(e.getKey()::startsWith)) {
                continue;
            }
            Object v = e.getValue();
            if (v != null && v.getClass().isArray()) {
                for (int i = 0; i < Array.getLength(v); i++) {
                    own.put(e.getKey() + "[" + i + "]", String.valueOf(Array.get(v, i)));
                }
            } else if (v instanceof java.util.Collection<?> c) {
                int i = 0;
                for (Object x : c) {
                    own.put(e.getKey() + "[" + i++ + "]", String.valueOf(x));
                }
            } else {
                own.put(e.getKey(), String.valueOf(v));
            }
        }
        return own;
    }
}
