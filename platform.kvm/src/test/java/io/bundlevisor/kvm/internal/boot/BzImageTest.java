package io.bundlevisor.kvm.internal.boot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The bzImage parser on synthetic images, and on the guest kit's Debian kernel where the kit is built. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BzImageTest {

    @TempDir
    Path dir;

    @Test
    void readsTheSetupHeader() throws Exception {
        FakeBzImage fake = new FakeBzImage();
        BzImage image = BzImage.parse(write(fake.build()));
        assertEquals(0x020F, image.protocolVersion());
        assertEquals(3, image.setupSects());
        assertEquals(2048, image.kernelOffset());
        assertEquals(64 * 1024, image.kernelSize(), "syssize, not the signature after it");
        assertEquals(0x20_0000, image.kernelAlignment());
        assertTrue(image.relocatable());
        assertEquals(0x100_0000, image.prefAddress());
        assertEquals(0x40_0000, image.initSize());
        assertEquals(2047, image.cmdlineSize());
        assertEquals(0x7FFF_FFFFL, image.initrdAddrMax());
        assertEquals(0x7F, image.xloadflags());
        assertEquals("6.1.0-test (bundlevisor@test) #1 SMP", image.kernelVersion());
        byte[] header = image.setupHeader();
        assertEquals(0x26C - 0x1F1, header.length, "0x202 + the jump displacement, minus 0x1F1");
        assertArrayEquals(Arrays.copyOfRange(fake.build(), 0x1F1, 0x26C), header);
    }

    @Test
    void zeroSetupSectsMeansFour() throws Exception {
        FakeBzImage fake = new FakeBzImage();
        fake.setupSects = 0;
        BzImage image = BzImage.parse(write(fake.build()));
        assertEquals(4, image.setupSects());
        assertEquals(5 * 512, image.kernelOffset());
    }

    @Test
    void zeroInitrdAddrMaxMeansTheOldDefault() throws Exception {
        FakeBzImage fake = new FakeBzImage();
        fake.initrdAddrMax = 0;
        assertEquals(0x37FF_FFFFL, BzImage.parse(write(fake.build())).initrdAddrMax());
    }

    @Test
    void badImagesGetOneLineErrors() throws Exception {
        byte[] good = new FakeBzImage().build();
        assertRejected(Arrays.copyOf(good, 256), "not a bzImage (256 bytes, too short for a setup header)");
        assertRejected(new byte[0], "not a bzImage (0 bytes, too short for a setup header)");
        assertRejected(Arrays.copyOf(good, 0x260), "truncated in the setup header (608 bytes)");
        assertRejected(Arrays.copyOf(good, 0x300), "truncated: the setup code needs 2048 bytes, the file has 768");
        assertRejected(Arrays.copyOf(good, 2048 + 65536 - 16),
                "truncated: the protected-mode kernel needs 65536 bytes at offset 2048, the file has 65520");
        assertRejected(f -> f.bootFlag = 0x55AA, "not a bzImage (no 0xAA55 boot flag)");
        assertRejected(f -> f.magic = 0x5372_6447, "not a bzImage (no HdrS magic)");
        assertRejected(f -> f.version = 0x020A, "boot protocol 2.10 is too old (2.12 or later has the 64-bit entry point)");
        assertRejected(f -> f.version = 0x0100, "boot protocol 1.0 is too old (2.12 or later has the 64-bit entry point)");
        assertRejected(f -> f.xloadflags = 0x02, "no 64-bit entry point (XLF_KERNEL_64 clear in xloadflags)");
        assertRejected(f -> f.jump = 0x20, "setup header ends at 0x222, outside 0x268..0x290");
        assertRejected(f -> f.jump = 0x90, "setup header ends at 0x292, outside 0x268..0x290");
        assertRejected(f -> f.syssize = 0, "syssize is 0 (no protected-mode kernel)");
        assertRejected(f -> f.syssize = 0xFFFF_FFFFL,
                "truncated: the protected-mode kernel needs 68719476720 bytes at offset 2048, the file has 66272");
        assertRejected(f -> f.payloadLength = 0x10000,
                "payload at 0x100 (+0x10000) is not inside the protected-mode kernel (0x10000 bytes)");
        assertRejected(f -> f.payloadLength = 0, "payload at 0x100 (+0x0) is not inside the protected-mode kernel"
                + " (0x10000 bytes)");
        assertRejected(f -> f.kernelAlignment = 0x30_0000, "kernel_alignment 0x300000 is not a power of two");
        assertRejected(f -> f.kernelAlignment = 0, "kernel_alignment 0x0 is not a power of two");
        assertRejected(f -> f.prefAddress = 0x110_0000,
                "pref_address 0x1100000 is not aligned to kernel_alignment 0x200000");
        assertRejected(f -> f.initSize = 0, "init_size is 0");
    }

    @Test
    void refusesHugeFilesWithoutReadingThem() throws Exception {
        Path file = dir.resolve("huge");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(257L << 20); // sparse
        }
        BootImageException e = assertThrows(BootImageException.class, () -> BzImage.parse(file));
        assertEquals(file + ": larger than 256 MiB, not a kernel", e.getMessage());
    }

    /** The real Debian kernel of scripts/guest-kit.sh, where it has been built; nothing to check otherwise. */
    @Test
    void parsesTheGuestKitKernel() throws Exception {
        Path vmlinuz = GuestKit.file("vmlinuz");
        if (vmlinuz == null) {
            return; // no guest kit here (scripts/guest-kit.sh builds it); not a reason to fail or skip
        }
        BzImage image = BzImage.parse(vmlinuz);
        assertTrue(image.protocolVersion() >= 0x020C, image.toString());
        assertTrue(image.relocatable(), image.toString());
        assertTrue((image.xloadflags() & 0x3) == 0x3, "64-bit entry, loadable above 4G: " + image);
        assertEquals(0x20_0000, image.kernelAlignment(), image.toString());
        assertEquals(0x100_0000, image.prefAddress(), image.toString());
        assertTrue(image.kernelSize() <= Files.size(vmlinuz) - image.kernelOffset(), image.toString());
        assertTrue(image.initSize() > image.kernelSize(), image.toString());
        assertTrue(image.cmdlineSize() >= 2047, image.toString());
        assertFalse(image.kernelVersion().isEmpty(), image.toString());
        assertTrue(Character.isDigit(image.kernelVersion().charAt(0)), image.toString());
    }

    private Path write(byte[] image) throws Exception {
        Path file = dir.resolve("vmlinuz");
        Files.write(file, image);
        return file;
    }

    private void assertRejected(Consumer<FakeBzImage> change, String reason) throws Exception {
        FakeBzImage fake = new FakeBzImage();
        change.accept(fake);
        assertRejected(fake.build(), reason);
    }

    private void assertRejected(byte[] image, String reason) throws Exception {
        Path file = write(image);
        BootImageException e = assertThrows(BootImageException.class, () -> BzImage.parse(file), reason);
        assertEquals(file + ": " + reason, e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }
}
