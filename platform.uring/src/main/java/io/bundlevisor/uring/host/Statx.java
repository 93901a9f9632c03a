package io.bundlevisor.uring.host;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;

import io.bundlevisor.uring.sys.HeaderLayouts;
import io.bundlevisor.uring.sys.Native;

/** statx(2) of an open descriptor ({@code AT_EMPTY_PATH}), completed by block-device ioctls. */
final class Statx {

    // include/uapi/linux/fcntl.h and include/uapi/linux/stat.h
    private static final int AT_EMPTY_PATH = 0x1000;
    private static final int STATX_TYPE = 0x1;
    private static final int STATX_MODE = 0x2;
    private static final int STATX_INO = 0x100;
    private static final int STATX_SIZE = 0x200;
    private static final int STATX_DIOALIGN = 0x2000;

    // include/uapi/linux/fs.h: BLKSSZGET = _IO(0x12, 104), BLKGETSIZE64 = _IOR(0x12, 114, size_t)
    private static final long BLKSSZGET = 0x1268L;
    private static final long BLKGETSIZE64 = 0x80081272L;

    /** {@code struct statx} (include/uapi/linux/stat.h): the fields read here, the rest as padding. */
    private static final StructLayout STATX = MemoryLayout.structLayout(
            JAVA_INT.withName("stx_mask"),
            JAVA_INT.withName("stx_blksize"),
            JAVA_LONG.withName("stx_attributes"),
            JAVA_INT.withName("stx_nlink"),
            JAVA_INT.withName("stx_uid"),
            JAVA_INT.withName("stx_gid"),
            JAVA_SHORT.withName("stx_mode"),
            MemoryLayout.paddingLayout(2),
            JAVA_LONG.withName("stx_ino"),
            JAVA_LONG.withName("stx_size"),
            JAVA_LONG.withName("stx_blocks"),
            JAVA_LONG.withName("stx_attributes_mask"),
            MemoryLayout.paddingLayout(4 * 16), // stx_atime, stx_btime, stx_ctime, stx_mtime
            JAVA_INT.withName("stx_rdev_major"),
            JAVA_INT.withName("stx_rdev_minor"),
            JAVA_INT.withName("stx_dev_major"),
            JAVA_INT.withName("stx_dev_minor"),
            JAVA_LONG.withName("stx_mnt_id"),
            JAVA_INT.withName("stx_dio_mem_align"),
            JAVA_INT.withName("stx_dio_offset_align"),
            MemoryLayout.paddingLayout(0x100 - 0xa0));
    private static final String HEADER = "<linux/stat.h> struct statx";
    private static final long MASK = HeaderLayouts.offset(HEADER, STATX, 0x00, "stx_mask");
    private static final long MODE = HeaderLayouts.offset(HEADER, STATX, 0x1c, "stx_mode");
    private static final long INO = HeaderLayouts.offset(HEADER, STATX, 0x20, "stx_ino");
    private static final long SIZE = HeaderLayouts.offset(HEADER, STATX, 0x28, "stx_size");
    private static final long DEV_MAJOR = HeaderLayouts.offset(HEADER, STATX, 0x88, "stx_dev_major");
    private static final long DEV_MINOR = HeaderLayouts.offset(HEADER, STATX, 0x8c, "stx_dev_minor");
    private static final long DIO_MEM_ALIGN = HeaderLayouts.offset(HEADER, STATX, 0x98, "stx_dio_mem_align");
    private static final long DIO_OFFSET_ALIGN = HeaderLayouts.offset(HEADER, STATX, 0x9c, "stx_dio_offset_align");
    private static final long STRUCT_SIZE = HeaderLayouts.size(HEADER, STATX, 0x100);

    private Statx() {
    }

    static FileStat of(int fd, String what) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(STRUCT_SIZE, 8);
            MemorySegment empty = arena.allocateFrom("");
            int want = STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_DIOALIGN;
            Native.check("statx " + what, Native.syscall(SyscallNumbers.STATX, fd, empty.address(), AT_EMPTY_PATH,
                    want, buf.address(), 0));
            int mask = buf.get(JAVA_INT, MASK);
            int mode = Short.toUnsignedInt(buf.get(JAVA_SHORT, MODE));
            long size = buf.get(JAVA_LONG, SIZE);
            long device = makedev(buf.get(JAVA_INT, DEV_MAJOR), buf.get(JAVA_INT, DEV_MINOR));
            long inode = buf.get(JAVA_LONG, INO);
            boolean dio = (mask & STATX_DIOALIGN) != 0;
            int memAlign = dio ? buf.get(JAVA_INT, DIO_MEM_ALIGN) : 0;
            int offsetAlign = dio ? buf.get(JAVA_INT, DIO_OFFSET_ALIGN) : 0;
            FileStat stat = new FileStat(mode, size, device, inode, memAlign, offsetAlign);
            if (!stat.isBlockDevice()) {
                return stat;
            }
            // A block device's stx_size is 0: its size and sector size come from the block layer.
            MemorySegment out = arena.allocate(JAVA_LONG);
            Native.check("ioctl BLKGETSIZE64 " + what, Native.ioctl(fd, BLKGETSIZE64, out.address()));
            size = out.get(JAVA_LONG, 0);
            if (!dio || offsetAlign == 0) {
                out.set(JAVA_LONG, 0, 0);
                Native.check("ioctl BLKSSZGET " + what, Native.ioctl(fd, BLKSSZGET, out.address()));
                memAlign = offsetAlign = out.get(JAVA_INT, 0);
            }
            return new FileStat(mode, size, device, inode, memAlign, offsetAlign);
        }
    }

    /** glibc's {@code gnu_dev_makedev} (sys/sysmacros.h), so the value compares with {@code st_dev}. */
    static long makedev(int major, int minor) {
        long ma = Integer.toUnsignedLong(major);
        long mi = Integer.toUnsignedLong(minor);
        return ((ma & 0xfffff000L) << 32) | ((ma & 0xfffL) << 8) | ((mi & 0xffffff00L) << 12) | (mi & 0xffL);
    }
}
