package io.bundlevisor.api.internal;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

import org.slf4j.LoggerFactory;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.FileAppender;

/**
 * Firecracker's {@code PUT /logger} on the platform's Logback (which the launcher set up): {@code level} (Error,
 * Warning, Info, Debug, Trace, Off; any case) for the root logger or for {@code module} (one of our logger names, e.g.
 * {@code io.bundlevisor.core.internal.virtio}), and {@code log_path}, a file or named pipe that gets the log lines
 * from then on ({@code show_level} and {@code show_log_origin} choose whether a line names its level and its logger).
 * Set once, as in Firecracker.
 */
final class ApiLogger implements AutoCloseable {

    static final String APPENDER = "api-logger";
    private static final Map<String, Level> LEVELS = Map.of("error", Level.ERROR, "warning", Level.WARN, "warn",
            Level.WARN, "info", Level.INFO, "debug", Level.DEBUG, "trace", Level.TRACE, "off", Level.OFF);

    private FileAppender<ILoggingEvent> appender;
    private boolean configured;

    synchronized void configure(ApiTypes.LoggerConfig c) throws ApiException {
        if (configured) {
            throw new ApiException("the logger is configured already");
        }
        if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
            throw new ApiException("this platform's logging is not Logback: the logger cannot be configured here");
        }
        Level level = c.level() == null ? Level.INFO : LEVELS.get(c.level().toLowerCase(Locale.ROOT));
        if (level == null) {
            throw new ApiException("level must be Error, Warning, Info, Debug, Trace or Off, not " + c.level());
        }
        if (c.module() != null && !c.module().matches("[A-Za-z0-9_.$]{1,200}")) {
            throw new ApiException("module must be a logger name (a package or class), not " + c.module());
        }
        Path file = null;
        if (c.logPath() != null) {
            if (c.logPath().isEmpty() || c.logPath().indexOf('\0') >= 0) {
                throw new ApiException("log_path is empty");
            }
            file = Path.of(c.logPath()).toAbsolutePath();
            if (file.getParent() == null || !Files.isDirectory(file.getParent()) || Files.isDirectory(file)) {
                throw new ApiException("log_path " + c.logPath() + ": not a file in an existing folder");
            }
        }
        Logger target = context.getLogger(c.module() == null ? Logger.ROOT_LOGGER_NAME : c.module());
        target.setLevel(level);
        if (file != null) {
            PatternLayoutEncoder encoder = new PatternLayoutEncoder();
            encoder.setPattern("%d{yyyy-MM-dd'T'HH:mm:ss.SSS} [%thread]"
                    + (Boolean.TRUE.equals(c.showLevel()) ? " %-5level" : "")
                    + (Boolean.TRUE.equals(c.showLogOrigin()) ? " %logger" : "") + " %msg%n");
            encoder.setContext(context);
            encoder.start();
            FileAppender<ILoggingEvent> a = new FileAppender<>();
            a.setName(APPENDER);
            a.setFile(file.toString());
            a.setAppend(true);
            a.setEncoder(encoder);
            a.setContext(context);
            a.start();
            context.getLogger(Logger.ROOT_LOGGER_NAME).addAppender(a);
            appender = a;
        }
        configured = true;
    }

    @Override
    public synchronized void close() {
        if (appender != null && LoggerFactory.getILoggerFactory() instanceof LoggerContext context) {
            context.getLogger(Logger.ROOT_LOGGER_NAME).detachAppender(appender);
            appender.stop();
            appender = null;
        }
    }
}
