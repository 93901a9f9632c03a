package io.bundlevisor.manage.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The logging options every launcher command takes: {@code -v} (repeatable), {@code --log-level LEVEL} or
 * {@code --log-level LOGGER=LEVEL} (repeatable), {@code --log-file PATH}. They become the system properties
 * {@value #LEVEL}, {@value #LOGGERS} and {@value #FILE}, which the platform's logging reads as it starts.
 */
public final class LogOptions {

    /** The root level: error, warn, info, debug or trace. */
    public static final String LEVEL = "bundlevisor.log.level";
    /** Per-logger levels, {@code name=level} pairs separated by commas. */
    public static final String LOGGERS = "bundlevisor.log.loggers";
    /** Where log lines go instead of stderr (appended). */
    public static final String FILE = "bundlevisor.log.file";
    static final Set<String> LEVELS = Set.of("error", "warn", "info", "debug", "trace");

    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    @Option(names = {"-v", "--verbose"}, order = 90,
            description = "more log lines: -v info, -vv debug, -vvv trace (default: warnings and errors only)")
    boolean[] verbose = new boolean[0];

    private String level;
    private final List<String> loggers = new ArrayList<>();

    @Option(names = "--log-level", paramLabel = "[LOGGER=]LEVEL", order = 91, parameterConsumer = Cli.Repeatable.class,
            description = "error, warn, info, debug or trace, for all loggers or for one (repeatable), e.g. "
                    + "--log-level io.bundlevisor.vhost=debug")
    void level(String text) {
        int eq = text.indexOf('=');
        String lvl = (eq < 0 ? text : text.substring(eq + 1)).toLowerCase(Locale.ROOT);
        if (!LEVELS.contains(lvl)) {
            throw new ParameterException(spec.commandLine(), "--log-level '" + text
                    + "': the level must be error, warn, info, debug or trace");
        }
        if (eq < 0) {
            level = lvl;
        } else if (eq == 0 || !text.substring(0, eq).matches("[A-Za-z0-9_.$]+")) {
            throw new ParameterException(spec.commandLine(), "--log-level '" + text + "': LOGGER=LEVEL needs a "
                    + "logger name (a package or class)");
        } else {
            loggers.add(text.substring(0, eq) + "=" + lvl);
        }
    }

    @Option(names = "--log-file", paramLabel = "PATH", order = 92,
            description = "write log lines to PATH (appended) instead of stderr")
    Path file;

    /** The system properties these options set; {@code defaultLevel} where neither -v nor a level was given. */
    public Map<String, String> properties(String defaultLevel) {
        String root = level != null ? level : switch (verbose.length) {
            case 0 -> defaultLevel;
            case 1 -> "info";
            case 2 -> "debug";
            default -> "trace";
        };
        Map<String, String> p = new java.util.LinkedHashMap<>();
        p.put(LEVEL, root);
        if (!loggers.isEmpty()) {
            p.put(LOGGERS, String.join(",", loggers));
        }
        if (file != null) {
            p.put(FILE, file.toAbsolutePath().toString());
        }
        return p;
    }
}
