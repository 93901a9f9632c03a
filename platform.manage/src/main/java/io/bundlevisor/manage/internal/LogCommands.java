package io.bundlevisor.manage.internal;

import java.io.IOException;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Locale;

import org.apache.felix.service.command.Descriptor;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;
import org.slf4j.LoggerFactory;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.read.CyclicBufferAppender;

import io.bundlevisor.manage.launch.Logging;

/**
 * Gogo {@code log:display}, {@code log:get} and {@code log:set}: the recent log lines (kept in memory by the launcher,
 * so that none lands on the shell's prompt) and the levels, set through Config Admin ({@link LogLevels#PID}).
 */
@Component(service = LogCommands.class, property = {
    "osgi.command.scope=log",
    "osgi.command.function=display",
    "osgi.command.function=get",
    "osgi.command.function=set"
})
public final class LogCommands {

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS")
            .withZone(ZoneId.systemDefault());

    private final ConfigurationAdmin admin;

    @Activate
    public LogCommands(@Reference ConfigurationAdmin admin) {
        this.admin = admin;
    }

    @Descriptor("shows the last 50 log lines")
    public String display() {
        return display(50);
    }

    @Descriptor("shows the last N log lines (the platform keeps 1000)")
    public String display(@Descriptor("how many lines") int count) {
        CyclicBufferAppender<ILoggingEvent> recent = recent();
        if (recent == null) {
            return "log: no recent lines are kept here (the platform was not started by its launcher)";
        }
        int n = recent.getLength();
        List<String> lines = new ArrayList<>();
        for (int i = Math.max(0, n - Math.max(count, 0)); i < n; i++) {
            ILoggingEvent e = recent.get(i);
            lines.add(TIME.format(Instant.ofEpochMilli(e.getTimeStamp())) + " " + String.format("%-5s", e.getLevel())
                    + " [" + e.getThreadName() + "] " + e.getLoggerName() + " - " + e.getFormattedMessage());
        }
        return lines.isEmpty() ? "log: nothing logged yet at the levels in force (log:get)" : String.join("\n", lines);
    }

    @Descriptor("shows the levels in force: the root's and every logger given one")
    public String get() {
        LoggerContext context = context();
        List<String> lines = new ArrayList<>();
        for (Logger l : context.getLoggerList()) {
            if (l.getLevel() != null) {
                lines.add((l.getName().equals(Logger.ROOT_LOGGER_NAME) ? LogLevels.ROOT : l.getName()) + " "
                        + l.getLevel().toString().toLowerCase(Locale.ROOT));
            }
        }
        return String.join("\n", lines);
    }

    @Descriptor("sets the root level (Config Admin PID io.bundlevisor.log); 'default' forgets the setting")
    public String set(@Descriptor("error, warn, info, debug, trace, off or default") String level) throws IOException {
        return set(level, LogLevels.ROOT);
    }

    @Descriptor("sets a logger's level (Config Admin PID io.bundlevisor.log); 'default' makes it inherit again")
    public String set(@Descriptor("error, warn, info, debug, trace, off or default") String level,
            @Descriptor("a logger: a package or class name, or ROOT") String logger) throws IOException {
        String lvl = level.toLowerCase(Locale.ROOT);
        if (!lvl.equals("default") && !LogLevels.LEVELS.contains(lvl)) {
            return "log: the level must be error, warn, info, debug, trace, off or default, not '" + level + "'";
        }
        if (!logger.equals(LogLevels.ROOT) && !logger.matches("[A-Za-z0-9_.$]+")) {
            return "log: '" + logger + "' is not a logger name (a package or class, or ROOT)";
        }
        Configuration c = admin.getConfiguration(LogLevels.PID, "?");
        Dictionary<String, Object> old = c.getProperties();
        Dictionary<String, Object> next = new Hashtable<>();
        if (old != null) {
            for (String k : Collections.list(old.keys())) {
                next.put(k, old.get(k));
            }
        }
        if (lvl.equals("default")) {
            next.remove(logger);
        } else {
            next.put(logger, lvl);
        }
        c.update(next);
        return logger + " " + lvl;
    }

    @SuppressWarnings("unchecked")
    private static CyclicBufferAppender<ILoggingEvent> recent() {
        Appender<ILoggingEvent> a = context().getLogger(Logger.ROOT_LOGGER_NAME).getAppender(Logging.RECENT);
        return a instanceof CyclicBufferAppender<?> c ? (CyclicBufferAppender<ILoggingEvent>) c : null;
    }

    private static LoggerContext context() {
        return (LoggerContext) LoggerFactory.getILoggerFactory();
    }
}
