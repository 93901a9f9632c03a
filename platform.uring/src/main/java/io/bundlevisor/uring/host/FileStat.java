package io.bundlevisor.uring.host;

/**
 * What {@link HostFile#stat()} learned about an open file (statx(2), and for a block device its ioctls).
 *
 * @param mode                     {@code stx_mode}: file type and permission bits
 * @param size                     bytes: {@code stx_size}, or for a block device its size ({@code BLKGETSIZE64})
 * @param device                   the device holding the file, in glibc's {@code dev_t} encoding (as
 *                                 {@code stat(2)}'s {@code st_dev})
 * @param inode                    the inode number
 * @param directIoMemoryAlignment  byte alignment O_DIRECT needs of buffer addresses; 0 when the kernel did not say
 *                                 (statx {@code STATX_DIOALIGN} arrived in Linux 6.1)
 * @param directIoOffsetAlignment  byte alignment O_DIRECT needs of file offsets and lengths; 0 when the kernel did
 *                                 not say, or says the file cannot do direct IO. For a block device without
 *                                 {@code STATX_DIOALIGN} both come from its logical block size ({@code BLKSSZGET}).
 */
public record FileStat(int mode, long size, long device, long inode, int directIoMemoryAlignment,
        int directIoOffsetAlignment) {

    // include/uapi/linux/stat.h
    private static final int S_IFMT = 0170000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFBLK = 0060000;
    private static final int S_IFCHR = 0020000;
    private static final int S_IFDIR = 0040000;

    public boolean isRegularFile() {
        return (mode & S_IFMT) == S_IFREG;
    }

    public boolean isBlockDevice() {
        return (mode & S_IFMT) == S_IFBLK;
    }

    public boolean isCharacterDevice() {
        return (mode & S_IFMT) == S_IFCHR;
    }

    public boolean isDirectory() {
        return (mode & S_IFMT) == S_IFDIR;
    }
}
