package io.bundlevisor.device.blk.guest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * faultfs (src/test/c/faultfs.c) mounted for one test: {@link #image()} passes through to a backing image, except
 * that reads and writes overlapping the chosen sector ranges fail with EIO. Compiled here with gcc and libfuse3
 * into target/faultfs when missing or older than its source; what it needs comes from scripts/test-deps.sh.
 * {@link #close()} unmounts it (fusermount3 -u) and ends the process. Public, and in this module's test jar, for
 * the distro's vhost-user test, which runs from distro/ and finds the source beside it.
 */
public final class FaultFs implements AutoCloseable {

    private static final Path SOURCE = Files.exists(Path.of("src", "test", "c", "faultfs.c"))
            ? Path.of("src", "test", "c", "faultfs.c") : Path.of("..", "device.virtio-blk", "src", "test", "c", "faultfs.c");
    private static final Path BINARY = Path.of("target", "faultfs");
    private static final String DEPS = "run scripts/test-deps.sh";
    private static final String TYPE = "fuse.faultfs";
    private static final long MOUNT_WAIT_MS = 10_000;

    private final Process process;
    private final Path mountpoint;
    private final Path log;
    private boolean closed;

    private FaultFs(Process process, Path mountpoint, Path log) {
        this.process = process;
        this.mountpoint = mountpoint;
        this.log = log;
    }

    /**
     * Mounts faultfs over {@code backing} on the empty directory {@code dir} and waits until the mount is
     * there.
     *
     * @param eio the failing sector ranges, {@code FIRST:COUNT[,FIRST:COUNT...]}
     */
    public static FaultFs mount(Path backing, Path dir, String eio) throws IOException, InterruptedException {
        Path binary = build();
        Path mountpoint = dir.toRealPath();
        if (!Files.exists(Path.of("/dev/fuse"))) {
            throw new IllegalStateException("faultfs: /dev/fuse does not exist (load the fuse module)");
        }
        Host.run(DEPS + " (fuse3 has fusermount3)", "fusermount3", "-V");
        Path log = mountpoint.resolveSibling(mountpoint.getFileName() + ".faultfs.log");
        Process p = new ProcessBuilder(binary.toAbsolutePath().toString(), "--eio=" + eio, backing.toString(),
                mountpoint.toString()).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(Host.NO_INPUT).start();
        FaultFs fs = new FaultFs(p, mountpoint, log);
        long end = System.nanoTime() + MOUNT_WAIT_MS * 1_000_000;
        while (!TYPE.equals(Host.mountedType(mountpoint))) {
            if (!p.isAlive() || System.nanoTime() > end) {
                fs.close();
                throw new IllegalStateException("faultfs did not mount on " + mountpoint + " ("
                        + (p.isAlive() ? "not in " + MOUNT_WAIT_MS + " ms" : "exit " + p.exitValue()) + "): "
                        + fs.log().strip().replace('\n', ' '));
            }
            Thread.sleep(10);
        }
        return fs;
    }

    /** target/faultfs, compiled first when it is missing or older than its source. */
    private static synchronized Path build() throws IOException, InterruptedException {
        if (Files.isExecutable(BINARY)
                && Files.getLastModifiedTime(BINARY).compareTo(Files.getLastModifiedTime(SOURCE)) >= 0) {
            return BINARY;
        }
        Host.run(DEPS, "gcc", "--version");
        String flags;
        try {
            flags = Host.run(DEPS, "pkg-config", "--cflags", "--libs", "fuse3");
        } catch (IllegalStateException e) {
            throw new IllegalStateException("faultfs: libfuse3-dev is missing (pkg-config has no fuse3): " + DEPS);
        }
        Path partial = BINARY.resolveSibling("faultfs.partial");
        List<String> gcc = new ArrayList<>(List.of("gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                partial.toString(), SOURCE.toString()));
        gcc.addAll(List.of(flags.strip().split("\\s+")));
        Files.createDirectories(BINARY.getParent());
        Host.run(DEPS, gcc.toArray(String[]::new));
        Files.move(partial, BINARY, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return BINARY;
    }

    /** The file faultfs serves. */
    public Path image() {
        return mountpoint.resolve("disk.img");
    }

    /** What faultfs printed so far (at its end: how many reads and writes it failed). */
    public String log() throws IOException {
        return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
    }

    /**
     * Unmounts and ends faultfs: fusermount3 -u, after which it exits by itself; SIGTERM (libfuse unmounts then)
     * and SIGKILL if it does not, and a lazy unmount if the mount is still there. Close every user of
     * {@link #image()} first.
     */
    @Override
    public void close() throws IOException, InterruptedException {
        if (closed) {
            return;
        }
        closed = true;
        IllegalStateException failed = null;
        if (Host.mountedType(mountpoint) != null) {
            try {
                Host.run(DEPS, "fusermount3", "-u", mountpoint.toString());
            } catch (IllegalStateException e) {
                failed = e;
            }
        }
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroy();
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
        if (Host.mountedType(mountpoint) != null) {
            Host.run("", "umount", "-l", mountpoint.toString());
        }
        if (failed != null) {
            throw failed;
        }
    }
}
