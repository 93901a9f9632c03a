package io.bundlevisor.vhost.internal;

import io.bundlevisor.core.virtio.ChainTracker;

/**
 * A running vring's hooks in the worker: the in-flight tracking of INFLIGHT_SHMFD (the inner tracker, or none) and the
 * dirty-page log of LOG_ALL ({@link DirtyLog}): each device-writable descriptor of a used chain is marked at its
 * guest-physical address, the used ring's writes at {@code log_guest_addr} (SET_VRING_ADDR with VHOST_VRING_F_LOG)
 * plus their offset in the ring ("the write to first byte of the used ring is logged at this offset from log start").
 * On the worker thread; allocates nothing.
 */
final class LoggingTracker implements ChainTracker {

    private final DirtyLog log;
    private final VringState ring;
    private final ChainTracker inner;

    LoggingTracker(DirtyLog log, VringState ring, ChainTracker inner) {
        this.log = log;
        this.ring = ring;
        this.inner = inner;
    }

    @Override
    public int resubmit() {
        return inner == null ? -1 : inner.resubmit();
    }

    @Override
    public void taken(int head) {
        if (inner != null) {
            inner.taken(head);
        }
    }

    @Override
    public boolean returned(int head) {
        return inner != null && inner.returned(head);
    }

    @Override
    public void used(int head) {
        if (inner != null) {
            inner.used(head);
        }
    }

    @Override
    public void published(int usedIdx) {
        if (inner != null) {
            inner.published(usedIdx);
        }
    }

    @Override
    public void wroteBuffer(long hostOffset, int length) {
        log.markHost(hostOffset, length);
    }

    @Override
    public void wroteUsed(int offset, int length) {
        long at = ring.usedLog;
        if (at >= 0) {
            log.mark(at + offset, length); // only with VHOST_VRING_F_LOG ("Migration")
        }
    }
}
