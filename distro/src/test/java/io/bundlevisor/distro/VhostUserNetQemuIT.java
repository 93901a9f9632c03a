package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TestWatcher;
import org.junit.runner.Description;

/**
 * Our vhost-user-net back-end ({@code bundlevisor serve --net}: the exported jar serving a virtio-net device on a tap)
 * under a real front-end: {@code qemu-system-x86_64} with TCG, booting the guest kit's Debian kernel, whose
 * {@code virtio_net} driver drives our queues. The tap lives in a network namespace the test makes, with an address;
 * the back-end runs inside it, and so does busybox {@code nc} on the host side: nothing leaves the machine.
 */
public class VhostUserNetQemuIT {

    private static final String HOST_IP = "10.77.0.1";
    private static final String GUEST_IP = "10.77.0.2";
    private static final String TAP = "bvq0";
    private static final int MIB = 32;
    private static final Duration BACKEND_START = Duration.ofSeconds(60);
    private static final Duration GUEST_RUN = Duration.ofSeconds(90);
    private static final Pattern HASH = Pattern.compile("^([0-9a-f]{64})  (\\S+)$");

    private Path dir;
    private Path socketDir;
    private NetNamespace ns;
    private final List<AutoCloseable> open = new ArrayList<>();
    private QemuGuest.Console backendOutput;

    @Rule
    public final TestWatcher backendLog = new TestWatcher() {
        @Override
        protected void failed(Throwable e, Description description) {
            if (backendOutput != null) {
                System.err.println(description.getMethodName() + ": " + backendOutput.text());
            }
        }
    };

    @Before
    public void setUp() throws Exception {
        QemuGuest.binary();
        QemuGuest.kernel();
        QemuGuest.initrd();
        Files.createDirectories(Path.of("target"));
        dir = Files.createTempDirectory(Path.of("target"), "vhost-net-it-");
        socketDir = Files.createTempDirectory("bv-vnet-");
        ns = NetNamespace.create("bvq");
        ns.tap(TAP, HOST_IP + "/24");
    }

    @After
    public void tearDown() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            try {
                open.get(i).close();
            } catch (Exception e) {
                System.err.println("VhostUserNetQemuIT: closing: " + e);
            }
        }
        if (ns != null) {
            ns.close();
        }
        VhostUserQemuIT.delete(dir);
        VhostUserQemuIT.delete(socketDir);
    }

    /**
     * Two queue pairs on two vCPUs: the guest sets its address, pings the host, sends 32 MiB over TCP from CPU 0 and
     * receives 32 MiB on CPU 1 (so each flow's packets use their own pair), sha256 compared on both ends; every one
     * of the four queues carried traffic.
     */
    @Test(timeout = 180_000)
    public void twoPairsCarryTcpBothWays() throws Exception {
        Path download = randomFile("download.bin", MIB, 0x5eed);
        String downloadHash = sha256(download);
        Path socket = backend(2);
        // The host end: the upload's sha256 goes back to the guest over the same connection; the download is sent.
        ns.start(List.of("busybox", "nc", "-l", "-p", "5001", "-e", "sha256sum"));
        ns.start(List.of("busybox", "nc", "-l", "-p", "5002", "-e", "cat", download.toAbsolutePath().toString()));
        QemuGuest guest = QemuGuest.start(2, guestSetup(GUEST_IP, HOST_IP)
                + " && dd if=/dev/urandom of=/tmp/up bs=1M count=" + MIB + " 2>/dev/null && sha256sum /tmp/up"
                + " && taskset 1 nc " + HOST_IP + " 5001 < /tmp/up"
                + " && taskset 2 nc " + HOST_IP + " 5002 < /dev/null | sha256sum",
                QemuGuest.vhostUserNet(socket, 2));
        open.add(guest);
        guest.awaitSuccess(GUEST_RUN);
        assertTrue(guest.text(), guest.text().contains(" 0% packet loss"));
        List<String> hashes = hashes(guest.lines());
        assertEquals(guest.text(), 3, hashes.size());
        assertEquals("the host received what the guest sent\n" + guest.text(), hashes.get(0), hashes.get(1));
        assertEquals("the guest received what the host sent\n" + guest.text(), downloadHash, hashes.get(2));
        long[] perQueue = chainsPerQueue();
        assertEquals(backendOutput.text(), 4, perQueue.length);
        for (int q = 0; q < perQueue.length; q++) {
            assertTrue("queue " + q + " carried traffic: " + java.util.Arrays.toString(perQueue), perQueue[q] > 0);
        }
    }

    /**
     * The device bundle stopped and started, then updated five times (each a rebuilt jar with another bundle
     * version) from the back-end's shell while the guest downloads 32 MiB over TCP (paced by the host, about 13 s)
     * and pings the host four times a second; QEMU runs without {@code reconnect}. Each time the device is handed
     * over: the tap with its queues stays, the guest's link never changes (its {@code carrier_changes} count stays),
     * no ping is lost, QEMU keeps its one connection, and the download's sha256 matches the host's.
     */
    @Test(timeout = 240_000)
    public void deviceBundleStoppedStartedAndUpdatedFiveTimesUnderTcpWithoutAReconnect() throws Exception {
        Path download = randomFile("paced.bin", MIB, 0xf10e);
        String hash = sha256(download);
        Path socket = socketDir.resolve("net.sock");
        List<String> command = new ArrayList<>(backendCommand(socket, 1));
        command.remove(DistroJar.NO_SHELL); // the shell (start level 1000) reads our commands from stdin
        Process p = ns.startWithInput(command);
        backendOutput = new QemuGuest.Console("backend", p, null);
        backendOutput.await(Pattern.compile("bundlevisor: serving virtio-net on " + Pattern.quote(socket.toString())),
                BACKEND_START);
        java.io.PrintStream shell = new java.io.PrintStream(p.getOutputStream(), true,
                java.nio.charset.StandardCharsets.UTF_8);
        shell.println("lb -s");
        String id = backendOutput.await(
                Pattern.compile("(\\d+)\\|Active\\s*\\|\\s*\\d+\\|io\\.bundlevisor\\.device\\.virtio-net "),
                Duration.ofSeconds(20)).group(1);
        // 1 MiB every 0.4 s, so the flow outlives six bundle changes.
        ns.start(List.of("busybox", "nc", "-l", "-p", "5003", "-e", "sh", "-c", "for i in $(seq 0 " + (MIB - 1)
                + "); do dd if=" + download.toAbsolutePath() + " bs=1M skip=$i count=1 2>/dev/null; sleep 0.4; done"));
        QemuGuest guest = QemuGuest.start(1, guestSetup(GUEST_IP, HOST_IP)
                + " && echo BV-CARRIER-BEFORE $(cat /sys/class/net/eth0/carrier_changes)"
                + " && { ping -c 60 -i 0.25 " + HOST_IP + " > /tmp/ping 2>&1 & }"
                + " && echo BV-FLOW-START && nc " + HOST_IP + " 5003 < /dev/null | sha256sum"
                + " && wait && tail -n 2 /tmp/ping"
                + " && echo BV-CARRIER-AFTER $(cat /sys/class/net/eth0/carrier_changes)",
                QemuGuest.vhostUserNet(socket, 1, false));
        open.add(guest);
        guest.await(Pattern.compile("BV-FLOW-START"), GUEST_RUN);
        Thread.sleep(1000);
        // The device's own counters, per queue, in the platform's listing and in the bundle's.
        shell.println("virtio:devices");
        backendOutput.await(Pattern.compile("^\\s+rx0 packets=[1-9]\\d* bytes=\\d+ drops=0 errors=0 pending=\\d+$"),
                Duration.ofSeconds(20));
        shell.println("net:list");
        backendOutput.await(Pattern.compile("tap=" + TAP + " mac=\\S+ link=up mtu=1500 pairs=1/1"), Duration.ofSeconds(20));
        shell.println("stop " + id);
        awaitBackendLines("handing over, the frontend's IO waits", 1);
        Thread.sleep(500);
        shell.println("start " + id);
        awaitBackendLines("handed over to the next bundle in", 1);
        for (int round = 1; round <= 5; round++) {
            Thread.sleep(1000);
            shell.println("update " + id + " " + UpdatedBundle.of("device.virtio-net", "update" + round, dir).toUri());
            awaitBackendLines("handed over to the next bundle in", 1 + round);
        }
        guest.awaitSuccess(GUEST_RUN);
        List<String> hashes = hashes(guest.lines());
        assertEquals(guest.text(), 1, hashes.size());
        assertEquals("the flow completed across the bundle's stop, start and five updates\n" + guest.text(), hash,
                hashes.get(0));
        assertTrue("no ping was lost\n" + guest.text(), guest.text().contains("60 packets transmitted, 60 packets "
                + "received, 0% packet loss"));
        String before = value(guest, "BV-CARRIER-BEFORE");
        assertEquals("the guest's link never changed\n" + guest.text(), before, value(guest, "BV-CARRIER-AFTER"));
        String backend = backendOutput.text();
        assertEquals("QEMU connected once\n" + backend, 1,
                backendOutput.lines().stream().filter(l -> l.contains(" connected")).count());
        assertFalse(backend, backend.contains("frontend is dropped"));
        VhostUserQemuIT.assertNoKernelErrors(guest);
        System.err.println("VhostUserNetQemuIT: handovers of " + VhostUserQemuIT.handoverMillis(backendOutput)
                + " ms; ping 60/60; carrier_changes " + before + " before and after; sha256 " + hash.substring(0, 12));
    }

    /** The word after {@code key} on the guest's console. */
    private static String value(QemuGuest guest, String key) {
        Matcher m = Pattern.compile(Pattern.quote(key) + " (\\S+)").matcher(guest.text());
        assertTrue(key + "\n" + guest.text(), m.find());
        return m.group(1);
    }

    /** Waits until {@code text} is on {@code count} lines of the backend's output. */
    private void awaitBackendLines(String text, int count) throws InterruptedException {
        VhostUserQemuIT.awaitLines(backendOutput, text, count);
    }

    /** The guest's commands before a test: the interface up with its address, and three pings answered. */
    static String guestSetup(String guest, String host) {
        return "ip link set eth0 up && ip addr add " + guest + "/24 dev eth0 && ping -c 3 " + host;
    }

    /** The sha256 lines a guest printed, in order. */
    static List<String> hashes(List<String> lines) {
        List<String> out = new ArrayList<>();
        for (String line : lines) {
            Matcher m = HASH.matcher(line.strip());
            if (m.matches()) {
                out.add(m.group(1));
            }
        }
        return out;
    }

    /** What the back-end logged when the front-end went: chains completed on each queue. */
    private long[] chainsPerQueue() throws InterruptedException {
        java.util.regex.MatchResult m = backendOutput.await(Pattern.compile("chains completed per queue: \\[([0-9, ]+)\\]"),
                Duration.ofSeconds(30));
        return java.util.Arrays.stream(m.group(1).split(",\\s*")).mapToLong(Long::parseLong).toArray();
    }

    /** {@code mib} MiB of seeded random bytes in the test's folder, the same on every run. */
    private Path randomFile(String name, int mib, long seed) throws IOException {
        Path p = dir.resolve(name);
        writeRandom(p, mib, seed);
        return p;
    }

    static void writeRandom(Path p, int mib, long seed) throws IOException {
        byte[] chunk = new byte[1 << 20];
        Random random = new Random(seed);
        try (var out = Files.newOutputStream(p)) {
            for (int i = 0; i < mib; i++) {
                random.nextBytes(chunk);
                out.write(chunk);
            }
        }
    }

    static String sha256(Path file) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (var in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                md.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static List<String> backendCommand(Path socket, int pairs) {
        return DistroJar.command("info", List.of("-Dbundlevisor.serve=" + String.join("\u001f", "--socket",
                socket.toString(), "--net", "tap=" + TAP + ",queues=" + pairs), DistroJar.NO_SHELL));
    }

    /** Starts our back-end inside the namespace, serving the tap with {@code pairs} queue pairs, and waits for it. */
    private Path backend(int pairs) throws Exception {
        Path socket = socketDir.resolve("net.sock");
        Process p = ns.start(backendCommand(socket, pairs));
        backendOutput = new QemuGuest.Console("backend", p, null);
        backendOutput.await(Pattern.compile("^bundlevisor: serving virtio-net on " + Pattern.quote(socket.toString())
                + " \\(vhost-user\\)$"), BACKEND_START);
        return socket;
    }
}
