package io.bundlevisor.uring.internal;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bundlevisor.core.ring.Errno;

import org.junit.jupiter.api.Test;

class AvailabilityTest {

    @Test
    void causesNameTheRemedy() {
        assertTrue(Availability.describe(Errno.ENOSYS, -1).contains("Linux 5.6"));
        assertTrue(Availability.describe(Errno.EPERM, 2).contains("kernel.io_uring_disabled=2"));
        assertTrue(Availability.describe(Errno.EPERM, 0).contains("seccomp"));
        assertTrue(Availability.describe(Errno.ENOMEM, 0).contains("RLIMIT_MEMLOCK"));
    }

    @Test
    void thisHostHasIoUring() {
        Availability a = Availability.probe();
        assertTrue(a.available(), () -> a.cause().orElse(""));
    }
}
