package io.bundlevisor.core.internal.virtio;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;

import io.bundlevisor.core.partition.GuestRam;

/**
 * Guest RAM for tests: native memory in two ranges with a hole between them, and guest-physical addresses that are
 * not host offsets (RAM starts at {@link #BASE}), so code that confuses the two reads the wrong bytes or fails.
 *
 * <pre>
 *   guest [BASE, BASE + low)                          -> host [0, low)
 *   guest [BASE + low, BASE + low + hole)             -> refused (the hole)
 *   guest [BASE + low + hole, BASE + size + hole)     -> host [low, size)
 * </pre>
 */
final class FakeGuestRam implements GuestRam, AutoCloseable {

    /** Guest-physical address of the first RAM byte. */
    static final long BASE = 0x10_0000;

    private final Arena arena;
    private final MemorySegment memory;
    private final long low;
    private final long hole;
    private final Path file;

    private FakeGuestRam(Arena arena, MemorySegment memory, long low, long hole, Path file) {
        this.arena = arena;
        this.memory = memory;
        this.low = low;
        this.hole = hole;
        this.file = file;
    }

    /** {@code size} bytes in one range. */
    static FakeGuestRam of(long size) {
        return withHole(size, size, 0);
    }

    /** {@code size} bytes, the first {@code low} below a hole of {@code hole} bytes, the rest above it. */
    static FakeGuestRam withHole(long size, long low, long hole) {
        Arena arena = Arena.ofShared();
        return new FakeGuestRam(arena, arena.allocate(size, 4096), low, hole, null);
    }

    /** {@code size} bytes of a sparse file mapping: large RAM that costs nothing until touched. */
    static FakeGuestRam sparse(long size) throws IOException {
        Path file = Files.createTempFile("fake-guest-ram", ".bin");
        Arena arena = Arena.ofShared();
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
            MemorySegment memory = raf.getChannel().map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            return new FakeGuestRam(arena, memory, size, 0, file);
        }
    }

    @Override
    public MemorySegment memory() {
        return memory;
    }

    @Override
    public long hostOffset(long address, long length) {
        if (length < 0 || address < BASE) {
            return -1;
        }
        long end = address + length;
        if (end < address) {
            return -1;
        }
        long lowEnd = BASE + low;
        if (end <= lowEnd) {
            return address - BASE;
        }
        long highStart = lowEnd + hole;
        long highEnd = highStart + (memory.byteSize() - low);
        if (address >= highStart && end <= highEnd) {
            return address - highStart + low;
        }
        return -1;
    }

    /** The guest-physical address of host offset {@code host}. */
    long guest(long host) {
        return host < low ? BASE + host : BASE + hole + host;
    }

    /** First guest address of the hole. */
    long holeStart() {
        return BASE + low;
    }

    /** First guest address above the hole (the end of RAM when there is no hole). */
    long highStart() {
        return BASE + low + hole;
    }

    /** One past the last guest address of RAM. */
    long end() {
        return BASE + hole + memory.byteSize();
    }

    @Override
    public void close() throws IOException {
        arena.close();
        if (file != null) {
            Files.deleteIfExists(file);
        }
    }
}
