package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.junit.Test;

/**
 * The exported jar as a person starts it: a plain {@code java -jar} (plus the one flag the launcher script adds
 * for Felix's use of sun.misc.Unsafe) reaches the Gogo prompt with every bundle active, FFM enabled by the
 * manifest alone ({@code --illegal-native-access=deny} would fail a bundle that lacked it), and nothing printed
 * as a warning or error.
 */
public class ExecutableJarIT {

    /** {@code aQute.launcher.constants.LauncherConstants.STOPPED}; the launcher script maps it to 0. */
    private static final int STOPPED = 117;
    private static final Pattern BUNDLE_LINE = Pattern.compile("^\\s*\\d+\\|(\\w+)\\s*\\|.*$");

    @Test(timeout = 120_000)
    public void reachesThePromptWithEveryBundleActive() throws Exception {
        Path jar = Path.of("target", "bundlevisor.jar");
        assertTrue("the distro jar is built in package, before integration tests", Files.isRegularFile(jar));
        String java = ProcessHandle.current().info().command().orElse("java");
        Path deploy = Files.createTempDirectory(Path.of("target"), "exec-deploy-");
        Process p = new ProcessBuilder(java, "--illegal-native-access=deny", "--sun-misc-unsafe-memory-access=allow",
                "-jar", jar.toString(), "shell", "--deploy", deploy.toString())
                .redirectErrorStream(true)
                .start();
        Screen screen = new Screen(p.getInputStream());
        try (OutputStream in = p.getOutputStream()) {
            // The shell starts last but for the deploy folder's watcher: by the time it reads, the platform is up.
            Thread.sleep(3000);
            send(in, "lb");
            send(in, "ring:list");
            send(in, "virtio:types");
            // Bundles come from files, so a plain update rereads one (here: the same virtio-net).
            send(in, "lb -l");
            java.util.regex.Matcher net = Pattern.compile("(?m)^\\s*(\\d+)\\|Active.*\\|(file:/\\S+/device\\.virtio-net-[^|]+\\.jar)\\|")
                    .matcher(screen.await("device.virtio-net-"));
            assertTrue(screen.text(), net.find());
            send(in, "update " + net.group(1));
            send(in, "lb -s virtio-net");
            screen.await("io.bundlevisor.device.virtio-net");
            Thread.sleep(1000);
            // End of input (Ctrl-D) stops the shell and then the framework from the shell's own thread. Typing
            // "stop 0" instead races Gogo: the framework stops the shell bundle (start level 1000, first to go)
            // while the shell still waits for the "stop" job, and Gogo prints "gogo: InterruptedException".
        }
        assertTrue("the JVM exits at the end of the shell's input", p.waitFor(60, TimeUnit.SECONDS));
        String out = screen.await("gosh: stopping framework");
        VhostUserQemuIT.delete(deploy);

        List<String> bundles = out.substring(0, out.indexOf("Location")).lines()
                .filter(l -> BUNDLE_LINE.matcher(l).matches()).toList();
        assertEquals(out, 27, bundles.size());
        for (String line : bundles) {
            assertTrue(line, line.contains("|Active"));
        }
        assertTrue(out, out.contains("Bundlevisor platform core"));
        assertTrue(out, out.contains("Bundlevisor io_uring"));
        assertTrue(out, out.contains("Bundlevisor KVM"));
        assertTrue(out, out.contains("Bundlevisor virtio-blk"));
        assertTrue(out, out.contains("Bundlevisor virtio-net"));
        assertTrue(out, out.contains("Bundlevisor management"));
        assertTrue(out, out.contains("Apache Felix File Install"));
        assertFalse("every location is a file's: " + out, out.contains("|jar/"));
        assertTrue("updated and active again: " + out, out.lines().anyMatch(
                l -> l.matches("\\s*\\d+\\|Active\\s*\\|\\s*\\d+\\|io\\.bundlevisor\\.device\\.virtio-net.*")));
        assertTrue("the device bundle made its type available: " + out, out.lines().anyMatch(l -> l.strip().endsWith("! virtio-blk")));
        assertTrue("the device bundle made its type available: " + out, out.lines().anyMatch(l -> l.strip().equals("virtio-net")));
        assertTrue(out, out.lines().anyMatch(l -> l.startsWith("task:bundlevisor-default")));
        assertTrue(out, out.contains("gosh: stopping framework"));
        assertFalse(out, out.contains("WARNING"));
        assertFalse(out, out.contains(" WARN "));
        assertFalse(out, out.contains("ERROR"));
        assertFalse(out, out.contains("Exception"));
        assertEquals("bnd launcher's STOPPED: the framework was stopped in order", STOPPED, p.exitValue());
    }

    private static void send(OutputStream in, String line) throws IOException, InterruptedException {
        in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        in.flush();
        Thread.sleep(500);
    }
}
