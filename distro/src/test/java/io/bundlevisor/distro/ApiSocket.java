package io.bundlevisor.distro;

import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Firecracker's API on a Unix socket as its documentation drives it: {@code curl --unix-socket}. */
final class ApiSocket {

    private ApiSocket() {
    }

    /** Waits (30 s at most) for the socket to appear. */
    static void await(Path socket) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(socket) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue("the API socket " + socket + " exists", Files.exists(socket));
    }

    /** The answer as "STATUS BODY" ({@code body} null for none; {@code more} curl arguments, e.g. headers). */
    static String call(Path socket, String method, String path, String body, String... more) throws Exception {
        List<String> c = new ArrayList<>(List.of("curl", "-s", "--unix-socket", socket.toString(), "-X", method,
                "http://localhost" + path, "-H", "Accept: application/json", "-w", "\n%{http_code}"));
        c.addAll(List.of(more));
        if (body != null) {
            c.addAll(List.of("-H", "Content-Type: application/json", "-d", body));
        }
        Process p = new ProcessBuilder(c).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        int nl = out.lastIndexOf('\n');
        return out.substring(nl + 1) + " " + out.substring(0, Math.max(nl, 0));
    }

    /** The answer's status alone. */
    static String status(Path socket, String method, String path, String body) throws Exception {
        String reply = call(socket, method, path, body);
        return reply.substring(0, reply.indexOf(' '));
    }
}
