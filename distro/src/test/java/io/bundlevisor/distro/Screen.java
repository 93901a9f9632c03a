package io.bundlevisor.distro;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
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
                throw new AssertionError("no '" + expected + "' in:\n" + text + threadDumps());
            }
            Thread.sleep(20);
        }
        return text.toString();
    }

    /**
     * The thread stacks of every JVM this test started (through {@code jcmd}), so that a process that did not show
     * what it should, or did not exit, says where it stood.
     */
    static String threadDumps() {
        StringBuilder dumps = new StringBuilder();
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        ProcessHandle.current().descendants()
                .filter(h -> h.info().command().map(c -> c.endsWith("/java")).orElse(false))
                .forEach(h -> {
                    try {
                        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(h.pid()), "Thread.print")
                                .redirectErrorStream(true).start();
                        String stacks = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                        p.waitFor(30, TimeUnit.SECONDS);
                        dumps.append("\n--- threads of process ").append(h.pid()).append(" ---\n").append(stacks);
                    } catch (java.io.IOException e) {
                        dumps.append("\n(no thread dump of ").append(h.pid()).append(": ").append(e.getMessage())
                                .append(')');
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
        return dumps.toString();
    }
}
