package io.bundlevisor.kvm.internal.boot;

import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.BOOT_FLAG;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.DEFAULT_INITRD_ADDR_MAX;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.DEFAULT_SETUP_SECTS;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDRS;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_BOOT_FLAG;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_CMDLINE_SIZE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_END_2_12;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_INITRD_ADDR_MAX;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_INIT_SIZE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_JUMP_OFFSET;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_KERNEL_ALIGNMENT;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_KERNEL_VERSION;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_MAGIC;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_PAYLOAD_LENGTH;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_PAYLOAD_OFFSET;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_PREF_ADDRESS;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_RELOCATABLE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_ROOM_END;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_SETUP_SECTS;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_START;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_SYSSIZE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_VERSION;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_XLOADFLAGS;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.SECTOR;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.XLF_KERNEL_64;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * A Linux x86 bzImage, checked for the 64-bit boot protocol (Documentation/arch/x86/boot.rst): the real-mode
 * setup area, whose setup header describes the kernel, followed by the protected-mode kernel at
 * {@code (setup_sects + 1) * 512}. Only the setup area is held in memory; {@link #readKernel} reads the kernel
 * itself from the file straight into guest RAM.
 *
 * <p>The file is untrusted: every size and offset in the header is checked against the file before it is used,
 * and a bad image gets a one-line {@link BootImageException} naming the file and the fault.
 */
public final class BzImage {

    /** Protocol 2.12 added xloadflags, which says whether the 64-bit entry point exists. */
    public static final int MIN_PROTOCOL = 0x020C;
    private static final long MAX_FILE = 256L << 20;
    private static final int MAX_VERSION_STRING = 128;

    private final Path file;
    private final long fileSize;
    private final byte[] setup;
    private final ByteBuffer hdr;
    private final int headerEnd;

    private BzImage(Path file, long fileSize, byte[] setup, int headerEnd) {
        this.file = file;
        this.fileSize = fileSize;
        this.setup = setup;
        this.hdr = ByteBuffer.wrap(setup).order(ByteOrder.LITTLE_ENDIAN).asReadOnlyBuffer()
                .order(ByteOrder.LITTLE_ENDIAN);
        this.headerEnd = headerEnd;
    }

    /**
     * Reads and checks the setup area of {@code file}.
     *
     * @throws BootImageException if it is no bzImage with a 64-bit entry point, or is truncated or inconsistent
     * @throws IOException if it cannot be read
     */
    public static BzImage parse(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size > MAX_FILE) {
                throw new BootImageException(file, "larger than " + (MAX_FILE >> 20) + " MiB, not a kernel");
            }
            byte[] first = new byte[(int) Math.min(size, HDR_ROOM_END)];
            readFully(channel, 0, ByteBuffer.wrap(first), file);
            ByteBuffer h = ByteBuffer.wrap(first).order(ByteOrder.LITTLE_ENDIAN);
            if (size < HDR_VERSION + 2) {
                throw new BootImageException(file, "not a bzImage (" + size + " bytes, too short for a setup header)");
            }
            if (h.getShort(BootParamsLayout.HDR_BOOT_FLAG) != BOOT_FLAG) {
                throw new BootImageException(file, "not a bzImage (no 0xAA55 boot flag)");
            }
            if (h.getInt(HDR_MAGIC) != HDRS) {
                throw new BootImageException(file, "not a bzImage (no HdrS magic)");
            }
            int version = Short.toUnsignedInt(h.getShort(HDR_VERSION));
            if (version < MIN_PROTOCOL) {
                throw new BootImageException(file, "boot protocol " + protocolString(version)
                        + " is too old (2.12 or later has the 64-bit entry point)");
            }
            int headerEnd = HDR_JUMP_OFFSET + 1 + Byte.toUnsignedInt(first[HDR_JUMP_OFFSET]);
            if (headerEnd < HDR_END_2_12 || headerEnd > HDR_ROOM_END) {
                throw new BootImageException(file, String.format(
                        "setup header ends at 0x%x, outside 0x%x..0x%x", headerEnd, HDR_END_2_12, HDR_ROOM_END));
            }
            if (size < headerEnd) {
                throw new BootImageException(file, "truncated in the setup header (" + size + " bytes)");
            }
            if ((h.getShort(HDR_XLOADFLAGS) & XLF_KERNEL_64) == 0) {
                throw new BootImageException(file, "no 64-bit entry point (XLF_KERNEL_64 clear in xloadflags)");
            }
            int sects = Byte.toUnsignedInt(first[HDR_SETUP_SECTS]);
            long kernelOffset = (long) ((sects == 0 ? DEFAULT_SETUP_SECTS : sects) + 1) * SECTOR;
            if (kernelOffset > size) {
                throw new BootImageException(file, "truncated: the setup code needs " + kernelOffset
                        + " bytes, the file has " + size);
            }
            byte[] setup = new byte[(int) kernelOffset];
            readFully(channel, 0, ByteBuffer.wrap(setup), file);
            BzImage image = new BzImage(file, size, setup, headerEnd);
            image.check();
            return image;
        }
    }

    private void check() throws BootImageException {
        long kernelSize = kernelSize();
        if (kernelSize == 0) {
            throw new BootImageException(file, "syssize is 0 (no protected-mode kernel)");
        }
        if (kernelSize > fileSize - kernelOffset()) {
            throw new BootImageException(file, "truncated: the protected-mode kernel needs " + kernelSize
                    + " bytes at offset " + kernelOffset() + ", the file has " + (fileSize - kernelOffset()));
        }
        long payloadOffset = u32(HDR_PAYLOAD_OFFSET);
        long payloadLength = u32(HDR_PAYLOAD_LENGTH);
        if (payloadLength == 0 || payloadOffset + payloadLength > kernelSize) {
            throw new BootImageException(file, String.format(
                    "payload at 0x%x (+0x%x) is not inside the protected-mode kernel (0x%x bytes)",
                    payloadOffset, payloadLength, kernelSize));
        }
        long alignment = kernelAlignment();
        if (Long.bitCount(alignment) != 1) {
            throw new BootImageException(file, String.format("kernel_alignment 0x%x is not a power of two",
                    alignment));
        }
        if (prefAddress() % alignment != 0) {
            throw new BootImageException(file, String.format(
                    "pref_address 0x%x is not aligned to kernel_alignment 0x%x", prefAddress(), alignment));
        }
        if (initSize() == 0) {
            throw new BootImageException(file, "init_size is 0");
        }
    }

    public Path file() {
        return file;
    }

    /** The boot protocol version, major in the high byte: 0x020F is 2.15. */
    public int protocolVersion() {
        return Short.toUnsignedInt(hdr.getShort(HDR_VERSION));
    }

    /** The number of 512-byte setup sectors after the boot sector (a 0 in the header means 4). */
    public int setupSects() {
        int sects = Byte.toUnsignedInt(setup[HDR_SETUP_SECTS]);
        return sects == 0 ? DEFAULT_SETUP_SECTS : sects;
    }

    /** Where the protected-mode kernel starts in the file. */
    public long kernelOffset() {
        return (long) (setupSects() + 1) * SECTOR;
    }

    /** The protected-mode kernel's size: syssize, in 16-byte paragraphs (a signed image has more after it). */
    public long kernelSize() {
        return u32(HDR_SYSSIZE) * 16;
    }

    public long kernelAlignment() {
        return u32(HDR_KERNEL_ALIGNMENT);
    }

    public boolean relocatable() {
        return setup[HDR_RELOCATABLE] != 0;
    }

    /** The load address the kernel was linked for (CONFIG_PHYSICAL_START). */
    public long prefAddress() {
        return hdr.getLong(HDR_PREF_ADDRESS);
    }

    /** The memory the kernel needs from its load address until it runs, decompression included. */
    public long initSize() {
        return u32(HDR_INIT_SIZE);
    }

    /** The longest command line, without its terminating NUL. */
    public long cmdlineSize() {
        return u32(HDR_CMDLINE_SIZE);
    }

    /** The highest address the initrd may occupy (the boot.rst default 0x37FFFFFF where the header has 0). */
    public long initrdAddrMax() {
        long max = u32(HDR_INITRD_ADDR_MAX);
        return max == 0 ? DEFAULT_INITRD_ADDR_MAX : max;
    }

    public int xloadflags() {
        return Short.toUnsignedInt(hdr.getShort(HDR_XLOADFLAGS));
    }

    /** The kernel's version string ("6.1.0-... (builder) #1 SMP ..."), or "" where the header has none. */
    public String kernelVersion() {
        int pointer = Short.toUnsignedInt(hdr.getShort(HDR_KERNEL_VERSION));
        if (pointer == 0) {
            return "";
        }
        int at = pointer + 0x200;
        StringBuilder s = new StringBuilder();
        for (int i = at; i < setup.length && i < at + MAX_VERSION_STRING; i++) {
            int c = Byte.toUnsignedInt(setup[i]);
            if (c == 0) {
                return s.toString();
            }
            if (c < 0x20 || c > 0x7E) {
                break;
            }
            s.append((char) c);
        }
        return "";
    }

    /** The setup header as it lies in the image, from 0x1F1 to its end (0x202 + the jump's displacement). */
    byte[] setupHeader() {
        return Arrays.copyOfRange(setup, HDR_START, headerEnd);
    }

    /**
     * Reads the protected-mode kernel ({@link #kernelSize} bytes) into {@code destination}, which must be exactly
     * that long.
     *
     * @throws BootImageException if the file changed size since it was parsed
     */
    void readKernel(MemorySegment destination) throws IOException {
        if (destination.byteSize() != kernelSize()) {
            throw new IllegalArgumentException("destination is " + destination.byteSize() + " bytes, the kernel "
                    + kernelSize());
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            if (channel.size() != fileSize) {
                throw new BootImageException(file, "changed size since it was parsed");
            }
            readFully(channel, kernelOffset(), destination, file);
        }
    }

    /** Fills {@code destination} from {@code channel} at {@code position}, in pieces a ByteBuffer can hold. */
    static void readFully(FileChannel channel, long position, MemorySegment destination, Path file)
            throws IOException {
        final long piece = 1L << 30;
        for (long done = 0; done < destination.byteSize(); done += piece) {
            long length = Math.min(piece, destination.byteSize() - done);
            readFully(channel, position + done, destination.asSlice(done, length).asByteBuffer(), file);
        }
    }

    private static void readFully(FileChannel channel, long position, ByteBuffer buffer, Path file)
            throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at);
            if (n < 0) {
                throw new BootImageException(file, "truncated while it was read (shorter than " + (at
                        + buffer.remaining()) + " bytes)");
            }
            at += n;
        }
    }

    private long u32(int offset) {
        return Integer.toUnsignedLong(hdr.getInt(offset));
    }

    static String protocolString(int version) {
        return (version >> 8) + "." + (version & 0xFF);
    }

    @Override
    public String toString() {
        return file + ": bzImage, boot protocol " + protocolString(protocolVersion()) + ", kernel " + kernelSize()
                + " bytes, init_size " + initSize() + (kernelVersion().isEmpty() ? "" : ", " + kernelVersion());
    }
}
