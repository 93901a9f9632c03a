package io.bundlevisor.core.partition;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.Objects;

/** Where the machine's serial console (COM1) goes. */
public sealed interface Console {

    /** Output discarded, no input. */
    static Console none() {
        return new None();
    }

    /** The process's standard input and output. */
    static Console stdio() {
        return new Stdio();
    }

    /** Output appended to a file (created if missing); no input. */
    static Console file(Path path) {
        return new File(path);
    }

    /** A Unix socket the VMM listens on; one client at a time gets output and gives input. */
    static Console socket(Path path) {
        return new Socket(path, false);
    }

    /**
     * As {@link #socket(Path)}; with {@code waitForClient} the machine is not created (so its guest does not start)
     * before a first client has connected, so that no console output is lost (QEMU's {@code server,wait}; since 1.3).
     */
    static Console socket(Path path, boolean waitForClient) {
        return new Socket(path, waitForClient);
    }

    /**
     * A new pseudo terminal: a person attaches to its slave side ({@link Partition#consolePty()}, e.g. {@code screen
     * /dev/pts/3}), as with QEMU's {@code -serial pty}; output with no one attached is dropped (since 1.4).
     */
    static Console pty() {
        return new Pty();
    }

    /** Caller-owned streams; {@code in} may be null for no input. */
    static Console streams(InputStream in, OutputStream out) {
        return new Streams(in, out);
    }

    record None() implements Console {
    }

    record Stdio() implements Console {
    }

    record Pty() implements Console {
    }

    record File(Path path) implements Console {
        public File {
            Objects.requireNonNull(path, "path");
        }
    }

    record Socket(Path path, boolean waitForClient) implements Console {
        public Socket {
            Objects.requireNonNull(path, "path");
        }

        /** A socket that does not wait for a client. */
        public Socket(Path path) {
            this(path, false);
        }
    }

    record Streams(InputStream in, OutputStream out) implements Console {
        public Streams {
            Objects.requireNonNull(out, "out");
        }
    }
}
