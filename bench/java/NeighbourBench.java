import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

import io.bundlevisor.core.internal.virtio.VirtioCommands;
import io.bundlevisor.core.internal.virtio.VirtioServiceImpl;
import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.device.blk.internal.BlkCommands;
import io.bundlevisor.device.blk.internal.BlkDeviceFactory;
import io.bundlevisor.kvm.internal.Kvm;
import io.bundlevisor.kvm.internal.partition.KvmPartition;
import io.bundlevisor.uring.internal.RingServiceImpl;
import io.bundlevisor.uring.sys.SyscallFilter;

/**
 * A good VM's virtio-blk IOPS alone and beside a neighbour, in one platform (issue 16 section 4). The good VM is the
 * blk test guest's bench mode (4 KiB random reads at QD1 and QD32 over a read-only image; the host times its
 * BENCH-BEGIN/BENCH-END console lines as they are written). Its neighbours, each on its own disk and the same virtio
 * service, ring service and blk factory: "spin", the hostile guest in hostile.mode=spin (its device set up and left
 * alone, its vCPU busy: what sharing the host's CPUs costs), and "hostile", the hostile guest abusing its device
 * (platform.kvm/src/guest/hostile.c). Conditions rotate in each repeat. During every good run a shell thread calls
 * blk:list's and virtio:devices' implementations every 100 ms and times each answer. Prints one line per run, then
 * "RESULT key value" lines that bench/neighbour-bench.sh turns into its table.
 *
 * <p>java --enable-native-access=ALL-UNNAMED -cp JARS NeighbourBench.java GUESTS_DIR GOOD_IMAGE HOSTILE_IMAGE N
 * REPEATS
 */
public final class NeighbourBench {

    static final String TYPE = "virtio-blk";
    static final long RAM = 64L << 20;
    static final Duration TIMEOUT = Duration.ofMinutes(5);
    static final List<String> CONDITIONS = List.of("alone", "spin", "hostile");

    static Kvm kvm;
    static VirtioServiceImpl virtio;
    static BlkDeviceFactory factory;
    static Path guests;

    public static void main(String[] args) throws Exception {
        guests = Path.of(args[0]);
        Path good = Path.of(args[1]);
        Path bad = Path.of(args[2]);
        long n = Long.parseLong(args[3]);
        int repeats = Integer.parseInt(args[4]);
        kvm = Kvm.open();
        virtio = new VirtioServiceImpl(new RingServiceImpl());
        factory = new BlkDeviceFactory();
        virtio.addFactory(factory, TYPE);
        BlkCommands blk = new BlkCommands(factory);
        VirtioCommands devices = new VirtioCommands(virtio);
        long refusals = SyscallFilter.refusals();

        System.out.println("warm-up: one good run alone, not counted");
        goodRun(good, n, new Shell(blk, devices));
        Footprint before = Footprint.measure();
        Map<String, List<Run>> runs = new HashMap<>();
        Map<String, Shell> shells = new HashMap<>();
        List<Footprint> during = new ArrayList<>();
        for (int r = 0; r < repeats; r++) {
            for (int c = 0; c < CONDITIONS.size(); c++) {
                String cond = CONDITIONS.get((c + r) % CONDITIONS.size());
                Shell shell = shells.computeIfAbsent(cond, k -> new Shell(blk, devices));
                Run run;
                if (cond.equals("alone")) {
                    run = goodRun(good, n, shell);
                } else {
                    try (Neighbour nb = Neighbour.start(cond, bad)) {
                        run = goodRun(good, n, shell);
                        nb.checkRunning();
                        if (cond.equals("hostile")) {
                            during.add(Footprint.measure());
                            run = run.withNeighbour(nb.binding().needsResetCount());
                        }
                    }
                }
                runs.computeIfAbsent(cond, k -> new ArrayList<>()).add(run);
                System.out.printf("run %d %-7s qd1 %6.0f IOPS  qd32 %6.0f IOPS  platform CPU %.2f s, host CPUs %.0f %% "
                        + "busy%s%n", r + 1, cond, run.qd1, run.qd32, run.cpu[0], 100 * run.cpu[1],
                        run.needsResets >= 0 ? ", neighbour's device needs-reset " + run.needsResets + " times" : "");
            }
        }
        Footprint after = Footprint.settled(before);

        for (String cond : CONDITIONS) {
            List<Run> rs = runs.get(cond);
            System.out.println("RESULT " + cond + ".qd1 " + join(rs.stream().mapToDouble(Run::qd1).toArray()));
            System.out.println("RESULT " + cond + ".qd32 " + join(rs.stream().mapToDouble(Run::qd32).toArray()));
            System.out.println("RESULT " + cond + ".busy " + join(rs.stream().mapToDouble(x -> x.cpu[1]).toArray()));
            Shell s = shells.get(cond);
            System.out.println("RESULT " + cond + ".blklist " + join(s.blkMs));
            System.out.println("RESULT " + cond + ".devices " + join(s.devicesMs));
        }
        System.out.printf("RESULT memory.before %d %d %d%n", before.heap, before.threads, before.fds);
        for (Footprint f : List.of(during.getFirst(), during.getLast())) {
            System.out.printf("RESULT memory.during %d %d %d%n", f.heap, f.threads, f.fds);
        }
        System.out.printf("RESULT memory.after %d %d %d%n", after.heap, after.threads, after.fds);
        System.out.println("RESULT refusals " + (SyscallFilter.refusals() - refusals));
        System.exit(0);
    }

    static String join(List<Double> values) {
        return join(values.stream().mapToDouble(x -> x).toArray());
    }

    static String join(double[] values) {
        StringBuilder b = new StringBuilder();
        for (double v : values) {
            b.append(b.isEmpty() ? "" : " ").append(String.format("%.3f", v));
        }
        return b.toString();
    }

    /** One good run: IOPS at QD1 and QD32, and over the two {process CPU seconds, host busy fraction} ({@link Cpu}). */
    record Run(double qd1, double qd32, double[] cpu, long needsResets) {
        Run withNeighbour(long resets) {
            return new Run(qd1, qd32, cpu, resets);
        }
    }

    static Run goodRun(Path image, long n, Shell shell) throws Exception {
        Marks out = new Marks();
        MachineConfig config = MachineConfig.of("good", 1, RAM, guests.resolve("blk.elf"))
                .withCmdline("blk.mode=bench blk.n=" + n + " blk.seqmb=4")
                .withDevice(new DeviceSpec(TYPE, image + ",readonly"))
                .withConsole(Console.streams(null, out));
        try (KvmPartition p = KvmPartition.create(kvm, config, virtio, Runnable::run, x -> { })) {
            p.start();
            out.await("BENCH-BEGIN qd1", p);
            Cpu cpu0 = Cpu.now();
            shell.start();
            out.await("BENCH-END qd32", p);
            shell.stop();
            Cpu cpu1 = Cpu.now();
            HaltReason halt = p.awaitHalt(TIMEOUT);
            if (!(halt instanceof HaltReason.PowerOff) || out.text().contains("BLK-FAIL")) {
                throw new IllegalStateException("the good guest failed (" + halt.describe() + "): " + out.text());
            }
            double qd1 = n / out.seconds("qd1");
            double qd32 = n / out.seconds("qd32");
            return new Run(qd1, qd32, cpu1.since(cpu0), -1);
        }
    }

    /** A neighbour VM on its own disk: the hostile guest abusing it, or spinning beside it. */
    record Neighbour(KvmPartition partition, Marks out) implements AutoCloseable {

        static Neighbour start(String cond, Path image) throws Exception {
            Marks out = new Marks();
            String cmdline = cond.equals("spin") ? "hostile.mode=spin" : "hostile.ms=200";
            MachineConfig config = MachineConfig.of("hostile", 1, RAM, guests.resolve("hostile.elf"))
                    .withCmdline(cmdline).withDevice(new DeviceSpec(TYPE, image.toString()))
                    .withConsole(Console.streams(null, out));
            KvmPartition p = KvmPartition.create(kvm, config, virtio, Runnable::run, x -> { });
            p.start();
            out.await("HOSTILE round=1 ", p); // its first phase is done: the abuse (or the spinning) runs
            return new Neighbour(p, out);
        }

        io.bundlevisor.core.virtio.VirtioBinding binding() {
            return virtio.bindings().stream().filter(b -> b.name().startsWith("hostile/")).findFirst().orElseThrow();
        }

        void checkRunning() {
            if (partition.halt().isPresent()) {
                throw new IllegalStateException("the neighbour halted: " + partition.halt().get().describe() + ": "
                        + out.text());
            }
        }

        @Override
        public void close() {
            partition.close();
        }
    }

    /** The shell's commands, answered on a thread of their own every 100 ms while a good run measures. */
    static final class Shell {
        final BlkCommands blk;
        final VirtioCommands devices;
        /** Milliseconds each answer took. */
        final List<Double> blkMs = new ArrayList<>();
        final List<Double> devicesMs = new ArrayList<>();
        private volatile boolean running;
        private Thread thread;

        Shell(BlkCommands blk, VirtioCommands devices) {
            this.blk = blk;
            this.devices = devices;
        }

        void start() {
            running = true;
            thread = Thread.ofPlatform().name("shell").start(() -> {
                while (running) {
                    long t0 = System.nanoTime();
                    String list = blk.list();
                    long t1 = System.nanoTime();
                    List<String> lines = devices.devices();
                    long t2 = System.nanoTime();
                    if (list.isEmpty() || lines.isEmpty()) {
                        throw new IllegalStateException("a command answered nothing");
                    }
                    synchronized (this) {
                        blkMs.add((t1 - t0) / 1e6);
                        devicesMs.add((t2 - t1) / 1e6);
                    }
                    try {
                        Thread.sleep(100);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }

        void stop() throws InterruptedException {
            running = false;
            thread.join();
        }
    }

    /** A console that keeps its text and the time each line ended. */
    static final class Marks extends OutputStream {
        private final StringBuilder all = new StringBuilder();
        private final StringBuilder line = new StringBuilder();
        private final Map<String, Long> at = new ConcurrentHashMap<>();

        @Override
        public synchronized void write(int b) {
            if (b != '\n') {
                line.append((char) (b & 0xFF));
                return;
            }
            long now = System.nanoTime();
            String l = line.toString();
            line.setLength(0);
            all.append(l).append('\n');
            String[] w = l.split(" ");
            if (w.length >= 2 && w[0].startsWith("BENCH-")) {
                at.putIfAbsent(w[0] + " " + w[1], now);
            }
            notifyAll();
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            for (int i = 0; i < len; i++) {
                write(b[off + i]);
            }
        }

        synchronized String text() {
            return all.toString();
        }

        synchronized void await(String prefix, KvmPartition p) throws Exception {
            long end = System.nanoTime() + TIMEOUT.toNanos();
            while (!all.toString().contains(prefix)) {
                if (p.halt().isPresent() || System.nanoTime() > end) {
                    throw new IllegalStateException("no '" + prefix + "' (" + p.halt().map(HaltReason::describe)
                            .orElse("time-out") + "): " + all);
                }
                wait(100);
            }
        }

        double seconds(String figure) {
            return (at.get("BENCH-END " + figure) - at.get("BENCH-BEGIN " + figure)) / 1e9;
        }
    }

    /**
     * CPU use over a good run: this process's CPU seconds (utime + stime of /proc/self/stat; per-thread figures are
     * not used: a software KVM accounts a vCPU's guest time to the process but not to its thread) and how busy the
     * host's CPUs were (/proc/stat, all processes: shows other load on the machine).
     */
    record Cpu(long processTicks, long busy, long total) {
        static Cpu now() throws IOException {
            String stat = Files.readString(Path.of("/proc/self/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            String[] c = Files.readAllLines(Path.of("/proc/stat")).getFirst().trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < c.length; i++) {
                total += Long.parseLong(c[i]);
            }
            long idle = Long.parseLong(c[4]) + Long.parseLong(c[5]);
            return new Cpu(Long.parseLong(f[11]) + Long.parseLong(f[12]), total - idle, total);
        }

        /** {process CPU seconds, host busy fraction} from {@code before} to this. */
        double[] since(Cpu before) {
            return new double[] {(processTicks - before.processTicks) / 100.0,
                (double) (busy - before.busy) / Math.max(1, total - before.total)};
        }
    }

    /** Heap in use after a full GC, live threads, open file descriptors. */
    record Footprint(long heap, int threads, int fds) {
        static Footprint measure() throws IOException {
            Runtime rt = Runtime.getRuntime();
            System.gc();
            System.gc();
            try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
                return new Footprint(rt.totalMemory() - rt.freeMemory(),
                        ManagementFactory.getThreadMXBean().getThreadCount(), (int) s.count() - 1);
            }
        }

        /** Measures until the threads and descriptors of closed machines are gone, for at most 5 s. */
        static Footprint settled(Footprint start) throws Exception {
            Footprint f = measure();
            for (int i = 0; i < 50 && (f.threads > start.threads || f.fds > start.fds); i++) {
                Thread.sleep(100);
                f = measure();
            }
            return f;
        }
    }
}
