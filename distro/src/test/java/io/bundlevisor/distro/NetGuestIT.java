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
 * queue (VQ_PAIRS_SET 9 refused, 2 taken), each pair carrying its own UDP exchange, the reply on its own pair.
 */
public class NetGuestIT {

    private static final Path GUESTS = Path.of("..", "platform.kvm", "target", "guests");
    private NetNamespace ns;

    @Before
    public void setUp() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        ns = NetNamespace.create("bvg");
        ns.tap("bvg0", "10.80.0.1/24");
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
        List<String> args = List.of("--kernel", guest.toString(), "--memory", "64M", "--net", "tap=bvg0,queues=2",
                "--cmdline", "net.ip=10.80.0.2 net.host=10.80.0.1 net.port=7000 net.pairs=2");
        Process p = ns.start(DistroJar.command("warn", List.of("-Dbundlevisor.run=" + String.join("\u001f", args),
                "-Dgosh.args=--nointeractive")));
        QemuGuest.Console vm = new QemuGuest.Console("bundlevisor run", p, Pattern.compile("NET-FAIL"));
        vm.await(Pattern.compile("NET-OK pairs"), Duration.ofSeconds(60));
        vm.awaitEnd(Duration.ofSeconds(30));
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(vm.text(), 0, p.exitValue());
        String out = vm.text();
        for (String ok : List.of("NET-OK arp host-mac=", "NET-OK icmp bytes=64", "NET-OK udp pair=0 bytes=520",
                "NET-OK udp pair=1 bytes=520")) {
            assertTrue(ok + "\n" + out, out.contains(ok));
        }
        assertFalse(out, out.contains("NET-FAIL"));
        assertEquals("three datagrams reached the host\n" + echoes.text(), 3,
                echoes.lines().stream().filter(l -> l.startsWith("udp-echo 512 bytes from /10.80.0.2:")).count());
    }
}
