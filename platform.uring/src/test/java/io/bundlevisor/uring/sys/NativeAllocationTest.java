package io.bundlevisor.uring.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.function.IntUnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * The ring's io_uring_enter calls must allocate nothing even where they run too rarely for C2 to compile them: a
 * ring at QD1 submits alone once in 65 waits, and at QD32 most waits end after that submit, so the waiting call is
 * the rare one. An errno capture slices its segment on each call, 40 bytes that only C2's escape analysis removes,
 * so the C1 code a rarely run method keeps allocated them (0.62 B per read at QD1, 0.2-0.4 at QD32 in uring-bench).
 * Each call is measured on its own, at its 2,000th to 3,000th invocation: past C1's threshold, short of C2's.
 */
class NativeAllocationTest {

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    @Test
    void aRareCriticalSubmitAllocatesNothing() {
        assertRareCallAllocatesNothing(fd -> Native.ioUringSubmit(fd, 0));
    }

    @Test
    void aRareEnterAllocatesNothing() {
        assertRareCallAllocatesNothing(fd -> Native.ioUringEnter(fd, 0, 0, 1 /* GETEVENTS, nothing to wait for */));
        assertEquals(-9 /* EBADF */, Native.ioUringEnter(-1, 0, 0, 0), "a failure still reports its errno");
    }

    private static void assertRareCallAllocatesNothing(IntUnaryOperator call) {
        assumeTrue(THREADS.isThreadAllocatedMemorySupported() && THREADS.isThreadAllocatedMemoryEnabled());
        MemorySegment params = Arena.ofAuto().allocate(120, 8); // struct io_uring_params, zeroed
        int fd = (int) Native.syscall(Native.SYS_IO_URING_SETUP, 8, params.address(), 0, 0, 0, 0);
        assumeTrue(fd >= 0, "io_uring unavailable");
        try {
            long bytes = 0;
            for (int i = 0; i < 3000; i++) {
                long before = THREADS.getCurrentThreadAllocatedBytes();
                assertEquals(0, call.applyAsInt(fd), "nothing queued, nothing submitted");
                if (i >= 2000) {
                    bytes += THREADS.getCurrentThreadAllocatedBytes() - before;
                }
            }
            assertTrue(bytes < 1000 * 8, bytes + " bytes allocated over 1000 calls");
        } finally {
            Native.close(fd);
        }
    }
}
