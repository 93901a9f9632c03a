package io.bundlevisor.device.blk.internal;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * A disk's options, as a machine declares them: {@code PATH[,readonly][,serial=ID][,queues=N][,direct=on|off]}.
 * The path comes first and ends at the first comma (a path with a comma cannot be declared).
 *
 * @param path     the raw image or block device
 * @param readOnly opened read-only and offered with VIRTIO_BLK_F_RO
 * @param serial   GET_ID's answer: up to 20 printable ASCII characters, empty when not given
 * @param queues   request queues asked for, 1..{@value #MAX_QUEUES}; 0 for one per VP
 * @param direct   use O_DIRECT for aligned requests where the file system allows it (default on)
 */
record BlkOptions(Path path, boolean readOnly, String serial, int queues, boolean direct) {

    static final int MAX_QUEUES = 16;
    static final String USAGE = "PATH[,readonly][,serial=ID][,queues=N][,direct=on|off]";

    /**
     * Parses the options string.
     *
     * @throws IllegalArgumentException with a one-line message
     */
    static BlkOptions parse(String text) {
        String[] parts = text.split(",", -1);
        if (parts[0].isEmpty()) {
            throw new IllegalArgumentException("virtio-blk needs a disk image: " + USAGE);
        }
        Path path;
        try {
            path = Path.of(parts[0]);
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException("virtio-blk path '" + parts[0] + "' is not a valid path");
        }
        Boolean readOnly = null;
        String serial = null;
        Integer queues = null;
        Boolean direct = null;
        for (int i = 1; i < parts.length; i++) {
            String part = parts[i];
            int eq = part.indexOf('=');
            String key = eq < 0 ? part : part.substring(0, eq);
            String value = eq < 0 ? null : part.substring(eq + 1);
            switch (key) {
                case "readonly" -> {
                    requireNoValue(key, value);
                    readOnly = once(key, readOnly, true);
                }
                case "serial" -> serial = once(key, serial, serial(value));
                case "queues" -> queues = once(key, queues, queues(value));
                case "direct" -> direct = once(key, direct, onOff(key, value));
                default -> throw new IllegalArgumentException("unknown virtio-blk option '" + part + "': " + USAGE);
            }
        }
        return new BlkOptions(path, readOnly != null, serial == null ? "" : serial, queues == null ? 0 : queues,
                direct == null || direct);
    }

    /** The queue count for a machine of {@code vpCount} VPs: as asked, else one per VP up to the maximum. */
    int queuesFor(int vpCount) {
        return queues != 0 ? queues : Math.clamp(vpCount, 1, MAX_QUEUES);
    }

    private static <T> T once(String key, T previous, T value) {
        if (previous != null) {
            throw new IllegalArgumentException("virtio-blk option '" + key + "' is given twice");
        }
        return value;
    }

    private static void requireNoValue(String key, String value) {
        if (value != null) {
            throw new IllegalArgumentException("virtio-blk option '" + key + "' takes no value");
        }
    }

    private static String serial(String value) {
        if (value == null || value.isEmpty() || value.length() > BlkSpec.ID_BYTES) {
            throw new IllegalArgumentException("virtio-blk serial must be 1-" + BlkSpec.ID_BYTES + " characters");
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < 0x20 || c > 0x7E) {
                throw new IllegalArgumentException("virtio-blk serial must be printable ASCII");
            }
        }
        return value;
    }

    private static int queues(String value) {
        String text = value == null ? "" : value;
        int n;
        try {
            n = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            n = 0;
        }
        if (n < 1 || n > MAX_QUEUES) {
            throw new IllegalArgumentException("virtio-blk queues must be 1.." + MAX_QUEUES + ", not '" + text + "'");
        }
        return n;
    }

    private static boolean onOff(String key, String value) {
        if ("on".equals(value)) {
            return true;
        }
        if ("off".equals(value)) {
            return false;
        }
        throw new IllegalArgumentException("virtio-blk option '" + key + "' must be on or off, not '" + value + "'");
    }
}
