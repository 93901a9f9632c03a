package io.bundlevisor.uring.host;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.sys.Native;

import org.junit.jupiter.api.Test;

/** Shared mappings of memfds (vhost-user memory regions), and adopting received eventfds. */
class MappedRegionTest {

    private static long mappings() throws Exception {
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.filter(l -> l.contains("memfd:bv-region")).count();
        }
    }

    @Test
    void anUnalignedRegionIsTheExactSliceOfASharedMapping() throws Exception {
        long page = Native.PAGE_SIZE;
        try (MemFd memfd = MemFd.create("bv-region", 3 * page)) {
            assertEquals(3 * page, memfd.size());
            long offset = page + 100;
            try (MappedRegion region = MappedRegion.map(memfd.fd(), offset, 1000);
                    MappedRegion whole = MappedRegion.map(memfd.fd(), 0, 3 * page)) {
                assertEquals(1000, region.size());
                assertEquals(1000, region.segment().byteSize());
                assertEquals(region.segment().address(), region.address());
                assertEquals(100, region.address() % page, "the slice starts 100 bytes into its page");
                region.segment().set(JAVA_BYTE, 0, (byte) 0x5a);
                region.segment().set(JAVA_LONG_UNALIGNED, 992, 0x1122334455667788L);
                assertEquals((byte) 0x5a, whole.segment().get(JAVA_BYTE, offset));
                assertEquals(0x1122334455667788L, whole.segment().get(JAVA_LONG_UNALIGNED, offset + 992));
                whole.segment().set(JAVA_BYTE, offset + 1, (byte) 7);
                assertEquals(7, region.segment().get(JAVA_BYTE, 1), "one shared page, two mappings");
                assertEquals((byte) 0x5a, Native.addressSpace().get(JAVA_BYTE, region.address()));
                assertEquals(7, Native.addressSpace().get(JAVA_BYTE, whole.address() + offset + 1));
                assertThrows(IndexOutOfBoundsException.class, () -> region.segment().get(JAVA_BYTE, 1000));
            }
        }
    }

    @Test
    void closeUnmapsAndIsIdempotent() throws Exception {
        try (MemFd memfd = MemFd.create("bv-region", Native.PAGE_SIZE)) {
            long before = mappings();
            MappedRegion region = MappedRegion.map(memfd.fd(), 0, Native.PAGE_SIZE);
            assertEquals(before + 1, mappings());
            region.close();
            region.close();
            assertEquals(before, mappings());
            assertThrows(IllegalStateException.class, () -> region.segment().get(JAVA_BYTE, 0));
        }
    }

    @Test
    void aRegionPastTheEndIsRefusedWithoutMapping() throws Exception {
        long page = Native.PAGE_SIZE;
        try (MemFd memfd = MemFd.create("bv-region", 2 * page)) {
            long before = mappings();
            SyscallException e = assertThrows(SyscallException.class,
                    () -> MappedRegion.map(memfd.fd(), 2 * page - 10, 100));
            assertEquals("mmap", e.operation());
            assertEquals(6 /* ENXIO */, e.errno());
            assertEquals(before, mappings());
            assertEquals(Errno.EINVAL, assertThrows(SyscallException.class,
                    () -> MappedRegion.map(memfd.fd(), 0, 0)).errno());
            assertEquals(Errno.EINVAL, assertThrows(SyscallException.class,
                    () -> MappedRegion.map(memfd.fd(), -1, 10)).errno());
            assertEquals(Errno.EINVAL, assertThrows(SyscallException.class,
                    () -> MappedRegion.map(memfd.fd(), Long.MAX_VALUE, 10)).errno());
            try (MappedRegion last = MappedRegion.map(memfd.fd(), 2 * page - 10, 10)) {
                assertEquals(10, last.size());
            }
        }
    }

    /** A new descriptor for the same open file, as a vhost-user frontend's message would bring it. */
    private static int received(int fd) throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]) {
            a.send(new byte[1], 0, 1, fd);
            int[] fds = b.receive(new byte[1], 0, 1).fds();
            assertEquals(1, fds.length);
            return fds[0];
        }
    }

    private static long openFds() throws Exception {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    @Test
    void adoptTakesAnEventFd() throws Exception {
        try (EventFd original = EventFd.create()) {
            try (EventFd adopted = EventFd.adopt(received(original.fd()))) {
                adopted.signal(2);
                assertEquals(2, original.drain());
                assertEquals(0, adopted.drain(), "non-blocking");
            }
        }
    }

    @Test
    void adoptRefusesAMemFdOrAPipeAndClosesIt() throws Exception {
        try (MemFd memfd = MemFd.create("bv-not-an-eventfd", 16); Pipe pipe = Pipe.create()) {
            long before = openFds();
            int fd = received(memfd.fd());
            SyscallException e = assertThrows(SyscallException.class, () -> EventFd.adopt(fd));
            assertEquals(Errno.EINVAL, e.errno());
            assertEquals("adopt eventfd", e.operation());
            assertTrue(e.getMessage().contains("fd " + fd + " is /memfd:bv-not-an-eventfd"), e.getMessage());
            assertEquals(before, openFds(), "the refused descriptor is closed");

            int readFd = received(pipe.readFd());
            e = assertThrows(SyscallException.class, () -> EventFd.adopt(readFd));
            assertTrue(e.getMessage().contains("is pipe:["), e.getMessage());
            assertEquals(before, openFds());
        }
    }
}
