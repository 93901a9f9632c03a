package io.bundlevisor.api.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Firecracker's {@code PUT /metrics}: one JSON line of every counter ({@link Metrics#jsonLine}) appended to a file or
 * named pipe every {@value #PERIOD_SECONDS} s and on {@code FlushMetrics}, until the API closes. Set once, as in
 * Firecracker.
 */
final class MetricsFile implements AutoCloseable {

    /** Firecracker's period. */
    static final int PERIOD_SECONDS = 60;

    private final Metrics metrics;
    private Path path;
    private Thread periodic;

    MetricsFile(Metrics metrics) {
        this.metrics = metrics;
    }

    /** Starts writing to {@code file} (appended; created if missing). */
    synchronized void configure(String file) throws ApiException {
        if (path != null) {
            throw new ApiException("the metrics are configured already, to " + path);
        }
        if (file == null || file.isEmpty() || file.indexOf('\0') >= 0) {
            throw new ApiException("metrics_path is required");
        }
        Path p = Path.of(file).toAbsolutePath();
        if (p.getParent() == null || !Files.isDirectory(p.getParent())) {
            throw new ApiException("metrics_path " + file + ": its folder does not exist");
        }
        if (Files.isDirectory(p)) {
            throw new ApiException("metrics_path " + file + " is a folder");
        }
        path = p;
        flush();
        periodic = Thread.ofVirtual().name("metrics " + p.getFileName()).start(() -> {
            while (true) {
                try {
                    Thread.sleep(PERIOD_SECONDS * 1000L);
                    flush();
                } catch (InterruptedException e) {
                    return;
                } catch (ApiException e) {
                    // a full disk or a reader gone: the next period tries again
                }
            }
        });
    }

    /** Appends one line now ({@code FlushMetrics}). */
    synchronized void flush() throws ApiException {
        if (path == null) {
            throw new ApiException("the metrics are not configured (PUT /metrics first)");
        }
        try {
            Files.writeString(path, metrics.jsonLine(System.currentTimeMillis()) + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new ApiException("metrics_path " + path + ": " + e.getMessage());
        }
    }

    @Override
    public synchronized void close() {
        if (periodic != null) {
            periodic.interrupt();
        }
    }
}
