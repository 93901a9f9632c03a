package io.bundlevisor.core.internal.virtio;

import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;

/**
 * Logs what a guest did wrong without letting a guest flood the log (OpenVMM's tracelimit): at most
 * {@value #BURST} lines per {@value #WINDOW_SECONDS}-second window per device, then one line saying how many were
 * suppressed. Counted either way.
 */
final class GuestErrors {

    private static final int BURST = 10;
    private static final int WINDOW_SECONDS = 10;

    private final Logger log;
    private final String device;
    private final AtomicLong total = new AtomicLong();
    private long windowStart;
    private int inWindow;
    private long suppressed;

    GuestErrors(Logger log, String device) {
        this.log = log;
        this.device = device;
    }

    /** Records one guest error described by {@code what} (a one-line sentence). */
    void report(String what) {
        total.incrementAndGet();
        long now = System.nanoTime();
        String line = null;
        long dropped = 0;
        synchronized (this) {
            if (now - windowStart > WINDOW_SECONDS * 1_000_000_000L) {
                dropped = suppressed;
                suppressed = 0;
                windowStart = now;
                inWindow = 0;
            }
            if (inWindow < BURST) {
                inWindow++;
                line = what;
            } else {
                suppressed++;
            }
        }
        if (dropped > 0) {
            log.warn("{}: {} more guest errors were not logged", device, dropped);
        }
        if (line != null) {
            log.warn("{}: {}", device, line);
        }
    }

    long total() {
        return total.get();
    }
}
