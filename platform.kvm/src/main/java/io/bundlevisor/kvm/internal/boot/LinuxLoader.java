package io.bundlevisor.kvm.internal.boot;

import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.CAN_USE_HEAP;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.ENTRY_64_OFFSET;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.LOADED_HIGH;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.LOADER_UNDEFINED;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.XLF_CAN_BE_LOADED_ABOVE_4G;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.ZERO_PAGE_SIZE;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;

import io.bundlevisor.kvm.internal.MemoryMap;

/**
 * Loads a Linux bzImage for the 64-bit boot protocol (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"):
 * the protected-mode kernel, the initrd, the command line and the zero page go into guest RAM, and the vCPU is
 * then started in long mode at {@link Loaded#entry} with RSI = {@link Loaded#bootParams}, interrupts off, on an
 * identity map that covers the kernel, the zero page and the command line.
 *
 * <p>Guest-physical layout (everything below 1 MiB fits the e820 RAM below the EBDA, 0x9FC00, except the
 * reserved BIOS area):
 * <pre>
 *   0x00500 .. 0x0051F   boot GDT (LongMode)
 *   0x07000 .. 0x07FFF   zero page: struct boot_params                           {@link #BOOT_PARAMS}
 *   0x09000 .. 0x0EFFF   identity page tables for the first 4 GiB (LongMode): keep clear
 *   0x20000 .. 0x2FFFF   kernel command line, NUL-terminated                      {@link #CMDLINE}
 *   0x9FC00 .. 0x9FFFF   EBDA (e820 reserved)
 *   0xE0000 .. 0xFFFFF   ACPI tables, RSDP first (e820 reserved)
 *   pref_address ..      protected-mode kernel (16 MiB for Debian), init_size bytes reserved for it
 *   top of low RAM       initrd, page aligned, as high as initrd_addr_max and low RAM (below 3 GiB) allow
 * </pre>
 *
 * <p>The kernel goes to its pref_address, not to 1 MiB: a 64-bit kernel decompresses itself to its load address
 * rounded up to kernel_alignment, but never below pref_address (arch/x86/boot/compressed/head_64.S, startup_64,
 * LOAD_PHYSICAL_ADDR), so a kernel loaded at 1 MiB still needs [pref_address, pref_address + init_size) and
 * occupies 1 MiB..pref_address besides. Loaded at pref_address, it needs exactly
 * [pref_address, pref_address + max(init_size, kernel size)).
 */
public final class LinuxLoader {

    /** Guest-physical address of the zero page. */
    public static final long BOOT_PARAMS = 0x7000;
    /** Guest-physical address of the kernel command line. */
    public static final long CMDLINE = 0x2_0000;
    /** Room for the command line, its NUL included. */
    public static final long CMDLINE_ROOM = 0x1_0000;
    /** Nothing of the kernel or initrd goes below this: the boot data above lives there. */
    public static final long LOW_LIMIT = 0x10_0000;
    /** The longest command line we write for an image without a header (Linux's x86 COMMAND_LINE_SIZE - 1). */
    static final int CMDLINE_MAX = 2047;
    private static final long PAGE = 4096;
    /** boot.rst: heap_end_ptr is the end of the setup heap/stack from the real-mode code, minus 0x200. */
    private static final int HEAP_END_PTR = 0xFE00;

    private LinuxLoader() {
    }

    /** Where to start: the 64-bit entry point (RIP) and the zero page (RSI). */
    public record Loaded(long entry, long bootParams) {
    }

    /**
     * Loads {@code kernel} (a bzImage), the optional {@code initrd} and {@code cmdline} into {@code ram}, laid out
     * by {@code map}, and builds the zero page with the e820 table of {@code map} and {@code acpiRsdp}.
     *
     * @param ram the whole of guest RAM, indexed by memfd offset ({@code GuestMemory.segment()})
     * @param cmdline printable ASCII, at most the kernel's cmdline_size bytes
     * @param acpiRsdp guest-physical address of the ACPI RSDP, or 0 to let the kernel search for it
     * @throws BootImageException with a one-line reason if the image is bad or something does not fit
     */
    public static Loaded load(MemoryMap map, MemorySegment ram, Path kernel, Optional<Path> initrd, String cmdline,
            long acpiRsdp) throws IOException {
        return load(map, ram, BzImage.parse(kernel), initrd, cmdline, acpiRsdp);
    }

    /** As {@link #load(MemoryMap, MemorySegment, Path, Optional, String, long)}, for an image parsed already. */
    public static Loaded load(MemoryMap map, MemorySegment ram, BzImage image, Optional<Path> initrd,
            String cmdline, long acpiRsdp) throws IOException {
        if (ram.byteSize() < map.ramBytes()) {
            throw new IllegalArgumentException("ram is " + ram.byteSize() + " bytes, the map says " + map.ramBytes());
        }
        Path file = image.file();
        byte[] line = commandLine(file, cmdline, image.cmdlineSize());
        MemoryMap.Ram low = map.ram().getFirst();
        long lowEnd = low.guestAddress() + low.size();

        // The kernel: [pref_address, + max(init_size, kernel size)).
        long load = image.prefAddress();
        long footprint = Math.max(image.initSize(), image.kernelSize());
        if (Long.compareUnsigned(load, LOW_LIMIT) < 0) {
            throw new BootImageException(file, String.format(
                    "kernel at pref_address 0x%x would overlap the boot data below 0x%x", load, LOW_LIMIT));
        }
        if (Long.compareUnsigned(load, lowEnd) >= 0) {
            throw new BootImageException(file, String.format(
                    "kernel at pref_address 0x%x is not in the RAM below 0x%x", load, lowEnd));
        }
        long kernelHost = map.toHostOffset(load, footprint);
        if (kernelHost < 0 || footprint > lowEnd - load) {
            throw new BootImageException(file, String.format(
                    "kernel too big for %d MiB of RAM (it needs 0x%x..0x%x: init_size %d MiB from pref_address)",
                    map.ramBytes() >> 20, load, load + footprint, ceilMiB(footprint)));
        }
        long kernelEnd = alignUp(load + footprint, PAGE);

        Initrd placed = loadInitrd(map, ram, initrd, image.initrdAddrMax(),
                (image.xloadflags() & XLF_CAN_BE_LOADED_ABOVE_4G) != 0, kernelEnd, lowEnd);

        image.readKernel(ram.asSlice(kernelHost, image.kernelSize()));

        long cmdlineHost = hostOffset(map, CMDLINE, CMDLINE_ROOM, file);
        ram.asSlice(cmdlineHost, CMDLINE_ROOM).fill((byte) 0);
        MemorySegment.copy(MemorySegment.ofArray(line), 0, ram, cmdlineHost, line.length);

        List<MemoryMap.E820> e820 = map.e820();
        new BootParams(ram.asSlice(hostOffset(map, BOOT_PARAMS, ZERO_PAGE_SIZE, file), ZERO_PAGE_SIZE))
                .setupHeader(image.setupHeader())
                .typeOfLoader(LOADER_UNDEFINED)
                .orLoadflags(LOADED_HIGH | CAN_USE_HEAP)
                .heapEndPtr(HEAP_END_PTR)
                .cmdLinePtr(CMDLINE)
                .ramdisk(placed.address(), placed.size())
                .e820(e820)
                .acpiRsdpAddr(acpiRsdp);
        return new Loaded(load + ENTRY_64_OFFSET, BOOT_PARAMS);
    }

    /**
     * Loads an ELF image (a vmlinux, or one of our test guests) at its physical addresses and builds a zero page
     * for it as a bzImage would have one: the boot_flag and HdrS magic, type_of_loader, the command line, the
     * initrd placed as high as possible below 896 MiB (the protocol's default initrd_addr_max) and above the
     * image, the e820 table and the RSDP. The entry is the ELF's own, entered in 64-bit mode like the bzImage one.
     *
     * @throws IOException with a one-line reason if the image is bad or something does not fit
     */
    public static Loaded loadElf(MemoryMap map, MemorySegment ram, Path elf, Optional<Path> initrd, String cmdline,
            long acpiRsdp) throws IOException {
        byte[] line = commandLine(elf, cmdline, CMDLINE_MAX);
        io.bundlevisor.kvm.internal.ElfLoader.Loaded image = io.bundlevisor.kvm.internal.ElfLoader.load(elf, map, ram);
        if (image.lowest() < LOW_LIMIT) {
            throw new BootImageException(elf, String.format(
                    "image at 0x%x would overlap the boot data below 0x%x", image.lowest(), LOW_LIMIT));
        }
        MemoryMap.Ram low = map.ram().getFirst();
        long lowEnd = low.guestAddress() + low.size();
        Initrd placed = loadInitrd(map, ram, initrd, BootParamsLayout.DEFAULT_INITRD_ADDR_MAX, false,
                alignUp(image.highest(), PAGE), lowEnd);
        long cmdlineHost = hostOffset(map, CMDLINE, CMDLINE_ROOM, elf);
        ram.asSlice(cmdlineHost, CMDLINE_ROOM).fill((byte) 0);
        MemorySegment.copy(MemorySegment.ofArray(line), 0, ram, cmdlineHost, line.length);
        new BootParams(ram.asSlice(hostOffset(map, BOOT_PARAMS, ZERO_PAGE_SIZE, elf), ZERO_PAGE_SIZE))
                .minimalHeader()
                .typeOfLoader(LOADER_UNDEFINED)
                .orLoadflags(LOADED_HIGH)
                .cmdLinePtr(CMDLINE)
                .ramdisk(placed.address(), placed.size())
                .e820(map.e820())
                .acpiRsdpAddr(acpiRsdp);
        return new Loaded(image.entry(), BOOT_PARAMS);
    }

    /** Where the initrd went: {@code (0, 0)} for none. */
    private record Initrd(long address, long size) {
    }

    /** Reads the optional initrd into RAM at the place {@link #placeInitrd} chooses. */
    private static Initrd loadInitrd(MemoryMap map, MemorySegment ram, Optional<Path> initrd, long initrdAddrMax,
            boolean above4G, long kernelEnd, long lowEnd) throws IOException {
        if (initrd.isEmpty()) {
            return new Initrd(0, 0);
        }
        Path file = initrd.get();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size == 0) {
                throw new BootImageException(file, "initrd is empty");
            }
            long address = placeInitrd(map, initrdAddrMax, above4G, kernelEnd, lowEnd, size, file);
            long host = map.toHostOffset(address, size);
            if (host < 0) {
                throw new IllegalStateException("initrd placed outside RAM"); // placeInitrd checked it
            }
            BzImage.readFully(channel, 0, ram.asSlice(host, size), file);
            return new Initrd(address, size);
        }
    }

    /**
     * The initrd's address: page aligned, as high as possible below min(initrd_addr_max + 1, end of low RAM) and
     * above the kernel; failing that, at the top of RAM above 4 GiB where the kernel allows it
     * (XLF_CAN_BE_LOADED_ABOVE_4G).
     */
    private static long placeInitrd(MemoryMap map, long initrdAddrMax, boolean above4G, long kernelEnd,
            long lowEnd, long size, Path file) throws BootImageException {
        long limit = Math.min(initrdAddrMax + 1, lowEnd);
        if (size <= limit) {
            long address = alignDown(limit - size, PAGE);
            if (address >= kernelEnd && map.toHostOffset(address, size) >= 0) {
                return address;
            }
        }
        if (above4G && map.ram().size() > 1) {
            MemoryMap.Ram high = map.ram().get(1);
            long end = high.guestAddress() + high.size();
            if (size <= high.size()) {
                long address = alignDown(end - size, PAGE);
                if (address >= high.guestAddress() && map.toHostOffset(address, size) >= 0) {
                    return address;
                }
            }
        }
        throw new BootImageException(file, String.format(
                "initrd too big: %d MiB do not fit between the kernel's end 0x%x and 0x%x (%d MiB of RAM)",
                ceilMiB(size), kernelEnd, limit, map.ramBytes() >> 20));
    }

    /** The command line as NUL-terminated bytes, or a one-line refusal. */
    private static byte[] commandLine(Path kernel, String cmdline, long cmdlineSize) throws BootImageException {
        for (int i = 0; i < cmdline.length(); i++) {
            char c = cmdline.charAt(i);
            if (c < 0x20 || c > 0x7E) {
                throw new BootImageException(kernel, String.format(
                        "command line has a non-printable character (U+%04X) at index %d", (int) c, i));
            }
        }
        long max = Math.min(cmdlineSize, CMDLINE_ROOM - 1);
        if (cmdline.length() > max) {
            throw new BootImageException(kernel, "command line too long: " + cmdline.length()
                    + " bytes, the kernel takes at most " + max);
        }
        byte[] ascii = cmdline.getBytes(StandardCharsets.US_ASCII);
        byte[] line = new byte[ascii.length + 1];
        System.arraycopy(ascii, 0, line, 0, ascii.length);
        return line;
    }

    private static long hostOffset(MemoryMap map, long address, long length, Path file) throws BootImageException {
        long host = map.toHostOffset(address, length);
        if (host < 0) {
            throw new BootImageException(file, String.format("boot data at 0x%x (+0x%x) is outside guest RAM",
                    address, length));
        }
        return host;
    }

    private static long alignUp(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }

    private static long alignDown(long value, long alignment) {
        return value & -alignment;
    }

    private static long ceilMiB(long bytes) {
        return (bytes + (1L << 20) - 1) >> 20;
    }
}
