package io.bundlevisor.manage.launch;

import java.util.Locale;

import org.slf4j.LoggerFactory;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.FileAppender;
import ch.qos.logback.core.OutputStreamAppender;
import ch.qos.logback.core.read.CyclicBufferAppender;

import io.bundlevisor.manage.cli.LogOptions;

/**
 * Logback, set up by the launcher before the framework starts (it lives on the launcher's class path, and the system
 * bundle exports SLF4J and Logback to the bundles): the level and per-logger levels of {@link LogOptions}, lines on
 * stderr or in {@code --log-file}, and the last {@value #RECENT_SIZE} events kept for the shell's {@code log:display}.
 * In the shell, lines go only to the file and that buffer, so that none lands on the prompt (as in Karaf).
 */
public final class Logging {

    /** The name of the appender that keeps recent events. */
    public static final String RECENT = "recent";
    static final int RECENT_SIZE = 1000;
    /** The line format: time, level, thread, logger, message. */
    public static final String PATTERN = "%d{HH:mm:ss.SSS} %-5level [%thread] %logger{36} - %msg%n";

    private Logging() {
    }

    /**
     * Configures Logback from the {@link LogOptions} system properties; {@code terminal} says whether lines may go to
     * stderr when no file is given.
     */
    static void configure(String level, String loggers, String file, boolean terminal) {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        context.reset();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.toLevel(level, Level.WARN));
        if (loggers != null && !loggers.isEmpty()) {
            for (String pair : loggers.split(",")) {
                int eq = pair.indexOf('=');
                context.getLogger(pair.substring(0, eq)).setLevel(Level.toLevel(pair.substring(eq + 1)));
            }
        }
        CyclicBufferAppender<ILoggingEvent> recent = new CyclicBufferAppender<>() {
            @Override
            protected void append(ILoggingEvent event) {
                // Thread name, message and MDC are taken lazily; fix them now, not when log:display reads them.
                event.prepareForDeferredProcessing();
                super.append(event);
            }
        };
        recent.setName(RECENT);
        recent.setMaxSize(RECENT_SIZE);
        recent.setContext(context);
        recent.start();
        root.addAppender(recent);
        OutputStreamAppender<ILoggingEvent> lines = null;
        if (file != null && !file.isEmpty()) {
            FileAppender<ILoggingEvent> f = new FileAppender<>();
            f.setFile(file);
            f.setAppend(true);
            lines = f;
        } else if (terminal) {
            ConsoleAppender<ILoggingEvent> c = new ConsoleAppender<>();
            c.setTarget("System.err");
            lines = c;
        }
        if (lines != null) {
            PatternLayoutEncoder encoder = new PatternLayoutEncoder();
            // On a terminal, run's console may be raw (no output processing): a line then needs its own CR.
            boolean tty = lines instanceof ConsoleAppender && System.console() != null && System.console().isTerminal();
            encoder.setPattern(tty ? PATTERN.replace("%n", "\r%n") : PATTERN);
            encoder.setContext(context);
            encoder.start();
            lines.setName(file != null && !file.isEmpty() ? "file" : "stderr");
            lines.setEncoder(encoder);
            lines.setContext(context);
            lines.start();
            root.addAppender(lines);
        }
    }

    /** Configures from the system properties {@link LogOptions} set. */
    static void configureFromProperties(boolean terminal) {
        configure(System.getProperty(LogOptions.LEVEL, "warn").toLowerCase(Locale.ROOT),
                System.getProperty(LogOptions.LOGGERS), System.getProperty(LogOptions.FILE), terminal);
    }
}
