package io.bundlevisor.manage.cli;

import java.util.List;

import picocli.CommandLine;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The command-line parsers, shared by the launcher (before the framework starts), the platform's launchers (which
 * parse the same arguments again to build the machine) and the shell's {@code vm:run}. A usage error is an
 * {@link IllegalArgumentException} with one line; its exit status is {@link #USAGE_ERROR} everywhere.
 */
public final class Cli {

    /** The exit status of every usage error (BSD's EX_USAGE). */
    public static final int USAGE_ERROR = 64;

    private Cli() {
    }

    /**
     * picocli with our settings: usage errors are 64, options are never abbreviated, {@code --opt=value} works, and an
     * option that takes one value given twice ({@code --kernel a --kernel b}) is a usage error rather than the last
     * one silently winning.
     */
    public static CommandLine configure(CommandLine c) {
        c.getCommandSpec().exitCodeOnInvalidInput(USAGE_ERROR);
        c.setAbbreviatedOptionsAllowed(false);
        c.setAbbreviatedSubcommandsAllowed(false);
        c.setOverwrittenOptionsAllowed(false);
        return c;
    }

    /**
     * How a repeatable option kept in command-line order by its setter method ({@code --disk}, {@code --net},
     * {@code --device}, {@code --log-level}) takes each value: straight to the setter, since picocli counts a setter of
     * one value as an option given once, and every other option given twice is a usage error.
     */
    public static final class Repeatable implements CommandLine.IParameterConsumer {
        @Override
        public void consumeParameters(java.util.Stack<String> args, CommandLine.Model.ArgSpec argSpec,
                CommandLine.Model.CommandSpec commandSpec) {
            String option = ((CommandLine.Model.OptionSpec) argSpec).longestName();
            if (args.isEmpty()) {
                throw new ParameterException(commandSpec.commandLine(), "missing required parameter for option '"
                        + option + "' (" + argSpec.paramLabel() + ")");
            }
            String value = args.pop();
            try {
                argSpec.setValue(value);
            } catch (CommandLine.PicocliException e) {
                for (Throwable t = e; t != null; t = t.getCause()) {
                    if (t instanceof ParameterException refused) {
                        throw refused; // the setter's own one-line refusal
                    }
                }
                throw new ParameterException(commandSpec.commandLine(), option + ": " + e.getMessage(), e, argSpec,
                        value);
            }
        }
    }

    /** The name of the {@link LogOptions} mixin. */
    public static final String LOGGING = "logging";

    /**
     * A parser for {@code run}'s options, named {@code name} in its usage (e.g. {@code vm:run}); with the logging
     * options where the launcher takes them.
     */
    public static CommandLine runParser(String name, boolean logging) {
        CommandLine c = configure(new CommandLine(new RunOptions())).setCommandName(name);
        return logging ? withLogging(c) : c;
    }

    /** A parser for {@code serve}'s options. */
    public static CommandLine serveParser(boolean logging) {
        CommandLine c = configure(new CommandLine(new ServeOptions()));
        return logging ? withLogging(c) : c;
    }

    /** {@code c} with the logging options ({@link LogOptions}) mixed in. */
    public static CommandLine withLogging(CommandLine c) {
        c.addMixin(LOGGING, new LogOptions());
        return c;
    }

    /**
     * Parses {@code bundlevisor run}'s arguments (the logging options allowed, and left to the launcher) and checks
     * them against this host.
     *
     * @throws IllegalArgumentException with one line for a person
     */
    public static RunArguments parseRun(List<String> args, int hostCpus) {
        CommandLine c = runParser("run", true);
        try {
            c.parseArgs(args.toArray(String[]::new));
        } catch (ParameterException e) {
            throw new IllegalArgumentException(oneLine(e), e);
        }
        RunOptions o = c.getCommand();
        return o.toArguments(hostCpus);
    }

    /**
     * Parses {@code bundlevisor run}'s arguments (the logging options allowed) into its options, unchecked against
     * the host: for a caller that tells a restore from a new machine.
     *
     * @throws IllegalArgumentException with one line for a person
     */
    public static RunOptions runOptions(List<String> args) {
        CommandLine c = runParser("run", true);
        try {
            c.parseArgs(args.toArray(String[]::new));
        } catch (ParameterException e) {
            throw new IllegalArgumentException(oneLine(e), e);
        }
        return c.getCommand();
    }

    /**
     * Parses {@code bundlevisor serve}'s arguments.
     *
     * @throws IllegalArgumentException with one line for a person
     */
    public static ServeArguments parseServe(List<String> args) {
        CommandLine c = serveParser(true);
        try {
            c.parseArgs(args.toArray(String[]::new));
        } catch (ParameterException e) {
            throw new IllegalArgumentException(oneLine(e), e);
        }
        ServeOptions o = c.getCommand();
        return o.toArguments();
    }

    /** picocli's message on one line, with its suggestion for a misspelt option ("did you mean --cpus?"). */
    public static String oneLine(ParameterException e) {
        if (e instanceof UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String first = u.getUnmatched().getFirst();
            String message = (first.startsWith("-") ? "unknown option '"
                    : u.getCommandLine().getSubcommands().isEmpty() ? "unexpected argument '" : "unknown command '")
                    + first + "'";
            List<String> s = u.getSuggestions();
            if (!s.isEmpty()) {
                message += " (did you mean " + String.join(" or ", s.subList(0, Math.min(3, s.size()))) + "?)";
            }
            return message;
        }
        String message = e.getMessage().strip().replaceAll("\\s*\\R\\s*", " ");
        if (message.isEmpty()) {
            message = "bad arguments";
        }
        return Character.toLowerCase(message.charAt(0)) + message.substring(1);
    }
}
