package io.bundlevisor.distro;

import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The guest kit's Linux (Debian's cloud kernel and the busybox initramfs of {@code scripts/guest-kit.sh}) under
 * {@code qemu-system-x86_64} with TCG, as the frontend of a disk: our backend over vhost-user
 * ({@link #vhostUserBlk}), or QEMU's own virtio-blk on an image ({@link #builtinBlk}), which drives the same guest
 * driver and {@code /bin/bv-blk-test}.
 *
 * <p>RAM is a shared memfd, as vhost-user needs (the backend maps it). The guest runs {@code bv.test} and powers
 * off ({@code scripts/guest-kit/init}); its console (COM1) and QEMU's own messages are collected line by line in a
 * thread. {@link #close()} kills QEMU if it still runs.
 */
final class QemuGuest implements AutoCloseable {

    /** The Debian package with qemu-system-x86_64; scripts/test-deps.sh installs it. */
    static final String QEMU = "qemu-system-x86_64";
    /** The guest kit, from distro/ (where the integration tests run). */
    static final Path KIT = Path.of("..", ".guest-kit");
    static final String MEMORY = "512M";
    /** Console lines that end any wait: the guest's checks failing, a panic, QEMU giving up on a vhost-user ring. */
    static final Pattern FAILURE = Pattern.compile("BV-FAIL|Kernel panic|vhost vring error|ring restore failed");

    private final List<String> command;
    private final Process process;
    private final Console console;

    /**
     * What ends a wait when QEMU's back-end goes away on purpose and comes back (a device bundle stopped or updated,
     * chardev {@code reconnect}): QEMU then says "ring restore failed" (its GET_VRING_BASE met a closed socket; it
     * takes the ring's state from the used index), which is expected there.
     */
    static final Pattern FAILURE_ON_RECONNECT = Pattern.compile("BV-FAIL|Kernel panic|vhost vring error");

    private QemuGuest(List<String> command) throws IOException {
        this(command, FAILURE);
    }

    private QemuGuest(List<String> command, Pattern failure) throws IOException {
        this.command = List.copyOf(command);
        this.process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .start();
        this.console = new Console("qemu", process, failure);
    }

    /** The path of qemu-system-x86_64 on PATH; fails, saying what to run, when there is none. */
    static Path binary() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!dir.isEmpty()) {
                Path p = Path.of(dir, QEMU);
                if (Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        fail(QEMU + " is missing: run scripts/test-deps.sh (it installs Debian's qemu-system-x86)");
        return null;
    }

    static Path kernel() {
        return kit("vmlinuz");
    }

    static Path initrd() {
        return kit("initramfs.cpio.gz");
    }

    private static Path kit(String name) {
        Path p = KIT.resolve(name);
        assertTrue(p.toAbsolutePath().normalize() + " is missing: run scripts/test-deps.sh (it builds the guest kit)",
                Files.isRegularFile(p));
        return p;
    }

    /** A vhost-user-blk device whose backend listens on {@code socket}, with {@code queues} request queues. */
    static List<String> vhostUserBlk(Path socket, int queues) {
        return List.of("-chardev", "socket,id=vu,path=" + socket,
                "-device", "vhost-user-blk-pci,chardev=vu,num-queues=" + queues);
    }

    /**
     * QEMU's own virtio-blk on a raw image, as the reference: io_uring and O_DIRECT on the host, the same guest
     * driver (virtio-blk-pci). Serial, queues and read-only as our backend's {@code --disk} options.
     */
    static List<String> builtinBlk(Path image, String serial, int queues, boolean readonly) {
        return List.of("-drive", "file=" + image + ",if=none,id=d,format=raw,cache=none,aio=io_uring"
                        + (readonly ? ",readonly=on" : ""),
                "-device", "virtio-blk-pci,drive=d,serial=" + serial + ",num-queues=" + queues);
    }

    /** The full command line: {@code cpus} vCPUs under TCG, the guest kit running {@code test}, then the disk. */
    static List<String> command(int cpus, String test, List<String> disk) {
        assertTrue("bv.test cannot hold a double quote: " + test, !test.contains("\""));
        List<String> c = new ArrayList<>(List.of(binary().toString(),
                "-accel", "tcg",
                "-machine", "q35,memory-backend=mem",
                "-object", "memory-backend-memfd,id=mem,size=" + MEMORY + ",share=on",
                "-m", MEMORY,
                "-smp", Integer.toString(cpus),
                "-nodefaults", "-no-user-config",
                "-display", "none", "-monitor", "none", "-serial", "stdio",
                "-no-reboot",
                "-kernel", kernel().toString(),
                "-initrd", initrd().toString(),
                "-append", "console=ttyS0 panic=-1 quiet bv.test=\"" + test + "\""));
        c.addAll(disk);
        return c;
    }

    /** Starts QEMU: the guest boots (3-4 s under TCG) and runs {@code test}. */
    static QemuGuest start(int cpus, String test, List<String> disk) throws IOException {
        return new QemuGuest(command(cpus, test, disk));
    }

    /** As {@link #start}, with lines matching {@code failure} ending any wait. */
    static QemuGuest start(int cpus, String test, List<String> disk, Pattern failure) throws IOException {
        return new QemuGuest(command(cpus, test, disk), failure);
    }

    /**
     * A vhost-user-net device with {@code pairs} queue pairs on the back-end at {@code socket} ({@code reconnect=1}:
     * QEMU finds the back-end again if it goes). {@code vectors=0}: QEMU 7.2 under TCG crashes in
     * {@code msix_set_vector_notifiers} when it starts vhost-user-net with MSI-X (seen here with our back-end and with
     * one queue pair alike), so the device interrupts through INTx.
     */
    static List<String> vhostUserNet(Path socket, int pairs) {
        return vhostUserNet(socket, pairs, true);
    }

    /** As {@link #vhostUserNet(Path, int)}, with QEMU reconnecting or not when the back-end goes. */
    static List<String> vhostUserNet(Path socket, int pairs, boolean reconnect) {
        return List.of("-chardev", "socket,id=vn,path=" + socket + (reconnect ? ",reconnect=1" : ""),
                "-netdev", "vhost-user,id=n0,chardev=vn,queues=" + pairs,
                "-device", "virtio-net-pci,netdev=n0,vectors=0,mac=52:54:00:12:34:56" + (pairs > 1 ? ",mq=on" : ""));
    }

    /** A vhost-user-blk device whose chardev reconnects every second when the back-end goes away. */
    static List<String> vhostUserBlkReconnecting(Path socket) {
        return List.of("-chardev", "socket,id=vu,path=" + socket + ",reconnect=1",
                "-device", "vhost-user-blk-pci,chardev=vu,num-queues=1");
    }

    List<String> command() {
        return command;
    }

    /** The first console line where {@code marker} is found; fails on a timeout, BV-FAIL, a panic or QEMU's end. */
    MatchResult await(Pattern marker, Duration timeout) throws InterruptedException {
        return console.await(marker, timeout);
    }

    /** The guest ran bv.test to its end with status 0 and powered off, and QEMU exited 0. */
    void awaitSuccess(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        MatchResult end = await(Pattern.compile("BUNDLEVISOR-TEST-END rc=(\\d+)"), timeout);
        if (!end.group(1).equals("0")) {
            fail("bv.test ended with status " + end.group(1) + "\n" + console.text());
        }
        int status = awaitExit(Duration.ofNanos(Math.max(deadline - System.nanoTime(), 5_000_000_000L)));
        if (status != 0) {
            fail("QEMU exited " + status + " after the guest's power-off\n" + console.text());
        }
    }

    /** QEMU's exit status, once it has exited and its output is read to the end. */
    int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
            fail("QEMU still runs after " + timeout.toSeconds() + " s\n" + console.text());
        }
        console.awaitEnd(Duration.ofSeconds(10));
        return process.exitValue();
    }

    /** Kills QEMU with SIGKILL (no chance to tell the backend anything) and reads its output to the end. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            fail("QEMU survives SIGKILL");
        }
        console.awaitEnd(Duration.ofSeconds(10));
    }

    /** Every console line so far (carriage returns dropped). */
    List<String> lines() {
        return console.lines();
    }

    /** The console so far, for failure messages (the last lines when it is long). */
    String text() {
        return console.text();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * The output of a process (stdout and stderr together), read line by line by a daemon thread, which
     * {@link #await} searches. Lines matching {@code failure} end any wait at once.
     */
    static final class Console {

        private static final int TAIL = 200;

        private final String name;
        private final Process process;
        private final Pattern failure;
        private final List<String> lines = new ArrayList<>();
        private boolean ended;

        Console(String name, Process process, Pattern failure) {
            this.name = name;
            this.process = process;
            this.failure = failure;
            Thread.ofPlatform().daemon().name(name + "-output").start(this::pump);
        }

        private void pump() {
            try (BufferedReader in = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.ISO_8859_1))) {
                for (String line; (line = in.readLine()) != null; ) {
                    synchronized (this) {
                        lines.add(line);
                        notifyAll();
                    }
                }
            } catch (IOException e) {
                synchronized (this) {
                    lines.add("<" + name + " output: " + e + ">");
                }
            } finally {
                synchronized (this) {
                    ended = true;
                    notifyAll();
                }
            }
        }

        synchronized MatchResult await(Pattern marker, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            int seen = 0;
            while (true) {
                for (; seen < lines.size(); seen++) {
                    String line = lines.get(seen);
                    Matcher m = marker.matcher(line);
                    if (m.find()) {
                        return m.toMatchResult();
                    }
                    if (failure != null && failure.matcher(line).find()) {
                        fail(name + " failed (" + line.strip() + ") before " + marker + "\n" + text());
                    }
                }
                if (ended) {
                    fail(name + " ended (" + status() + ") before " + marker + "\n" + text());
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    fail("no " + marker + " from " + name + " in " + timeout.toSeconds() + " s\n" + text());
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
        }

        synchronized void awaitEnd(Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!ended) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    fail(name + "'s output stays open " + timeout.toSeconds() + " s after its end");
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
        }

        private String status() {
            return process.isAlive() ? "its output closed" : "exit status " + process.exitValue();
        }

        Process process() {
            return process;
        }

        synchronized List<String> lines() {
            return List.copyOf(lines);
        }

        synchronized String text() {
            int from = Math.max(0, lines.size() - TAIL);
            StringBuilder b = new StringBuilder("---- ").append(name).append(" output");
            if (from > 0) {
                b.append(" (the last ").append(TAIL).append(" of ").append(lines.size()).append(" lines)");
            }
            b.append(" ----\n");
            for (String line : lines.subList(from, lines.size())) {
                b.append(line.replace("\r", "")).append('\n');
            }
            return b.toString();
        }
    }
}
