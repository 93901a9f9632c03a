package io.bundlevisor.core.internal.virtio;

import java.util.LinkedHashMap;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.virtio.DeviceResources;

/**
 * Where a device's host resources wait during a handover: the old device keeps them here, the new one takes them,
 * and whatever is left when the handover ends is closed.
 */
final class ResourceShelf implements DeviceResources, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ResourceShelf.class);

    private final String name;
    // Guarded by this.
    private final Map<String, AutoCloseable> kept = new LinkedHashMap<>();
    private boolean closed;

    ResourceShelf(String name) {
        this.name = name;
    }

    @Override
    public synchronized void keep(String key, AutoCloseable resource) {
        if (closed) {
            closeQuietly(key, resource);
            throw new IllegalStateException(name + ": the handover has ended; " + key + " is closed");
        }
        if (kept.containsKey(key)) {
            throw new IllegalStateException(name + ": something is already kept as " + key);
        }
        kept.put(key, resource);
    }

    @Override
    public synchronized <T> T take(String key, Class<T> type) {
        AutoCloseable r = kept.get(key);
        if (!type.isInstance(r)) {
            return null;
        }
        kept.remove(key);
        return type.cast(r);
    }

    /** The keys of what waits, for a log line. */
    synchronized String keys() {
        return String.join(", ", kept.keySet());
    }

    /** Closes what nobody took, saying so (a successor that opened its own); later keeps are refused. Idempotent. */
    @Override
    public void close() {
        close(true);
    }

    /** Closes what waits without a word: the handover failed, and that is logged once elsewhere. */
    void discard() {
        close(false);
    }

    private synchronized void close(boolean tell) {
        closed = true;
        for (Map.Entry<String, AutoCloseable> e : kept.entrySet()) {
            if (tell) {
                LOG.info("{}: {} was not taken over; closed", name, e.getKey());
            }
            closeQuietly(e.getKey(), e.getValue());
        }
        kept.clear();
    }

    private void closeQuietly(String key, AutoCloseable r) {
        try {
            r.close();
        } catch (Exception e) {
            LOG.error("{}: closing {} failed", name, key, e);
        }
    }
}
