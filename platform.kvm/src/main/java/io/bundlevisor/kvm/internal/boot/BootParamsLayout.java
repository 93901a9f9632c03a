package io.bundlevisor.kvm.internal.boot;

/**
 * Byte offsets of the x86 Linux boot structures, all little endian: the setup header as it lies in a bzImage
 * (Documentation/arch/x86/boot.rst, "The Real-Mode Kernel Header"), and {@code struct boot_params}, the zero
 * page (arch/x86/include/uapi/asm/bootparam.h, with Documentation/arch/x86/zero-page.rst). The setup header
 * sits at the same offset in both: boot_params.hdr is at 0x1F1, where the header starts in the image's first
 * sector, so one set of {@code HDR_} constants addresses either.
 */
final class BootParamsLayout {

    private BootParamsLayout() {
    }

    // --- struct setup_header (boot.rst; the protocol version that introduced a field in brackets)
    static final int HDR_START = 0x1F1;
    static final int HDR_SETUP_SECTS = 0x1F1;      // u8   setup_sects: 512-byte sectors of setup code; 0 means 4
    static final int HDR_SYSSIZE = 0x1F4;          // u32  syssize: protected-mode code size in 16-byte units [2.04]
    static final int HDR_BOOT_FLAG = 0x1FE;        // u16  boot_flag: 0xAA55
    static final int HDR_JUMP = 0x200;             // u16  jump: EB xx, a short jump over the header
    static final int HDR_JUMP_OFFSET = 0x201;      //      its displacement: the header ends at 0x202 + this byte
    static final int HDR_MAGIC = 0x202;            // u32  header: "HdrS"
    static final int HDR_VERSION = 0x206;          // u16  version: boot protocol, major << 8 | minor
    static final int HDR_KERNEL_VERSION = 0x20E;   // u16  kernel_version: pointer - 0x200 to a version string
    static final int HDR_TYPE_OF_LOADER = 0x210;   // u8   type_of_loader (write)
    static final int HDR_LOADFLAGS = 0x211;        // u8   loadflags (modify)
    static final int HDR_RAMDISK_IMAGE = 0x218;    // u32  ramdisk_image: initrd address (write)
    static final int HDR_RAMDISK_SIZE = 0x21C;     // u32  ramdisk_size (write)
    static final int HDR_HEAP_END_PTR = 0x224;     // u16  heap_end_ptr (write) [2.01]
    static final int HDR_CMD_LINE_PTR = 0x228;     // u32  cmd_line_ptr (write) [2.02]
    static final int HDR_INITRD_ADDR_MAX = 0x22C;  // u32  initrd_addr_max: highest initrd byte [2.03]
    static final int HDR_KERNEL_ALIGNMENT = 0x230; // u32  kernel_alignment [2.05]
    static final int HDR_RELOCATABLE = 0x234;      // u8   relocatable_kernel [2.05]
    static final int HDR_XLOADFLAGS = 0x236;       // u16  xloadflags [2.12]
    static final int HDR_CMDLINE_SIZE = 0x238;     // u32  cmdline_size: longest command line, without its NUL [2.06]
    static final int HDR_PAYLOAD_OFFSET = 0x248;   // u32  payload_offset, from the protected-mode code [2.08]
    static final int HDR_PAYLOAD_LENGTH = 0x24C;   // u32  payload_length [2.08]
    static final int HDR_PREF_ADDRESS = 0x258;     // u64  pref_address: preferred load address [2.10]
    static final int HDR_INIT_SIZE = 0x260;        // u32  init_size: linear memory the kernel needs to start [2.10]
    static final int HDR_HANDOVER_OFFSET = 0x264;  // u32  handover_offset [2.11]
    /** The end of the 2.12 header: a 2.12+ image's header must reach at least this far. */
    static final int HDR_END_2_12 = 0x268;
    /** The end of boot_params.hdr's room (bootparam.h: _pad7 follows struct setup_header up to 0x290). */
    static final int HDR_ROOM_END = 0x290;

    static final short BOOT_FLAG = (short) 0xAA55;
    static final int HDRS = 0x5372_6448; // "HdrS", little endian
    static final int DEFAULT_SETUP_SECTS = 4;
    static final int SECTOR = 512;
    /** boot.rst: the initrd limit of kernels without initrd_addr_max (protocol before 2.03). */
    static final long DEFAULT_INITRD_ADDR_MAX = 0x37FF_FFFFL;

    // loadflags bits
    static final int LOADED_HIGH = 1;          // the protected-mode code is loaded at 0x100000 or above
    static final int CAN_USE_HEAP = 1 << 7;    // heap_end_ptr is valid
    // xloadflags bits
    static final int XLF_KERNEL_64 = 1;                   // has the 64-bit entry point at load address + 0x200
    static final int XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1; // kernel, boot_params, cmdline and initrd may sit above 4G
    /** boot.rst, "64-bit Boot Protocol": the 64-bit entry is this far into the protected-mode code. */
    static final long ENTRY_64_OFFSET = 0x200;
    /** boot.rst: type_of_loader 0xFF is a boot loader without an assigned id. */
    static final byte LOADER_UNDEFINED = (byte) 0xFF;

    // --- struct boot_params (bootparam.h), one 4 KiB page
    static final int ZERO_PAGE_SIZE = 4096;
    static final int BP_ACPI_RSDP_ADDR = 0x070;     // u64  acpi_rsdp_addr
    static final int BP_EXT_RAMDISK_IMAGE = 0x0C0;  // u32  ext_ramdisk_image: ramdisk_image's upper 32 bits
    static final int BP_EXT_RAMDISK_SIZE = 0x0C4;   // u32  ext_ramdisk_size
    static final int BP_EXT_CMD_LINE_PTR = 0x0C8;   // u32  ext_cmd_line_ptr
    static final int BP_E820_ENTRIES = 0x1E8;       // u8   e820_entries
    static final int BP_SENTINEL = 0x1EF;           // u8   sentinel: a loader that zeroes the page leaves it 0
    static final int BP_E820_TABLE = 0x2D0;         // struct boot_e820_entry e820_table[E820_MAX_ENTRIES_ZEROPAGE]
    static final int E820_MAX_ENTRIES_ZEROPAGE = 128;
    // struct boot_e820_entry (packed, 20 bytes): u64 addr, u64 size, u32 type
    static final int E820_ENTRY_SIZE = 20;
    static final int E820_ADDR = 0;
    static final int E820_SIZE = 8;
    static final int E820_TYPE = 16;
}
