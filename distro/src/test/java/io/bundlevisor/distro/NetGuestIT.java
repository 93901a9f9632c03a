package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.junit.After;
import org.junit.Assume;
import org.junit.Before;
import org.junit.Test;

/**
 * The C test guest's virtio-net driver ({@code platform.kvm/src/guest/net.c}) on our VMM, against the host's own
 * stack on the other side of a tap in a namespace the test makes: ARP answered, an ICMP echo with our payload and
 * checksums, a UDP datagram with its checksum echoed back ({@link UdpEcho}), then two queue pairs through the control
 * queue (VQ_PAIRS_SET 9 refused, 2 taken), each pair carrying its own UDP exchange at the same time from its own vCPU
 * (pair 1 from vCPU 1), the reply on its own pair; last, a
 * 60,000-byte TCP frame with HOST_TSO4 (gso_size 1448), which the host forwards out of a second tap without offloads
 * ({@link TapReader}), so the host's stack cuts it into segments there: 42 of them, none over 1448 bytes of payload,
 * their sequence numbers following on.
 */
public class NetGuestIT {

    private static final Path GUESTS = Path.of("..", "platform.kvm", "target", "guests");
    private NetNamespace ns;

    @Before
    public void setUp() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        ns = NetNamespace.create("bvg");
        ns.tap("bvg0", "10.80.0.1/24");
        // Where the TSO frame goes: forwarded out of bvo0 to a neighbour that needs no ARP.
        ns.run("ip", "tuntap", "add", "bvo0", "mode", "tap");
        ns.run("ip", "addr", "add", "10.81.0.1/24", "dev", "bvo0");
        ns.run("ip", "link", "set", "bvo0", "up");
        ns.run("ip", "neigh", "add", "10.81.0.2", "lladdr", "02:00:00:00:00:77", "dev", "bvo0", "nud", "permanent");
        ns.run("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward");
    }

    @After
    public void tearDown() throws Exception {
        if (ns != null) {
            ns.close();
        }
    }

    @Test(timeout = 120_000)
    public void arpIcmpUdpAndTwoPairs() throws Exception {
        Path guest = GUESTS.resolve("net.elf");
        assertTrue(guest + " is built by platform.kvm's tests", Files.isRegularFile(guest));
        String java = ProcessHandle.current().info().command().orElse("java");
        Process echo = ns.start(List.of(java, "-cp", Path.of("target", "test-classes").toAbsolutePath().toString(),
                UdpEcho.class.getName(), "10.80.0.1", "7000"));
        QemuGuest.Console echoes = new QemuGuest.Console("udp echo", echo, null);
        echoes.await(Pattern.compile("udp-echo listening"), Duration.ofSeconds(30));
        Process reader = ns.start(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), TapReader.class.getName(), "bvo0", "90"));
        QemuGuest.Console segments = new QemuGuest.Console("tap reader", reader, null);
        segments.await(Pattern.compile("tap-reader ready"), Duration.ofSeconds(30));
        List<String> args = List.of("--kernel", guest.toString(), "--memory", "64M", "--cpus", "2",
                "--net", "tap=bvg0,queues=2",
                "--cmdline", "net.ip=10.80.0.2 net.host=10.80.0.1 net.port=7000 net.pairs=2 net.tso=10.81.0.2");
        Process p = ns.start(DistroJar.command("warn", List.of("-Dbundlevisor.run=" + String.join("\u001f", args),
                DistroJar.NO_SHELL)));
        QemuGuest.Console vm = new QemuGuest.Console("bundlevisor run", p, Pattern.compile("NET-FAIL"));
        vm.await(Pattern.compile("NET-OK tso sent"), Duration.ofSeconds(60));
        vm.awaitEnd(Duration.ofSeconds(30));
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(vm.text(), 0, p.exitValue());
        String out = vm.text();
        for (String ok : List.of("NET-OK arp host-mac=", "NET-OK icmp bytes=64", "NET-OK udp pair=0 bytes=520",
                "NET-OK udp pair=1 cpu=1 bytes=520", "NET-OK udp pair=0 cpu=0 bytes=520", "NET-OK pairs")) {
            assertTrue(ok + "\n" + out, out.contains(ok));
        }
        assertFalse(out, out.contains("NET-FAIL"));
        assertEquals("three datagrams reached the host\n" + echoes.text(), 3,
                echoes.lines().stream().filter(l -> l.startsWith("udp-echo 512 bytes from /10.80.0.2:")).count());
        // The TSO frame, cut by the host into MSS-sized segments that follow on from one another.
        segments.await(Pattern.compile("tap-reader tcp .*seq=" + (0x10000000L + 60_000 - 60_000 % 1448)),
                Duration.ofSeconds(30));
        List<long[]> tcp = segments.lines().stream().filter(l -> l.startsWith("tap-reader tcp ")).map(l -> {
            java.util.regex.Matcher m = Pattern.compile("frame=(\\d+) payload=(\\d+) seq=(\\d+)").matcher(l);
            assertTrue(l, m.find());
            return new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3))};
        }).toList();
        assertEquals(segments.text(), 42, tcp.size());
        long expectSeq = 0x10000000L;
        long payload = 0;
        for (long[] t : tcp) {
            assertTrue(segments.text(), t[1] <= 1448 && t[0] <= 1514);
            assertEquals(segments.text(), expectSeq, t[2]);
            expectSeq += t[1];
            payload += t[1];
        }
        assertEquals(segments.text(), 60_000, payload);
    }
}
