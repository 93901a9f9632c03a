package io.bundlevisor.kvm.internal.partition;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeoutException;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.virtio.VirtioService;
import io.bundlevisor.kvm.internal.Kvm;

import org.junit.jupiter.api.Assumptions;

/** A test guest from target/guests in a real partition, with its console captured. */
final class GuestRun implements AutoCloseable {

    static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static Kvm kvm;

    final KvmPartition partition;
    final ByteArrayOutputStream console;

    private GuestRun(KvmPartition partition, ByteArrayOutputStream console) {
        this.partition = partition;
        this.console = console;
    }

    /** Skips loudly without /dev/kvm (`./bundlevisor test` fails a run where /dev/kvm exists and a test skipped). */
    static synchronized Kvm kvm() throws Exception {
        if (!Files.exists(Kvm.DEVICE)) {
            System.err.println("*** SKIPPING KVM TESTS: " + Kvm.DEVICE + " does not exist on this host ***");
        }
        Assumptions.assumeTrue(Files.exists(Kvm.DEVICE), "/dev/kvm missing");
        if (kvm == null) {
            kvm = Kvm.open();
        }
        return kvm;
    }

    static Path guest(String name) {
        Path p = Path.of("target", "guests", name + ".elf");
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException(p + " is missing: the build compiles src/guest (needs gcc and make)");
        }
        return p;
    }

    static MachineConfig config(String guest, int cpus, long memory) {
        return MachineConfig.of(guest, cpus, memory, guest(guest));
    }

    static GuestRun create(MachineConfig config) throws Exception {
        return create(config, TestVirtio.NONE);
    }

    /** A partition whose declared devices are attached to {@code virtio}. */
    static GuestRun create(MachineConfig config, VirtioService virtio) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        KvmPartition p = KvmPartition.create(kvm(), config.withConsole(Console.streams(null, out)), virtio,
                Runnable::run, x -> { });
        return new GuestRun(p, out);
    }

    static GuestRun start(String guest, int cpus) throws Exception {
        GuestRun run = create(config(guest, cpus, 64L << 20));
        run.partition.start();
        return run;
    }

    HaltReason awaitHalt() throws InterruptedException, TimeoutException {
        try {
            return partition.awaitHalt(TIMEOUT);
        } catch (TimeoutException e) {
            throw new TimeoutException(e.getMessage() + "; console so far: " + output());
        }
    }

    String output() {
        return console.toString(StandardCharsets.ISO_8859_1);
    }

    /** Waits until the console shows {@code text}. */
    void awaitOutput(String text) throws InterruptedException, TimeoutException {
        awaitOutput(text, TIMEOUT);
    }

    void awaitOutput(String text, Duration timeout) throws InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!output().contains(text)) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("no '" + text + "' on the console: " + output());
            }
            if (partition.halt().isPresent()) {
                throw new AssertionError("halted (" + partition.halt().get().describe() + ") before '" + text
                        + "': " + output());
            }
            Thread.sleep(2);
        }
    }

    @Override
    public void close() {
        partition.close();
    }

    static void expectRefused(MachineConfig config, String message) throws Exception {
        try (KvmPartition p = KvmPartition.create(kvm(), config, TestVirtio.NONE, Runnable::run, x -> { })) {
            throw new AssertionError("created a partition that should be refused");
        } catch (PartitionException e) {
            if (!e.getMessage().contains(message) || e.getMessage().contains("\n")) {
                throw new AssertionError("expected one line with '" + message + "', got: " + e.getMessage());
            }
        }
    }
}
