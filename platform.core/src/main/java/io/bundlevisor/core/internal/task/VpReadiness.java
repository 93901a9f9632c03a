package io.bundlevisor.core.internal.task;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which VPs are ready to run work. A VP nobody reported on is not ready. Each VP has a future that completes
 * when it becomes ready; marking it not ready again starts a fresh one.
 */
final class VpReadiness {

    private final ConcurrentHashMap<Integer, CompletableFuture<Void>> readiness = new ConcurrentHashMap<>();

    void set(int vp, boolean ready) {
        checkVp(vp);
        if (ready) {
            future(vp).complete(null);
        } else {
            readiness.compute(vp, (k, f) -> f == null || f.isDone() ? new CompletableFuture<>() : f);
        }
    }

    boolean isReady(int vp) {
        return future(vp).isDone();
    }

    CompletionStage<Void> whenReady(int vp) {
        // A copy: callers cannot complete the shared future themselves.
        return future(vp).copy();
    }

    private CompletableFuture<Void> future(int vp) {
        return readiness.computeIfAbsent(vp, k -> new CompletableFuture<>());
    }

    static void checkVp(int vp) {
        if (vp < 0) {
            throw new IllegalArgumentException("VP index must be >= 0, got " + vp);
        }
    }
}
