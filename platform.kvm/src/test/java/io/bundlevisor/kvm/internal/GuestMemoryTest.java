package io.bundlevisor.kvm.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.bundlevisor.uring.sys.Native;

/**
 * Guest RAM's memfd: which ranges hold data (so a snapshot reads only those), a memory file mapped privately in its
 * place (copy on write: the file never changes), and a discard that gives the guest zeroed RAM of its own again.
 */
class GuestMemoryTest {

    private static final long MIB = 1 << 20;

    @Test
    void dataRangesAreThePagesTouchedAndReadingThemAllocatesNothingElse() throws Exception {
        try (GuestMemory ram = GuestMemory.allocate(64 * MIB)) {
            assertArrayEquals(new long[0], ram.dataRanges());
            ram.segment().set(ValueLayout.JAVA_BYTE, 5 * MIB + 17, (byte) 1);
            ram.segment().set(ValueLayout.JAVA_BYTE, 40 * MIB, (byte) 2);
            ram.segment().set(ValueLayout.JAVA_BYTE, 40 * MIB + 4096, (byte) 3);
            assertArrayEquals(new long[] {5 * MIB, 5 * MIB + 4096, 40 * MIB, 40 * MIB + 8192}, ram.dataRanges());
            assertTrue(allocated(ram) <= 3 * 4096, allocated(ram) + " bytes allocated");
            ram.discard();
            assertArrayEquals(new long[0], ram.dataRanges());
        }
    }

    @Test
    void aMemoryFileMappedPrivatelyIsTheRamUntilADiscard(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("memory");
        byte[] content = new byte[(int) (4 * MIB)];
        content[4096] = 42;
        Files.write(file, content);
        try (GuestMemory ram = GuestMemory.allocate(4 * MIB)) {
            ram.segment().set(ValueLayout.JAVA_BYTE, 0, (byte) 7);
            int fd = Native.open(file.toString(), Native.O_RDONLY | Native.O_CLOEXEC, 0);
            assertTrue(fd >= 0);
            try {
                ram.mapPrivately(fd);
            } finally {
                Native.close(fd);
            }
            assertEquals(0, ram.segment().get(ValueLayout.JAVA_BYTE, 0), "the memfd's byte is gone");
            assertEquals(42, ram.segment().get(ValueLayout.JAVA_BYTE, 4096), "the file's byte is there");
            assertArrayEquals(new long[] {0, 4 * MIB}, ram.dataRanges());
            ram.segment().set(ValueLayout.JAVA_BYTE, 4096, (byte) 9);
            assertEquals(42, Files.readAllBytes(file)[4096], "a write is copied, never written to the file");
            ram.discard();
            assertEquals(0, ram.segment().get(ValueLayout.JAVA_BYTE, 4096), "zeroed RAM of its own again");
            ram.segment().set(ValueLayout.JAVA_BYTE, 8192, (byte) 5);
            // (The read of page 1 above allocated it: a hole read through a shared mapping is a page.)
            assertArrayEquals(new long[] {4096, 4096 + 8192}, ram.dataRanges(), "the memfd holds the RAM again");
        }
    }

    /** The memfd's allocated bytes, from its st_blocks. */
    private static long allocated(GuestMemory ram) throws Exception {
        Process p = new ProcessBuilder("stat", "-L", "-c", "%b", "/proc/" + ProcessHandle.current().pid() + "/fd/" + ram.fd())
                .redirectErrorStream(true).start();
        return Long.parseLong(new String(p.getInputStream().readAllBytes()).trim()) * 512;
    }
}
