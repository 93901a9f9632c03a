package io.bundlevisor.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.kvm.internal.ElfLoader.ImageException;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The ELF loader on the real test guest, and on hostile images built from it. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ElfLoaderTest {

    @TempDir
    Path dir;

    private final MemoryMap map = MemoryMap.of(64L << 20);

    @Test
    void theHelloGuestRunsOnKvmAndPrints() throws Exception {
        TestGuest.requireKvm();
        TestGuest.Result r = TestGuest.run("hello");
        assertEquals(KvmVcpu.EXIT_HLT, r.exit(), r.serial());
        assertEquals("hello from the test guest: 2 + 3 = 5, 0xbeef, ok\n", r.serial());
    }

    @Test
    void loadsSegmentsAtTheirPhysicalAddressesAndZeroesBss() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ram = arena.allocate(map.ramBytes());
            ram.fill((byte) 0x5A);
            ElfLoader.Loaded loaded = ElfLoader.load(TestGuest.elf("hello"), map, ram);
            assertEquals(0x200000, loaded.entry());
            assertEquals(0x200000, loaded.lowest());
            assertTrue(loaded.highest() >= 0x201000 + 16384, "text, then data and a 16 KiB stack in bss");
            assertEquals((byte) 0x48, ram.get(JAVA_BYTE, 0x200000), "first instruction (lea ...) is in place");
            assertEquals(0, ram.get(JAVA_BYTE, loaded.highest() - 1), "bss is zeroed");
            assertEquals((byte) 0x5A, ram.get(JAVA_BYTE, loaded.highest()), "nothing written past the image");
        }
    }

    @Test
    void hostileImagesGetOneLineErrors() throws Exception {
        byte[] good = Files.readAllBytes(TestGuest.elf("hello"));
        assertRejected(Arrays.copyOf(good, 40), "not an ELF file");
        assertRejected(Arrays.copyOf(good, 100), "program headers lie outside the file");
        assertRejected(Arrays.copyOf(good, 0x1100), "segment 0 lies outside the file");
        byte[] magic = good.clone();
        magic[1] = 'X';
        assertRejected(magic, "not an ELF file");
        byte[] far = good.clone();
        long ph0 = le(far).getLong(32);
        le(far).putLong((int) ph0 + 24, 0x7FFF_0000L); // p_paddr beyond 64 MiB of RAM
        assertRejected(far, "is outside guest RAM");
        byte[] overflow = good.clone();
        le(overflow).putLong((int) ph0 + 24, -4096L);
        assertRejected(overflow, "is outside guest RAM");
        byte[] entry = good.clone();
        le(entry).putLong(24, 0x100);
        assertRejected(entry, "entry point 0x100 is in no executable segment");
        byte[] phnum = good.clone();
        le(phnum).putShort(56, (short) 1000);
        assertRejected(phnum, "bad program header table");
    }

    private void assertRejected(byte[] image, String reason) throws Exception {
        Path file = dir.resolve("bad.elf");
        Files.write(file, image);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ram = arena.allocate(map.ramBytes());
            ImageException e = assertThrows(ImageException.class, () -> ElfLoader.load(file, map, ram));
            assertTrue(e.getMessage().contains(reason), e.getMessage());
            assertTrue(e.getMessage().startsWith("cannot load " + file + ": "), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }
}
