package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.junit.After;
import org.junit.Assume;
import org.junit.Before;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * Linux's {@code virtio_net} on our own VMM: {@code bundlevisor run --net} with a tap in a network namespace the test
 * makes (the VMM runs inside it, so does busybox {@code nc} on the host side), {@link LinuxGuest}'s kernel finding
 * our virtio-mmio window in the DSDT. The guest sets its address, pings the host, and moves 8 MiB over TCP each way;
 * sha256 is compared on both ends.
 *
 * <p>On a software KVM the guest's kernel is emulated: about 6 to 10 s a MiB over TCP, a system call about 3 ms,
 * {@code /dev/urandom} about 40 s a MiB. So the upload is made in user mode ({@code seq}, distinct bytes at every
 * offset) and the transfers use {@code nc -e dd bs=1M} (busybox nc's own copies are 1 KiB a system call).
 */
public class LinuxNetIT {

    private static final String HOST_IP = "10.78.0.1";
    private static final String GUEST_IP = "10.78.0.2";
    private static final String TAP = "bvl0";
    private static final int MIB = 8;
    private static final Duration RUN = Duration.ofSeconds(480);
    private static final Pattern FAILURE = Pattern.compile("BV-FAIL|Kernel panic|Oops|BUG:|vm stopped: internal error");

    private Path dir;
    private NetNamespace ns;
    private final List<AutoCloseable> open = new ArrayList<>();

    @BeforeClass
    public static void which() {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        System.err.println("LinuxNetIT: booting " + LinuxGuest.describe() + ": " + LinuxGuest.kernel());
    }

    @Before
    public void setUp() throws Exception {
        Files.createDirectories(Path.of("target"));
        dir = Files.createTempDirectory(Path.of("target"), "linux-net-it-");
        ns = NetNamespace.create("bvl");
        ns.tap(TAP, HOST_IP + "/24");
    }

    @After
    public void tearDown() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            try {
                open.get(i).close();
            } catch (Exception e) {
                System.err.println("LinuxNetIT: closing: " + e);
            }
        }
        if (ns != null) {
            ns.close();
        }
        VhostUserQemuIT.delete(dir);
    }

    @Test(timeout = 600_000)
    public void linuxPingsAndMovesDataBothWaysOverTcp() throws Exception {
        Path download = dir.resolve("download.bin");
        Path upload = dir.resolve("upload.bin");
        VhostUserNetQemuIT.writeRandom(download, MIB, 0x11e7);
        ns.start(List.of("sh", "-c", "sleep 900 | busybox nc -l -p 5001 > " + upload.toAbsolutePath()));
        Process sender = ns.start(List.of("busybox", "nc", "-l", "-p", "5002", "-e", "cat",
                download.toAbsolutePath().toString()));
        String test = VhostUserNetQemuIT.guestSetup(GUEST_IP, HOST_IP)
                + " && seq 1 1200000 > /tmp/up && truncate -s " + (MIB << 20) + " /tmp/up && sha256sum /tmp/up"
                + " && nc " + HOST_IP + " 5001 -e dd if=/tmp/up bs=1M"
                + " && nc " + HOST_IP + " 5002 -e dd of=/tmp/down bs=1M && sha256sum /tmp/down";
        long t0 = System.nanoTime();
        List<String> args = List.of("--kernel", LinuxGuest.kernel().toString(), "--initrd",
                LinuxGuest.initrd().toString(), "--name", "lxnet", "--cpus", "1", "--memory", "256M",
                "--net", "tap=" + TAP, "--cmdline", LinuxGuest.cmdline() + " bv.test=\"" + test + "\"");
        Process p = ns.start(DistroJar.command("warn", List.of(
                "-Dbundlevisor.run=" + String.join("\u001f", args), "-Dgosh.args=--nointeractive")));
        QemuGuest.Console vm = new QemuGuest.Console("bundlevisor run", p, FAILURE);
        vm.await(Pattern.compile("BUNDLEVISOR-TEST-END rc=0"), RUN);
        vm.awaitEnd(Duration.ofSeconds(60));
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(vm.text(), 0, p.exitValue());
        assertTrue(vm.text(), vm.text().contains(" 0% packet loss"));
        List<String> hashes = VhostUserNetQemuIT.hashes(vm.lines());
        assertEquals(vm.text(), 2, hashes.size());
        assertEquals("the host received what the guest sent\n" + vm.text(), hashes.get(0),
                VhostUserNetQemuIT.sha256(upload));
        assertEquals("the guest received what the host sent\n" + vm.text(),
                VhostUserNetQemuIT.sha256(download), hashes.get(1));
        assertTrue(sender.waitFor(10, TimeUnit.SECONDS));
        System.err.printf("LinuxNetIT: booted, pinged and moved %d MiB each way in %.1f s%n", MIB,
                (System.nanoTime() - t0) / 1e9);
    }
}
