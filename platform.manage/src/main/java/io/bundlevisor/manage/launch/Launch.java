package io.bundlevisor.manage.launch;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import io.bundlevisor.manage.cli.ArgumentList;
import io.bundlevisor.manage.cli.Cli;
import io.bundlevisor.manage.cli.LogOptions;
import io.bundlevisor.manage.cli.RunOptions;
import io.bundlevisor.manage.cli.ServeOptions;
import io.bundlevisor.manage.cli.Versions;

import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
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
    }

    @Command(name = "shell", mixinStandardHelpOptions = true, versionProvider = Versions.class,
            description = "Starts the platform with its shell (Gogo): VMs, devices, bundles and configuration "
                    + "managed at the prompt; Ctrl-D stops the platform.")
    static final class Shell {
    }

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
        try {
            parsed = top.parseArgs(args);
        } catch (ParameterException e) {
            err.println("bundlevisor: " + Cli.oneLine(e));
            err.println("Try 'bundlevisor " + commandPath(e.getCommandLine()) + "--help' for more information.");
            return Decision.exit(Cli.USAGE_ERROR);
        }
        Integer help = CommandLine.executeHelpRequest(parsed);
        if (help != null) {
            return Decision.exit(help);
        }
        if (!parsed.hasSubcommand()) {
            // The shell, its logging as the system properties say (warnings and errors by default).
            return new Decision(OptionalInt.empty(), Map.of());
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
                    ((RunOptions) command.getCommand()).toArguments(hostCpus);
                    properties.put(RUN, ArgumentList.join(rest));
                    properties.put(BEGINNING_START_LEVEL, NO_SHELL);
                }
                case "serve" -> {
                    ((ServeOptions) command.getCommand()).toArguments();
                    properties.put(SERVE, ArgumentList.join(rest));
                    properties.put(BEGINNING_START_LEVEL, NO_SHELL);
                }
                default -> {
                    // shell: the platform with its prompt.
                }
            }
        } catch (IllegalArgumentException e) {
            err.println("bundlevisor: " + e.getMessage());
            return Decision.exit(Cli.USAGE_ERROR);
        }
        return new Decision(OptionalInt.empty(), properties);
    }

    private static String commandPath(CommandLine c) {
        StringBuilder path = new StringBuilder();
        for (CommandLine x = c; x != null && x.getParent() != null; x = x.getParent()) {
            path.insert(0, x.getCommandName() + " ");
        }
        return path.toString();
    }
}
