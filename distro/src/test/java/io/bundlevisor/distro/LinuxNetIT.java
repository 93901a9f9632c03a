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

    /**
     * Linux on our VMM with a virtio-net card on a tap: it pings the host and moves data both ways over TCP, checked
     * by sha256 on both ends. While it uploads, the virtio-net bundle is stopped and started, then updated twice
     * (rebuilt jars with other bundle versions) from the platform's shell: each time the device is handed over and
     * Linux does not notice (its link never changes, its kernel logs no error); the data is intact.
     */
    @Test(timeout = 600_000)
    public void linuxPingsAndMovesDataBothWaysOverTcpAcrossBundleUpdates() throws Exception {
        Path download = dir.resolve("download.bin");
        Path upload = dir.resolve("upload.bin");
        VhostUserNetQemuIT.writeRandom(download, MIB, 0x11e7);
        ns.start(List.of("sh", "-c", "sleep 900 | busybox nc -l -p 5001 > " + upload.toAbsolutePath()));
        Process sender = ns.start(List.of("busybox", "nc", "-l", "-p", "5002", "-e", "cat",
                download.toAbsolutePath().toString()));
        String test = VhostUserNetQemuIT.guestSetup(GUEST_IP, HOST_IP)
                + " && echo BV-CARRIER-BEFORE $(cat /sys/class/net/eth0/carrier_changes)"
                + " && seq 1 1200000 > /tmp/up && truncate -s " + (MIB << 20) + " /tmp/up && sha256sum /tmp/up"
                + " && nc " + HOST_IP + " 5001 -e dd if=/tmp/up bs=1M"
                + " && nc " + HOST_IP + " 5002 -e dd of=/tmp/down bs=1M && sha256sum /tmp/down"
                + " && echo BV-CARRIER-AFTER $(cat /sys/class/net/eth0/carrier_changes)";
        long t0 = System.nanoTime();
        // The platform with its shell in the namespace: the VM from vm:run, its console in a file, the bundle
        // updated from the shell. The handovers' own lines (INFO) say how long each took.
        Process p = ns.startWithInput(DistroJar.command("warn", List.of(
                "-Dbundlevisor.log.loggers=io.bundlevisor.core.internal.virtio.Binding=info",
                "-Dbundlevisor.log.file=/dev/stderr")));
        QemuGuest.Console platform = new QemuGuest.Console("platform", p, null);
        java.io.PrintStream shell = new java.io.PrintStream(p.getOutputStream(), true,
                java.nio.charset.StandardCharsets.UTF_8);
        shell.println("lb -s");
        String id = platform.await(Pattern.compile(
                "(\\d+)\\|Active\\s*\\|\\s*\\d+\\|io\\.bundlevisor\\.device\\.virtio-net "), Duration.ofSeconds(60)).group(1);
        Path console = dir.resolve("lxnet.console.log");
        shell.println("vm:run lxnet --kernel " + LinuxGuest.kernel().toAbsolutePath() + " --initrd "
                + LinuxGuest.initrd().toAbsolutePath() + " --cpus 1 --memory 256M --net tap=" + TAP
                + " --console file:" + console + " --cmdline '" + LinuxGuest.cmdline() + " bv.test=\"" + test + "\"'");
        platform.await(Pattern.compile("started lxnet "), Duration.ofSeconds(30));
        awaitSize(upload, 1 << 20, console);
        shell.println("stop " + id);
        Thread.sleep(500);
        shell.println("start " + id);
        for (int round = 1; round <= 2; round++) {
            awaitSize(upload, (1 + round) << 20, console);
            shell.println("update " + id + " " + UpdatedBundle.of("device.virtio-net", "linux" + round, dir).toUri());
        }
        LinuxGuestIT.awaitConsole(console, Pattern.compile("BUNDLEVISOR-TEST-END rc=0"), RUN);
        shell.println("vm:close lxnet");
        platform.await(Pattern.compile("closed lxnet"), Duration.ofSeconds(30));
        String out = LinuxGuestIT.read(console);
        assertTrue(out, out.contains(" 0% packet loss"));
        List<String> hashes = VhostUserNetQemuIT.hashes(out.lines().toList());
        assertEquals(out, 2, hashes.size());
        assertEquals("the host received what the guest sent\n" + out, hashes.get(0),
                VhostUserNetQemuIT.sha256(upload));
        assertEquals("the guest received what the host sent\n" + out,
                VhostUserNetQemuIT.sha256(download), hashes.get(1));
        assertTrue(sender.waitFor(10, TimeUnit.SECONDS));
        java.util.regex.Matcher before = Pattern.compile("BV-CARRIER-BEFORE (\\d+)").matcher(out);
        java.util.regex.Matcher after = Pattern.compile("BV-CARRIER-AFTER (\\d+)").matcher(out);
        assertTrue(out, before.find() && after.find());
        assertEquals("the guest's link never changed\n" + out, before.group(1), after.group(1));
        List<Integer> handovers = VhostUserQemuIT.handoverMillis(platform);
        assertEquals("three handovers\n" + platform.text(), 3, handovers.size());
        assertTrue(platform.text(), !platform.text().contains("DEVICE_NEEDS_RESET"));
        VhostUserQemuIT.assertNoKernelErrors(out);
        System.err.printf("LinuxNetIT: booted, pinged and moved %d MiB each way in %.1f s, across a stop and start "
                + "and two updates of the virtio-net bundle (handovers of %s ms; carrier_changes %s before and after)%n",
                MIB, (System.nanoTime() - t0) / 1e9, handovers, before.group(1));
    }

    /** Waits until the host has received {@code bytes} of the guest's upload. */
    private static void awaitSize(Path upload, long bytes, Path console) throws Exception {
        long deadline = System.nanoTime() + RUN.toNanos();
        while (!Files.exists(upload) || Files.size(upload) < bytes) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the upload did not reach " + bytes + " bytes\n" + LinuxGuestIT.read(console));
            }
            Thread.sleep(200);
        }
    }
}
