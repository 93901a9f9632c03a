package io.bundlevisor.device.blk.guest;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A small ext4 file system for one test, on a loop device over a file, nearly filled: writes to it soon fail with
 * ENOSPC. Needs root (losetup, mount). {@link #close()} unmounts it and detaches the loop device, whatever happened.
 */
public final class FullFs implements AutoCloseable {

    private final Path root;
    private final String loop;
    private boolean mounted;

    private FullFs(Path root, String loop) {
        this.root = root;
        this.loop = loop;
    }

    /**
     * Makes an ext4 file system of {@code bytes} in {@code dir}/fs.img (no blocks reserved for root, so that root
     * hits ENOSPC where anyone would) and mounts it on {@code dir}/mnt through a loop device of its own.
     */
    public static FullFs mount(Path dir, long bytes) throws IOException, InterruptedException {
        Path file = dir.resolve("fs.img");
        Path root = Files.createDirectories(dir.resolve("mnt"));
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(bytes);
        }
        Host.run("install e2fsprogs", "mkfs.ext4", "-q", "-F", "-m", "0", file.toString());
        String loop = Host.run("install util-linux", "losetup", "--find", "--show", file.toString()).strip();
        FullFs fs = new FullFs(root, loop);
        try {
            Host.run("", "mount", "-t", "ext4", loop, root.toString());
            fs.mounted = true;
        } catch (IllegalStateException e) {
            fs.close();
            throw e;
        }
        return fs;
    }

    public Path root() {
        return root;
    }

    /** Bytes a new file can still take (statfs f_bavail; the same as f_bfree here, nothing is reserved). */
    long free() throws IOException {
        return Files.getFileStore(root).getUsableSpace();
    }

    /**
     * Fills the file system with {@code name} (written and synced) until about {@code leave} bytes are free.
     *
     * @return the bytes free afterwards
     */
    public long fillLeaving(String name, long leave) throws IOException {
        long fill = free() - leave;
        if (fill <= 0) {
            throw new IllegalStateException("only " + free() + " bytes free, wanted to leave " + leave);
        }
        ByteBuffer chunk = ByteBuffer.allocate(64 << 10);
        try (FileChannel ch = FileChannel.open(root.resolve(name), StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE)) {
            for (long done = 0; done < fill;) {
                chunk.clear().limit((int) Math.min(chunk.capacity(), fill - done));
                done += ch.write(chunk);
            }
            ch.force(true);
        }
        return free();
    }

    /** Unmounts (lazily if it is busy) and detaches the loop device; the second runs even when the first fails. */
    @Override
    public void close() throws IOException, InterruptedException {
        IllegalStateException failed = null;
        try {
            if (mounted) {
                mounted = false;
                try {
                    Host.run("", "umount", root.toString());
                } catch (IllegalStateException e) {
                    failed = e;
                    Host.run("", "umount", "-l", root.toString());
                }
            }
        } finally {
            Host.run("", "losetup", "-d", loop);
        }
        if (failed != null) {
            throw failed;
        }
    }
}
