package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.Assume;
import org.junit.Test;

/**
 * {@code bundlevisor run} as the launcher script starts it ({@code java -jar bundlevisor.jar run ...}): the exported
 * jar boots a test guest (built by platform.kvm's tests) with its console on stdout, and the process's exit status is
 * the halt reason's; help, the version and usage errors answer before the framework starts.
 */
public class RunCommandIT {

    private static final Path GUESTS = Path.of("..", "platform.kvm", "target", "guests");

    @Test(timeout = 120_000)
    public void powerOffExitsZeroWithTheConsoleOnStdout() throws Exception {
        Result r = run("--kernel", guest("smp"), "--cpus", "2", "--memory", "64M");
        assertEquals(r.output, 0, r.status);
        assertTrue(r.output, r.output.contains("smp: 2 cpus up\n"));
        assertTrue("nothing but the guest's console at the default level\n" + r.output,
                r.output.lines().noneMatch(l -> l.matches("\\d\\d:\\d\\d:\\d\\d\\.\\d{3} .*")));
        // -v: the platform's INFO lines, on stderr; --log-file: in the file instead.
        Result verbose = run("-v", "--kernel", guest("poweroff"), "--memory", "32M");
        assertEquals(verbose.output, 0, verbose.status);
        assertTrue(verbose.output, verbose.output.contains("INFO  [FelixStartLevel] i.b.k.i.p.PartitionServiceComponent"
                + " - partition service active"));
        Path log = Files.createTempFile(Path.of("target"), "run", ".log");
        Result logged = run("--log-level=info", "--log-file", log.toString(), "--kernel", guest("poweroff"),
                "--memory", "32M");
        assertEquals("poweroff: now\n", logged.output);
        assertTrue(Files.readString(log), Files.readString(log).contains("vm halted: power off"));
        Files.delete(log);
    }

    @Test(timeout = 60_000)
    public void helpVersionAndUsageErrorsAnswerBeforeThePlatformStarts() throws Exception {
        Result help = run("--help");
        assertEquals(help.output, 0, help.status);
        assertTrue(help.output, help.output.startsWith("Usage: bundlevisor run [-hVv]"));
        assertTrue(help.output, help.output.contains("--memory=SIZE     RAM: 512M, 1.5G, 2GiB"));
        Result version = run("--version");
        assertEquals(version.output, 0, version.status);
        assertTrue(version.output, version.output.startsWith("Bundlevisor v0."));
        Result typo = run("--kernel", guest("smp"), "--cpu", "2");
        assertEquals(typo.output, 64, typo.status);
        assertEquals("only the launcher's two lines: no platform started",
                "bundlevisor: unknown option '--cpu' (did you mean --cpus?)\n"
                        + "Try 'bundlevisor run --help' for more information.\n", typo.output);
        Result bare = run("--kernel", guest("smp"), "--memory", "512");
        assertEquals(bare.output, 64, bare.status);
        assertTrue(bare.output, bare.output.startsWith("bundlevisor: invalid value for option '--memory': '512' has no "
                + "unit: say 512M for 512 MiB, or 512B for bytes\n"));
    }

    @Test(timeout = 120_000)
    public void aTripleFaultExitsOneAndSaysSo() throws Exception {
        Result r = run("--kernel", guest("triple"), "--memory", "32M");
        assertEquals(r.output, 1, r.status);
        assertTrue(r.output, r.output.contains("bundlevisor: vm stopped: triple fault on VP 0 at rip 0x"));
        assertTrue("the instruction bytes at RIP (the guest's UD2)\n" + r.output, r.output.contains("(bytes 0f 0b"));
    }

    @Test(timeout = 120_000)
    public void badArgumentsAreOneLine() throws Exception {
        Result r = run("--kernel", guest("smp"), "--cpus", "0");
        assertEquals(r.output, 64, r.status);
        assertTrue(r.output, r.output.contains("bundlevisor: --cpus must be 1.."));
        Result missing = run("--kernel", "no-such-kernel");
        assertEquals(missing.output, 64, missing.status);
        assertTrue(missing.output, missing.output.contains("bundlevisor: --kernel no-such-kernel: no such file"));
        // A network card on an interface that is not a tap, and on a bad option: one line each, naming it.
        Result notTap = run("--kernel", guest("smp"), "--net", "tap=lo");
        assertEquals(notTap.output, 64, notTap.status);
        assertTrue(notTap.output, notTap.output.contains("lo exists and is not a tap"));
        assertEquals(notTap.output, 1, notTap.output.lines().filter(l -> l.startsWith("bundlevisor: ")).count());
        Result badMac = run("--kernel", guest("smp"), "--net", "tap=bv0,mac=01:00:5e:00:00:01");
        assertEquals(badMac.output, 64, badMac.status);
        assertTrue(badMac.output, badMac.output.contains("a multicast address"));
    }

    /**
     * {@code --console socket:PATH,wait}: the VMM says where it waits and creates the VM only once a client has
     * connected, so the client gets the guest's console from its first line; the guest then powers off (exit 0).
     */
    @Test(timeout = 120_000)
    public void aConsoleSocketThatWaitsGivesItsClientTheWholeConsole() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        Path dir = Files.createTempDirectory(Path.of("target"), "console-wait-");
        Path socket = dir.resolve("c.sock").toAbsolutePath();
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(javaBin, "--illegal-native-access=deny", "--sun-misc-unsafe-memory-access=allow",
                "-jar", Path.of("target", "bundlevisor.jar").toString(), "run", "--kernel", guest("poweroff"),
                "--memory", "32M", "--console", "socket:" + socket + ",wait").redirectErrorStream(true).start();
        try {
            p.getOutputStream().close();
            java.io.BufferedReader out = new java.io.BufferedReader(
                    new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line;
            while ((line = out.readLine()) != null && !line.contains("waiting for a console client on")) {
                // the platform's start-up lines
            }
            assertTrue("the VMM says where it waits", line != null && line.contains(socket.toString()));
            Thread.sleep(500);
            assertTrue("no VM before a client: the process still waits", p.isAlive());
            StringBuilder console = new StringBuilder();
            try (java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open(
                    java.net.UnixDomainSocketAddress.of(socket))) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4096);
                // Until the VMM closes the socket: the guest powered off and the process ends.
                while (c.read(b) >= 0) {
                    b.flip();
                    console.append(StandardCharsets.ISO_8859_1.decode(b));
                    b.clear();
                }
            }
            assertEquals("the whole console, from the guest's first line", "poweroff: now\n", console.toString());
            assertTrue("the VM powers off", p.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue());
        } finally {
            p.destroyForcibly();
            VhostUserQemuIT.delete(dir);
        }
    }

    private record Result(int status, String output) {
    }

    /**
     * A red-team finding: a SIGKILLed run left its framework's storage (~8 MB) in /tmp for ever. Now it lives in the
     * process's folder under the cache, {@code run/PID}, which the next launch removes once that process is gone; a
     * run that ends normally leaves nothing but an empty folder.
     */
    @Test(timeout = 120_000)
    public void aKilledRunsFilesGoAtTheNextLaunch() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        Path cache = Files.createTempDirectory(Path.of("target"), "run-cache-").toAbsolutePath();
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(java, "--sun-misc-unsafe-memory-access=allow", "-jar",
                Path.of("target", "bundlevisor.jar").toString(), "run", "--kernel", guest("echo"), "--memory", "32M"));
        ProcessBuilder b = new ProcessBuilder(command).redirectErrorStream(true);
        b.environment().put("BUNDLEVISOR_CACHE", cache.toString());
        Process killed = b.start();
        Screen screen = new Screen(killed.getInputStream());
        Path folder = cache.resolve("run").resolve(Long.toString(killed.pid()));
        try {
            screen.await("echo: ready");
            assertTrue("the framework's storage is in " + folder, Files.isDirectory(folder.resolve("framework")));
        } finally {
            killed.destroyForcibly();
        }
        assertTrue(killed.waitFor(30, TimeUnit.SECONDS));
        List<String> next = new ArrayList<>(command);
        next.set(next.indexOf(guest("echo")), guest("poweroff"));
        ProcessBuilder n = new ProcessBuilder(next).redirectErrorStream(true);
        n.environment().put("BUNDLEVISOR_CACHE", cache.toString());
        Process second = n.start();
        second.getOutputStream().close();
        String out = new String(second.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        assertTrue(second.waitFor(60, TimeUnit.SECONDS));
        assertEquals(out, 0, second.exitValue());
        assertTrue("the killed run's folder is gone", !Files.exists(folder));
        Path left = cache.resolve("run").resolve(Long.toString(second.pid()));
        try (var files = Files.list(left)) {
            assertEquals("a run that ended leaves an empty folder", List.of(), files.toList());
        }
        VhostUserQemuIT.delete(cache);
    }

    private static String guest(String name) {
        Path p = GUESTS.resolve(name + ".elf");
        assertTrue(p + " is built by platform.kvm's tests", Files.isRegularFile(p));
        return p.toString();
    }

    private static Result run(String... args) throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(java, "--illegal-native-access=deny",
                "--sun-misc-unsafe-memory-access=allow", "-jar", Path.of("target", "bundlevisor.jar").toString(),
                "run"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue("the VM ends the process", p.waitFor(90, TimeUnit.SECONDS));
        return new Result(p.exitValue(), output.get(10, TimeUnit.SECONDS));
    }
}
