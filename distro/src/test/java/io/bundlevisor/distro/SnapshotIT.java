package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.Assume;
import org.junit.Test;

/**
 * A snapshot taken through Firecracker's API under IO, restored in a new process with {@code run --restore}: the blk
 * test guest (hot mode, strict: any reset of its disk fails it) writes numbered records to its disk; the first
 * process is paused, snapshotted ({@code PUT /snapshot/create}) and killed; the second makes the same machine from the
 * snapshot's state file and memory file and goes on; the guest reads every record it saw acknowledged back from the
 * disk and says {@code BLK-HOT-OK}. A snapshot of another machine's memory, or a cut state file, starts nothing.
 */
public class SnapshotIT {

    private static final Path BLK = Path.of("..", "platform.kvm", "target", "guests", "blk.elf");

    @Test(timeout = 300_000)
    public void aGuestSnapshottedUnderIoGoesOnInANewProcess() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        Path dir = Files.createTempDirectory(Path.of("target"), "snapshot-").toAbsolutePath();
        Path socket = dir.resolve("api.sock");
        Path image = dir.resolve("disk.img");
        Files.write(image, new byte[16 << 20]);
        Path snapshot = Files.createDirectory(dir.resolve("snap"));
        List<String> first = new ArrayList<>(DistroJar.command("warn", List.of()));
        first.addAll(List.of("--api-sock", socket.toString(), "--id", "hot"));
        Process a = new ProcessBuilder(first).redirectErrorStream(true).start();
        Screen before = new Screen(a.getInputStream());
        try {
            ApiSocket.await(socket);
            assertEquals("204", ApiSocket.status(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \""
                    + BLK.toAbsolutePath() + "\", \"boot_args\": \"blk.mode=hot blk.strict=1 blk.acked=2048\"}"));
            assertEquals("204", ApiSocket.status(socket, "PUT", "/drives/disk", "{\"drive_id\": \"disk\", \"path_on_host\": \""
                    + image + "\", \"is_root_device\": false, \"is_read_only\": false}"));
            assertEquals("204", ApiSocket.status(socket, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}"));
            assertEquals("204", ApiSocket.status(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"));
            before.await("BLK-HOT acked=320");
            assertEquals("400", ApiSocket.status(socket, "PUT", "/snapshot/create", "{\"snapshot_path\": \"" + snapshot.resolve(
                    "state") + "\", \"mem_file_path\": \"" + snapshot.resolve("memory") + "\"}"));
            assertEquals("204", ApiSocket.status(socket, "PATCH", "/vm", "{\"state\": \"Paused\"}"));
            assertEquals("204", ApiSocket.status(socket, "PUT", "/snapshot/create", "{\"snapshot_path\": \"" + snapshot.resolve(
                    "state") + "\", \"mem_file_path\": \"" + snapshot.resolve("memory") + "\"}"));
        } finally {
            a.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        String beforeOutput = before.text();
        assertFalse(beforeOutput, beforeOutput.contains("BLK-HOT-OK"));
        List<String> second = new ArrayList<>(DistroJar.command("warn", List.of()));
        second.addAll(List.of("run", "--restore", snapshot.toString()));
        Process b = new ProcessBuilder(second).redirectErrorStream(true).start();
        Screen after = new Screen(b.getInputStream());
        try {
            b.getOutputStream().close();
            assertTrue("the restored guest powers off\n" + after.text(), b.waitFor(240, TimeUnit.SECONDS));
            String out = after.text();
            assertEquals(out, 0, b.exitValue());
            assertTrue(out, out.contains("BLK-HOT-OK acked=2048"));
            assertFalse(out, out.contains("BLK-FAIL") || out.contains("BLK-HOT gone"));
            assertFalse("the guest went on from its 320th write, it did not start again: " + out,
                    out.contains("BLK-HOT acked=64\n") || out.contains("BLK-HOT acked=128\n"));
        } finally {
            b.destroyForcibly();
        }
        // Refusals, with nothing started: another machine's memory, a cut state file.
        Path other = Files.createDirectory(dir.resolve("other"));
        Files.copy(snapshot.resolve("state"), other.resolve("state"));
        Files.write(other.resolve("memory"), new byte[4096]);
        String refused = runRestore(other);
        assertTrue(refused, refused.startsWith("64 bundlevisor: hot: memory file "));
        byte[] state = Files.readAllBytes(snapshot.resolve("state"));
        Files.write(other.resolve("state"), java.util.Arrays.copyOf(state, 40));
        refused = runRestore(other);
        assertTrue(refused, refused.startsWith("64 bundlevisor: ") && refused.contains("truncated"));
        VhostUserQemuIT.delete(dir);
    }

    private static String runRestore(Path dir) throws Exception {
        List<String> c = new ArrayList<>(DistroJar.command("warn", List.of()));
        c.addAll(List.of("run", "--restore", dir.toString()));
        Process p = new ProcessBuilder(c).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return p.exitValue() + " " + out;
    }
}
