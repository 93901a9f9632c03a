package io.bundlevisor.vhost.internal;

import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.SyscallException;

/**
 * A vring's call (or error) eventfd, which the front-end may replace while the ring runs (QEMU swaps it when the
 * guest masks an MSI-X vector). Signal and replace hold the same lock, so the worker never writes to a descriptor
 * that was just closed (and perhaps reused). Signalling allocates nothing.
 */
final class CallSignal {

    private EventFd fd;
    private long failures;

    /** Signals the front-end; a failed write is counted, not thrown (the worker must go on). */
    synchronized void signal() {
        if (fd == null) {
            return;
        }
        try {
            fd.signal(1);
        } catch (SyscallException e) {
            failures++;
        }
    }

    /** Puts {@code next} (null for none) in place and closes the previous one. */
    synchronized void replace(EventFd next) {
        if (fd != null && fd != next) {
            fd.close();
        }
        fd = next;
    }

    synchronized boolean isSet() {
        return fd != null;
    }

    synchronized long failures() {
        return failures;
    }
}
