package io.bundlevisor.device.blk.guest;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.bundlevisor.core.internal.virtio.VirtioCommands;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.device.blk.internal.BlkCommands;
import io.bundlevisor.uring.sys.SyscallFilter;

/**
 * A hostile guest next to a good one in one platform (issue 16 section 4). The hostile guest
 * (platform.kvm/src/guest/hostile.c) storms QueueNotify, rewrites its descriptors and avail ring while the device
 * reads them, posts chains as long as the queue and longer, loops, and floods config space, InterruptACK and
 * read-only and undefined registers, resetting its device and starting again, forever. Meanwhile the blk test guest
 * writes its pattern to its own disk in one machine and reads it back in another, both on the same virtio service,
 * ring service and blk factory as the hostile one.
 *
 * <p>What must hold: the good guest's every request completes OK and its data is on its disk and reads back; the
 * hostile device is told DEVICE_NEEDS_RESET (its binding counts it, and so does {@code virtio:devices}); the hostile
 * machine keeps running (its abuse ends in no halt); the shell's commands ({@code blk:list}, {@code virtio:devices})
 * answer throughout; no system call is refused on a confined thread; and the platform's footprint does not grow with
 * the abuse. How fast the good guest and the commands are beside the abuse is measured by
 * bench/neighbour-bench.sh, not here: this test has no time limit but a hang guard.
 */
class HostileNeighbourTest {

    private static final Path HOSTILE = Path.of("..", "platform.kvm", "target", "guests", "hostile.elf");
    private static final long GOOD_IMAGE = 64L << 20;
    private static final long HOSTILE_IMAGE = 16L << 20;
    /** A command that takes this long is hung, not slow (the speed target, < 1 s, is the benchmark's). */
    private static final Duration HANG_GUARD = Duration.ofSeconds(10);
    /**
     * What the heap may grow by (after a full GC) across rounds of abuse. Nothing is kept per abusive operation: a
     * refused chain or register access leaves a counter and, at a limited rate, a log line. The hostile guest does
     * tens of thousands of operations a second, so keeping even 100 bytes for each would pass this within the test;
     * what legitimately grows is the hostile console's text (about 100 bytes a phase).
     */
    private static final long HEAP_SLACK = 4L << 20;
    private static final Pattern ROUND = Pattern.compile("HOSTILE round=(\\d+) phase=config ");
    private static final Pattern OPS = Pattern.compile("HOSTILE round=(\\d+) phase=\\w+ ops=(\\d+) ");
    private static final Pattern SEEN = Pattern.compile("HOSTILE round=\\d+ .* seen=(\\d+) ");
    private static final Pattern RESETS = Pattern.compile("HOSTILE round=\\d+ .* resets=(\\d+)");
    private static final Pattern MAXIMAL_OK = Pattern.compile("HOSTILE maximal valid=\\d+ ok=(\\d+)");

    @TempDir
    Path dir;

    @Test
    void theNeighbourOfAHostileGuestDoesItsIoTheHostileDeviceNeedsAResetAndThePlatformKeepsAnswering()
            throws Exception {
        GuestHarness.platform();
        assertTrue(Files.isRegularFile(HOSTILE), HOSTILE + " is missing: platform.kvm's build compiles src/guest");
        Path good = image("good.img", GOOD_IMAGE);
        Path bad = image("hostile.img", HOSTILE_IMAGE);
        long refusalsBefore = SyscallFilter.refusals();
        BlkCommands blk = new BlkCommands(GuestHarness.factory);
        VirtioCommands virtio = new VirtioCommands(GuestHarness.virtio);
        ExecutorService shell = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().name("shell").daemon()
                .unstarted(r));
        MachineConfig hostileConfig = MachineConfig.of("hostile", 1, 64L << 20, HOSTILE)
                .withCmdline("hostile.ms=200").withDevice(new DeviceSpec(GuestHarness.TYPE, bad.toString()));
        try (GuestHarness hostile = GuestHarness.start(hostileConfig)) {
            VirtioBinding hostileDevice = GuestHarness.virtio.bindings().stream()
                    .filter(b -> b.name().startsWith("hostile/")).findFirst().orElseThrow();
            hostile.await("phase=config"); // one whole round of abuse
            answer(shell, blk::list);
            answer(shell, virtio::devices);
            Footprint start = Footprint.measure();
            long startRound = rounds(hostile.output());
            long startCompleted = hostileDevice.completedChains();

            // The good guest: a machine that writes and flushes its pattern, then another that reads it back.
            long t0 = System.nanoTime();
            String wrote = GuestHarness.run(GuestHarness.config("blk.mode=write", 1, good.toString()));
            assertTrue(wrote.contains("BLK-WRITE-OK") && !wrote.contains("BLK-FAIL"), wrote);
            assertPattern(good, 8, 64);
            String read = GuestHarness.run(GuestHarness.config("blk.mode=read", 1, good.toString()));
            assertTrue(read.contains("BLK-READ-OK") && !read.contains("BLK-FAIL"), read);
            long goodMillis = (System.nanoTime() - t0) / 1_000_000;

            // The shell answers while the abuse goes on, until four rounds of it have passed since the start.
            long worst = 0;
            int calls = 0;
            String devices = "";
            while (calls == 0 || rounds(hostile.output()) < startRound + 4) {
                worst = Math.max(worst, answer(shell, blk::list));
                long t = System.nanoTime();
                devices = String.join("\n", answerList(shell, virtio::devices));
                worst = Math.max(worst, System.nanoTime() - t);
                calls += 2;
                Thread.sleep(50);
                if (hostile.partition.halt().isPresent()) {
                    fail("the hostile machine halted: " + hostile.partition.halt().get().describe() + "\n"
                            + hostile.output());
                }
            }

            // The hostile device was told to reset, and virtio:devices says so.
            assertTrue(hostileDevice.needsResetCount() > 0, "DEVICE_NEEDS_RESET never set: " + hostile.output());
            Matcher m = Pattern.compile(Pattern.quote(hostileDevice.name()) + " \\S+ status=0x\\p{XDigit}+ .*"
                    + "needs-reset=(\\d+)").matcher(devices);
            assertTrue(m.find(), devices);
            assertTrue(Long.parseLong(m.group(1)) > 0, devices);
            // Its abuse of the transport (notifies of queues it lacks, register writes the spec forbids) is counted.
            assertTrue(hostileDevice.guestErrors() > 0, "guest errors counted");
            assertTrue(devices.contains(hostileDevice.name()) && devices.contains("guest-errors="), devices);
            assertTrue(last(hostile.output(), SEEN) > 0, "the guest saw it: " + hostile.output());
            assertTrue(hostile.partition.halt().isEmpty(), "the hostile machine runs on: " + hostile.output());
            // Between the refusals the hostile device served the valid requests: its worker lives on, resets and all.
            assertTrue(hostileDevice.completedChains() > startCompleted, "the hostile device still serves requests");
            assertTrue(Thread.getAllStackTraces().keySet().stream()
                    .anyMatch(t -> t.getName().equals("virtio " + hostileDevice.name()) && t.isAlive()),
                    "the hostile device's worker thread is alive");
            // Chains as long as the queue, and indirect tables of the largest queue size, are legal: served OK.
            assertTrue(last(hostile.output(), MAXIMAL_OK) > 0, "no valid maximal chain was served: "
                    + hostile.output());
            long hostileRequests = requests(answerString(shell, blk::list), bad);
            assertTrue(hostileRequests > 0, "blk:list counts the hostile disk's requests");
            assertEquals(refusalsBefore, SyscallFilter.refusals(), "no system call was refused on a confined thread");

            // The footprint after the abuse: the good machines closed, the hostile one still abusing.
            Footprint end = Footprint.settled(start);
            long ops = opsSince(hostile.output(), startRound);
            String footprint = String.format("heap %.1f -> %.1f MiB, threads %d -> %d, fds %d -> %d, over %d rounds "
                    + "and %d abusive operations", start.heap / 1048576.0, end.heap / 1048576.0, start.threads,
                    end.threads, start.fds, end.fds, rounds(hostile.output()) - startRound, ops);
            System.out.printf("HostileNeighbourTest: good guest's write and read boots %d ms; %d shell commands, the "
                    + "slowest %.1f ms; hostile device needs-reset %d times (the guest saw it %d times and reset %d "
                    + "times), %d requests (%d valid maximal chains OK), status 0x%02x; %s%n", goodMillis, calls,
                    worst / 1e6, hostileDevice.needsResetCount(), last(hostile.output(), SEEN),
                    last(hostile.output(), RESETS), hostileRequests, last(hostile.output(), MAXIMAL_OK),
                    hostileDevice.status(), footprint);
            assertTrue(end.heap - start.heap <= HEAP_SLACK, "the heap grew: " + footprint);
            assertTrue(end.threads <= start.threads, "threads were left behind: " + footprint + ", new: "
                    + end.names(start));
            assertTrue(end.fds <= start.fds, "file descriptors were left open: " + footprint);
        } finally {
            shell.shutdownNow();
        }
        assertEquals(refusalsBefore, SyscallFilter.refusals(), "no system call was refused on a confined thread");
    }

    /** Runs a shell command's implementation on another thread; its time in nanoseconds (fails past the guard). */
    private static long answer(ExecutorService shell, Callable<?> command) throws Exception {
        long t = System.nanoTime();
        Future<?> f = shell.submit(command);
        Object out = f.get(HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
        assertNotNull(out);
        return System.nanoTime() - t;
    }

    private static String answerString(ExecutorService shell, Callable<String> command) throws Exception {
        return shell.submit(command).get(HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static List<String> answerList(ExecutorService shell, Callable<List<String>> command) throws Exception {
        return shell.submit(command).get(HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Whole rounds of abuse the hostile guest reported. */
    private static long rounds(String out) {
        long n = 0;
        Matcher m = ROUND.matcher(out);
        while (m.find()) {
            n = Long.parseLong(m.group(1));
        }
        return n;
    }

    /** The number the last match of {@code p} (group 1) in the hostile guest's output shows, or 0. */
    private static long last(String out, Pattern p) {
        long n = 0;
        Matcher m = p.matcher(out);
        while (m.find()) {
            n = Long.parseLong(m.group(1));
        }
        return n;
    }

    /** The REQUESTS column of {@code blk:list}'s row for {@code image}. */
    private static long requests(String list, Path image) {
        String[] lines = list.split("\\R");
        List<String> head = List.of(lines[0].strip().split("\\s+"));
        String path = image.toAbsolutePath().normalize().toString();
        for (String line : lines) {
            String[] cells = line.strip().split("\\s+");
            if (cells.length == head.size() && cells[1].equals(path)) {
                return Long.parseLong(cells[head.indexOf("REQUESTS")]);
            }
        }
        throw new AssertionError("no blk:list row for " + path + ":\n" + list);
    }

    /** Abusive operations the hostile guest reported in rounds after {@code round}. */
    private static long opsSince(String out, long round) {
        long n = 0;
        Matcher m = OPS.matcher(out);
        while (m.find()) {
            if (Long.parseLong(m.group(1)) > round) {
                n += Long.parseLong(m.group(2));
            }
        }
        return n;
    }

    private Path image(String name, long size) throws IOException {
        Path p = dir.resolve(name);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {0}), size - 1);
        }
        return p;
    }

    /** The blk guest's write pattern: byte j of sector s is (s*31 + j*7) & 0xff (blk.c). */
    private static void assertPattern(Path image, long first, int count) throws IOException {
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(count * 512);
            ch.read(b, first * 512);
            for (int i = 0; i < count; i++) {
                for (int j = 0; j < 512; j++) {
                    int want = (int) (((first + i) * 31 + j * 7) & 0xFF);
                    assertEquals(want, b.get(i * 512 + j) & 0xFF, "sector " + (first + i) + " byte " + j);
                }
            }
        }
    }

    /** Heap in use after a full GC, live threads and open file descriptors of this process. */
    private record Footprint(long heap, int threads, int fds, Set<String> threadNames) {

        static Footprint measure() throws IOException {
            Runtime rt = Runtime.getRuntime();
            System.gc();
            System.gc();
            long heap = rt.totalMemory() - rt.freeMemory();
            Set<String> names = new TreeSet<>();
            for (Thread t : Thread.getAllStackTraces().keySet()) {
                names.add(t.getName());
            }
            int fds;
            try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
                fds = (int) s.count() - 1; // the listing's own
            }
            return new Footprint(heap, ManagementFactory.getThreadMXBean().getThreadCount(), fds, names);
        }

        /**
         * Measures again until the threads and descriptors of machines closed since {@code start} are gone (a
         * worker's thread ends just after its close returns), for at most 5 s.
         */
        static Footprint settled(Footprint start) throws Exception {
            Footprint f = measure();
            for (int i = 0; i < 50 && (f.threads > start.threads || f.fds > start.fds); i++) {
                Thread.sleep(100);
                f = measure();
            }
            return f;
        }

        Set<String> names(Footprint before) {
            Set<String> n = new TreeSet<>(threadNames);
            n.removeAll(before.threadNames);
            return n;
        }
    }
}
