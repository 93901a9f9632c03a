package io.bundlevisor.core.partition;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * Where a machine's gdb remote stub listens (since 1.6): a TCP port on 127.0.0.1 only, or a Unix socket, and
 * whether the machine waits for the debugger before its first instruction (QEMU's {@code -s -S}).
 *
 * @param socket        the Unix socket's path, or empty for the port
 * @param port          1-65535 with no socket, else 0
 * @param waitForAttach whether the VPs stay stopped until gdb attaches and continues them
 */
public record GdbEndpoint(Optional<Path> socket, int port, boolean waitForAttach) {

    /** The syntax of {@code --gdb}, for messages. */
    public static final String USAGE = "PORT[,wait] or PATH[,wait]";

    public GdbEndpoint {
        Objects.requireNonNull(socket, "socket");
        if (socket.isPresent() ? port != 0 : port < 1 || port > 65535) {
            throw new IllegalArgumentException(socket.isPresent() ? "a gdb socket has no port"
                    : "--gdb port must be 1..65535, not " + port);
        }
    }

    /**
     * {@code PORT[,wait]} (digits only: 127.0.0.1:PORT) or {@code PATH[,wait]} (a Unix socket; a comma in the
     * path written {@code ,,}).
     *
     * @throws IllegalArgumentException with one line
     */
    public static GdbEndpoint parse(String text) {
        DeviceOptions o = DeviceOptions.parse("--gdb", text, USAGE);
        String where = o.positionalOr("path", Set.of("wait"));
        boolean wait = o.flag("wait");
        o.done();
        if (where == null || where.isEmpty()) {
            throw new IllegalArgumentException("--gdb needs a port or a socket path: " + USAGE);
        }
        if (where.chars().allMatch(c -> c >= '0' && c <= '9')) {
            int port = where.length() > 5 ? -1 : Integer.parseInt(where);
            return new GdbEndpoint(Optional.empty(), port, wait);
        }
        return new GdbEndpoint(Optional.of(Path.of(where)), 0, wait);
    }

    /** {@code 127.0.0.1:PORT} or {@code unix:PATH}, for messages. */
    public String describe() {
        return socket.map(p -> "unix:" + p).orElse("127.0.0.1:" + port);
    }

    /** What to type in gdb to connect: {@code target remote ...}. */
    public String gdbCommand() {
        return "target remote " + socket.map(Path::toString).orElse("127.0.0.1:" + port);
    }
}
