package io.bundlevisor.core.partition;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A device's options as a person types them, one parser for every device type (since 1.3): a comma-separated list
 * of {@code key=value} items and bare words, QEMU's way, where {@code ,,} is a comma inside an item (a path with a
 * comma: {@code path=/img/a,,b.raw}). A device bundle takes the items it knows and calls {@link #done()}, which
 * refuses the rest; every refusal is an {@link IllegalArgumentException} with one line naming the device type and
 * its usage.
 *
 * <pre>{@code
 * DeviceOptions o = DeviceOptions.parse("virtio-blk", text, USAGE);
 * String path = o.positionalOr("path", Set.of("ro", "readonly"));   // "disk.img,..." or "path=disk.img,..."
 * boolean ro = o.flag("readonly", "ro");                             // "readonly", "ro", "readonly=on|off", ...
 * String serial = o.value("serial");                                 // null when not given
 * o.done();
 * }</pre>
 */
public final class DeviceOptions {

    private final String type;
    private final String usage;
    /** Items not taken yet: {key, value or null for a bare word}. */
    private final List<String[]> items;

    private DeviceOptions(String type, String usage, List<String[]> items) {
        this.type = type;
        this.usage = usage;
        this.items = items;
    }

    /**
     * Splits {@code text} into items.
     *
     * @param type  the device type, for messages
     * @param usage the device's option syntax, for messages
     * @throws IllegalArgumentException for an empty item (two commas meant as a separator and an empty item cannot
     *                                  be told apart from an escaped comma only at the end: {@code a,} is refused)
     */
    public static DeviceOptions parse(String type, String text, String usage) {
        List<String[]> items = new ArrayList<>();
        if (!text.isEmpty()) {
            StringBuilder item = new StringBuilder();
            for (int i = 0; i <= text.length(); i++) {
                if (i < text.length() && text.charAt(i) == ',' && i + 1 < text.length() && text.charAt(i + 1) == ',') {
                    item.append(',');
                    i++;
                } else if (i == text.length() || text.charAt(i) == ',') {
                    if (item.isEmpty()) {
                        throw new IllegalArgumentException(type + " options have an empty item in '" + text + "': "
                                + usage);
                    }
                    String s = item.toString();
                    int eq = s.indexOf('=');
                    items.add(eq < 0 ? new String[] {s, null} : new String[] {s.substring(0, eq), s.substring(eq + 1)});
                    item.setLength(0);
                } else {
                    item.append(text.charAt(i));
                }
            }
        }
        return new DeviceOptions(type, usage, items);
    }

    /**
     * The value of {@code key=VALUE} (possibly empty), or null when the key is not given.
     *
     * @throws IllegalArgumentException if the key is given twice, or as a bare word
     */
    public String value(String key) {
        String[] item = take(key);
        if (item == null) {
            return null;
        }
        if (item[1] == null) {
            throw new IllegalArgumentException(type + " option '" + key + "' needs a value: " + usage);
        }
        return item[1];
    }

    /**
     * Whether a flag is set: one of {@code names} as a bare word (set), or with {@code on}, {@code yes},
     * {@code true} (set) or {@code off}, {@code no}, {@code false} (not set). The first name is the one messages use.
     *
     * @throws IllegalArgumentException for another value, or a flag given twice (under any of its names)
     */
    public boolean flag(String... names) {
        String[] found = null;
        for (String name : names) {
            String[] item = take(name);
            if (item != null) {
                if (found != null) {
                    throw new IllegalArgumentException(type + " option '" + names[0] + "' is given twice");
                }
                found = item;
            }
        }
        if (found == null || found[1] == null) {
            return found != null;
        }
        return switch (found[1]) {
            case "on", "yes", "true" -> true;
            case "off", "no", "false" -> false;
            default -> throw new IllegalArgumentException(type + " option '" + found[0] + "' must be on or off, not '"
                    + found[1] + "'");
        };
    }

    /**
     * The device's main value, given either as the first item when that is a bare word not among {@code flags}
     * ({@code disk.img,ro}) or as {@code key=VALUE} ({@code path=disk.img,ro}); null when neither is there.
     *
     * @throws IllegalArgumentException if both are given
     */
    public String positionalOr(String key, Set<String> flags) {
        String positional = null;
        if (!items.isEmpty() && items.getFirst()[1] == null && !flags.contains(items.getFirst()[0])) {
            positional = items.removeFirst()[0];
        }
        String keyed = value(key);
        if (positional != null && keyed != null) {
            throw new IllegalArgumentException(type + " has both '" + positional + "' and " + key + "=" + keyed
                    + ": " + usage);
        }
        return positional != null ? positional : keyed;
    }

    /**
     * Refuses what was not taken.
     *
     * @throws IllegalArgumentException naming the first unknown item
     */
    public void done() {
        if (!items.isEmpty()) {
            String[] item = items.getFirst();
            throw new IllegalArgumentException("unknown " + type + " option '" + item[0]
                    + (item[1] == null ? "" : "=" + item[1]) + "': " + usage);
        }
    }

    private String[] take(String key) {
        String[] found = null;
        for (var it = items.iterator(); it.hasNext();) {
            String[] item = it.next();
            if (item[0].equals(key)) {
                if (found != null) {
                    throw new IllegalArgumentException(type + " option '" + key + "' is given twice");
                }
                found = item;
                it.remove();
            }
        }
        return found;
    }
}
