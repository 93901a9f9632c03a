package io.bundlevisor.kvm.internal.boot;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A kernel, initrd or command line that cannot be booted. The message is one line: the file, a colon, and the
 * fault, as in {@code vmlinuz: not a bzImage (no HdrS magic)}.
 */
public final class BootImageException extends IOException {

    private static final long serialVersionUID = 1L;

    BootImageException(Path file, String reason) {
        super(file + ": " + reason);
    }
}
