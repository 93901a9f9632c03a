package io.bundlevisor.vhost.internal;

import io.bundlevisor.core.partition.Notifier;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.SyscallException;

/** A front-end's kick eventfd as the worker's queue notifier: the worker polls it and drains it. */
final class KickNotifier implements Notifier {

    private final EventFd fd;

    KickNotifier(EventFd fd) {
        this.fd = fd;
    }

    @Override
    public int fd() {
        return fd.fd();
    }

    @Override
    public long drain() {
        try {
            return fd.drain();
        } catch (SyscallException e) {
            return 0;
        }
    }

    @Override
    public void close() {
        fd.close();
    }
}
