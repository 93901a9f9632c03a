package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.device.blk.guest.Host;

import org.junit.Assume;
import org.junit.Test;

/**
 * README's "Running unprivileged": the exported jar boots a VM as user {@code nobody} holding nothing but
 * read-write access to {@code /dev/kvm}, its disk image, and a tap made for it. The test sets that up without
 * changing the host: in a network namespace of its own it makes the tap ({@code ip tuntap add ... user nobody}),
 * and in a private mount namespace it puts device nodes owned by {@code nobody} over {@code /dev/kvm} and
 * {@code /dev/net/tun}; then it drops to {@code nobody} with no groups and no capabilities (setpriv) and runs
 * {@code bundlevisor run} with the blk test guest, a disk and a virtio-net device on the tap. The guest writes its
 * pattern and powers off; the run's log says its VP and worker threads were confined by the seccomp filter, which
 * an unprivileged process installs thanks to PR_SET_NO_NEW_PRIVS.
 */
public class UnprivilegedIT {

    private static final Path GUESTS = Path.of("..", "platform.kvm", "target", "guests");
    private static final int NOBODY = 65534;

    @Test(timeout = 180_000)
    public void aVmRunsAsNobodyWithOnlyKvmItsDiskAndATap() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        boolean root = Host.isRoot();
        if (!root) {
            System.err.println("*** SKIPPING UnprivilegedIT: setting up another user's devices needs root (.ci/run "
                    + "runs as root) ***");
        }
        Assume.assumeTrue("not root", root);
        Path guest = GUESTS.resolve("blk.elf").toAbsolutePath().normalize();
        assertTrue(guest + " is built by platform.kvm", Files.isRegularFile(guest));
        Path jar = Path.of("target", "bundlevisor.jar").toAbsolutePath();
        assertTrue("the distro jar is built in package", Files.isRegularFile(jar));

        Path dir = Files.createTempDirectory(Path.of("/tmp"), "bv-unprivileged-");
        Path disk = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        Files.createDirectories(dir.resolve("cache"));
        Files.createDirectories(dir.resolve("home"));
        run("chown", "-R", NOBODY + ":" + NOBODY, dir.toString());
        run("chmod", "600", disk.toString());
        String java = ProcessHandle.current().info().command().orElse("java");
        // In the private mount namespace: nodes for KVM (10:232) and tun (10:200) owned by nobody over the host's.
        String script = String.join(" && ",
                "mknod " + dir + "/kvm c 10 232", "chown " + NOBODY + " " + dir + "/kvm", "chmod 600 " + dir + "/kvm",
                "mount --bind " + dir + "/kvm /dev/kvm",
                "mknod " + dir + "/tun c 10 200", "chown " + NOBODY + " " + dir + "/tun", "chmod 600 " + dir + "/tun",
                "mount --bind " + dir + "/tun /dev/net/tun",
                "cd " + dir,
                "exec setpriv --reuid=" + NOBODY + " --regid=" + NOBODY + " --clear-groups --inh-caps=-all"
                        + " --bounding-set=-all env HOME=" + dir + "/home BUNDLEVISOR_CACHE=" + dir + "/cache "
                        + java + " --sun-misc-unsafe-memory-access=allow -jar " + jar
                        + " run --kernel " + guest + " --cmdline blk.mode=write --memory 64M --disk " + disk
                        + " --net tap=bvu0 --log-level info");
        try (NetNamespace ns = NetNamespace.create("bvu")) {
            ns.run("ip", "tuntap", "add", "bvu0", "mode", "tap", "multi_queue", "vnet_hdr", "user",
                    Integer.toString(NOBODY));
            ns.run("ip", "link", "set", "bvu0", "up");
            Process p = ns.start(List.of("unshare", "-m", "--propagation", "private", "sh", "-c", script));
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            assertTrue("the run ended: " + out, p.waitFor(120, TimeUnit.SECONDS));
            assertEquals(out, 0, p.exitValue());
            assertTrue(out, out.contains("BLK-WRITE-OK"));
            assertTrue("VP and worker threads confined: " + out, out.contains("system-call filter on"));
            assertTrue("a virtio-net device on the tap: " + out, out.contains("tap bvu0 (1 queue pair)"));
            // The guest's pattern (blk.c: byte j of sector s is s * 31 + j * 7) reached the image from sector 8.
            byte[] sector = new byte[512];
            try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "r")) {
                f.seek(8 * 512);
                f.readFully(sector);
            }
            for (int j = 0; j < sector.length; j++) {
                assertEquals("byte " + j + " of sector 8", (byte) (8 * 31 + j * 7), sector[j]);
            }
        } finally {
            VhostUserQemuIT.delete(dir);
        }
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(String.join(" ", command) + ": " + out, p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0);
    }
}
