package io.bundlevisor.kvm.internal.boot;

import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.BP_ACPI_RSDP_ADDR;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.BP_E820_ENTRIES;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.BP_E820_TABLE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.BP_EXT_CMD_LINE_PTR;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.BP_EXT_RAMDISK_IMAGE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.BP_EXT_RAMDISK_SIZE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.E820_ADDR;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.E820_ENTRY_SIZE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.E820_MAX_ENTRIES_ZEROPAGE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.E820_SIZE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.E820_TYPE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_CMD_LINE_PTR;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_HEAP_END_PTR;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_LOADFLAGS;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_RAMDISK_IMAGE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_RAMDISK_SIZE;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_ROOM_END;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_START;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.HDR_TYPE_OF_LOADER;
import static io.bundlevisor.kvm.internal.boot.BootParamsLayout.ZERO_PAGE_SIZE;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import java.lang.foreign.MemorySegment;
import java.util.List;

import io.bundlevisor.kvm.internal.MemoryMap;

/**
 * The zero page ({@code struct boot_params}, arch/x86/include/uapi/asm/bootparam.h) being filled in guest RAM.
 * The constructor zeroes the whole page, as boot.rst asks of a loader that builds boot_params itself; the
 * fields are then written one by one.
 */
final class BootParams {

    private final MemorySegment page;

    /** Takes {@code page}, exactly 4 KiB, and zeroes it. */
    BootParams(MemorySegment page) {
        if (page.byteSize() != ZERO_PAGE_SIZE) {
            throw new IllegalArgumentException("boot_params is one 4 KiB page, got " + page.byteSize() + " bytes");
        }
        this.page = page;
        page.fill((byte) 0);
    }

    /** Copies the image's setup header into boot_params.hdr (0x1F1), as boot.rst says for a 64-bit loader. */
    BootParams setupHeader(byte[] header) {
        if (header.length > HDR_ROOM_END - HDR_START) {
            throw new IllegalArgumentException("setup header of " + header.length + " bytes does not fit");
        }
        MemorySegment.copy(MemorySegment.ofArray(header), 0, page, HDR_START, header.length);
        return this;
    }

    /**
     * For an image without a setup header (an ELF vmlinux): the boot_flag, the HdrS magic and the protocol
     * version a kernel's early code checks (boot.rst, "The Real-Mode Kernel Header"), and cmdline_size.
     */
    BootParams minimalHeader() {
        page.set(JAVA_SHORT_UNALIGNED, BootParamsLayout.HDR_BOOT_FLAG, BootParamsLayout.BOOT_FLAG);
        page.set(JAVA_INT_UNALIGNED, BootParamsLayout.HDR_MAGIC, BootParamsLayout.HDRS);
        page.set(JAVA_SHORT_UNALIGNED, BootParamsLayout.HDR_VERSION, (short) 0x020F);
        page.set(JAVA_INT_UNALIGNED, BootParamsLayout.HDR_CMDLINE_SIZE, LinuxLoader.CMDLINE_MAX);
        return this;
    }

    BootParams typeOfLoader(byte type) {
        page.set(JAVA_BYTE, HDR_TYPE_OF_LOADER, type);
        return this;
    }

    /** Sets {@code flags} in loadflags, keeping the image's own. */
    BootParams orLoadflags(int flags) {
        page.set(JAVA_BYTE, HDR_LOADFLAGS, (byte) (page.get(JAVA_BYTE, HDR_LOADFLAGS) | flags));
        return this;
    }

    BootParams heapEndPtr(int offset) {
        page.set(JAVA_SHORT_UNALIGNED, HDR_HEAP_END_PTR, (short) offset);
        return this;
    }

    /** The command line's address: the low 32 bits in hdr.cmd_line_ptr, the high in ext_cmd_line_ptr. */
    BootParams cmdLinePtr(long address) {
        page.set(JAVA_INT_UNALIGNED, HDR_CMD_LINE_PTR, (int) address);
        page.set(JAVA_INT_UNALIGNED, BP_EXT_CMD_LINE_PTR, (int) (address >>> 32));
        return this;
    }

    /** The initrd: low 32 bits in hdr.ramdisk_image/ramdisk_size, high in ext_ramdisk_image/ext_ramdisk_size. */
    BootParams ramdisk(long address, long size) {
        page.set(JAVA_INT_UNALIGNED, HDR_RAMDISK_IMAGE, (int) address);
        page.set(JAVA_INT_UNALIGNED, HDR_RAMDISK_SIZE, (int) size);
        page.set(JAVA_INT_UNALIGNED, BP_EXT_RAMDISK_IMAGE, (int) (address >>> 32));
        page.set(JAVA_INT_UNALIGNED, BP_EXT_RAMDISK_SIZE, (int) (size >>> 32));
        return this;
    }

    /** The memory map: e820_table (struct boot_e820_entry, 20 bytes each) and e820_entries. */
    BootParams e820(List<MemoryMap.E820> table) {
        if (table.size() > E820_MAX_ENTRIES_ZEROPAGE) {
            throw new IllegalArgumentException("the zero page holds " + E820_MAX_ENTRIES_ZEROPAGE
                    + " e820 entries, got " + table.size());
        }
        for (int i = 0; i < table.size(); i++) {
            MemoryMap.E820 e = table.get(i);
            long at = BP_E820_TABLE + (long) i * E820_ENTRY_SIZE;
            page.set(JAVA_LONG_UNALIGNED, at + E820_ADDR, e.address());
            page.set(JAVA_LONG_UNALIGNED, at + E820_SIZE, e.size());
            page.set(JAVA_INT_UNALIGNED, at + E820_TYPE, e.type());
        }
        page.set(JAVA_BYTE, BP_E820_ENTRIES, (byte) table.size());
        return this;
    }

    BootParams acpiRsdpAddr(long address) {
        page.set(JAVA_LONG_UNALIGNED, BP_ACPI_RSDP_ADDR, address);
        return this;
    }
}
