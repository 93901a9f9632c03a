package io.bundlevisor.device.blk.guest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.uring.host.HostFile;

/**
 * Another process trying to take a disk image for itself: a second JVM, on this test's class path, opens the image
 * read-write and asks for the exclusive lock any VMM of ours (or QEMU) would take. Prints {@code locked} when it got
 * it, {@code refused} when another holder has it.
 */
final class OtherProcessLock {

    public static void main(String[] args) throws Exception {
        try (HostFile f = HostFile.open(Path.of(args[0]), HostFile.READ_WRITE)) {
            System.out.println(f.tryLock(true) ? "locked" : "refused");
        }
    }

    /** Runs {@link #main} in a new JVM on {@code image}; its one line of output. */
    static String tryIn(Path image) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), OtherProcessLock.class.getName(), image.toString()))
                .redirectErrorStream(true).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("the other process did not end in 60 s");
        }
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    }
}
