package io.bundlevisor.device.blk.guest;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeoutException;

import org.junit.jupiter.api.Assumptions;

import io.bundlevisor.core.internal.virtio.VirtioServiceImpl;
import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.device.blk.internal.BlkDeviceFactory;
import io.bundlevisor.kvm.internal.Kvm;
import io.bundlevisor.kvm.internal.partition.KvmPartition;
import io.bundlevisor.uring.internal.RingServiceImpl;

/**
 * The blk test guest (platform.kvm/src/guest/blk*.c) in a real partition on KVM, with the real virtio service,
 * ring service and virtio-blk factory, as the platform wires them in the framework; console captured.
 */
final class GuestHarness implements AutoCloseable {

    static final Duration TIMEOUT = Duration.ofSeconds(60);
    static final String TYPE = "virtio-blk";

    private static Kvm kvm;
    private static RingServiceImpl rings;
    static VirtioServiceImpl virtio;
    static BlkDeviceFactory factory;

    final KvmPartition partition;
    private final ByteArrayOutputStream console;

    private GuestHarness(KvmPartition partition, ByteArrayOutputStream console) {
        this.partition = partition;
        this.console = console;
    }

    /** Skips loudly without /dev/kvm (`./bundlevisor test` fails a run where /dev/kvm exists and a test skipped). */
    static synchronized void platform() throws Exception {
        if (!Files.exists(Kvm.DEVICE)) {
            System.err.println("*** SKIPPING KVM TESTS: " + Kvm.DEVICE + " does not exist on this host ***");
        }
        Assumptions.assumeTrue(Files.exists(Kvm.DEVICE), "/dev/kvm missing");
        if (kvm == null) {
            kvm = Kvm.open();
            rings = new RingServiceImpl();
            virtio = new VirtioServiceImpl(rings);
            factory = new BlkDeviceFactory();
            virtio.addFactory(factory, TYPE);
        }
    }

    static Path guest() {
        Path p = Path.of("..", "platform.kvm", "target", "guests", "blk.elf");
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException(p + " is missing: platform.kvm's build compiles src/guest");
        }
        return p;
    }

    static MachineConfig config(String cmdline, int cpus, String... disks) {
        MachineConfig c = MachineConfig.of("blk", cpus, 64L << 20, guest()).withCmdline(cmdline);
        for (String d : disks) {
            c = c.withDevice(new DeviceSpec(TYPE, d));
        }
        return c;
    }

    static GuestHarness start(MachineConfig config) throws Exception {
        GuestHarness h = create(config);
        h.partition.start();
        return h;
    }

    /** A stopped partition, for restore. */
    static GuestHarness create(MachineConfig config) throws Exception {
        platform();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        KvmPartition p = KvmPartition.create(kvm, config.withConsole(Console.streams(null, out)), virtio,
                Runnable::run, x -> { });
        return new GuestHarness(p, out);
    }

    /** Runs the guest to its end and returns its console; it must power off. */
    static String run(MachineConfig config) throws Exception {
        try (GuestHarness h = start(config)) {
            HaltReason r = h.awaitHalt();
            if (!(r instanceof HaltReason.PowerOff)) {
                throw new AssertionError("halted by " + r.describe() + ": " + h.output());
            }
            return h.output();
        }
    }

    HaltReason awaitHalt() throws InterruptedException, TimeoutException {
        try {
            return partition.awaitHalt(TIMEOUT);
        } catch (TimeoutException e) {
            throw new TimeoutException(e.getMessage() + "; console so far: " + output());
        }
    }

    /** Waits until the console shows {@code text}; fails on a halt first. */
    void await(String text) throws Exception {
        await(text, 1);
    }

    /** Waits until the console shows {@code text} at least {@code times} times; fails on a halt first. */
    void await(String text, int times) throws Exception {
        long end = System.nanoTime() + TIMEOUT.toNanos();
        while (count(output(), text) < times) {
            if (partition.halt().isPresent()) {
                throw new AssertionError("halted (" + partition.halt().get().describe() + ") before '" + text
                        + "': " + output());
            }
            if (System.nanoTime() > end) {
                throw new TimeoutException("no '" + text + "' on the console: " + output());
            }
            Thread.sleep(10);
        }
    }

    static int count(String haystack, String needle) {
        int n = 0;
        for (int i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    String output() {
        synchronized (console) {
            return console.toString(StandardCharsets.ISO_8859_1);
        }
    }

    @Override
    public void close() {
        partition.close();
    }
}
