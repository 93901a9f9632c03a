package io.bundlevisor.manage.launch;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.manage.cli.ArgumentList;
import io.bundlevisor.manage.cli.Cli;
import io.bundlevisor.manage.cli.LogOptions;
import io.bundlevisor.manage.cli.RunOptions;
import io.bundlevisor.manage.cli.ServeOptions;
import io.bundlevisor.manage.cli.Versions;

import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/**
 * What the launcher does with a command line, decided before any framework exists: print help, a version, a
 * completion script or a usage error and exit, or start the platform with these system properties.
 */
final class Launch {

    /** The property that makes the platform boot a VM ({@code bundlevisor run}). */
    static final String RUN = "bundlevisor.run";
    /** The property that makes the platform serve a device ({@code bundlevisor serve}). */
    static final String SERVE = "bundlevisor.serve";

    /** The framework's start level once started (OSGi Core 9.1.3); bnd's launcher reads it as a system property. */
    static final String BEGINNING_START_LEVEL = "org.osgi.framework.startlevel.beginning";
    /**
     * Run and serve own the terminal: the framework stops one level short of the shell's (1000, cnf/ext/runtime.bnd),
     * so the shell never starts and never reads it.
     */
    static final String NO_SHELL = "999";

    /** Either an exit status now, or the properties to start the platform with. */
    record Decision(OptionalInt exitStatus, Map<String, String> properties) {
        static Decision exit(int status) {
            return new Decision(OptionalInt.of(status), Map.of());
        }
    }

    @Command(name = "bundlevisor", mixinStandardHelpOptions = true, versionProvider = Versions.class,
            usageHelpAutoWidth = true,
            description = "A KVM hypervisor on an OSGi platform: boots VMs, serves devices over vhost-user, and "
                    + "runs a shell to manage both.",
            synopsisSubcommandLabel = "[COMMAND]", subcommands = CommandLine.HelpCommand.class,
            commandListHeading = "%nCommands:%n",
            footerHeading = "%n",
            footer = {"With no command, starts the platform with its shell. 'bundlevisor COMMAND --help' tells "
                    + "more.",
                "Exit status: 0 success (run: the guest powered off), 1 the guest crashed (triple fault, internal "
                    + "error), 2 the guest reset under --no-reboot, 64 a usage error."})
    static final class Top {
        @Option(names = "--api-sock", paramLabel = "PATH", order = 1,
                description = "as Firecracker: serve Firecracker's REST API for one microVM on this Unix socket "
                        + "(made 0600), its console on this terminal; the process ends with the guest")
        Path apiSock;

        @Option(names = "--id", paramLabel = "ID", defaultValue = "anonymous-instance", order = 2,
                description = "the microVM's id with --api-sock (default: ${DEFAULT-VALUE})")
        String id;

        @Option(names = "--config-file", paramLabel = "FILE", order = 3,
                description = "as Firecracker: boot the microVM this JSON describes (the format of GET /vm/config) "
                        + "at once; with --api-sock the API is served too")
        Path configFile;

        @Option(names = "--no-api", order = 4,
                description = "as Firecracker: with --config-file, serve no API socket")
        boolean noApi;

        // The Firecracker Go SDK starts its VMM with --no-seccomp unless told otherwise: accepted, as it asks for
        // what this process does anyway (it installs no seccomp filter of its own).
        @Option(names = "--no-seccomp", order = 5,
                description = "as Firecracker: install no seccomp filter (accepted for Firecracker's clients; "
                        + "Bundlevisor installs none)")
        boolean noSeccomp;
    }

    /** The properties that make the platform serve Firecracker's API (platform.api's ApiLauncher). */
    static final String API_SOCKET = "bundlevisor.api.socket";
    static final String API_ID = "bundlevisor.api.id";
    static final String API_CONFIG = "bundlevisor.api.config";

    @Command(name = "shell", mixinStandardHelpOptions = true, versionProvider = Versions.class,
            usageHelpAutoWidth = true,
            description = "Starts the platform with its shell (Gogo on JLine: history, editing, Tab completion): VMs, "
                    + "devices, bundles and configuration managed at the prompt; Ctrl-C interrupts the command, "
                    + "Ctrl-D stops the platform. Log lines stay off the prompt: log:display shows them.")
    static final class Shell {
        @Option(names = "--deploy", paramLabel = "DIR", order = 1,
                description = "a folder watched for bundles: a jar dropped in is installed and started, replaced is "
                        + "updated, removed is uninstalled; a .cfg file sets a Config Admin configuration (default: "
                        + "./deploy when it exists)")
        Path deploy;
    }

    /** The framework properties of the deploy folder's watcher (Felix FileInstall). */
    static final String FILEINSTALL_DIR = "felix.fileinstall.dir";
    /** The default deploy folder, watched when it exists in the working directory (as Karaf's deploy/). */
    static final Path DEFAULT_DEPLOY = Path.of("deploy");
    /** Stops the framework at the shell's level, short of FileInstall's (1001): no folder watched. */
    static final String NO_DEPLOY = "1000";

    private Launch() {
    }

    static CommandLine commandLine() {
        CommandLine top = Cli.configure(new CommandLine(new Top()));
        top.addSubcommand(Cli.runParser("run", true));
        top.addSubcommand(Cli.serveParser(true));
        top.addSubcommand(Cli.withLogging(Cli.configure(new CommandLine(new Shell()))));
        CommandLine completion = new CommandLine(new AutoComplete.GenerateCompletion());
        completion.getCommandSpec().usageMessage().hidden(false)
                .description("Prints a bash/zsh completion script: source <(bundlevisor completion)");
        top.addSubcommand("completion", completion);
        return top;
    }

    static Decision decide(String[] args, PrintWriter out, PrintWriter err, int hostCpus) {
        CommandLine top = commandLine();
        top.setOut(out);
        top.setErr(err);
        ParseResult parsed;
        Integer help;
        try {
            parsed = top.parseArgs(args);
            // `help NAME` checks NAME only here: `help 512M` is a usage error like any other.
            help = CommandLine.executeHelpRequest(parsed);
        } catch (ParameterException e) {
            err.println(MachineConfig.printable("bundlevisor: " + Cli.oneLine(e)));
            err.println("Try 'bundlevisor " + commandPath(e.getCommandLine()) + "--help' for more information.");
            return Decision.exit(Cli.USAGE_ERROR);
        }
        if (help != null) {
            return Decision.exit(help);
        }
        Top topOptions = top.getCommand();
        if (topOptions.noApi && (topOptions.apiSock != null || topOptions.configFile == null)) {
            err.println("bundlevisor: --no-api needs --config-file and no --api-sock");
            return Decision.exit(Cli.USAGE_ERROR);
        }
        if (topOptions.configFile != null && topOptions.apiSock == null && !topOptions.noApi) {
            err.println("bundlevisor: --config-file needs --api-sock PATH, or --no-api");
            return Decision.exit(Cli.USAGE_ERROR);
        }
        if (topOptions.configFile != null && !Files.isRegularFile(topOptions.configFile)) {
            err.println(MachineConfig.printable("bundlevisor: --config-file " + topOptions.configFile + ": no such file"));
            return Decision.exit(Cli.USAGE_ERROR);
        }
        if (topOptions.apiSock != null || topOptions.noApi) {
            if (parsed.hasSubcommand()) {
                err.println("bundlevisor: --api-sock serves a microVM by itself; it does not combine with a command");
                return Decision.exit(Cli.USAGE_ERROR);
            }
            if (!topOptions.id.matches("[A-Za-z0-9._-]{1,64}")) {
                err.println(MachineConfig.printable("bundlevisor: --id must be 1-64 letters, digits, '.', '_' or '-', not '"
                        + topOptions.id + "'"));
                return Decision.exit(Cli.USAGE_ERROR);
            }
            Path parent = topOptions.apiSock == null ? null : topOptions.apiSock.toAbsolutePath().getParent();
            if (parent != null && !Files.isDirectory(parent)) {
                err.println(MachineConfig.printable("bundlevisor: --api-sock " + topOptions.apiSock + ": " + parent
                        + " is not a directory"));
                return Decision.exit(Cli.USAGE_ERROR);
            }
            Map<String, String> properties = new LinkedHashMap<>();
            if (topOptions.apiSock != null) {
                properties.put(API_SOCKET, topOptions.apiSock.toAbsolutePath().toString());
            }
            if (topOptions.configFile != null) {
                properties.put(API_CONFIG, topOptions.configFile.toAbsolutePath().toString());
            }
            properties.put(API_ID, topOptions.id);
            properties.put(BEGINNING_START_LEVEL, NO_SHELL);
            properties.put(LogOptions.LEVEL, "warn");
            return new Decision(OptionalInt.empty(), properties);
        }
        if (!parsed.hasSubcommand()) {
            // The shell, its logging as the system properties say (warnings and errors by default).
            Map<String, String> properties = new LinkedHashMap<>();
            if (System.getProperty(BEGINNING_START_LEVEL) == null && System.getProperty(FILEINSTALL_DIR) == null) {
                deploy(null, properties);
            }
            return new Decision(OptionalInt.empty(), properties);
        }
        ParseResult sub = parsed.subcommand();
        CommandLine command = sub.commandSpec().commandLine();
        String name = command.getCommandName();
        if (name.equals("completion")) {
            out.print(AutoComplete.bash("bundlevisor", top));
            out.flush();
            return Decision.exit(0);
        }
        LogOptions logging = (LogOptions) sub.commandSpec().mixins().get(Cli.LOGGING).userObject();
        Map<String, String> properties = new LinkedHashMap<>(logging.properties("warn"));
        List<String> rest = Arrays.asList(args).subList(1 + Arrays.asList(args).indexOf(name), args.length);
        try {
            switch (name) {
                case "run" -> {
                    RunOptions o = command.getCommand();
                    if (o.restoring()) {
                        o.toRestore();
                    } else {
                        o.toArguments(hostCpus);
                    }
                    properties.put(RUN, ArgumentList.join(rest));
                    properties.put(BEGINNING_START_LEVEL, NO_SHELL);
                }
                case "serve" -> {
                    ((ServeOptions) command.getCommand()).toArguments();
                    properties.put(SERVE, ArgumentList.join(rest));
                    properties.put(BEGINNING_START_LEVEL, NO_SHELL);
                }
                default -> deploy(((Shell) command.getCommand()).deploy, properties);
            }
        } catch (IllegalArgumentException e) {
            err.println(MachineConfig.printable("bundlevisor: " + e.getMessage()));
            return Decision.exit(Cli.USAGE_ERROR);
        }
        return new Decision(OptionalInt.empty(), properties);
    }

    /**
     * Watches {@code dir} (or ./deploy if it exists) with FileInstall: jars installed, updated and uninstalled,
     * .cfg files into Config Admin; with neither, the framework stops short of FileInstall's start level.
     */
    private static void deploy(Path dir, Map<String, String> properties) {
        Path watched = dir != null ? dir : Files.isDirectory(DEFAULT_DEPLOY) ? DEFAULT_DEPLOY : null;
        if (watched == null) {
            properties.put(BEGINNING_START_LEVEL, NO_DEPLOY);
            return;
        }
        if (Files.exists(watched) && !Files.isDirectory(watched)) {
            throw new IllegalArgumentException("--deploy " + watched + " is not a directory");
        }
        properties.put(FILEINSTALL_DIR, watched.toAbsolutePath().normalize().toString());
        properties.put("felix.fileinstall.poll", "1000");
        properties.put("felix.fileinstall.noInitialDelay", "true");
        // Errors only, on stderr; what it installs shows in lb and the log.
        properties.put("felix.fileinstall.log.level", "1");
        // A configuration changed in the shell is not written back into the folder.
        properties.put("felix.fileinstall.enableConfigSave", "false");
    }

    private static String commandPath(CommandLine c) {
        StringBuilder path = new StringBuilder();
        for (CommandLine x = c; x != null && x.getParent() != null; x = x.getParent()) {
            path.insert(0, x.getCommandName() + " ");
        }
        return path.toString();
    }
}
