package io.bundlevisor.kvm.internal.boot;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import io.bundlevisor.kvm.internal.GuestMemory;
import io.bundlevisor.kvm.internal.MemoryMap;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Linux loader on synthetic bzImages, in memfd guest RAM (pages appear only where written, so large maps are
 * cheap). Expected values use the offsets of boot.rst and bootparam.h written out, not the loader's constants.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LinuxLoaderTest {

    private static final long MIB = 1L << 20;
    private static final long ZERO_PAGE = 0x7000;

    @TempDir
    Path dir;

    @Test
    void loadsTheKernelTheCommandLineAndTheZeroPage() throws Exception {
        FakeBzImage fake = new FakeBzImage();
        byte[] image = fake.build();
        MemoryMap map = MemoryMap.of(64 * MIB);
        try (GuestMemory memory = GuestMemory.allocate(map.ramBytes())) {
            MemorySegment ram = memory.segment();
            long kernelEnd = 0x100_0000 + fake.kernelBytes;
            for (long guard : new long[] {0x6FFF, 0x8000, 0x2FFFF, kernelEnd}) {
                ram.set(JAVA_BYTE, guard, (byte) 0x5A);
            }
            LinuxLoader.Loaded loaded = LinuxLoader.load(map, ram, write("vmlinuz", image), Optional.empty(),
                    "console=ttyS0 panic=-1", 0xE_0000);

            assertEquals(0x100_0200, loaded.entry(), "64-bit entry: load address + 0x200");
            assertEquals(ZERO_PAGE, loaded.bootParams());
            for (int i = 0; i < fake.kernelBytes; i++) {
                if (ram.get(JAVA_BYTE, 0x100_0000 + i) != FakeBzImage.kernelByte(i)) {
                    throw new AssertionError("kernel byte " + i + " differs");
                }
            }
            assertEquals((byte) 0x5A, ram.get(JAVA_BYTE, kernelEnd), "the signature after syssize is not loaded");
            assertEquals((byte) 0x5A, ram.get(JAVA_BYTE, 0x6FFF), "nothing below the zero page");
            assertEquals((byte) 0x5A, ram.get(JAVA_BYTE, 0x8000), "nothing above the zero page");

            byte[] line = "console=ttyS0 panic=-1\0".getBytes();
            assertArrayEquals(line, bytes(ram, 0x2_0000, line.length));
            assertEquals(0, ram.get(JAVA_BYTE, 0x2FFFF), "the command line's room is zeroed");

            // The whole zero page, built independently from boot.rst and bootparam.h.
            ByteBuffer expected = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
            expected.put(0x1F1, image, 0x1F1, 0x26C - 0x1F1);   // the setup header, to 0x202 + 0x6A
            expected.put(0x210, (byte) 0xFF);                    // type_of_loader: undefined
            expected.put(0x211, (byte) 0x81);                    // loadflags: LOADED_HIGH | CAN_USE_HEAP
            expected.putShort(0x224, (short) 0xFE00);            // heap_end_ptr
            expected.putInt(0x228, 0x2_0000);                    // cmd_line_ptr
            expected.putLong(0x070, 0xE_0000);                   // acpi_rsdp_addr
            List<MemoryMap.E820> e820 = map.e820();
            expected.put(0x1E8, (byte) e820.size());             // e820_entries
            for (int i = 0; i < e820.size(); i++) {              // e820_table: 20-byte boot_e820_entry
                expected.putLong(0x2D0 + 20 * i, e820.get(i).address());
                expected.putLong(0x2D0 + 20 * i + 8, e820.get(i).size());
                expected.putInt(0x2D0 + 20 * i + 16, e820.get(i).type());
            }
            byte[] page = bytes(ram, ZERO_PAGE, 4096);
            for (int i = 0; i < 4096; i++) {
                if (page[i] != expected.get(i)) {
                    throw new AssertionError(String.format("zero page byte 0x%x: expected 0x%02x, got 0x%02x", i,
                            expected.get(i), page[i]));
                }
            }
            assertEquals(4, e820.size());
            assertEquals(0x10_0000, ram.get(JAVA_INT_UNALIGNED, ZERO_PAGE + 0x2D0 + 3 * 20), "RAM from 1 MiB");
        }
    }

    @Test
    void theInitrdGoesAsHighAsAllowedPageAligned() throws Exception {
        byte[] initrd = new byte[10001];
        for (int i = 0; i < initrd.length; i++) {
            initrd[i] = (byte) (i * 13 + 5);
        }
        // 256 MiB: under the top of RAM.
        assertInitrdAt(256 * MIB, new FakeBzImage(), initrd, 0xFFF_D000L);
        // 2 GiB with the boot.rst default limit (initrd_addr_max 0): below 0x38000000.
        FakeBzImage old = new FakeBzImage();
        old.initrdAddrMax = 0;
        assertInitrdAt(2048 * MIB, old, initrd, 0x37FF_D000L);
        FakeBzImage limited = new FakeBzImage();
        limited.initrdAddrMax = 0x37FF_FFFFL;
        assertInitrdAt(2048 * MIB, limited, initrd, 0x37FF_D000L);
        // 4 GiB (3 below the hole, 1 above): below initrd_addr_max 2 GiB, not above 4 GiB.
        assertInitrdAt(4096 * MIB, new FakeBzImage(), initrd, 0x7FFF_D000L);
    }

    @Test
    void theInitrdGoesAbove4GiBOnlyWhenLowRamIsFullAndTheKernelAllowsIt() throws Exception {
        byte[] initrd = new byte[(int) (16 * MIB)];
        initrd[0] = 0x1F;
        initrd[initrd.length - 1] = 0x42;
        FakeBzImage fake = new FakeBzImage();
        fake.initrdAddrMax = 0x01FF_FFFF; // 32 MiB, and the kernel takes 16..20 MiB: 12 MiB left
        assertInitrdAt(3072 * MIB + 64 * MIB, fake, initrd, 0x1_0300_0000L);

        fake.xloadflags = 0x01; // no XLF_CAN_BE_LOADED_ABOVE_4G
        Path file = write("initrd.img", initrd);
        assertLoadRejected(3072 * MIB + 64 * MIB, fake, Optional.of(file), "", file,
                "initrd too big: 16 MiB do not fit between the kernel's end 0x1400000 and 0x2000000 (3136 MiB of RAM)");
    }

    @Test
    void whatDoesNotFitGetsOneLineErrors() throws Exception {
        Path kernel = dir.resolve("vmlinuz");
        assertLoadRejected(64 * MIB, change(f -> {
            f.kernelAlignment = 0x1000;
            f.prefAddress = 0x1_0000;
        }), Optional.empty(), "", kernel, "kernel at pref_address 0x10000 would overlap the boot data below 0x100000");
        assertLoadRejected(64 * MIB, change(f -> f.prefAddress = 0xC000_0000L), Optional.empty(), "", kernel,
                "kernel at pref_address 0xc0000000 is not in the RAM below 0x4000000");
        assertLoadRejected(64 * MIB, change(f -> f.prefAddress = 0xFFFF_FFFF_FFE0_0000L), Optional.empty(), "",
                kernel, "kernel at pref_address 0xffffffffffe00000 is not in the RAM below 0x4000000");
        assertLoadRejected(64 * MIB, change(f -> f.initSize = 60 * MIB), Optional.empty(), "", kernel,
                "kernel too big for 64 MiB of RAM (it needs 0x1000000..0x4c00000: init_size 60 MiB from pref_address)");

        Path big = dir.resolve("big.img");
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(50 * MIB); // sparse
        }
        assertLoadRejected(64 * MIB, new FakeBzImage(), Optional.of(big), "", big,
                "initrd too big: 50 MiB do not fit between the kernel's end 0x1400000 and 0x4000000 (64 MiB of RAM)");
        Path empty = write("empty.img", new byte[0]);
        assertLoadRejected(64 * MIB, new FakeBzImage(), Optional.of(empty), "", empty, "initrd is empty");

        FakeBzImage shortLine = change(f -> f.cmdlineSize = 16);
        assertLoadRejected(64 * MIB, shortLine, Optional.empty(), "0123456789abcdefg", kernel,
                "command line too long: 17 bytes, the kernel takes at most 16");
        assertLoadRejected(64 * MIB, new FakeBzImage(), Optional.empty(), "a".repeat(2048), kernel,
                "command line too long: 2048 bytes, the kernel takes at most 2047");
        assertLoadRejected(64 * MIB, new FakeBzImage(), Optional.empty(), "abc\ndef", kernel,
                "command line has a non-printable character (U+000A) at index 3");
        assertLoadRejected(64 * MIB, new FakeBzImage(), Optional.empty(), "root=\0", kernel,
                "command line has a non-printable character (U+0000) at index 5");
        assertLoadRejected(64 * MIB, new FakeBzImage(), Optional.empty(), "caf\u00e9", kernel,
                "command line has a non-printable character (U+00E9) at index 3");

        MemoryMap map = MemoryMap.of(64 * MIB);
        try (GuestMemory memory = GuestMemory.allocate(map.ramBytes())) {
            LinuxLoader.load(map, memory.segment(), write("vmlinuz", shortLine.build()), Optional.empty(),
                    "0123456789abcdef", 0); // exactly cmdline_size: accepted
            assertEquals(0, memory.segment().get(JAVA_BYTE, 0x2_0010));
        }
    }

    /** The guest kit's Debian kernel and initramfs, where scripts/guest-kit.sh has built them (not a KVM test). */
    @Test
    void loadsTheGuestKitKernelAndInitramfs() throws Exception {
        Path vmlinuz = GuestKit.file("vmlinuz");
        Path initramfs = GuestKit.file("initramfs.cpio.gz");
        if (vmlinuz == null || initramfs == null) {
            return; // no guest kit here; not a reason to fail or skip
        }
        BzImage image = BzImage.parse(vmlinuz);
        MemoryMap map = MemoryMap.of(256 * MIB);
        try (GuestMemory memory = GuestMemory.allocate(map.ramBytes())) {
            MemorySegment ram = memory.segment();
            LinuxLoader.Loaded loaded = LinuxLoader.load(map, ram, image, Optional.of(initramfs),
                    "console=ttyS0 panic=-1", 0xE_0000);
            assertEquals(image.prefAddress() + 0x200, loaded.entry());
            assertEquals(0x5372_6448, ram.get(JAVA_INT_UNALIGNED, ZERO_PAGE + 0x202), "HdrS in boot_params.hdr");
            long size = Files.size(initramfs);
            long at = Integer.toUnsignedLong(ram.get(JAVA_INT_UNALIGNED, ZERO_PAGE + 0x218));
            assertEquals(size, Integer.toUnsignedLong(ram.get(JAVA_INT_UNALIGNED, ZERO_PAGE + 0x21C)));
            assertEquals((256 * MIB - size) & -4096L, at);
            assertArrayEquals(new byte[] {0x1F, (byte) 0x8B}, bytes(ram, at, 2), "gzip magic");
            try (FileChannel channel = FileChannel.open(vmlinuz)) {
                ByteBuffer head = ByteBuffer.allocate(4096);
                channel.read(head, image.kernelOffset());
                assertArrayEquals(head.array(), bytes(ram, image.prefAddress(), 4096));
                ByteBuffer tail = ByteBuffer.allocate(4096);
                channel.read(tail, image.kernelOffset() + image.kernelSize() - 4096);
                assertArrayEquals(tail.array(), bytes(ram, image.prefAddress() + image.kernelSize() - 4096, 4096));
            }
        }
    }

    private void assertInitrdAt(long ramBytes, FakeBzImage fake, byte[] initrd, long expected) throws Exception {
        MemoryMap map = MemoryMap.of(ramBytes);
        try (GuestMemory memory = GuestMemory.allocate(map.ramBytes())) {
            MemorySegment ram = memory.segment();
            LinuxLoader.load(map, ram, write("vmlinuz", fake.build()), Optional.of(write("initrd.img", initrd)),
                    "", 0);
            assertEquals((int) expected, ram.get(JAVA_INT_UNALIGNED, ZERO_PAGE + 0x218), "ramdisk_image");
            assertEquals(initrd.length, ram.get(JAVA_INT_UNALIGNED, ZERO_PAGE + 0x21C), "ramdisk_size");
            assertEquals((int) (expected >>> 32), ram.get(JAVA_INT_UNALIGNED, ZERO_PAGE + 0x0C0), "ext_ramdisk_image");
            assertEquals(0, ram.get(JAVA_INT_UNALIGNED, ZERO_PAGE + 0x0C4), "ext_ramdisk_size");
            assertArrayEquals(initrd, bytes(ram, map.toHostOffset(expected, initrd.length), initrd.length));
        }
    }

    private void assertLoadRejected(long ramBytes, FakeBzImage fake, Optional<Path> initrd, String cmdline,
            Path named, String reason) throws Exception {
        MemoryMap map = MemoryMap.of(ramBytes);
        Path kernel = write("vmlinuz", fake.build());
        try (GuestMemory memory = GuestMemory.allocate(map.ramBytes())) {
            BootImageException e = assertThrows(BootImageException.class,
                    () -> LinuxLoader.load(map, memory.segment(), kernel, initrd, cmdline, 0), reason);
            assertEquals(named + ": " + reason, e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
    }

    private static FakeBzImage change(Consumer<FakeBzImage> change) {
        FakeBzImage fake = new FakeBzImage();
        change.accept(fake);
        return fake;
    }

    private Path write(String name, byte[] bytes) throws Exception {
        Path file = dir.resolve(name);
        Files.write(file, bytes);
        return file;
    }

    private static byte[] bytes(MemorySegment ram, long offset, int length) {
        return Arrays.copyOf(ram.asSlice(offset, length).toArray(JAVA_BYTE), length);
    }
}
