package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.Assume;
import org.junit.Test;

/**
 * Crash consistency under SIGKILL (issue 16 §3), once in CI: what {@code bench/crash-bench.sh} repeats 20 times. The
 * blk test guest's journal ({@code blk.mode=journal}, {@code platform.kvm/src/guest/blk_journal.c}) writes numbered
 * 4 KiB records in batches and prints {@code BLK-FLUSHED k} once each batch's FLUSH completed; the whole platform
 * process ({@code bundlevisor run} through the exported jar) is SIGKILLed right after such a line, and the image must
 * then hold every flushed record intact, as {@code bench/java/JournalCheck.java} (the bench's checker, run here the
 * same way) decides. Two rounds on one image: the second run must open the image the killed one had locked, find
 * every flushed record and go on from there. Last, the checker must refuse the same image with the last flushed
 * record torn, so that its "consistent" means something.
 */
public class CrashConsistencyIT {

    private static final Path GUEST = Path.of("..", "platform.kvm", "target", "guests", "blk.elf");
    private static final Path CHECKER = Path.of("..", "bench", "java", "JournalCheck.java");
    private static final Pattern START = Pattern.compile("^BLK-JOURNAL-START max=(\\d+) ", Pattern.MULTILINE);
    private static final Pattern FLUSHED = Pattern.compile("^BLK-FLUSHED (\\d+)\n", Pattern.MULTILINE);
    /** blk_journal.c's layout: slot k % 256 at sector 8 + 8 * slot. */
    private static final int SLOTS = 256;
    private static final long FIRST_SECTOR = 8;
    /** 128 + SIGKILL */
    private static final int KILLED = 137;

    @Test(timeout = 180_000)
    public void everyFlushedWriteSurvivesASigkillOfThePlatform() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        assertTrue(GUEST + " is built by platform.kvm's tests", Files.isRegularFile(GUEST));
        assertTrue(CHECKER + " is the bench's checker", Files.isRegularFile(CHECKER));
        Path dir = Files.createTempDirectory(Path.of("target"), "crash-").toAbsolutePath();
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(2 << 20);
        }
        List<String> consoles = new ArrayList<>();
        // Round 1: killed as soon as the 5th flush is seen. Round 2: after the 3rd and up to 40 ms more, which
        // may land inside a later batch.
        long first = round(dir, image, 1, 5, 0, 0, consoles);
        long second = round(dir, image, 2, 3, ThreadLocalRandom.current().nextInt(41), first, consoles);
        assertTrue("the second run went on past the first's flushed records: " + first + ", " + second,
                second > first);

        // The checker refuses the same image with the last flushed record torn (one payload byte changed).
        Path torn = dir.resolve("torn.img");
        Files.copy(image, torn);
        try (RandomAccessFile f = new RandomAccessFile(torn.toFile(), "rw")) {
            long at = (FIRST_SECTOR + (second % SLOTS) * 8) * 512 + 1000;
            f.seek(at);
            int b = f.read();
            f.seek(at);
            f.write(b ^ 0x5A);
        }
        Check refused = check(torn, consoles);
        assertEquals(refused.output, 1, refused.status);
        assertTrue(refused.output, refused.output.contains("INCONSISTENT: flushed k=" + second));
        assertTrue(refused.output, refused.output.contains("slot " + second % SLOTS + " ("));
        VhostUserQemuIT.delete(dir);
    }

    /**
     * One round: starts the platform on the image, waits for its journal's start line and then {@code flushes}
     * BLK-FLUSHED lines, waits {@code delayMs} more, SIGKILLs the java process and checks the image with every
     * round's console. {@code previous}: the last record flushed before. Returns the last flushed record of this
     * round's console.
     */
    private static long round(Path dir, Path image, int round, int flushes, int delayMs, long previous,
            List<String> consoles) throws Exception {
        List<String> command = new ArrayList<>(DistroJar.command("warn", List.of()));
        command.addAll(List.of("run", "--kernel", GUEST.toString(), "--cmdline", "blk.mode=journal", "--disk",
                "path=" + image, "--memory", "32M"));
        Path err = dir.resolve("round-" + round + ".err");
        ProcessBuilder b = new ProcessBuilder(command).redirectError(err.toFile());
        b.environment().put("BUNDLEVISOR_CACHE", dir.resolve("cache").toString());
        Process p = b.start();
        p.getOutputStream().close();
        Output out = new Output(p.getInputStream());
        try {
            Matcher start = out.await(START, 1, p, err);
            long max = Long.parseLong(start.group(1));
            assertTrue("the run found every record flushed before the kill (" + previous + ")\n" + out.text(),
                    max >= previous);
            out.await(FLUSHED, flushes, p, err);
            Thread.sleep(delayMs);
        } finally {
            p.destroyForcibly(); // SIGKILL, to the java process itself: nothing else runs the platform
        }
        assertTrue("the killed process ends", p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(out.text(), KILLED, p.exitValue());
        assertFalse("nothing of the platform is left", ProcessHandle.of(p.pid()).map(ProcessHandle::isAlive)
                .orElse(false));
        String console = out.all();
        Path file = dir.resolve("round-" + round + ".console");
        Files.writeString(file, console, StandardCharsets.ISO_8859_1);
        consoles.add(file.toString());
        Check c = check(image, consoles);
        assertEquals("round " + round + ":\n" + c.output + "\nconsole:\n" + console, 0, c.status);
        assertTrue(c.output, c.output.contains(": consistent: flushed k=" + flushedPoint(console) + " "));
        return flushedPoint(console);
    }

    private record Check(int status, String output) {
    }

    /** bench/java/JournalCheck.java, source-launched as in the bench. */
    private static Check check(Path image, List<String> consoles) throws Exception {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                CHECKER.toString(), image.toString()));
        command.addAll(consoles);
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue("the checker ends", p.waitFor(60, TimeUnit.SECONDS));
        return new Check(p.exitValue(), output.get(10, TimeUnit.SECONDS));
    }

    /** The highest record of a complete BLK-FLUSHED line, 0 if none. */
    private static long flushedPoint(String console) {
        long k = 0;
        Matcher m = FLUSHED.matcher(console);
        while (m.find()) {
            k = Math.max(k, Long.parseLong(m.group(1)));
        }
        return k;
    }

    /** A process's stdout, byte for byte (a line the kill cut short stays cut), read by a thread of its own. */
    private static final class Output {

        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final CompletableFuture<Void> ended = new CompletableFuture<>();

        Output(InputStream in) {
            Thread.ofPlatform().daemon().name("crash-console").start(() -> {
                byte[] b = new byte[4096];
                try {
                    for (int n; (n = in.read(b)) > 0; ) {
                        synchronized (bytes) {
                            bytes.write(b, 0, n);
                        }
                    }
                } catch (IOException e) {
                    // the stream ended
                } finally {
                    ended.complete(null);
                }
            });
        }

        String text() {
            synchronized (bytes) {
                return bytes.toString(StandardCharsets.ISO_8859_1);
            }
        }

        /** Everything, once the process has gone and its output ended. */
        String all() throws Exception {
            ended.get(30, TimeUnit.SECONDS);
            return text();
        }

        /** The {@code count}th match of {@code pattern} (within 60 s); fails if the process ends or the guest fails. */
        Matcher await(Pattern pattern, int count, Process p, Path err) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                String text = text();
                Matcher m = pattern.matcher(text);
                int found = 0;
                while (m.find()) {
                    if (++found == count) {
                        return m;
                    }
                }
                if (text.contains("BLK-FAIL") || !p.isAlive() || System.nanoTime() > deadline) {
                    fail("no " + count + " x " + pattern + " (alive: " + p.isAlive() + ")\n" + text + "\nstderr:\n"
                            + (Files.exists(err) ? Files.readString(err) : "") + Screen.threadDumps());
                }
                Thread.sleep(5);
            }
        }
    }
}
