package io.bundlevisor.kvm.internal.partition;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import io.bundlevisor.core.partition.PartitionException;

/**
 * A snapshot's memory file: the guest's RAM, byte for byte at its guest-physical order in our RAM layout, written
 * sparsely: a page of zeros (one the guest never touched, or cleared) is a hole, so the file takes the room of the
 * memory in use. Read back page by page, a page of zeros only written where RAM holds something else (the boot image
 * of a freshly made machine).
 */
final class RamFile {

    static final int PAGE = 4096;
    private static final int CHUNK = 1 << 20;
    private static final MemorySegment ZERO = Arena.global().allocate(PAGE);

    private RamFile() {
    }

    /** Writes {@code ram} to {@code file} (replaced), its zero pages as holes, and syncs it. */
    static void write(MemorySegment ram, Path file) throws IOException {
        Files.deleteIfExists(file);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw"); FileChannel ch = raf.getChannel()) {
            long size = ram.byteSize();
            long run = -1;
            for (long at = 0; at <= size; at += PAGE) {
                boolean data = at < size && ram.asSlice(at, PAGE).mismatch(ZERO) != -1;
                if (data && run < 0) {
                    run = at;
                } else if (!data && run >= 0) {
                    writeFully(ch, ram.asSlice(run, at - run).asByteBuffer(), run);
                    run = -1;
                }
            }
            raf.setLength(size); // the trailing zero pages: a hole up to the RAM's size
            ch.force(true);
        }
    }

    /**
     * Reads {@code file} into {@code ram}.
     *
     * @throws PartitionException if the file is not this RAM's size (another machine's, or truncated)
     */
    static void read(Path file, MemorySegment ram, String name) throws IOException, PartitionException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (ch.size() != ram.byteSize()) {
                throw new PartitionException(name + ": memory file " + file + " has " + ch.size() + " bytes, this "
                        + "machine's RAM " + ram.byteSize());
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment chunk = arena.allocate(CHUNK, PAGE);
                for (long at = 0; at < ram.byteSize(); at += CHUNK) {
                    long n = Math.min(CHUNK, ram.byteSize() - at);
                    ByteBuffer b = chunk.asSlice(0, n).asByteBuffer();
                    while (b.hasRemaining()) {
                        if (ch.read(b, at + b.position()) < 0) {
                            throw new PartitionException(name + ": memory file " + file + " is truncated");
                        }
                    }
                    for (long p = 0; p < n; p += PAGE) {
                        MemorySegment from = chunk.asSlice(p, PAGE);
                        MemorySegment to = ram.asSlice(at + p, PAGE);
                        if (from.mismatch(ZERO) != -1 || to.mismatch(ZERO) != -1) {
                            to.copyFrom(from); // untouched: a zero page stays unallocated in RAM
                        }
                    }
                }
            }
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long position) throws IOException {
        while (b.hasRemaining()) {
            position += ch.write(b, position);
        }
    }
}
