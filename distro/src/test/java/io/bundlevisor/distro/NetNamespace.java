package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.Assume;

/**
 * A network namespace a test makes for itself (iproute2's {@code ip netns}), with a tap and an address in it: the
 * host end of a guest's network, on no network but its own. Commands and back-ends run inside it with
 * {@code ip netns exec}. Closing it kills what it started and deletes the namespace, and with it the tap.
 */
final class NetNamespace implements AutoCloseable {

    private static final AtomicInteger NEXT = new AtomicInteger();

    private final String name;
    private final List<Process> started = new ArrayList<>();

    private NetNamespace(String name) {
        this.name = name;
    }

    /**
     * Makes a namespace with loopback up. Skips the test (with the reason) where namespaces cannot be made: not root,
     * no iproute2; {@code bundlevisor test} fails a run with skips where /dev/kvm exists.
     */
    static NetNamespace create(String prefix) throws IOException, InterruptedException {
        String name = prefix + "-" + ProcessHandle.current().pid() + "-" + NEXT.incrementAndGet();
        Result r = runQuietly(List.of("ip", "netns", "add", name));
        Assume.assumeTrue("cannot make a network namespace (root and iproute2 needed): " + r.output, r.status == 0);
        NetNamespace ns = new NetNamespace(name);
        ns.run("ip", "link", "set", "lo", "up");
        return ns;
    }

    String name() {
        return name;
    }

    /** A tap made the way README says ({@code ip tuntap add ... mode tap multi_queue}), with an address, up. */
    void tap(String tap, String cidr) throws IOException, InterruptedException {
        run("ip", "tuntap", "add", tap, "mode", "tap", "multi_queue");
        run("ip", "addr", "add", cidr, "dev", tap);
        run("ip", "link", "set", tap, "up");
    }

    /** {@code command} as run inside the namespace. */
    List<String> inside(List<String> command) {
        List<String> c = new ArrayList<>(List.of("ip", "netns", "exec", name));
        c.addAll(command);
        return c;
    }

    /** Runs a command inside; fails the test with its output when it fails. Returns its output. */
    String run(String... command) throws IOException, InterruptedException {
        Result r = runQuietly(inside(List.of(command)));
        assertEquals(String.join(" ", command) + ": " + r.output, 0, r.status);
        return r.output;
    }

    /** Starts a command inside (stdin empty, output merged); killed when the namespace closes. */
    Process start(List<String> command) throws IOException {
        Process p = new ProcessBuilder(inside(command)).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        started.add(p);
        return p;
    }

    /** As {@link #start}, with stdin a pipe the caller writes (a shell's commands). */
    Process startWithInput(List<String> command) throws IOException {
        Process p = new ProcessBuilder(inside(command)).redirectErrorStream(true).start();
        started.add(p);
        return p;
    }

    @Override
    public void close() throws IOException, InterruptedException {
        for (Process p : started) {
            p.descendants().forEach(ProcessHandle::destroy); // a shell's pipeline, e.g. sleep | nc
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
        runQuietly(List.of("ip", "netns", "del", name));
    }

    private record Result(int status, String output) {
    }

    private static Result runQuietly(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return new Result(-1, "timed out: " + out);
        }
        return new Result(p.exitValue(), out);
    }
}
