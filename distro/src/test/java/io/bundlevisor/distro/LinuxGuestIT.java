package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.After;
import org.junit.Assume;
import org.junit.Before;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * Linux on our own VMM: the exported jar boots {@link LinuxGuest} (the stock kernel where the CPU has VMX/SVM, else
 * the minimal kernel) with a virtio-blk disk, and Linux's own drivers ({@code virtio_mmio} finding our window in
 * the DSDT, {@code virtio_blk}) drive our transport, worker and device bundle. /init runs {@code bv-blk-test} and
 * powers off through our ACPI tables; the host then recomputes from the image what the guest wrote.
 *
 * <p>Each boot costs about a minute on a software KVM, so the cases are few: one disk end to end, and the device
 * bundle stopped and started from the shell under the running guest.
 */
public class LinuxGuestIT {

    private static final long IMAGE_BYTES = 64L << 20;
    private static final long SECTORS = IMAGE_BYTES / 512;
    private static final int ACKED_SEED = 0xaced;
    private static final Duration BOOT = Duration.ofSeconds(150);
    private static final Pattern FAILURE = Pattern.compile("BV-FAIL|Kernel panic|Oops|BUG:|vm stopped: internal error");
    /** What ends a wait on a console file: the guest's own checks may fail there on purpose. */
    private static final Pattern KERNEL_FAILURE = Pattern.compile("Kernel panic|Oops|BUG:");

    private Path dir;
    private final List<AutoCloseable> open = new ArrayList<>();

    @BeforeClass
    public static void which() {
        if (!Files.exists(Path.of("/dev/kvm"))) {
            System.err.println("*** SKIPPING LinuxGuestIT: /dev/kvm does not exist on this host ***");
        }
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        System.err.println("LinuxGuestIT: booting " + LinuxGuest.describe() + ": " + LinuxGuest.kernel());
    }

    @Before
    public void setUp() throws IOException {
        Files.createDirectories(Path.of("target"));
        dir = Files.createTempDirectory(Path.of("target"), "linux-it-");
    }

    @After
    public void tearDown() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            try {
                open.get(i).close();
            } catch (Exception e) {
                System.err.println("LinuxGuestIT: closing: " + e);
            }
        }
        VhostUserQemuIT.delete(dir);
    }

    /**
     * {@code bundlevisor run} with a disk: Linux finds it, checks its size and serial, writes a pattern through the
     * page cache, syncs, drops the caches, reads it back buffered and with O_DIRECT, and powers off: exit status 0.
     * The image holds the pattern.
     */
    @Test(timeout = 240_000)
    public void linuxWritesAndReadsBackOurDiskAndPowersOff() throws Exception {
        Path image = image("one.img");
        long t0 = System.nanoTime();
        QemuGuest.Console vm = run(List.of("--cpus", "1", "--memory", "256M", "--disk", image + ",serial=lx-1",
                "--cmdline", LinuxGuest.cmdline() + " bv.test=\"bv-blk-test check vda " + SECTORS + " lx-1"
                        + " && bv-blk-test pattern vda 4663 2\""));
        double up = uptime(vm.await(Pattern.compile("BUNDLEVISOR-GUEST-UP uptime=([0-9.]+)"), BOOT));
        double userspace = (System.nanoTime() - t0) / 1e9;
        vm.await(Pattern.compile("BUNDLEVISOR-TEST-END rc=0"), BOOT);
        vm.awaitEnd(Duration.ofSeconds(60));
        Process p = vm.process();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(vm.text(), 0, p.exitValue());
        assertOk(vm, "check size=" + SECTORS + " serial=lx-1 ro=0", "pattern seed=4663 mib=2");
        assertTrue(vm.text(), vm.lines().stream().anyMatch(l -> l.contains("virtio_blk virtio0: [vda] " + SECTORS
                + " 512-byte logical blocks")) || LinuxGuest.hardware());
        assertFalse(vm.text(), vm.lines().stream().anyMatch(l -> FAILURE.matcher(l).find()));
        VhostUserQemuIT.assertImage(image, 4663, 0, 2 * 256);
        System.err.printf("LinuxGuestIT: userspace %.1f s after the kernel started (%.1f s after the launch), "
                + "test done and powered off %.1f s after the launch%n", up, userspace, (System.nanoTime() - t0) / 1e9);
    }

    /**
     * Crash consistency under Linux on our VMM (issue 16 §3): the whole platform process is SIGKILLed right after
     * Linux's flush of a write completed (bv-blk-test acked: an O_DIRECT write, fsync, then BV-ACK i), at a point
     * chosen at random; every write Linux saw flushed is in the image.
     */
    @Test(timeout = 3_600_000) // a hang guard for bench/crash-bench.sh's rounds; one round takes 40-80 s here
    public void aKilledPlatformKeepsEveryWriteLinuxSawFlushed() throws Exception {
        Path image = image("killed.img");
        java.util.Random random = new java.util.Random();
        for (int round = 1; round <= VhostUserQemuIT.CRASH_ROUNDS; round++) {
            // Each round's run opens the image the killed one held.
            QemuGuest.Console vm = run(List.of("--cpus", "1", "--memory", "256M", "--disk", image + ",serial=lx-k",
                    "--cmdline", LinuxGuest.cmdline() + " bv.test=\"bv-blk-test acked vda\""));
            int killAt = 2 + random.nextInt(6);
            vm.await(Pattern.compile("\\bBV-ACK " + killAt + "\\b"), BOOT);
            Process p = vm.process();
            p.destroyForcibly(); // SIGKILL of the java process that runs the platform
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            vm.awaitEnd(Duration.ofSeconds(10));
            int acked = VhostUserQemuIT.lastAck(vm.lines());
            assertTrue(vm.text(), acked >= killAt);
            System.err.println("crash round " + round + " of " + VhostUserQemuIT.CRASH_ROUNDS + ": Linux on our VMM"
                    + " killed after BV-ACK " + killAt + ", Linux saw " + acked + " flushed: consistent");
            VhostUserQemuIT.assertImage(image, ACKED_SEED, 0, acked + 1);
        }
    }

    /**
     * Two vCPUs and a disk with two queues, from the platform's shell: Linux brings up its second CPU (INIT/SIPI
     * through our LAPIC), makes two hardware queues, and a writer pinned to each CPU completes on each queue
     * (vm:devices counts per queue; virtio-mmio has one interrupt line per device, which both queues'
     * completions take). The host checks what both wrote.
     */
    @Test(timeout = 300_000)
    public void twoVcpusAndTwoQueues() throws Exception {
        Path image = image("two.img");
        Path console = dir.resolve("smp.console.log");
        Shell sh = shell();
        QemuGuest.Console platform = sh.output();
        PrintStream shell = sh.input();
        shell.println(vmRun("smp", 2, image + ",serial=lx-3,queues=2", console, "bv-blk-test check vda " + SECTORS
                + " lx-3 && bv-blk-test queues vda 2 && bv-blk-test percpu vda 4664"));
        platform.await(Pattern.compile("started smp "), Duration.ofSeconds(30));
        awaitConsole(console, Pattern.compile("BUNDLEVISOR-TEST-END rc=0"), BOOT.multipliedBy(2));
        String out = read(console);
        for (String ok : List.of("check size=" + SECTORS + " serial=lx-3", "queues 2", "percpu cpus=2 seed=4664")) {
            assertTrue("BV-OK " + ok + "\n" + tail(out), out.contains("BV-OK " + ok));
        }
        shell.println("vm:devices smp");
        java.util.regex.MatchResult q = platform.await(Pattern.compile("smp/virtio-blk0\\s.*\\sq0=(\\d+) q1=(\\d+)"),
                Duration.ofSeconds(30));
        long q0 = Long.parseLong(q.group(1));
        long q1 = Long.parseLong(q.group(2));
        assertTrue("both queues completed requests: q0=" + q0 + " q1=" + q1, q0 > 0 && q1 > 0);
        // The guest powers off just after its last line: ask until vm:list shows the halt.
        awaitShell(sh, "vm:list", Pattern.compile("^\\s*smp\\s+2\\s+256M\\s+\\S+\\s+\\S+ \\d+\\s+power off\\s*$"),
                Duration.ofSeconds(60));
        shell.println("vm:close smp");
        platform.await(Pattern.compile("closed smp"), Duration.ofSeconds(30));
        VhostUserQemuIT.assertImage(image, 4664, 0, 2 * 64);
        System.err.println("LinuxGuestIT: two vCPUs up; request queue completions q0=" + q0 + " q1=" + q1);
    }

    /**
     * The device bundle stopped and started, then updated twice (rebuilt jars with other bundle versions), from the
     * platform's shell while Linux writes to the disk: each time the device is handed over to the next bundle and
     * Linux does not notice. Its writes stall while no bundle provides the device and go on after; its kernel logs no
     * error, reset or resize; the device's status never shows DEVICE_NEEDS_RESET; every write Linux saw acknowledged
     * is in the image.
     */
    @Test(timeout = 300_000)
    public void deviceBundleStoppedStartedAndUpdatedUnderLinuxGoesUnnoticed() throws Exception {
        Path image = image("update.img");
        Path console = dir.resolve("lx.console.log");
        Shell sh = shell();
        QemuGuest.Console platform = sh.output();
        PrintStream shell = sh.input();
        shell.println("lb -s");
        String id = platform.await(
                Pattern.compile("(\\d+)\\|Active\\s*\\|\\s*\\d+\\|io\\.bundlevisor\\.device\\.virtio-blk "),
                Duration.ofSeconds(60)).group(1);
        shell.println(vmRun("lx", 1, image + ",serial=lx-2", console,
                "(bv-blk-test acked vda &); while :; do echo BV-ALIVE; sleep 1; done"));
        platform.await(Pattern.compile("started lx "), Duration.ofSeconds(30));
        awaitConsole(console, Pattern.compile("BV-ACK 3\\b"), BOOT);

        shell.println("stop " + id);
        shell.println("vm:devices lx");
        platform.await(Pattern.compile("lx/virtio-blk0\\s+virtio-blk\\s+handover\\s"), Duration.ofSeconds(30));
        int stopped = lastAck(console);
        int alive = count(console, "BV-ALIVE");
        awaitConsole(console, Pattern.compile("BV-ALIVE"), alive + 2, Duration.ofSeconds(60));
        assertTrue("Linux's writes stall while no bundle provides the device: " + stopped + " then "
                + lastAck(console), lastAck(console) <= stopped + 1);
        shell.println("start " + id);
        awaitConsole(console, Pattern.compile("BV-ACK " + (lastAck(console) + 2) + "\\b"), Duration.ofSeconds(90));
        for (int round = 1; round <= 2; round++) {
            Path jar = UpdatedBundle.of("device.virtio-blk", "linux" + round, dir);
            shell.println("update " + id + " " + jar.toUri());
            awaitConsole(console, Pattern.compile("BV-ACK " + (lastAck(console) + 2) + "\\b"), Duration.ofSeconds(90));
        }
        shell.println("vm:devices lx");
        java.util.regex.MatchResult bound = platform.await(
                Pattern.compile("lx/virtio-blk0\\s+virtio-blk\\s+yes\\s+0x([0-9a-f]+)\\s+\\d+\\s+\\d+\\s+(\\d+)\\s"),
                Duration.ofSeconds(30));
        assertEquals("DRIVER_OK and nothing else new: status 0x" + bound.group(1), 0x0f,
                Integer.parseInt(bound.group(1), 16));
        assertEquals("no DEVICE_NEEDS_RESET was ever set", "0", bound.group(2));
        shell.println("vm:close lx");
        platform.await(Pattern.compile("closed lx"), Duration.ofSeconds(30));
        String out = read(console);
        VhostUserQemuIT.assertNoKernelErrors(out);
        int acked = lastAck(console);
        System.err.println("LinuxGuestIT: the blk bundle stopped, started and updated twice under Linux, unnoticed; "
                + "handovers of " + handoverMillis(platform) + " ms; " + (acked + 1) + " acknowledged blocks");
        VhostUserQemuIT.assertImage(image, ACKED_SEED, 0, acked + 1);
    }

    /** How long each handover the platform logged took, in ms. */
    static List<Integer> handoverMillis(QemuGuest.Console platform) {
        return VhostUserQemuIT.handoverMillis(platform);
    }

    // ---- the VMM process

    private Process jar(List<String> properties) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path jar = Path.of("target", "bundlevisor.jar");
        assertTrue("the distro jar is built in package, before integration tests", Files.isRegularFile(jar));
        List<String> command = new ArrayList<>(List.of(java, "--illegal-native-access=deny",
                "--sun-misc-unsafe-memory-access=allow", "-Dbundlevisor.log.level=warn"));
        command.addAll(properties);
        command.addAll(List.of("-jar", jar.toString()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        open.add(() -> {
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        });
        return p;
    }

    /** The platform with its Gogo shell: commands go to {@code input}, what it prints comes in {@code output}. */
    private record Shell(QemuGuest.Console output, PrintStream input) {
    }

    private Shell shell() throws IOException {
        // The handovers' own lines (INFO) say how long each took; a shell keeps its log lines off the terminal unless
        // a file is named.
        // Two workers for a two-queue disk even where the host has no CPU to spare beside two vCPUs (the default
        // there is one): Linux's blk-mq drives both queues at once, each on its own worker.
        Process p = jar(List.of("-Dbundlevisor.log.loggers=io.bundlevisor.core.internal.virtio.Binding=info",
                "-Dbundlevisor.log.file=/dev/stderr", "-Dbundlevisor.virtio.workersPerDevice=2"));
        return new Shell(new QemuGuest.Console("platform", p, null),
                new PrintStream(p.getOutputStream(), true, StandardCharsets.UTF_8));
    }

    /** The shell's vm:run of the Linux guest with 256 MiB, a disk, its console in a file and /init running test. */
    private static String vmRun(String name, int cpus, String disk, Path console, String test) {
        return "vm:run " + name + " --kernel " + LinuxGuest.kernel().toAbsolutePath() + " --initrd "
                + LinuxGuest.initrd().toAbsolutePath() + " --cpus " + cpus + " --memory 256M --disk " + disk
                + " --console file:" + console + " --cmdline '" + LinuxGuest.cmdline() + " bv.test=\"" + test + "\"'";
    }

    /** Sends {@code command} every 2 s until the shell's output shows {@code marker}. */
    private static void awaitShell(Shell sh, String command, Pattern marker, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            sh.input().println(command);
            try {
                sh.output().await(marker, Duration.ofSeconds(2));
                return;
            } catch (AssertionError e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
            }
        }
    }

    /** {@code bundlevisor run ARGS} with the guest's console on the process's stdout. */
    private QemuGuest.Console run(List<String> args) throws IOException {
        List<String> all = new ArrayList<>(List.of("--kernel", LinuxGuest.kernel().toString(), "--initrd",
                LinuxGuest.initrd().toString(), "--name", "lx"));
        all.addAll(args);
        Process p = jar(List.of("-Dbundlevisor.run=" + String.join("\u001f", all), DistroJar.NO_SHELL));
        p.getOutputStream().close();
        return new QemuGuest.Console("bundlevisor run", p, FAILURE);
    }

    private Path image(String name) throws IOException {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(IMAGE_BYTES);
        }
        return p;
    }

    // ---- the guest's output

    private static double uptime(java.util.regex.MatchResult m) {
        return Double.parseDouble(m.group(1));
    }

    private static void assertOk(QemuGuest.Console vm, String... checks) {
        for (String check : checks) {
            assertTrue("BV-OK " + check + "\n" + vm.text(),
                    vm.lines().stream().anyMatch(l -> l.contains("BV-OK " + check)));
        }
    }

    static String read(Path console) throws IOException {
        return Files.exists(console) ? Files.readString(console, StandardCharsets.ISO_8859_1) : "";
    }

    private static int count(Path console, String word) throws IOException {
        return (int) Pattern.compile("\\b" + word + "\\b").matcher(read(console)).results().count();
    }

    private static int lastAck(Path console) throws IOException {
        return VhostUserQemuIT.lastAck(read(console).lines().toList());
    }

    static Matcher awaitConsole(Path console, Pattern marker, Duration timeout) throws Exception {
        awaitConsole(console, marker, 1, timeout);
        Matcher m = marker.matcher(read(console));
        if (!m.find()) {
            throw new AssertionError("lost " + marker);
        }
        return m;
    }

    /** Waits until the console file holds {@code times} matches of {@code marker}. */
    private static void awaitConsole(Path console, Pattern marker, int times, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String text = read(console);
            if (marker.matcher(text).results().count() >= times) {
                return;
            }
            Matcher failed = KERNEL_FAILURE.matcher(text);
            if (failed.find()) {
                throw new AssertionError("the guest failed (" + failed.group() + ") before " + marker + ":\n"
                        + tail(text));
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no " + marker + " (x" + times + ") on the console in " + timeout.toSeconds()
                        + " s:\n" + tail(text));
            }
            Thread.sleep(200);
        }
    }

    private static String tail(String text) {
        return text.length() <= 6000 ? text : text.substring(text.length() - 6000);
    }
}
