package io.bundlevisor.kvm.internal.partition;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;

import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.kvm.internal.GuestMemory;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.Native;

/**
 * A snapshot's memory file: the guest's RAM, byte for byte at its guest-physical order in our RAM layout, written
 * sparsely: a page of zeros (one the guest never touched, or cleared) is a hole, so the file takes the room of the
 * memory in use. Restored by mapping it, not reading it (Firecracker's model).
 */
final class RamFile {

    static final int PAGE = 4096;
    private static final MemorySegment ZERO = Arena.global().allocate(PAGE);

    private RamFile() {
    }

    /**
     * Writes {@code ram} to {@code file} (replaced), its zero pages as holes, and syncs it. Only the RAM's data
     * ranges are read: the pages the guest never touched stay unallocated in the host as in the file.
     */
    static void write(GuestMemory ram, Path file) throws IOException {
        Files.deleteIfExists(file);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw"); FileChannel ch = raf.getChannel()) {
            MemorySegment memory = ram.segment();
            long[] ranges = ram.dataRanges();
            for (int r = 0; r < ranges.length; r += 2) {
                long run = -1;
                for (long at = ranges[r]; at <= ranges[r + 1]; at += PAGE) {
                    boolean data = at < ranges[r + 1] && memory.asSlice(at, PAGE).mismatch(ZERO) != -1;
                    if (data && run < 0) {
                        run = at;
                    } else if (!data && run >= 0) {
                        writeFully(ch, memory.asSlice(run, at - run).asByteBuffer(), run);
                        run = -1;
                    }
                }
            }
            raf.setLength(ram.size()); // the trailing zero pages: a hole up to the RAM's size
            ch.force(true);
        } catch (SyscallException e) {
            throw new IOException("snapshot of guest RAM: " + e.getMessage(), e);
        }
    }

    /**
     * Makes {@code file} the guest's RAM without reading it: mapped privately over the RAM
     * ({@link GuestMemory#mapPrivately}), so restore costs the same for 32 MiB as for 2 GiB and pages load as the
     * guest touches them.
     *
     * @throws PartitionException if the file is not this RAM's size (another machine's, or truncated)
     */
    static void map(Path file, GuestMemory ram, String name) throws IOException, PartitionException {
        int fd = Native.open(file.toString(), Native.O_RDONLY | Native.O_CLOEXEC, 0);
        if (fd < 0) {
            throw new IOException(name + ": cannot open memory file " + file + ": "
                    + new SyscallException("open", -fd).getMessage());
        }
        try {
            long size = Native.check("lseek memory file", Native.lseek(fd, 0, 2 /* SEEK_END */));
            if (size != ram.size()) {
                throw new PartitionException(name + ": memory file " + file + " has " + size + " bytes, this "
                        + "machine's RAM " + ram.size());
            }
            ram.mapPrivately(fd);
        } catch (SyscallException e) {
            throw new PartitionException(name + ": cannot map memory file " + file + ": " + e.getMessage(), e);
        } finally {
            Native.close(fd); // the mapping holds the file
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long position) throws IOException {
        while (b.hasRemaining()) {
            position += ch.write(b, position);
        }
    }
}
