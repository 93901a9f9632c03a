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

    /**
     * Signals the front-end. Adding 1 to an eventfd fails only when its counter would overflow (a front-end that
     * never reads it); the front-end is then signalled already, so the failure is ignored and the worker goes on.
     */
    synchronized void signal() {
        if (fd == null) {
            return;
        }
        try {
            fd.signal(1);
        } catch (SyscallException e) {
            // See above: nothing to do.
        }
    }

    /** Puts {@code next} (null for none) in place and closes the previous one. */
    synchronized void replace(EventFd next) {
        if (fd != null && fd != next) {
            fd.close();
        }
        fd = next;
    }
}
