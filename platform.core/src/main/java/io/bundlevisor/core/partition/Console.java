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
        return new Socket(path);
    }

    /** Caller-owned streams; {@code in} may be null for no input. */
    static Console streams(InputStream in, OutputStream out) {
        return new Streams(in, out);
    }

    record None() implements Console {
    }

    record Stdio() implements Console {
    }

    record File(Path path) implements Console {
        public File {
            Objects.requireNonNull(path, "path");
        }
    }

    record Socket(Path path) implements Console {
        public Socket {
            Objects.requireNonNull(path, "path");
        }
    }

    record Streams(InputStream in, OutputStream out) implements Console {
        public Streams {
            Objects.requireNonNull(out, "out");
        }
    }
}
