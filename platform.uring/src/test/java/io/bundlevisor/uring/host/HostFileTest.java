package io.bundlevisor.uring.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import io.bundlevisor.core.ring.Errno;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The host-file calls device bundles use: statx, block devices, O_DIRECT with fallback, OFD locks. */
class HostFileTest {

    @TempDir
    Path dir;

    private Path image(String name, int bytes) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, new byte[bytes]);
        return p;
    }

    @Test
    void statOfARegularFile() throws Exception {
        Path p = image("a.img", 3 * 512 + 7);
        try (HostFile f = HostFile.open(p, HostFile.READ_ONLY)) {
            FileStat s = f.stat();
            assertTrue(s.isRegularFile());
            assertFalse(s.isBlockDevice() || s.isDirectory() || s.isCharacterDevice());
            assertEquals(3 * 512 + 7, s.size());
            assertEquals(((Number) Files.getAttribute(p, "unix:ino")).longValue(), s.inode());
            assertEquals(((Number) Files.getAttribute(p, "unix:dev")).longValue(), s.device(), "glibc dev_t encoding");
            assertTrue(Integer.bitCount(s.directIoMemoryAlignment()) <= 1, "a power of two or 0: " + s);
            assertTrue(Integer.bitCount(s.directIoOffsetAlignment()) <= 1, "a power of two or 0: " + s);
        }
    }

    @Test
    void statTellsDirectoriesAndCharacterDevicesApart() throws Exception {
        try (HostFile d = HostFile.open(dir, HostFile.READ_ONLY);
                HostFile n = HostFile.open(Path.of("/dev/null"), HostFile.READ_ONLY)) {
            assertTrue(d.stat().isDirectory());
            assertTrue(n.stat().isCharacterDevice());
            assertFalse(n.stat().isBlockDevice());
        }
    }

    /** Any block device this process may open (as root, a loop device or the root disk): read its size. */
    @Test
    void statOfABlockDeviceReadsItsSizeFromTheBlockLayer() throws Exception {
        List<Path> candidates = new ArrayList<>();
        try (Stream<Path> sys = Files.list(Path.of("/sys/class/block"))) {
            sys.forEach(p -> candidates.add(Path.of("/dev", p.getFileName().toString())));
        }
        int checked = 0;
        for (Path dev : candidates) {
            if (!Files.isReadable(dev)) {
                continue;
            }
            HostFile f;
            try {
                f = HostFile.open(dev, HostFile.READ_ONLY);
            } catch (SyscallException e) {
                continue; // an empty loop device or a medium-less drive refuses even this
            }
            try (f) {
                FileStat s = f.stat();
                assertTrue(s.isBlockDevice(), dev + " is a block device");
                long sectors = Long.parseLong(Files.readString(
                        Path.of("/sys/class/block", dev.getFileName().toString(), "size")).strip());
                assertEquals(sectors * 512, s.size(), dev + " size");
                assertEquals(f.size(), s.size(), "lseek agrees");
                assertTrue(s.directIoOffsetAlignment() >= 512, dev + " logical block size");
                checked++;
            }
        }
        System.out.println("block devices checked: " + checked + " (none openable without privileges is fine)");
    }

    @Test
    void directWhenTheFileSystemAcceptsIt() throws Exception {
        Path p = image("d.img", 8192);
        try (HostFile f = HostFile.openDirectIfSupported(p, HostFile.READ_WRITE)) {
            // @TempDir lives on the build's file system; ext4, xfs and btrfs accept O_DIRECT.
            FileStat s = f.stat();
            System.out.println("O_DIRECT " + f.isDirect() + " on the temp dir's file system: " + s);
            if (f.isDirect()) {
                assertTrue(s.directIoOffsetAlignment() == 0 || s.directIoOffsetAlignment() >= 512);
            }
            assertEquals(8192, f.size());
        }
        try (HostFile f = HostFile.open(p, HostFile.READ_ONLY)) {
            assertFalse(f.isDirect());
        }
    }

    @Test
    void directFallsBackToBufferedWhereRefused() throws Exception {
        // /proc files refuse O_DIRECT with EINVAL: the fallback opens them buffered.
        try (HostFile f = HostFile.openDirectIfSupported(Path.of("/proc/self/status"), HostFile.READ_ONLY)) {
            assertFalse(f.isDirect());
        }
    }

    @Test
    void openFailuresNameThePathAndErrno() {
        SyscallException e = assertThrows(SyscallException.class,
                () -> HostFile.openDirectIfSupported(dir.resolve("missing.img"), HostFile.READ_ONLY));
        assertEquals(Errno.ENOENT, e.errno());
        assertTrue(e.getMessage().contains("missing.img") && e.getMessage().contains("ENOENT"), e.getMessage());
    }

    @Test
    void exclusiveLockRefusesASecondOpenEvenInThisProcess() throws Exception {
        Path p = image("l.img", 4096);
        try (HostFile a = HostFile.open(p, HostFile.READ_WRITE);
                HostFile b = HostFile.open(p, HostFile.READ_WRITE);
                HostFile c = HostFile.open(p, HostFile.READ_ONLY)) {
            assertTrue(a.tryLock(true));
            assertTrue(a.tryLock(true), "relocking one's own lock succeeds");
            assertFalse(b.tryLock(true));
            assertFalse(c.tryLock(false), "a reader is refused by a writer");
        }
    }

    @Test
    void sharedLocksCoexistAndKeepWritersOut() throws Exception {
        Path p = image("s.img", 4096);
        try (HostFile a = HostFile.open(p, HostFile.READ_ONLY);
                HostFile b = HostFile.open(p, HostFile.READ_ONLY);
                HostFile w = HostFile.open(p, HostFile.READ_WRITE)) {
            assertTrue(a.tryLock(false));
            assertTrue(b.tryLock(false));
            assertFalse(w.tryLock(true));
        }
    }

    @Test
    void closingReleasesTheLock() throws Exception {
        Path p = image("c.img", 4096);
        HostFile a = HostFile.open(p, HostFile.READ_WRITE);
        assertTrue(a.tryLock(true));
        try (HostFile b = HostFile.open(p, HostFile.READ_WRITE)) {
            assertFalse(b.tryLock(true));
            a.close();
            assertTrue(b.tryLock(true));
        }
    }

    @Test
    void anExclusiveLockNeedsAWritableFile() throws Exception {
        Path p = image("r.img", 4096);
        try (HostFile r = HostFile.open(p, HostFile.READ_ONLY)) {
            SyscallException e = assertThrows(SyscallException.class, () -> r.tryLock(true));
            assertEquals(Errno.EBADF, e.errno());
            assertTrue(e.getMessage().startsWith("lock (exclusive) "), e.getMessage());
        }
    }
}
