package io.bundlevisor.vhost.internal;

/**
 * At most {@code limit} log lines per {@code window} nanoseconds, counting what it held back so the next line it
 * lets through can say so. For lines an untrusted peer can cause at will. Thread-safe; allocates nothing.
 */
final class LogRate {

    private final int limit;
    private final long window;
    private long windowStart;
    private int inWindow;
    private long suppressed;

    LogRate(int limit, long window) {
        this.limit = limit;
        this.window = window;
    }

    /** Whether a line may be logged at {@code now} (System.nanoTime); if not, it is counted as suppressed. */
    synchronized boolean allow(long now) {
        if (inWindow == 0 || now - windowStart >= window) {
            windowStart = now;
            inWindow = 0;
        }
        if (inWindow < limit) {
            inWindow++;
            return true;
        }
        suppressed++;
        return false;
    }

    /** The lines held back since the last call, and starts counting again. */
    synchronized long takeSuppressed() {
        long n = suppressed;
        suppressed = 0;
        return n;
    }
}
