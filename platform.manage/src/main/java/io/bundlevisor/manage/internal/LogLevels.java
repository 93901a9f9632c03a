package io.bundlevisor.manage.internal;

import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Modified;
import org.slf4j.LoggerFactory;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;

/**
 * Log levels from Config Admin (PID {@value #PID}): each property names a logger ({@value #ROOT} for the root) and
 * its level (error, warn, info, debug, trace, or off). Applied whenever the configuration changes; a logger that
 * leaves the configuration goes back to inheriting its parent's level. {@code log:set} writes here; so can
 * {@code config:} commands.
 */
@Component(service = LogLevels.class, configurationPid = LogLevels.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL, immediate = true)
public final class LogLevels {

    public static final String PID = "io.bundlevisor.log";
    public static final String ROOT = "ROOT";
    static final Set<String> LEVELS = Set.of("error", "warn", "info", "debug", "trace", "off");

    private final Set<String> applied = new HashSet<>();

    @Activate
    public LogLevels(Map<String, Object> properties) {
        apply(properties);
    }

    @Modified
    void modified(Map<String, Object> properties) {
        apply(properties);
    }

    private synchronized void apply(Map<String, Object> properties) {
        if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
            return;
        }
        Set<String> now = new HashSet<>();
        for (Map.Entry<String, Object> e : properties.entrySet()) {
            String name = e.getKey();
            String level = String.valueOf(e.getValue()).toLowerCase(Locale.ROOT);
            if (name.startsWith("service.") || name.startsWith("component.") || name.startsWith("felix.")
                    || !LEVELS.contains(level)) {
                continue;
            }
            context.getLogger(name.equals(ROOT) ? Logger.ROOT_LOGGER_NAME : name).setLevel(Level.toLevel(level));
            now.add(name);
        }
        for (String gone : applied) {
            if (!now.contains(gone) && !gone.equals(ROOT)) {
                context.getLogger(gone).setLevel(null);
            }
        }
        applied.clear();
        applied.addAll(now);
    }
}
