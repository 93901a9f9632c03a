package io.bundlevisor.core.partition;

import java.util.Objects;

/**
 * A device a machine declares: its type (the {@code device.type} of the bundle that provides it, such as
 * {@code virtio-blk}) and the options that bundle interprets (for a disk, {@code PATH[,readonly][,serial=ID]}).
 * The platform checks the shape here; the device bundle checks the meaning when the machine is created.
 */
public record DeviceSpec(String type, String options) {

    /** The longest options string. */
    public static final int MAX_OPTIONS = 4096;

    public DeviceSpec {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(options, "options");
        if (!type.matches("[a-z0-9][a-z0-9-]{0,31}")) {
            throw new IllegalArgumentException("device type '" + type
                    + "' must be 1-32 lower-case letters, digits or '-'");
        }
        if (options.length() > MAX_OPTIONS) {
            throw new IllegalArgumentException("options of " + type + " are " + options.length()
                    + " characters; at most " + MAX_OPTIONS);
        }
        for (int i = 0; i < options.length(); i++) {
            char c = options.charAt(i);
            if (c < 0x20 || c == 0x7F) {
                throw new IllegalArgumentException("options of " + type + " hold a control character at " + i);
            }
        }
    }

    /**
     * Parses {@code TYPE[,OPTIONS]}, the form of {@code --device}.
     *
     * @throws IllegalArgumentException with a one-line message
     */
    public static DeviceSpec parse(String text) {
        int comma = text.indexOf(',');
        return comma < 0 ? new DeviceSpec(text.strip(), "")
                : new DeviceSpec(text.substring(0, comma).strip(), text.substring(comma + 1));
    }

    @Override
    public String toString() {
        return options.isEmpty() ? type : type + "," + options;
    }
}
