package io.bundlevisor.uring.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.host.SyscallException;

/**
 * Whether io_uring works here, found by trying it once: a small ring is set up and torn down. The reason it
 * does not is one sentence a person can act on.
 */
record Availability(Optional<String> cause) {

    static final Path SYSCTL = Path.of("/proc/sys/kernel/io_uring_disabled");

    static Availability probe() {
        String os = System.getProperty("os.name", "");
        String arch = System.getProperty("os.arch", "");
        if (!os.equals("Linux") || !(arch.equals("amd64") || arch.equals("aarch64"))) {
            return new Availability(Optional.of("io_uring needs Linux on x86_64 or aarch64; this is " + os + " on "
                    + arch + "."));
        }
        try (IoUring ring = IoUring.setup(2)) {
            return new Availability(Optional.empty());
        } catch (SyscallException e) {
            return new Availability(Optional.of(describe(e.errno(), readSysctl())));
        } catch (IllegalCallerException e) {
            return new Availability(Optional.of("native access is not enabled for the platform bundles: start the "
                    + "JVM with --enable-native-access=ALL-UNNAMED (" + e.getMessage() + ")."));
        } catch (LinkageError e) {
            return new Availability(Optional.of("the C library lacks what io_uring needs: " + e.getMessage() + "."));
        }
    }

    boolean available() {
        return cause.isEmpty();
    }

    /** The sentence for a failed io_uring_setup with {@code errno}, given the sysctl value (-1: unknown). */
    static String describe(int errno, int sysctl) {
        return switch (errno) {
            case Errno.ENOSYS -> "io_uring is not in this kernel: io_uring_setup is ENOSYS (Linux 5.6 or later "
                    + "with CONFIG_IO_URING is needed).";
            case Errno.EPERM, Errno.EACCES -> sysctl > 0
                    ? "io_uring is disabled by sysctl kernel.io_uring_disabled=" + sysctl + " (io_uring_setup: "
                            + Errno.name(errno) + "); set it to 0 to use the platform's IO."
                    : "io_uring_setup was refused (" + Errno.name(errno) + "), most likely by a seccomp filter of "
                            + "the container or sandbox.";
            case Errno.ENOMEM -> "io_uring_setup failed for lack of memory (ENOMEM); check RLIMIT_MEMLOCK.";
            default -> "io_uring_setup failed: " + Errno.name(errno) + ".";
        };
    }

    private static int readSysctl() {
        try {
            return Integer.parseInt(Files.readString(SYSCTL).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }
}
