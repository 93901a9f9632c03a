package io.bundlevisor.manage.internal;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Locale;
import java.util.TreeMap;

import org.apache.felix.service.command.Descriptor;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Gogo {@code config:list}, {@code config:get}, {@code config:set}, {@code config:unset} and {@code config:delete}:
 * Config Admin from the shell (Karaf's {@code config:} commands, smaller). A value keeps the type the property has
 * (a number stays a number, a boolean a boolean); a new property is a number or a boolean when it reads as one, else
 * a string. Mistakes are one line.
 */
@Component(service = ConfigCommands.class, property = {
    "osgi.command.scope=config",
    "osgi.command.function=list",
    "osgi.command.function=get",
    "osgi.command.function=set",
    "osgi.command.function=unset",
    "osgi.command.function=delete"
})
public final class ConfigCommands {

    private final ConfigurationAdmin admin;

    @Activate
    public ConfigCommands(@Reference ConfigurationAdmin admin) {
        this.admin = admin;
    }

    @Descriptor("lists the configurations: PID and properties")
    public String list() throws IOException, InvalidSyntaxException {
        Configuration[] all = admin.listConfigurations(null);
        if (all == null || all.length == 0) {
            return "no configurations";
        }
        List<String> lines = new ArrayList<>();
        for (Configuration c : new TreeMap<>(java.util.Arrays.stream(all)
                .collect(java.util.stream.Collectors.toMap(Configuration::getPid, x -> x))).values()) {
            lines.add(c.getPid() + " " + properties(c));
        }
        return String.join("\n", lines);
    }

    @Descriptor("shows a configuration's properties")
    public String get(@Descriptor("the PID, e.g. io.bundlevisor.virtio") String pid) throws IOException {
        Configuration c = existing(pid);
        return c == null ? "config: no configuration " + pid : pid + " " + properties(c);
    }

    @Descriptor("sets a property of a configuration (made if missing); the component using it is updated")
    public String set(@Descriptor("the PID") String pid, @Descriptor("the property") String key,
            @Descriptor("the value") String value) throws IOException {
        if (!key.matches("[A-Za-z0-9_.$-]+") || key.startsWith("service.")) {
            return "config: '" + key + "' is not a property this command sets";
        }
        Configuration c = admin.getConfiguration(pid, "?");
        Dictionary<String, Object> next = copy(c);
        try {
            next.put(key, typed(next.get(key), value));
        } catch (IllegalArgumentException e) {
            return "config: " + pid + " " + key + ": " + e.getMessage();
        }
        c.update(next);
        return pid + " " + key + "=" + next.get(key);
    }

    @Descriptor("removes a property from a configuration")
    public String unset(@Descriptor("the PID") String pid, @Descriptor("the property") String key)
            throws IOException {
        Configuration c = existing(pid);
        if (c == null) {
            return "config: no configuration " + pid;
        }
        Dictionary<String, Object> next = copy(c);
        if (next.remove(key) == null) {
            return "config: " + pid + " has no " + key;
        }
        c.update(next);
        return pid + " " + properties(c);
    }

    @Descriptor("deletes a configuration (its component goes back to its defaults)")
    public String delete(@Descriptor("the PID") String pid) throws IOException {
        Configuration c = existing(pid);
        if (c == null) {
            return "config: no configuration " + pid;
        }
        c.delete();
        return "deleted " + pid;
    }

    private Configuration existing(String pid) throws IOException {
        try {
            Configuration[] found = admin.listConfigurations("(service.pid=" + pid.replaceAll("([\\\\*()])", "\\\\$1")
                    + ")");
            return found == null || found.length == 0 ? null : found[0];
        } catch (InvalidSyntaxException e) {
            return null;
        }
    }

    private static Dictionary<String, Object> copy(Configuration c) {
        Dictionary<String, Object> old = c.getProperties();
        Dictionary<String, Object> next = new Hashtable<>();
        if (old != null) {
            for (String k : Collections.list(old.keys())) {
                if (!k.equals("service.pid") && !k.equals("service.factoryPid") && !k.startsWith("felix.")) {
                    next.put(k, old.get(k));
                }
            }
        }
        return next;
    }

    /** {@code text} as the type {@code old} has, or as a number or boolean when it reads as one. */
    static Object typed(Object old, String text) {
        try {
            return switch (old) {
                case Integer i -> Integer.valueOf(text);
                case Long l -> Long.valueOf(text);
                case Double d -> Double.valueOf(text);
                case Float f -> Float.valueOf(text);
                case Boolean b -> parseBoolean(text);
                case null -> guess(text);
                default -> text;
            };
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is not a " + old.getClass().getSimpleName()
                    .toLowerCase(Locale.ROOT) + ", as this property is");
        }
    }

    private static Object guess(String text) {
        if (text.equals("true") || text.equals("false")) {
            return Boolean.valueOf(text);
        }
        if (text.matches("-?\\d{1,18}")) {
            return Long.valueOf(text);
        }
        if (text.matches("-?\\d+\\.\\d+")) {
            return Double.valueOf(text);
        }
        return text;
    }

    private static Boolean parseBoolean(String text) {
        if (!text.equals("true") && !text.equals("false")) {
            throw new NumberFormatException(text);
        }
        return Boolean.valueOf(text);
    }

    private static String properties(Configuration c) {
        Dictionary<String, Object> p = c.getProperties();
        if (p == null) {
            return "{}";
        }
        TreeMap<String, Object> sorted = new TreeMap<>();
        for (String k : Collections.list(p.keys())) {
            if (!k.equals("service.pid")) {
                sorted.put(k, p.get(k));
            }
        }
        return sorted.toString();
    }
}
