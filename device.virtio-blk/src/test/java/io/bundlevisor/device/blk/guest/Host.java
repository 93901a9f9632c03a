package io.bundlevisor.device.blk.guest;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** The host as the fault tests use it: programs run to their end (gcc, mkfs.ext4, losetup), mounts, root. */
public final class Host {

    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");
    /** Standard input for the programs: nothing. */
    static final ProcessBuilder.Redirect NO_INPUT = ProcessBuilder.Redirect.from(new File("/dev/null"));

    private Host() {
    }

    /**
     * Runs {@code command}, 30 s at most, and returns what it printed (standard output and error together).
     *
     * @param hint what to do when the program is missing, added to that failure
     * @throws IllegalStateException in one line: the program is missing, failed (with the first line it printed)
     *                               or did not end
     */
    static String run(String hint, String... command) throws IOException, InterruptedException {
        Path out = Files.createTempFile("bv-host-command", ".out");
        try {
            Process p;
            try {
                p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile())
                        .redirectInput(NO_INPUT).start();
            } catch (IOException e) {
                throw new IllegalStateException(command[0] + " is missing" + (hint.isEmpty() ? "" : ": " + hint));
            }
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException(String.join(" ", command) + " did not end in 30 s");
            }
            String text = Files.readString(out, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                String first = text.strip().lines().findFirst().orElse("no output");
                throw new IllegalStateException(String.join(" ", command) + " failed (exit " + p.exitValue() + "): "
                        + first);
            }
            return text;
        } finally {
            Files.deleteIfExists(out);
        }
    }

    /**
     * The file system type mounted on {@code dir} (the topmost mount there), or null: /proc/self/mountinfo, whose
     * fifth field is the mount point (with space, tab, newline and backslash as octal escapes) and whose type
     * follows the " - " separator (proc(5)). {@code dir} is a real path, taken before the mount: this does not
     * look at it, so a mount whose FUSE server died (ENOTCONN) is found too.
     */
    static String mountedType(Path dir) throws IOException {
        String want = dir.toString();
        String type = null;
        for (String line : Files.readAllLines(MOUNTINFO, StandardCharsets.UTF_8)) {
            String[] f = line.split(" ");
            int dash = line.indexOf(" - ");
            if (f.length > 4 && dash >= 0 && unescape(f[4]).equals(want)) {
                type = line.substring(dash + 3).split(" ")[0];
            }
        }
        return type;
    }

    private static String unescape(String field) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length() && field.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                b.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** Whether this process runs as root (effective UID 0, from /proc/self/status). */
    public static boolean isRoot() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"), StandardCharsets.UTF_8)) {
            if (line.startsWith("Uid:")) {
                return line.split("\\s+")[2].equals("0");
            }
        }
        return false;
    }
}
