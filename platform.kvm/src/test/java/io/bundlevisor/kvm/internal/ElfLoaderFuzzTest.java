package io.bundlevisor.kvm.internal;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (Jazzer) of the ELF loader (the test guests' format; System V gABI, Elf64_Ehdr and
 * Elf64_Phdr): an ELF header whose fields the input chooses (mostly the valid ones, so the fuzzer gets past the
 * identification), up to four program headers of any type, offset, addresses and sizes, and file bytes, loaded into
 * 16 MiB of guest RAM. With the unit tests only the committed seeds run (ElfLoaderFuzzTestInputs);
 * {@code scripts/fuzz.sh} fuzzes for longer.
 *
 * <p>What must hold for every input: the only exception is {@link ElfLoader.ImageException}, one line naming the
 * file; a loaded image's segments lie in guest RAM and its entry point lies among them; nothing is written outside
 * the RAM segment (it is bounded, so such a write would throw, which the first property forbids).
 */
class ElfLoaderFuzzTest {

    private static final long RAM = 16L << 20; // the smallest machine
    private static final Path FILE = Path.of("fuzzed.elf");
    private static final MemorySegment ram = Arena.global().allocate(RAM, 4096);

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyImageLoadsInsideRamOrIsRefusedInOneLine(FuzzedDataProvider data) {
        MemoryMap map = MemoryMap.of(RAM);
        int phnum = data.consumeBoolean() ? data.consumeInt(1, 4) : data.consumeInt(0, 0xFFFF);
        int headers = Math.min(phnum, 4);
        ByteBuffer b = ByteBuffer.allocate(64 + 56 * headers + data.consumeInt(0, 8192)).order(
                ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, data.consumeInt(0, 15) == 0 ? data.consumeInt() : 0x464C457F);
        b.put(4, (byte) (data.consumeInt(0, 15) == 0 ? data.consumeByte() : 2)); // ELFCLASS64
        b.put(5, (byte) (data.consumeInt(0, 15) == 0 ? data.consumeByte() : 1)); // ELFDATA2LSB
        b.putShort(16, (short) (data.consumeInt(0, 15) == 0 ? data.consumeInt() : 2)); // ET_EXEC
        b.putShort(18, (short) (data.consumeInt(0, 15) == 0 ? data.consumeInt() : 62)); // EM_X86_64
        b.putLong(24, address(data));
        b.putLong(32, data.consumeInt(0, 15) == 0 ? data.consumeLong() : 64);
        b.putShort(54, (short) (data.consumeInt(0, 15) == 0 ? data.consumeInt() : 56));
        b.putShort(56, (short) phnum);
        for (int i = 0; i < headers; i++) {
            int ph = 64 + 56 * i;
            b.putInt(ph, data.consumeInt(0, 3) == 0 ? data.consumeInt() : 1); // PT_LOAD
            b.putInt(ph + 4, data.consumeInt(0, 7));
            b.putLong(ph + 8, data.consumeBoolean() ? data.consumeLong(0, b.capacity()) : data.consumeLong());
            b.putLong(ph + 16, address(data));
            b.putLong(ph + 24, address(data));
            long filesz = data.consumeBoolean() ? data.consumeLong(0, 8192) : data.consumeLong();
            b.putLong(ph + 32, filesz);
            b.putLong(ph + 40, data.consumeBoolean() ? filesz + data.consumeLong(0, 1 << 20) : data.consumeLong());
        }
        byte[] rest = data.consumeRemainingAsBytes();
        int body = 64 + 56 * headers;
        b.put(body, rest, 0, Math.min(rest.length, b.capacity() - body));
        ElfLoader.Loaded loaded;
        try {
            loaded = ElfLoader.load(FILE, MemorySegment.ofArray(b.array()), map, ram);
        } catch (ElfLoader.ImageException refused) {
            String message = refused.getMessage();
            assertFalse(message.contains("\n"), () -> "not one line: " + message);
            assertTrue(message.startsWith("cannot load " + FILE + ": "), message);
            return;
        }
        assertTrue(loaded.lowest() < loaded.highest(), loaded::toString);
        assertTrue(map.toHostOffset(loaded.lowest(), loaded.highest() - loaded.lowest()) >= 0,
                () -> "segments outside guest RAM: " + loaded);
        assertTrue(map.toHostOffset(loaded.entry(), 1) >= 0, () -> "entry outside guest RAM: " + loaded);
        assertTrue(loaded.entry() >= loaded.lowest() && loaded.entry() < loaded.highest(),
                () -> "entry outside the loaded segments: " + loaded);
    }

    /** A guest address: mostly inside the RAM, sometimes anything. */
    private static long address(FuzzedDataProvider data) {
        return data.consumeBoolean() ? data.consumeLong(0, RAM) : data.consumeLong();
    }
}
