package io.bundlevisor.device.blk.internal;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Set;

import io.bundlevisor.core.partition.DeviceOptions;

/**
 * A disk's options, as a machine declares them, in the platform's shared syntax ({@link DeviceOptions}):
 * {@code PATH|path=PATH[,readonly|ro[=on|off]][,serial=ID][,queues=N][,direct=on|off][,lock=exclusive|shared]}. A
 * comma inside the path is
 * written {@code ,,} (QEMU's escape).
 *
 * @param path     the raw image or block device
 * @param readOnly opened read-only and offered with VIRTIO_BLK_F_RO
 * @param serial   GET_ID's answer: up to 20 printable ASCII characters, empty when not given
 * @param queues   request queues asked for, 1..{@value #MAX_QUEUES}; 0 for one per VP
 * @param direct   use O_DIRECT for aligned requests where the file system allows it (default on)
 * @param sharedLock a writer takes a shared lock instead of an exclusive one ({@code lock=shared}): for a live
 *                 migration between two vhost-user back-ends on one host, the source's and the destination's, which
 *                 QEMU never lets write at the same time; an ordinary writer (exclusive) and they still exclude each
 *                 other
 */
record BlkOptions(Path path, boolean readOnly, String serial, int queues, boolean direct, boolean sharedLock) {

    static final int MAX_QUEUES = 16;
    static final String USAGE =
            "PATH|path=PATH[,readonly|ro][,serial=ID][,queues=N][,direct=on|off][,lock=exclusive|shared]";

    /** Options with the default, exclusive lock for a writer. */
    BlkOptions(Path path, boolean readOnly, String serial, int queues, boolean direct) {
        this(path, readOnly, serial, queues, direct, false);
    }
    private static final Set<String> FLAGS = Set.of("readonly", "ro");

    /**
     * Parses the options string.
     *
     * @throws IllegalArgumentException with a one-line message
     */
    static BlkOptions parse(String text) {
        DeviceOptions o = DeviceOptions.parse("virtio-blk", text, USAGE);
        String file = o.positionalOr("path", FLAGS);
        if (file == null || file.isEmpty()) {
            throw new IllegalArgumentException("virtio-blk needs a disk image: " + USAGE);
        }
        Path path;
        try {
            path = Path.of(file);
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException("virtio-blk path '" + file + "' is not a valid path");
        }
        boolean readOnly = o.flag("readonly", "ro");
        String serial = o.value("serial");
        String queues = o.value("queues");
        String direct = o.value("direct");
        String lock = o.value("lock");
        o.done();
        if (lock != null && !lock.equals("exclusive") && !lock.equals("shared")) {
            throw new IllegalArgumentException("virtio-blk option 'lock' must be exclusive or shared, not '" + lock + "'");
        }
        return new BlkOptions(path, readOnly, serial == null ? "" : serial(serial),
                queues == null ? 0 : queues(queues), direct == null || onOff("direct", direct), "shared".equals(lock));
    }

    /** The queue count for a machine of {@code vpCount} VPs: as asked, else one per VP up to the maximum. */
    int queuesFor(int vpCount) {
        return queues != 0 ? queues : Math.clamp(vpCount, 1, MAX_QUEUES);
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
