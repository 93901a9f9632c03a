package io.bundlevisor.kvm.internal.boot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.bundlevisor.kvm.internal.GuestMemory;
import io.bundlevisor.kvm.internal.MemoryMap;

/**
 * Coverage-guided fuzzing (Jazzer) of the bzImage parser and the Linux loader (Documentation/arch/x86/boot.rst): a
 * synthetic bzImage whose every setup-header field, size and byte the input may change, an initrd of any size and
 * any command line, loaded into 64 MiB of memfd guest RAM. With the unit tests only the committed seeds run
 * (LinuxLoaderFuzzTestInputs); {@code scripts/fuzz.sh} fuzzes for longer.
 *
 * <p>What must hold for every input: the only exception is an {@link IOException} with a one-line message naming
 * the file; a loaded kernel's entry point and zero page lie in guest RAM, and nothing is written outside the RAM
 * segment (a write there would throw from the bounded segment, which the first property forbids).
 */
class LinuxLoaderFuzzTest {

    private static final long RAM = 64L << 20;
    private static Path dir;
    private static GuestMemory memory;

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyImageLoadsInsideRamOrIsRefusedInOneLine(FuzzedDataProvider data) throws IOException {
        if (memory == null) {
            dir = Files.createTempDirectory("loader-fuzz");
            memory = GuestMemory.allocate(RAM);
        }
        FakeBzImage fake = new FakeBzImage();
        fake.setupSects = data.consumeBoolean() ? fake.setupSects : data.consumeInt(2, 70); // smaller: by the edits below
        fake.version = data.consumeBoolean() ? fake.version : data.consumeInt(0, 0xFFFF);
        fake.jump = data.consumeBoolean() ? fake.jump : data.consumeInt(0, 0xFF);
        fake.loadflags = data.consumeInt(0, 0xFF);
        fake.initrdAddrMax = data.consumeBoolean() ? fake.initrdAddrMax : data.consumeLong(0, 0xFFFF_FFFFL);
        fake.kernelAlignment = data.consumeBoolean() ? fake.kernelAlignment : data.consumeLong(0, 0xFFFF_FFFFL);
        fake.relocatable = data.consumeInt(0, 1);
        fake.xloadflags = data.consumeInt(0, 0xFFFF);
        fake.cmdlineSize = data.consumeBoolean() ? fake.cmdlineSize : data.consumeLong(0, 0xFFFF_FFFFL);
        fake.payloadOffset = data.consumeLong(0, 0xFFFF_FFFFL);
        fake.payloadLength = data.consumeBoolean() ? -1 : data.consumeLong(0, 0xFFFF_FFFFL);
        fake.prefAddress = data.consumeBoolean() ? fake.prefAddress : data.consumeLong();
        fake.initSize = data.consumeBoolean() ? fake.initSize : data.consumeLong(0, 0xFFFF_FFFFL);
        fake.kernelBytes = data.consumeInt(0, 16 << 10);
        fake.syssize = data.consumeBoolean() ? -1 : data.consumeLong(0, 0xFFFF_FFFFL);
        fake.signatureBytes = data.consumeInt(0, 1024);
        byte[] image = fake.build();
        int edits = data.consumeInt(0, 8);
        for (int i = 0; i < edits && image.length > 0; i++) {
            image[data.consumeInt(0, image.length - 1)] = data.consumeByte();
        }
        if (data.consumeBoolean()) {
            image = java.util.Arrays.copyOf(image, data.consumeInt(0, image.length));
        }
        Path kernel = Files.write(dir.resolve("vmlinuz"), image);
        Optional<Path> initrd = data.consumeBoolean() ? Optional.empty()
                : Optional.of(Files.write(dir.resolve("initrd"), new byte[data.consumeInt(0, 64 << 10)]));
        String cmdline = data.consumeString(4096);
        MemoryMap map = MemoryMap.of(RAM);
        MemorySegment ram = memory.segment();
        LinuxLoader.Loaded loaded;
        try {
            loaded = LinuxLoader.load(map, ram, kernel, initrd, cmdline, data.consumeBoolean() ? 0 : 0xE_0000);
        } catch (IOException refused) {
            String message = refused.getMessage();
            assertFalse(message == null || message.isBlank() || message.contains("\n"), () -> "not one line: "
                    + message);
            assertTrue(message.contains(kernel.toString()) || initrd.map(p -> message.contains(p.toString()))
                    .orElse(false), () -> "names no file: " + message);
            return;
        }
        assertTrue(map.toHostOffset(loaded.entry(), 1) >= 0, "entry point outside guest RAM");
        assertTrue(map.toHostOffset(loaded.bootParams(), 4096) >= 0, "zero page outside guest RAM");
        assertEquals(0, loaded.bootParams() & 0xFFF, "zero page aligned");
    }

    @AfterAll
    static void close() throws IOException {
        if (memory != null) {
            memory.close();
            memory = null;
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }
}
