package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import io.bundlevisor.device.blk.guest.FaultFs;
import io.bundlevisor.device.blk.guest.FullFs;
import io.bundlevisor.device.blk.guest.Host;

import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TestWatcher;
import org.junit.runner.Description;

/**
 * Our vhost-user-blk backend ({@code bundlevisor.serve}: the exported jar serving a virtio-blk disk on a Unix
 * socket) under a real frontend: {@code qemu-system-x86_64} with TCG and shared memfd RAM, booting the guest kit's
 * Debian kernel, whose virtio-blk driver runs {@code /bin/bv-blk-test} ({@code scripts/guest-kit/bv-blk-test}).
 * The host then reads the image file and recomputes what the guest wrote ({@link #pattern}).
 *
 * <p>Needs qemu-system-x86_64 and the guest kit, which {@code scripts/test-deps.sh} installs; neither KVM nor
 * anything else of the host's: QEMU emulates the CPU.
 */
public class VhostUserQemuIT {

    private static final long IMAGE_BYTES = 64L << 20;
    private static final long SECTORS = IMAGE_BYTES / 512;
    private static final int BLOCK = 4096;
    /** The seeds and the mixed area of bv-blk-test (MIXED_SEED, ACKED_SEED, MIXED_BLOCKS, the default BASE_MIB). */
    private static final int MIXED_SEED = 0xb721;
    private static final int ACKED_SEED = 0xaced;
    private static final int MIXED_BASE_MIB = 32;
    private static final int MIXED_BLOCKS = 3168;
    private static final int PATTERN_MIB = 8;

    /** Rounds of the kill tests: 1 in CI; bench/crash-bench.sh asks for 20 ({@code -Dbundlevisor.crash.rounds}). */
    static final int CRASH_ROUNDS = Integer.getInteger("bundlevisor.crash.rounds", 1);

    private static final Duration BACKEND_START = Duration.ofSeconds(60);
    private static final Duration GUEST_RUN = Duration.ofSeconds(60);

    private Path dir;
    private Path socketDir;
    private final List<AutoCloseable> open = new ArrayList<>();
    private QemuGuest.Console backendOutput;
    /** The process {@link #backend} started last. */
    private Process backendProcess;
    /** Its shell's input, when it was started with one. */
    private java.io.PrintStream backendShell;

    /** A failed test shows the backend's output too (QEMU's is in the failure message). */
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
    public void setUp() throws IOException {
        QemuGuest.binary();
        QemuGuest.kernel();
        QemuGuest.initrd();
        Files.createDirectories(Path.of("target"));
        // Images on the build's file system (O_DIRECT); the socket under /tmp, as sun_path holds 108 bytes.
        dir = Files.createTempDirectory(Path.of("target"), "vhost-it-");
        socketDir = Files.createTempDirectory("bv-vhost-");
    }

    @After
    public void tearDown() throws Exception {
        closeOpen();
        delete(dir);
        delete(socketDir);
    }

    /** One queue: size and serial, a pattern through the page cache, the mixed dd load; the host checks both. */
    @Test(timeout = 120_000)
    public void oneQueue() throws Exception {
        Path image = image("one.img");
        Path socket = backend(image + ",serial=bv-vhost-1");
        QemuGuest guest = guest(1, "bv-blk-test check vda " + SECTORS + " bv-vhost-1"
                + " && bv-blk-test pattern vda 4660 " + PATTERN_MIB
                + " && bv-blk-test mixed vda " + MIXED_BASE_MIB, socket, 1);
        guest.awaitSuccess(GUEST_RUN);
        assertOk(guest, "check", "pattern", "mixed");
        assertImage(image, 4660, 0, PATTERN_MIB * 256);
        assertImage(image, MIXED_SEED, MIXED_BASE_MIB * 256L, MIXED_BLOCKS);
    }

    /** Two queues on two vCPUs: Linux makes two hardware queues, and the mixed load interrupts on both. */
    @Test(timeout = 120_000)
    public void twoQueues() throws Exception {
        Path image = image("two.img");
        Path socket = backend(image + ",serial=bv-vhost-2,queues=2");
        QemuGuest guest = guest(2, "bv-blk-test check vda " + SECTORS + " bv-vhost-2"
                + " && bv-blk-test queues vda 2"
                + " && bv-blk-test pattern vda 4661 " + PATTERN_MIB
                + " && bv-blk-test mixed vda " + MIXED_BASE_MIB
                + " && bv-blk-test spread vda 2", socket, 2);
        guest.awaitSuccess(GUEST_RUN);
        assertOk(guest, "check", "queues", "pattern", "mixed", "spread");
        assertImage(image, 4661, 0, PATTERN_MIB * 256);
        assertImage(image, MIXED_SEED, MIXED_BASE_MIB * 256L, MIXED_BLOCKS);
    }

    /**
     * QEMU killed (SIGKILL) while the guest writes: every write the guest saw acknowledged (O_DIRECT, then a
     * flush) is in the image, and a new QEMU on the same backend process and socket reads them all back.
     */
    @Test(timeout = 120_000)
    public void killMidIo() throws Exception {
        Path image = image("kill.img");
        Path socket = backend(image + ",serial=bv-vhost-3");
        QemuGuest first = guest(1, "bv-blk-test acked vda", socket, 1);
        first.await(Pattern.compile("\\bBV-ACK 50\\b"), GUEST_RUN);
        first.kill();
        int acked = lastAck(first.lines());
        assertTrue(first.text(), acked >= 50);
        System.err.println("VhostUserQemuIT.killMidIo: QEMU killed after BV-ACK " + acked);
        assertImage(image, ACKED_SEED, 0, acked + 1);

        QemuGuest second = guest(1, "bv-blk-test check vda " + SECTORS + " bv-vhost-3"
                + " && bv-blk-test verify-acked vda " + acked
                + " && bv-blk-test pattern vda 4662 1", socket, 1);
        second.awaitSuccess(GUEST_RUN);
        assertOk(second, "check", "verify-acked " + acked, "pattern");
        assertImage(image, 4662, 0, 256);
    }

    /**
     * Crash consistency of {@code bundlevisor serve} (issue 16 §3): the whole serving platform process is SIGKILLed
     * right after the guest's flush of a write completed (bv-blk-test acked: an O_DIRECT write, then fsync, then
     * BV-ACK i), at a point chosen at random; every write the guest saw flushed is in the image, and a new
     * back-end takes the image at once (the killed one's lock went with it). bench/crash-bench.sh repeats this kind
     * of kill 20 times with the test guest on our VMM.
     */
    @Test(timeout = 1_800_000) // a hang guard for bench/crash-bench.sh's 20 rounds; one round takes about 10 s
    public void aKilledBackendKeepsEveryFlushedWrite() throws Exception {
        Path image = image("killed.img");
        java.util.Random random = new java.util.Random();
        for (int round = 1; round <= CRASH_ROUNDS; round++) {
            // From the second round on, the back-end that takes the image is the proof that the lock went with the
            // killed one.
            Path socket = backend(image + ",serial=bv-vhost-5");
            QemuGuest guest = QemuGuest.start(1, "bv-blk-test acked vda", QemuGuest.vhostUserBlk(socket, 1),
                    QemuGuest.FAILURE_ON_RECONNECT);
            open.add(guest);
            int killAt = 10 + random.nextInt(40);
            guest.await(Pattern.compile("\\bBV-ACK " + killAt + "\\b"), GUEST_RUN);
            backendProcess.destroyForcibly(); // SIGKILL
            assertTrue(backendProcess.waitFor(10, TimeUnit.SECONDS));
            guest.kill();
            int acked = lastAck(guest.lines());
            assertTrue(guest.text(), acked >= killAt);
            System.err.println("crash round " + round + " of " + CRASH_ROUNDS + ": serve killed after BV-ACK " + killAt
                    + ", the guest saw " + acked + " flushed: consistent");
            assertImage(image, ACKED_SEED, 0, acked + 1);
        }
        backend(image + ",serial=bv-vhost-5"); // the image is free again: a new back-end serves it
    }

    /**
     * In-flight tracking (issue 18, INFLIGHT_SHMFD): {@code bundlevisor serve} SIGKILLed with requests in flight
     * under a guest running the mixed load in a loop (parallel O_DIRECT writers of 512 B to 1 MiB and two readers:
     * requests completing out of order), whose QEMU reconnects ({@code reconnect=1}); a new {@code serve} is started
     * on the same socket and image. The image is served through faultfs (FUSE, no faults here), which is stopped
     * (SIGSTOP) for seconds before the kill, so the back-end's host IO waits and the kill catches requests in flight.
     * QEMU gives the new back-end the in-flight buffer the killed one kept up to date, the back-end takes those
     * requests again first, and the guest's load goes on: each round reads back exactly what it wrote, the guest's
     * kernel logs no IO error or reset, and the host finds the pattern on the image. Three kills.
     */
    @Test(timeout = 300_000)
    public void aKilledBackendRestartedUnderTheGuestLosesNoRequest() throws Exception {
        Path backing = image("restarted.img");
        Path mountpoint = Files.createDirectories(dir.resolve("slowfs"));
        FaultFs fs = FaultFs.mount(backing, mountpoint, (SECTORS + 8) + ":8"); // a range past the disk: no faults
        open.add(fs);
        String mounted = mountpoint.toRealPath().toString();
        long fuse = ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().orElse("").contains(mounted))
                .filter(p -> p.info().command().orElse("").endsWith("faultfs"))
                .findFirst().orElseThrow(() -> new AssertionError("faultfs's process")).pid();
        String disk = fs.image() + ",serial=bv-vhost-6";
        Path socket = backend(disk, false, "info");
        QemuGuest guest = QemuGuest.start(1, "while bv-blk-test mixed vda " + MIXED_BASE_MIB + "; do :; done",
                QemuGuest.vhostUserBlkReconnecting(socket), QemuGuest.FAILURE_ON_RECONNECT);
        open.add(guest);
        guest.await(Pattern.compile("BV-OK mixed"), GUEST_RUN);
        java.util.Random random = new java.util.Random();
        int resubmitted = 0;
        for (int round = 1; round <= 3; round++) {
            long done = mixedRounds(guest);
            // From the end of a round: the next one generates its pattern (seconds under TCG), then reads and writes
            // with many requests at once, which wait on the stopped faultfs: in flight in the back-end.
            signal("STOP", fuse);
            try {
                Thread.sleep(8000 + random.nextInt(1000));
                backendProcess.destroyForcibly(); // SIGKILL
            } finally {
                signal("CONT", fuse); // a request faultfs had already read ends only once it answers
            }
            assertTrue(backendProcess.waitFor(10, TimeUnit.SECONDS));
            backend(disk, false, "info"); // the killed one's image lock went with it
            long deadline = System.nanoTime() + GUEST_RUN.toNanos();
            while (mixedRounds(guest) < done + 2) {
                assertTrue("the guest's load goes on after the restart\n" + guest.text(), System.nanoTime() < deadline);
                assertFalse(guest.text(), guest.text().contains("BV-FAIL"));
                Thread.sleep(50);
            }
            String log = backendOutput.text();
            assertTrue("QEMU gave the new back-end its in-flight buffer\n" + log,
                    log.contains("in-flight tracking in a buffer of 1 queues of"));
            if (log.contains("were in flight; taking them again first")) {
                resubmitted++;
            }
        }
        guest.kill();
        assertFalse(guest.text(), guest.text().contains("BV-FAIL"));
        assertNoKernelErrors(guest);
        assertImage(backing, MIXED_SEED, MIXED_BASE_MIB * 256L, MIXED_BLOCKS);
        System.err.println("VhostUserQemuIT: serve killed and restarted 3 times under the mixed load; requests in "
                + "flight taken again after " + resubmitted + " of the kills");
        assertEquals("every kill caught requests in flight, and they were taken again", 3, resubmitted);
    }

    private static void signal(String name, long pid) throws Exception {
        assertEquals("kill -" + name + " " + pid, 0, new ProcessBuilder("kill", "-" + name, Long.toString(pid))
                .inheritIO().start().waitFor());
    }

    /**
     * The back-end request channel (issue 18, BACKEND_REQ): the served disk changed under the running guest to an
     * image twice as large (the device's update path, {@code VhostService.update}, here called from the serving
     * platform's shell) reaches QEMU as CONFIG_CHANGE_MSG; QEMU 7.2's vhost-user-blk reads the config again and
     * raises the guest's config interrupt, and Linux sees the new capacity, then writes past the old end; the host
     * finds that write in the new image.
     */
    @Test(timeout = 120_000)
    public void aDiskChangedUnderTheGuestShowsItsNewCapacity() throws Exception {
        Path image = image("small.img");
        Path larger = dir.resolve("large.img");
        try (RandomAccessFile f = new RandomAccessFile(larger.toFile(), "rw")) {
            f.setLength(2 * IMAGE_BYTES);
        }
        Path socket = backend(image + ",serial=bv-vhost-7", true);
        QemuGuest guest = guest(1, "bv-blk-test check vda " + SECTORS + " bv-vhost-7 && echo BV-OK ready"
                + " && while [ $(cat /sys/block/vda/size) -eq " + SECTORS + " ]; do sleep 0.2; done"
                + " && echo BV-OK resized $(cat /sys/block/vda/size)"
                + " && bv-blk-test pattern vda 4663 1"
                + " && dd if=/dev/zero bs=4096 count=1 status=none | tr '\\000' 'Z'"
                + " | dd of=/dev/vda bs=4096 seek=" + (2 * IMAGE_BYTES / BLOCK - 1) + " oflag=direct status=none"
                + " && echo BV-OK wrote-the-last-block", socket, 1);
        guest.await(Pattern.compile("BV-OK ready"), GUEST_RUN);
        backendShell.println("svc = $.context service ($.context serviceReference io.bundlevisor.vhost.VhostService)");
        backendShell.println("$svc update ((new java.io.File " + socket + ") toPath) \"" + larger
                + ",serial=bv-vhost-7\"");
        guest.awaitSuccess(GUEST_RUN);
        assertOk(guest, "resized " + 2 * SECTORS, "pattern", "wrote-the-last-block");
        assertNoKernelErrors(guest);
        assertImage(larger, 4663, 0, 256);
        try (RandomAccessFile f = new RandomAccessFile(larger.toFile(), "r")) {
            byte[] last = new byte[BLOCK];
            f.seek(2 * IMAGE_BYTES - BLOCK);
            f.readFully(last);
            byte[] zs = new byte[BLOCK];
            Arrays.fill(zs, (byte) 'Z');
            assertTrue("the guest's write past the old end is in the new image", Arrays.equals(zs, last));
        }
    }

    private static long mixedRounds(QemuGuest guest) {
        return guest.lines().stream().filter(l -> l.contains("BV-OK mixed")).count();
    }

    /**
     * The device bundle stopped and started, then updated five times (each a rebuilt jar with another bundle
     * version) from the platform's shell while the guest writes, QEMU connected without {@code reconnect}: each time
     * the device is handed over to the next bundle. The guest's writes stall while no bundle provides the device and
     * then go on; QEMU never loses its connection, the guest's kernel logs no error, and every write the guest saw
     * acknowledged is in the image.
     */
    @Test(timeout = 240_000)
    public void deviceBundleStoppedStartedAndUpdatedFiveTimesUnderIoWithoutAReconnect() throws Exception {
        Path image = image("update.img");
        Path socket = socketDir.resolve("blk.sock");
        List<String> command = new ArrayList<>(backendCommand(socket, image + ",serial=bv-vhost-4"));
        command.remove(DistroJar.NO_SHELL); // the shell (start level 1000) reads our commands from stdin
        command.replaceAll(a -> a.equals("-Dbundlevisor.log.level=warn")
                ? "-Dbundlevisor.log.level=info" : a);
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        open.add(() -> {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        });
        backendOutput = new QemuGuest.Console("backend", p, null);
        backendOutput.await(Pattern.compile("bundlevisor: serving virtio-blk on " + Pattern.quote(socket.toString())),
                BACKEND_START);
        java.io.PrintStream shell = new java.io.PrintStream(p.getOutputStream(), true, StandardCharsets.UTF_8);
        shell.println("lb -s");
        String id = backendOutput.await(
                Pattern.compile("(\\d+)\\|Active\\s*\\|\\s*\\d+\\|io\\.bundlevisor\\.device\\.virtio-blk "),
                Duration.ofSeconds(20)).group(1);

        QemuGuest guest = QemuGuest.start(1, "bv-blk-test acked vda", QemuGuest.vhostUserBlk(socket, 1));
        open.add(guest);
        guest.await(Pattern.compile("\\bBV-ACK 30\\b"), GUEST_RUN);

        shell.println("stop " + id);
        awaitBackendLines("handing over, the frontend's IO waits", 1);
        int stalled = lastAck(guest);
        Thread.sleep(1500);
        assertTrue("the guest's writes stall while no bundle provides the device: " + stalled + " then "
                + lastAck(guest), lastAck(guest) <= stalled + 1);
        shell.println("virtio:devices");
        awaitBackendLines("backend handing-over=", 1);
        shell.println("start " + id);
        awaitBackendLines("handed over to the next bundle in", 1);
        guest.await(Pattern.compile("\\bBV-ACK " + (stalled + 20) + "\\b"), GUEST_RUN);

        for (int round = 1; round <= 5; round++) {
            Path jar = UpdatedBundle.of("device.virtio-blk", "update" + round, dir);
            int before = lastAck(guest);
            shell.println("update " + id + " " + jar.toUri());
            awaitBackendLines("handed over to the next bundle in", 1 + round);
            guest.await(Pattern.compile("\\bBV-ACK " + (before + 20) + "\\b"), GUEST_RUN);
        }
        shell.println("lb -s virtio-blk");
        awaitBackendLines("io.bundlevisor.device.virtio-blk (0.1.0.update5)", 1);
        String backend = backendOutput.text();
        assertEquals("QEMU connected once and never reconnected\n" + backend, 1,
                backendOutput.lines().stream().filter(l -> l.contains(" connected")).count());
        assertFalse(backend, backend.contains("DEVICE_NEEDS_RESET") || backend.contains("frontend is dropped"));
        guest.kill();
        assertNoKernelErrors(guest);
        int acked = lastAck(guest);
        assertImage(image, ACKED_SEED, 0, acked + 1);
        System.err.println("VhostUserQemuIT: handovers of " + handoverMillis(backendOutput) + " ms; " + (acked + 1)
                + " acknowledged blocks on the image");
    }

    /** How long each handover the backend logged took, in ms. */
    static List<Integer> handoverMillis(QemuGuest.Console backend) {
        List<Integer> out = new ArrayList<>();
        Pattern p = Pattern.compile("handed over to the next bundle in (\\d+) ms");
        for (String line : backend.lines()) {
            Matcher m = p.matcher(line);
            if (m.find()) {
                out.add(Integer.parseInt(m.group(1)));
            }
        }
        return out;
    }

    /** Waits until {@code text} is on {@code count} lines of the backend's output. */
    private void awaitBackendLines(String text, int count) throws InterruptedException {
        awaitLines(backendOutput, text, count);
    }

    /** Waits (60 s at most) until {@code text} is on {@code count} lines of {@code output}. */
    static void awaitLines(QemuGuest.Console output, String text, int count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (output.lines().stream().filter(l -> l.contains(text)).count() < count) {
            if (System.nanoTime() > deadline) {
                fail("no " + count + " lines with '" + text + "':\n" + output.text());
            }
            Thread.sleep(20);
        }
    }

    /** What Linux logs at KERN_ERR and above reaches the console despite {@code quiet}: an IO error, a reset. */
    static void assertNoKernelErrors(QemuGuest guest) {
        assertNoKernelErrors(guest.text());
    }

    /**
     * As {@link #assertNoKernelErrors(QemuGuest)}, for a console's text (the platform's own log lines, which name
     * {@code io.bundlevisor.} classes, are not the guest's); a disk resized to 0 counts too.
     */
    static void assertNoKernelErrors(String console) {
        Pattern bad = Pattern.compile("(?i)I/O error|blk_update_request|virtio.*(error|reset|fail)|Buffer I/O"
                + "|EXT4-fs error|Link is Down|NETDEV WATCHDOG|transmit queue .* timed out|new size: 0 ");
        for (String line : console.lines().filter(l -> !l.contains(" io.bundlevisor.")).toList()) {
            assertFalse("the guest's kernel complained: " + line + "\n" + console, bad.matcher(line).find());
        }
    }

    private static int lastAck(QemuGuest guest) {
        return lastAck(guest.lines());
    }

    /**
     * {@code serve} holds its image (and its lock) from its start, not only while a front-end is connected: a VM of
     * ours started on the same image meanwhile is refused in one line, exit status 64, instead of becoming a second
     * writer on the disk.
     */
    @Test(timeout = 120_000)
    public void aServedImageIsNotTakenByAnotherVmm() throws Exception {
        org.junit.Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        Path image = image("held.img");
        backend(image.toString());
        Path guest = Path.of("..", "platform.kvm", "target", "guests", "blk.elf");
        List<String> command = new ArrayList<>(DistroJar.command("warn", List.of("-Dbundlevisor.run="
                + String.join("\u001f", "--kernel", guest.toString(), "--disk", image.toString()),
                DistroJar.NO_SHELL)));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String output;
        try {
            assertTrue("the second VMM exits", p.waitFor(60, TimeUnit.SECONDS));
            output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            p.destroyForcibly();
        }
        assertEquals(output, 64, p.exitValue());
        assertEquals(output, 1, output.lines().filter(l -> l.startsWith("bundlevisor: ")).count());
        assertTrue(output, output.contains("is locked by another process or VM"));
    }

    /**
     * Host IO errors through vhost-user (issue 16 §3): the served image sits on faultfs (device.virtio-blk's FUSE
     * file system that fails chosen sectors with EIO), and Linux's virtio_blk under QEMU reads and writes around and
     * into the failing 4 KiB block with O_DIRECT. Exactly the requests on that block fail in the guest (dd gets an
     * I/O error: our IOERR status), faultfs saw only those fail, the others succeed, the back-end keeps serving, and
     * {@code blk:list} in its shell counts each failed request.
     */
    @Test(timeout = 120_000)
    public void hostEioFailsExactlyTheGuestRequestsOnThoseSectors() throws Exception {
        Path backing = image("faulty.img");
        Path mountpoint = Files.createDirectories(dir.resolve("faultfs"));
        FaultFs fs = FaultFs.mount(backing, mountpoint, "2048:8"); // 4 KiB block 256
        open.add(fs);
        Path socket = backend(fs.image() + ",serial=bv-faulty", true);
        String direct = " bs=4096 count=1 status=none iflag=direct";
        QemuGuest guest = guest(1, "dd if=/dev/vda of=/dev/null skip=255" + direct + " && echo BV-OK good-read"
                + " && if dd if=/dev/vda of=/dev/null skip=256" + direct + "; then echo BV-FAIL the bad block read;"
                + " else echo BV-OK eio-read; fi"
                + " && dd if=/dev/zero of=/dev/vda seek=257 bs=4096 count=1 status=none oflag=direct"
                + " && echo BV-OK good-write"
                + " && if dd if=/dev/zero of=/dev/vda seek=256 bs=4096 count=1 status=none oflag=direct;"
                + " then echo BV-FAIL the bad block written; else echo BV-OK eio-write; fi"
                + " && dd if=/dev/vda of=/dev/null skip=4096" + direct + " && echo BV-OK still-serving && sleep 4",
                socket, 1);
        // blk:list in the serving platform's shell while QEMU is connected (each front-end's connection has its
        // device, "#N", closed with it): its ERRORS column (the last but one) counts the failed requests.
        guest.await(Pattern.compile("BV-OK still-serving"), GUEST_RUN);
        backendShell.println("blk:list");
        long errors = Long.parseLong(backendOutput.await(Pattern.compile("#\\d+/virtio-blk\\s+"
                + Pattern.quote(fs.image().toString()) + "\\s.*\\s(\\d+)\\s+\\d+\\s*$"), Duration.ofSeconds(30))
                .group(1));
        guest.awaitSuccess(GUEST_RUN);
        assertOk(guest, "good-read", "eio-read", "good-write", "eio-write", "still-serving");
        assertTrue(guest.text(), guest.lines().stream().anyMatch(l -> l.contains("I/O error, dev vda, sector 2048")));
        closeOpen(); // QEMU, the back-end, then faultfs, which prints its counts as it ends
        String log = fs.log();
        Matcher m = Pattern.compile("failed (\\d+) reads and (\\d+) writes with EIO").matcher(log);
        assertTrue(log, m.find());
        // One failed write; the failed read may be retried by Linux's block layer, so at least one; and blk:list
        // counted each request the host failed.
        assertEquals(log, "1", m.group(2));
        assertTrue(log, Integer.parseInt(m.group(1)) >= 1);
        assertEquals(log, Integer.parseInt(m.group(1)) + 1, errors);
    }

    /**
     * A full host file system through vhost-user (issue 16 §3): the served image (sparse, 32 MiB) sits on a small
     * ext4 with 1 MiB left, and Linux under QEMU writes 2 MiB to it with O_DIRECT: the writes that do not fit fail
     * in the guest (our IOERR for the host's ENOSPC, "I/O error ... op 0x1:(WRITE)"), dd stops with an error, and the
     * back-end goes on serving reads. Needs root for the loop mount, as CI runs.
     */
    @Test(timeout = 120_000)
    public void aFullHostFileSystemFailsTheWritesThatDoNotFit() throws Exception {
        if (!Host.isRoot()) {
            System.err.println("*** SKIPPING VhostUserQemuIT ENOSPC: loop mounts need root (.ci/run runs as root) ***");
        }
        org.junit.Assume.assumeTrue("loop mounts need root", Host.isRoot());
        FullFs full = FullFs.mount(dir, 8L << 20);
        open.add(full);
        Path image = full.root().resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(32L << 20);
        }
        long free = full.fillLeaving("filler", 1L << 20);
        Path socket = backend(image + ",serial=bv-full");
        QemuGuest guest = guest(1, "if dd if=/dev/zero of=/dev/vda bs=4096 count=512 status=none oflag=direct;"
                + " then echo BV-FAIL 2 MiB fit in the space left; else echo BV-OK enospc-write; fi"
                + " && dd if=/dev/vda of=/dev/null bs=4096 count=16 status=none iflag=direct"
                + " && echo BV-OK still-serving", socket, 1);
        guest.awaitSuccess(GUEST_RUN);
        assertOk(guest, "enospc-write", "still-serving");
        assertTrue(guest.text(), guest.lines().stream().anyMatch(l -> l.contains("I/O error, dev vda")
                && l.contains("op 0x1:(WRITE)")));
        assertTrue("less than 2 MiB was free: " + free, free < (2L << 20));
    }

    /** Bad arguments: exit status 64 and one line saying why. */
    @Test(timeout = 120_000)
    public void badArgumentsAreOneLine() throws Exception {
        Path missing = dir.resolve("no-such.img");
        Process p = new ProcessBuilder(backendCommand(socketDir.resolve("bad.sock"), missing.toString()))
                .redirectErrorStream(true)
                .start();
        p.getOutputStream().close();
        String output;
        try {
            assertTrue("the backend exits on a missing image", p.waitFor(60, TimeUnit.SECONDS));
            output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            p.destroyForcibly();
        }
        assertEquals(output, 64, p.exitValue());
        assertEquals(output, 1, output.lines().filter(l -> l.startsWith("bundlevisor: ")).count());
        assertTrue(output, output.contains(missing.toString()));
    }

    // ---- the backend and the guest

    private static final Pattern ACK = Pattern.compile("\\bBV-ACK (\\d+)\\b");

    /** The highest block bv-blk-test acked printed as flushed (BV-ACK i), or -1. */
    static int lastAck(List<String> lines) {
        int acked = -1;
        for (String line : lines) {
            Matcher m = ACK.matcher(line);
            if (m.find()) {
                acked = Math.max(acked, Integer.parseInt(m.group(1)));
            }
        }
        return acked;
    }

    /** Closes what the test opened, QEMU first, then the backend: reverse order of opening. */
    private void closeOpen() {
        for (int i = open.size() - 1; i >= 0; i--) {
            try {
                open.remove(i).close();
            } catch (Exception e) {
                System.err.println("VhostUserQemuIT: closing: " + e);
            }
        }
    }

    private Path image(String name) throws IOException {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(IMAGE_BYTES);
        }
        return p;
    }

    private static List<String> backendCommand(Path socket, String disk) {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path jar = Path.of("target", "bundlevisor.jar");
        assertTrue("the distro jar is built in package, before integration tests", Files.isRegularFile(jar));
        return List.of(java, "--illegal-native-access=deny", "--sun-misc-unsafe-memory-access=allow",
                "-Dbundlevisor.serve=" + String.join("\u001f", "--socket", socket.toString(), "--disk", disk),
                DistroJar.NO_SHELL, "-Dbundlevisor.log.level=warn",
                "-jar", jar.toString());
    }

    /** Starts our backend serving {@code disk} (an image and its options) and waits until it listens. */
    private Path backend(String disk) throws Exception {
        return backend(disk, false);
    }

    /** As {@link #backend(String)}; with {@code shell}, the platform's shell reads {@link #backendShell}. */
    private Path backend(String disk, boolean shell) throws Exception {
        return backend(disk, shell, "warn");
    }

    /** As {@link #backend(String, boolean)}, logging at {@code level}. */
    private Path backend(String disk, boolean shell, String level) throws Exception {
        Path socket = socketDir.resolve("blk.sock");
        List<String> command = new ArrayList<>(backendCommand(socket, disk));
        command.replaceAll(a -> a.equals("-Dbundlevisor.log.level=warn") ? "-Dbundlevisor.log.level=" + level : a);
        if (shell) {
            command.remove(DistroJar.NO_SHELL); // the shell (start level 1000) reads our commands from stdin
        }
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (shell) {
            backendShell = new java.io.PrintStream(p.getOutputStream(), true, StandardCharsets.UTF_8);
        } else {
            p.getOutputStream().close();
        }
        backendProcess = p;
        open.add(() -> {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        });
        backendOutput = new QemuGuest.Console("backend", p, null);
        backendOutput.await(Pattern.compile("^bundlevisor: serving virtio-blk on " + Pattern.quote(socket.toString())
                + " \\(vhost-user\\)$"), BACKEND_START);
        return socket;
    }

    private QemuGuest guest(int cpus, String test, Path socket, int queues) throws IOException {
        QemuGuest g = QemuGuest.start(cpus, test, QemuGuest.vhostUserBlk(socket, queues));
        open.add(g);
        return g;
    }

    private static void assertOk(QemuGuest guest, String... checks) {
        List<String> lines = guest.lines();
        for (String check : checks) {
            assertTrue("BV-OK " + check + "\n" + guest.text(),
                    lines.stream().anyMatch(l -> l.contains("BV-OK " + check)));
        }
    }

    // ---- the pattern

    /**
     * bv-blk-test's pattern: 4 KiB block b (from the start of the disk) of seed s is its 8 sectors in order;
     * sector t is the 16-byte line {@code printf("%04x-%08x.%x\n", s, b, t)} repeated 32 times.
     */
    static byte[] pattern(int seed, long firstBlock, int blocks) {
        byte[] out = new byte[blocks * BLOCK];
        for (int i = 0; i < blocks; i++) {
            for (int t = 0; t < 8; t++) {
                byte[] line = String.format("%04x-%08x.%x\n", seed, firstBlock + i, t)
                        .getBytes(StandardCharsets.US_ASCII);
                int at = i * BLOCK + t * 512;
                for (int r = 0; r < 32; r++) {
                    System.arraycopy(line, 0, out, at + r * 16, 16);
                }
            }
        }
        return out;
    }

    /** The image holds the pattern of {@code seed} in blocks firstBlock..firstBlock+blocks-1. */
    static void assertImage(Path image, int seed, long firstBlock, int blocks) throws IOException {
        byte[] want = pattern(seed, firstBlock, blocks);
        byte[] have = new byte[want.length];
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
            f.seek(firstBlock * BLOCK);
            f.readFully(have);
        }
        int at = Arrays.mismatch(want, have);
        if (at >= 0) {
            int line = at & ~15;
            long offset = firstBlock * BLOCK + at;
            fail(String.format("%s: byte %d (block %d) differs from the pattern of seed %#x: expected \"%s\", found \"%s\"",
                    image.getFileName(), offset, offset / BLOCK, seed, printable(want, line), printable(have, line)));
        }
    }

    private static String printable(byte[] b, int from) {
        StringBuilder s = new StringBuilder();
        for (int i = from; i < Math.min(b.length, from + 16); i++) {
            int c = b[i] & 0xff;
            s.append(c >= 0x20 && c < 0x7f ? Character.toString(c) : String.format("\\x%02x", c));
        }
        return s.toString();
    }

    static void delete(Path root) throws IOException {
        if (root == null || !Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
