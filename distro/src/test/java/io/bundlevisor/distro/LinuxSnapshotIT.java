package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.junit.Assume;
import org.junit.Test;

/**
 * Linux snapshotted after boot and restored in a new process: booted through Firecracker's API, its /init in the
 * middle of its test command (a sleep, then a sum), paused, snapshotted ({@code PUT /snapshot/create}) and the process
 * killed; {@code run --restore} in a second process makes the machine again and the same kernel and /init go on: the
 * command finishes and the guest powers off (exit 0), without booting again.
 */
public class LinuxSnapshotIT {

    private static final Duration BOOT = Duration.ofSeconds(150);

    @Test(timeout = 400_000)
    public void linuxSnapshottedAfterBootGoesOnInANewProcess() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        Path dir = Files.createTempDirectory(Path.of("target"), "linux-snapshot-").toAbsolutePath();
        Path socket = dir.resolve("api.sock");
        Path snapshot = Files.createDirectory(dir.resolve("snap"));
        List<String> first = new ArrayList<>(DistroJar.command("warn", List.of()));
        first.addAll(List.of("--api-sock", socket.toString(), "--id", "lxsnap"));
        Process a = new ProcessBuilder(first).redirectErrorStream(true).start();
        QemuGuest.Console before = new QemuGuest.Console("before the snapshot", a, null);
        try {
            ApiSocket.await(socket);
            String test = "sleep 4; echo LX-SNAPSHOT-SUM-$((6*7))";
            assertEquals("204", ApiSocket.status(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \""
                    + LinuxGuest.kernel().toAbsolutePath() + "\", \"initrd_path\": \""
                    + LinuxGuest.initrd().toAbsolutePath() + "\", \"boot_args\": \"" + LinuxGuest.cmdline()
                    + " bv.test=\\\"" + test + "\\\"\"}"));
            assertEquals("204", ApiSocket.status(socket, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 256}"));
            assertEquals("204", ApiSocket.status(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"));
            before.await(Pattern.compile("BUNDLEVISOR-TEST-BEGIN"), BOOT);
            assertEquals("204", ApiSocket.status(socket, "PATCH", "/vm", "{\"state\": \"Paused\"}"));
            assertEquals("204", ApiSocket.status(socket, "PUT", "/snapshot/create", "{\"snapshot_path\": \""
                    + snapshot.resolve("state") + "\", \"mem_file_path\": \"" + snapshot.resolve("memory") + "\"}"));
        } finally {
            a.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        assertFalse(before.text(), before.text().contains("LX-SNAPSHOT-SUM-42"));
        List<String> second = new ArrayList<>(DistroJar.command("warn", List.of()));
        second.addAll(List.of("run", "--restore", snapshot.toString()));
        Process b = new ProcessBuilder(second).redirectErrorStream(true).start();
        b.getOutputStream().close();
        QemuGuest.Console after = new QemuGuest.Console("after the restore", b, null);
        try {
            after.await(Pattern.compile("LX-SNAPSHOT-SUM-42"), Duration.ofSeconds(120));
            after.await(Pattern.compile("BUNDLEVISOR-TEST-END rc=0"), Duration.ofSeconds(60));
            assertTrue("the restored Linux powers off\n" + after.text(), b.waitFor(60, TimeUnit.SECONDS));
            assertEquals(after.text(), 0, b.exitValue());
            assertFalse("it went on, it did not boot again\n" + after.text(),
                    after.text().contains("BUNDLEVISOR-GUEST-UP"));
            System.err.println("LinuxSnapshotIT: memory file " + Files.size(snapshot.resolve("memory")) + " bytes, "
                    + du(snapshot.resolve("memory")) + " allocated; state file " + Files.size(snapshot.resolve("state"))
                    + " bytes");
        } finally {
            b.destroyForcibly();
            VhostUserQemuIT.delete(dir);
        }
    }

    private static String du(Path file) throws Exception {
        Process p = new ProcessBuilder("du", "-h", file.toString()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(10, TimeUnit.SECONDS);
        return out.split("\\s")[0];
    }
}
