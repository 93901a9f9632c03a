package io.bundlevisor.device.blk.internal;

import java.nio.file.Path;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.DeviceResources;
import io.bundlevisor.uring.host.FileStat;
import io.bundlevisor.uring.host.HostFile;
import io.bundlevisor.uring.host.SyscallException;

/**
 * The host side of a disk: a raw image file or a block device, opened, locked and measured.
 *
 * <p><b>Locking.</b> An open file description lock over the whole file ({@link HostFile#tryLock}), exclusive for a
 * read-write disk and shared for a read-only one, as QEMU does: a second writer, in this process or another, is
 * refused, while any number of read-only users may share an image. {@code lock=shared} makes a writer take the shared
 * lock: for the two back-ends of a live migration on one host, never both writing at once (QEMU stops the source's
 * rings before the destination's start).
 *
 * <p><b>Two descriptors.</b> The buffered one always exists and carries the lock, flushes, discards and any request
 * O_DIRECT cannot take. The direct one exists when asked for ({@code direct=on}, the default) and the file system
 * accepts O_DIRECT; a guest buffer of a 512-byte-sector request may be aligned to 512 bytes only, so each request
 * picks the direct descriptor only when it is aligned (see {@link BlkBackend}).
 *
 * <p><b>Alignment.</b> statx {@code STATX_DIOALIGN} (Linux 6.1) tells what O_DIRECT needs; a block device without it
 * uses its logical block size. Where the kernel does not say, 4096 bytes is assumed: no common file system or disk
 * needs more, and an over-strict guess only sends more requests through the page cache.
 *
 * <p><b>Handover.</b> When the bundle is updated under a running guest, both descriptors go to the successor
 * ({@link #handOver}, {@link #open(BlkOptions, DeviceResources)}): the lock never lapses, so no other process can
 * take the image between the two devices.
 *
 * <p><b>Capacity</b> is the size in 512-byte sectors; the tail of a file whose size is not a multiple of 512 is not
 * visible to the guest.
 */
final class BlkDisk implements AutoCloseable {

    /** Direct-IO alignment assumed when the kernel does not report one. */
    static final int FALLBACK_ALIGNMENT = 4096;

    private final Path path;
    private final boolean readOnly;
    /** Keys under which the descriptors are handed over (see {@link DeviceResources}). */
    static final String BUFFERED_KEY = "virtio-blk.image";
    static final String DIRECT_KEY = "virtio-blk.image.direct";

    private final HostFile buffered;
    private final HostFile direct;
    /** Whether the descriptors went to a successor: close leaves them open. */
    private volatile boolean handedOver;
    private final FileStat stat;
    private final int memoryAlignment;
    private final int offsetAlignment;

    private BlkDisk(Path path, boolean readOnly, HostFile buffered, HostFile direct, FileStat stat) {
        this.path = path;
        this.readOnly = readOnly;
        this.buffered = buffered;
        this.direct = direct;
        this.stat = stat;
        this.memoryAlignment = alignment(stat.directIoMemoryAlignment());
        this.offsetAlignment = alignment(stat.directIoOffsetAlignment());
    }

    /**
     * Opens, checks and locks the disk.
     *
     * @throws DeviceException with a one-line reason: missing, unreadable, not a file or block device, locked
     */
    static BlkDisk open(BlkOptions options) throws DeviceException {
        return open(options, DeviceResources.NONE);
    }

    /**
     * Opens, checks and locks the disk, or takes it, open and locked, from the device this one takes over from.
     *
     * @throws DeviceException with a one-line reason: missing, unreadable, not a file or block device, locked
     */
    static BlkDisk open(BlkOptions options, DeviceResources handedOver) throws DeviceException {
        Path path = options.path().toAbsolutePath().normalize();
        int flags = options.readOnly() ? HostFile.READ_ONLY : HostFile.READ_WRITE;
        HostFile buffered = handedOver.take(BUFFERED_KEY, HostFile.class);
        HostFile direct = handedOver.take(DIRECT_KEY, HostFile.class);
        boolean taken = buffered != null;
        try {
            if (!taken) {
                buffered = HostFile.open(path, flags);
            }
            FileStat stat = buffered.stat();
            if (!stat.isRegularFile() && !stat.isBlockDevice()) {
                throw new DeviceException("disk " + path + " is not a regular file or a block device");
            }
            // A handed-over descriptor keeps the lock it has held all along.
            // lock=shared: a writer shares the lock with the other back-end of a migration (BlkOptions#sharedLock).
            if (!taken && !buffered.tryLock(!options.readOnly() && !options.sharedLock())) {
                throw new DeviceException("disk " + path + " is locked by another process or VM");
            }
            if (!options.direct() && direct != null) {
                direct.close();
                direct = null;
            }
            if (options.direct() && direct == null) {
                direct = HostFile.openDirectIfSupported(path, flags);
                if (!direct.isDirect()) {
                    direct.close();
                    direct = null;
                } else {
                    FileStat again = direct.stat();
                    if (again.device() != stat.device() || again.inode() != stat.inode()) {
                        throw new DeviceException("disk " + path + " was replaced while it was being opened");
                    }
                }
            }
            return new BlkDisk(path, options.readOnly(), buffered, direct, stat);
        } catch (SyscallException e) {
            close(buffered, direct);
            throw new DeviceException(describe(path, e, options.readOnly()));
        } catch (DeviceException | RuntimeException e) {
            close(buffered, direct);
            throw e;
        }
    }

    private static String describe(Path path, SyscallException e, boolean readOnly) {
        return switch (e.errno()) {
            case Errno.ENOENT -> "disk " + path + " does not exist";
            case Errno.EACCES, Errno.EPERM -> "disk " + path + " cannot be opened " + (readOnly ? "for reading"
                    : "for reading and writing") + ": permission denied";
            case Errno.EROFS -> "disk " + path + " is on a read-only file system; declare it readonly";
            case 21 /* EISDIR */ -> "disk " + path + " is a directory";
            default -> "disk " + path + ": " + e.getMessage();
        };
    }

    private static void close(HostFile buffered, HostFile direct) {
        if (direct != null) {
            direct.close();
        }
        if (buffered != null) {
            buffered.close();
        }
    }

    private static int alignment(int reported) {
        return reported > 0 && Integer.bitCount(reported) == 1 ? reported : FALLBACK_ALIGNMENT;
    }

    Path path() {
        return path;
    }

    boolean readOnly() {
        return readOnly;
    }

    boolean isBlockDevice() {
        return stat.isBlockDevice();
    }

    /** Bytes. */
    long size() {
        return stat.size();
    }

    /** The logical block size to announce: 512 for a file, a block device's own (its O_DIRECT alignment). */
    int blockSize() {
        return stat.isBlockDevice() ? Math.max(BlkConfig.FILE_BLOCK_SIZE, offsetAlignment) : BlkConfig.FILE_BLOCK_SIZE;
    }

    /** Sectors of 512 bytes the guest sees. */
    long capacity() {
        return stat.size() >>> BlkSpec.SECTOR_SHIFT;
    }

    /** Bytes past the last whole sector, invisible to the guest. */
    int hiddenTail() {
        return (int) (stat.size() & (BlkSpec.SECTOR_SIZE - 1));
    }

    int bufferedFd() {
        return buffered.fd();
    }

    /** The O_DIRECT descriptor, or -1 when there is none. */
    int directFd() {
        return direct == null ? -1 : direct.fd();
    }

    /** Alignment O_DIRECT needs of buffer addresses. */
    int memoryAlignment() {
        return memoryAlignment;
    }

    /** Alignment O_DIRECT needs of file offsets and lengths. */
    int offsetAlignment() {
        return offsetAlignment;
    }

    /** Keeps both descriptors (and so the lock) for the successor; {@link #close} then leaves them open. */
    void handOver(DeviceResources resources) {
        resources.keep(BUFFERED_KEY, buffered);
        handedOver = true;
        if (direct != null) {
            resources.keep(DIRECT_KEY, direct);
        }
    }

    /** Closes both descriptors (unless handed over); the lock goes with the buffered one. Idempotent. */
    @Override
    public void close() {
        if (!handedOver) {
            close(buffered, direct);
        }
    }
}
