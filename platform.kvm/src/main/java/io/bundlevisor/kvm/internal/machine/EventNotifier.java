package io.bundlevisor.kvm.internal.machine;

import java.util.concurrent.atomic.AtomicLong;

import io.bundlevisor.core.partition.Notifier;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.SyscallException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link Notifier} over an eventfd KVM signals (an ioeventfd, an irqfd's resample fd). Draining and closing
 * hold the same lock, so a drain never reads a file descriptor number that close has given back to the kernel
 * (and that may already name another file). Draining reuses the eventfd's preallocated 8-byte buffer: it
 * allocates nothing, and a failure is counted and logged at most once a second, never thrown.
 */
class EventNotifier implements Notifier {

    private static final Logger LOG = LoggerFactory.getLogger(EventNotifier.class);
    private static final long LOG_INTERVAL_NANOS = 1_000_000_000L;

    private final String name;
    private final EventFd event;
    private final AtomicLong failures = new AtomicLong();
    private volatile long lastLog;
    private boolean closed; // guarded by this

    EventNotifier(String name, EventFd event) {
        this.name = name;
        this.event = event;
    }

    @Override
    public int fd() {
        return event.fd();
    }

    @Override
    public synchronized long drain() {
        if (closed) {
            return 0;
        }
        try {
            return event.drain();
        } catch (SyscallException | RuntimeException e) {
            failed("drain", e);
            return 0;
        }
    }

    /** Signals the eventfd once (an irqfd's trigger); false, logged, if it failed or the notifier is closed. */
    synchronized boolean signal() {
        if (closed) {
            return false;
        }
        try {
            event.signal(1);
            return true;
        } catch (SyscallException | RuntimeException e) {
            failed("signal", e);
            return false;
        }
    }

    /** Unregisters the eventfd from KVM (what {@link #unregister} does), then closes it. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            unregister();
        } catch (SyscallException | RuntimeException e) {
            LOG.warn("{}: {}", name, e.getMessage());
        }
        event.close();
    }

    /** Undoes the KVM registration; runs once, under the lock, before the eventfd is closed. */
    void unregister() throws SyscallException {
    }

    synchronized boolean isClosed() {
        return closed;
    }

    /** Drain or signal failures so far. */
    long failures() {
        return failures.get();
    }

    String name() {
        return name;
    }

    private void failed(String what, Exception e) {
        long n = failures.incrementAndGet();
        long now = System.nanoTime();
        if (now - lastLog > LOG_INTERVAL_NANOS) {
            lastLog = now;
            LOG.warn("{}: {} failed ({} so far): {}", name, what, n, e.getMessage());
        }
    }
}
