package io.bundlevisor.uring.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * The ring's critical submit must allocate nothing even where it runs too rarely for C2 to compile it (a ring
 * at QD1 submits alone once in 65 waits). Before, its errno capture sliced the capture segment on each call, 40
 * bytes that only C2's escape analysis removes: the C1 code that a rarely run method keeps allocated them.
 */
class NativeAllocationTest {

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    @Test
    void aRareCriticalSubmitAllocatesNothing() {
        assumeTrue(THREADS.isThreadAllocatedMemorySupported() && THREADS.isThreadAllocatedMemoryEnabled());
        MemorySegment params = Arena.ofAuto().allocate(120, 8); // struct io_uring_params, zeroed
        int fd = (int) Native.syscall(Native.SYS_IO_URING_SETUP, 8, params.address(), 0, 0, 0, 0);
        assumeTrue(fd >= 0, "io_uring unavailable");
        try {
            long sink = 0;
            long measured = 0;
            int calls = 0;
            // The pattern of a QD1 ring: many ordinary syscalls (hot, compiled by C2), one critical submit in 65.
            for (int i = 0; i < 4000 * 65; i++) {
                if (i == 3000 * 65) {
                    measured = THREADS.getCurrentThreadAllocatedBytes();
                }
                if (i % 65 == 0) {
                    assertEquals(0, Native.ioUringSubmit(fd, 0), "nothing queued, nothing submitted");
                    calls++;
                } else {
                    sink += Native.syscall(39, 0, 0, 0, 0, 0, 0); // getpid
                }
            }
            long bytes = THREADS.getCurrentThreadAllocatedBytes() - measured;
            assertTrue(sink > 0);
            assertTrue(bytes < 1000 * 8, bytes + " bytes allocated over the last 1000 critical submits");
        } finally {
            Native.close(fd);
        }
    }
}
