package io.bundlevisor.distro;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/** What a process (or a terminal) has shown so far, read by a thread of its own. */
final class Screen {

    private final StringBuffer text = new StringBuffer();

    Screen(InputStream in) {
        Thread.ofPlatform().daemon().start(() -> {
            byte[] b = new byte[4096];
            try {
                int n;
                while ((n = in.read(b)) > 0) {
                    text.append(new String(b, 0, n, StandardCharsets.ISO_8859_1));
                }
            } catch (java.io.IOException e) {
                // the stream ended
            }
        });
    }

    String text() {
        return text.toString();
    }

    /** Everything shown once {@code expected} has appeared (within 60 s). */
    String await(String expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!text.toString().contains(expected)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no '" + expected + "' in:\n" + text);
            }
            Thread.sleep(20);
        }
        return text.toString();
    }
}
