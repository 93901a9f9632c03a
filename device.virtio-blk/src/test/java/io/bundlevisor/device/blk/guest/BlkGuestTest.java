package io.bundlevisor.device.blk.guest;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.device.blk.internal.BlkDeviceFactory;
import io.bundlevisor.uring.host.HostFile;

/**
 * virtio-blk as a guest drives it, on our KVM: the freestanding blk guest finds the device through the DSDT,
 * negotiates, and does real IO through the virtio-mmio transport, the io_uring worker and the blk device into an
 * image file that the host then checks.
 */
class BlkGuestTest {

    private static final long IMAGE = 64L << 20;

    @TempDir
    Path dir;

    private Path image(String name) throws IOException {
        Path p = dir.resolve(name);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.truncate(0);
            ch.write(ByteBuffer.wrap(new byte[] {0}), IMAGE - 1);
        }
        return p;
    }

    /** The guest's write pattern: byte j of sector s is (s*31 + j*7) & 0xff (blk.c). */
    private static void assertPattern(Path image, long first, int count) throws IOException {
        byte[] all = Files.readAllBytes(image);
        for (long s = first; s < first + count; s++) {
            for (int j = 0; j < 512; j++) {
                int expected = (int) ((s * 31 + j * 7) & 0xFF);
                int got = all[(int) (s * 512 + j)] & 0xFF;
                if (got != expected) {
                    fail("sector " + s + " byte " + j + " is " + got + ", the guest wrote " + expected);
                }
            }
        }
    }

    private static long number(String out, String regex) {
        Matcher m = Pattern.compile(regex).matcher(out);
        assertTrue(m.find(), "no /" + regex + "/ in: " + out);
        return Long.parseLong(m.group(1));
    }

    @Test
    void writesFlushReachTheFileAndASecondBootReadsThemBack() throws Exception {
        Path img = image("disk.img");
        String out = GuestHarness.run(GuestHarness.config("blk.mode=write", 1, img + ",serial=bv-disk-7"));
        assertTrue(out.contains("BLK-INFO capacity=" + (IMAGE / 512) + " serial=bv-disk-7 queues=1"), out);
        assertTrue(out.contains("BLK-WRITE-OK"), out);
        assertTrue(number(out, "BLK-IRQ count=(\\d+)") > 0, "completions interrupt the guest: " + out);
        assertPattern(img, 8, 64);

        String again = GuestHarness.run(GuestHarness.config("blk.mode=read", 1, img.toString()));
        assertTrue(again.contains("BLK-READ-OK"), again);
    }

    @Test
    void aReadOnlyDiskRefusesWritesWithIoErr() throws Exception {
        Path img = image("ro.img");
        String out = GuestHarness.run(GuestHarness.config("blk.mode=ro", 1, img + ",readonly"));
        assertTrue(out.contains("BLK-RO feature=1"), out);
        assertTrue(out.contains("BLK-RO-OK"), out);
        byte[] all = Files.readAllBytes(img);
        for (byte b : all) {
            assertEquals(0, b, "a read-only disk was written");
        }
    }

    @Test
    void outOfRangeSectorsGetIoErrAndUnknownTypesUnsupp() throws Exception {
        String out = GuestHarness.run(GuestHarness.config("blk.mode=range", 1, image("range.img").toString()));
        assertTrue(out.contains("BLK-RANGE-OK"), out);
    }

    @Test
    void twoQueuesOnTwoVcpus() throws Throwable {
        Path img = image("mq.img");
        String[] out = new String[1];
        withTwoWorkers(() -> {
            try (GuestHarness h = GuestHarness.start(GuestHarness.config("blk.mode=mq", 2, img + ",queues=2"))) {
                // A multi-queue disk gets a worker per vCPU, each serving its queue on a thread and ring of its own.
                assertEquals(java.util.Set.of("virtio blk/virtio-blk0 q0", "virtio blk/virtio-blk0 q1"), workers());
                assertInstanceOf(io.bundlevisor.core.partition.HaltReason.PowerOff.class, h.awaitHalt(), h.output());
                out[0] = h.output();
            }
        });
        assertTrue(out[0].contains("BLK-MQ-OK"), out[0]);
        int cpus = Runtime.getRuntime().availableProcessors();
        try (GuestHarness h = GuestHarness.start(GuestHarness.config("blk.mode=mq", 2, img + ",queues=2"))) {
            assertEquals(cpus > 2 ? 2 : 1, workers().size(), "by default a worker per vCPU only with CPUs to spare ("
                    + cpus + " CPUs for 2 vCPUs): " + workers());
            h.awaitHalt();
        }
        assertTrue(number(out[0], "q0 completions=(\\d+)") > 0 && number(out[0], "q1 completions=(\\d+)") > 0,
                out[0]);
    }

    /**
     * Runs {@code body} with every multi-queue device on two workers: by default a VM gets a worker per vCPU only
     * where the host has CPUs to spare beside its vCPUs, which a 2-CPU CI host has not for a 2-vCPU guest.
     */
    private static void withTwoWorkers(org.junit.jupiter.api.function.Executable body) throws Throwable {
        System.setProperty("bundlevisor.virtio.workersPerDevice", "2");
        try {
            body.execute();
        } finally {
            System.clearProperty("bundlevisor.virtio.workersPerDevice");
        }
    }

    /** The worker threads of the machine "blk" alive now. */
    private static java.util.Set<String> workers() {
        return Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
                .filter(n -> n.startsWith("virtio blk/")).collect(java.util.stream.Collectors.toSet());
    }

    /**
     * The CPUs each thread whose name starts with {@code prefix} (the kernel's 15-character name) may run on, as
     * {@code Cpus_allowed_list} in /proc shows them.
     */
    private static java.util.List<String> allowedCpus(String prefix) throws java.io.IOException {
        java.util.List<String> out = new java.util.ArrayList<>();
        try (var tasks = java.nio.file.Files.list(Path.of("/proc/self/task"))) {
            for (Path task : tasks.toList()) {
                String status;
                try {
                    status = java.nio.file.Files.readString(task.resolve("status"));
                } catch (java.io.IOException gone) {
                    continue; // the thread ended meanwhile
                }
                String name = status.lines().filter(l -> l.startsWith("Name:")).findFirst().orElse("").substring(5)
                        .strip();
                if (name.startsWith(prefix)) {
                    out.add(status.lines().filter(l -> l.startsWith("Cpus_allowed_list:")).findFirst().orElseThrow()
                            .substring("Cpus_allowed_list:".length()).strip());
                }
            }
        }
        java.util.Collections.sort(out);
        return out;
    }

    /** {@link #allowedCpus} once it is {@code expected}, or as it is after 10 s. */
    private static java.util.List<String> awaitAllowedCpus(String prefix, java.util.List<String> expected)
            throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        java.util.List<String> now = allowedCpus(prefix);
        while (!now.equals(expected) && System.nanoTime() < deadline) {
            Thread.sleep(5);
            now = allowedCpus(prefix);
        }
        return now;
    }

    /**
     * A worker runs next to the VP whose queue it serves: with VP 0 pinned to CPU 0 and VP 1 to CPU 1, the worker of
     * queue 0 is pinned to CPU 0 and that of queue 1 to CPU 1 (issue 18: runOnTarget for the device's workers).
     */
    @Test
    void eachWorkerRunsPinnedNextToItsVpWhenAsked() throws Throwable {
        System.setProperty("bundlevisor.virtio.nearVp", "true");
        try {
            withTwoWorkers(this::workersPinnedNextToTheirVps);
        } finally {
            System.clearProperty("bundlevisor.virtio.nearVp");
        }
        // By default the workers are left to the scheduler, pinned VPs or not.
        String all = "0-" + (Runtime.getRuntime().availableProcessors() - 1);
        Path img = image("unpinned.img");
        var config = GuestHarness.config("blk.mode=mq", 2, img + ",queues=2")
                .withVpAffinity(io.bundlevisor.core.partition.VpAffinity.parse("0=0"));
        withTwoWorkers(() -> {
            try (GuestHarness h = GuestHarness.start(config)) {
                assertEquals(java.util.List.of(all, all), allowedCpus("virtio blk/"), "not pinned by default");
                h.awaitHalt();
            }
        });
    }

    private void workersPinnedNextToTheirVps() throws Exception {
        String second = Runtime.getRuntime().availableProcessors() > 1 ? "1" : "0"; // CI has two CPUs
        Path img = image("pinned.img");
        var config = GuestHarness.config("blk.mode=mq", 2, img + ",queues=2")
                .withVpAffinity(io.bundlevisor.core.partition.VpAffinity.parse("0=0,1=" + second));
        try (GuestHarness h = GuestHarness.start(config)) {
            // Each thread pins itself as it starts: wait for them.
            assertEquals(java.util.List.of("0", second), awaitAllowedCpus("virtio blk/", java.util.List.of("0", second)),
                    "a worker on each VP's CPU");
            assertEquals(java.util.List.of("0", second), awaitAllowedCpus("vp-", java.util.List.of("0", second)),
                    "the VPs where they were put");
            assertInstanceOf(io.bundlevisor.core.partition.HaltReason.PowerOff.class, h.awaitHalt(), h.output());
            assertTrue(h.output().contains("BLK-MQ-OK"), h.output());
        }
        try (GuestHarness h = GuestHarness.start(GuestHarness.config("blk.mode=mq", 2, img + ",queues=2"))) {
            String all = "0-" + (Runtime.getRuntime().availableProcessors() - 1);
            assertEquals(java.util.List.of(all, all), allowedCpus("virtio blk/"), "unpinned VPs, unpinned workers");
            h.awaitHalt();
        }
    }

    /**
     * With its queues on two workers, a disk is still handed over between bundles, saved and restored as one device:
     * the other worker stops and takes the stand-in and then the successor, and the save holds each queue's indices
     * from the worker serving it. A one-queue disk keeps one worker.
     */
    @Test
    void aDiskOnTwoWorkersIsHandedOverSavedAndRestoredAsOne() throws Throwable {
        withTwoWorkers(this::handedOverSavedAndRestoredAsOne);
    }

    private void handedOverSavedAndRestoredAsOne() throws Exception {
        Path img = image("two-workers.img");
        var config = GuestHarness.config("blk.mode=hot blk.strict=1 blk.acked=640", 2, img + ",queues=2");
        java.io.ByteArrayOutputStream saved = new java.io.ByteArrayOutputStream();
        String before;
        try (GuestHarness h = GuestHarness.start(config)) {
            assertEquals(2, workers().size(), workers().toString());
            h.await("BLK-HOT acked=", 2);
            GuestHarness.virtio.removeFactory(GuestHarness.factory, GuestHarness.TYPE);
            GuestHarness.virtio.addFactory(GuestHarness.factory, GuestHarness.TYPE);
            h.await("BLK-HOT acked=", GuestHarness.count(h.output(), "BLK-HOT acked=") + 2);
            h.partition.stop();
            h.partition.save(saved);
            before = h.output();
            assertEquals(0, GuestHarness.virtio.bindings().getLast().needsResetCount(), before);
        }
        try (GuestHarness h = GuestHarness.create(config)) {
            h.partition.restore(new java.io.ByteArrayInputStream(saved.toByteArray()));
            h.partition.start();
            assertInstanceOf(io.bundlevisor.core.partition.HaltReason.PowerOff.class, h.awaitHalt(), before + h.output());
            assertTrue(h.output().contains("BLK-HOT-OK"), before + "\n--- restored ---\n" + h.output());
            assertFalse(h.output().contains("BLK-HOT gone"), h.output());
        }
        try (GuestHarness h = GuestHarness.start(GuestHarness.config("blk.mode=hot", 2, image("one.img") + ",queues=1"))) {
            assertEquals(java.util.Set.of("virtio blk/virtio-blk0"), workers(), "one queue, one worker");
        }
    }

    @Test
    void aLockedOrMissingImageIsRefusedInOneLine() throws Exception {
        Path img = image("locked.img");
        try (GuestHarness first = GuestHarness.start(GuestHarness.config("blk.mode=hot", 1, img.toString()))) {
            PartitionException e = assertThrows(PartitionException.class,
                    () -> GuestHarness.start(GuestHarness.config("blk.mode=hot", 1, img.toString())));
            assertTrue(e.getMessage().contains("locked"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
        PartitionException missing = assertThrows(PartitionException.class,
                () -> GuestHarness.start(GuestHarness.config("blk.mode=write", 1, dir.resolve("nope.img").toString())));
        assertFalse(missing.getMessage().contains("\n"), missing.getMessage());
        assertTrue(missing.getMessage().contains("nope.img"), missing.getMessage());
    }

    /**
     * No bundle takes the device over within the grace period: the guest is told DEVICE_NEEDS_RESET, resets and
     * waits for a device; when a bundle comes it gets a fresh one. No acknowledged write is lost either way.
     */
    @Test
    void theGracePeriodEndsInDeviceNeedsResetAndTheGuestResetsAFreshDevice() throws Exception {
        Path img = image("hot.img");
        GuestHarness.virtio.setHandoverGrace(java.time.Duration.ofMillis(200));
        try (GuestHarness h = GuestHarness.start(GuestHarness.config("blk.mode=hot blk.resets=2", 1, img.toString()))) {
            for (int round = 1; round <= 2; round++) {
                // IO is running: two more progress lines since the last return.
                h.await("BLK-HOT acked=", GuestHarness.count(h.output(), "BLK-HOT acked=") + 2);
                long start = System.nanoTime();
                GuestHarness.virtio.removeFactory(GuestHarness.factory, GuestHarness.TYPE);
                h.await("BLK-HOT gone", round);
                long millis = (System.nanoTime() - start) / 1_000_000;
                assertTrue(millis >= 150, "DEVICE_NEEDS_RESET only once the grace period ended: " + millis + " ms");
                GuestHarness.virtio.addFactory(GuestHarness.factory, GuestHarness.TYPE);
                h.await("BLK-HOT back resets=" + round);
            }
            assertInstanceOf(io.bundlevisor.core.partition.HaltReason.PowerOff.class, h.awaitHalt(), h.output());
            assertTrue(h.output().contains("BLK-HOT-OK"), h.output());
        } finally {
            GuestHarness.virtio.setHandoverGrace(java.time.Duration.ofSeconds(30));
        }
    }

    /**
     * A newer bundle that cannot read the running device's state, then one that lacks the features the driver uses:
     * each handover falls back to DEVICE_NEEDS_RESET; the guest resets, gets the new bundle's device, and every write
     * it saw acknowledged reads back.
     */
    @Test
    void aStateOfAnUnknownVersionOrANarrowerFeatureSetFallsBackToAReset() throws Exception {
        Path img = image("refused.img");
        GuestHarness.platform();
        VirtioDeviceFactory previous = GuestHarness.factory;
        try (GuestHarness h = GuestHarness.start(GuestHarness.config("blk.mode=hot blk.resets=2", 1, img.toString()))) {
            VirtioBinding b = GuestHarness.virtio.bindings().getLast();
            int round = 0;
            for (RefusingSuccessor.Refusal r : RefusingSuccessor.Refusal.values()) {
                round++;
                h.await("BLK-HOT acked=", GuestHarness.count(h.output(), "BLK-HOT acked=") + 2);
                GuestHarness.virtio.removeFactory(previous, GuestHarness.TYPE);
                previous = new RefusingSuccessor(r);
                GuestHarness.virtio.addFactory(previous, GuestHarness.TYPE);
                h.await("BLK-HOT gone", round);
                h.await("BLK-HOT back resets=" + round);
                assertEquals(round, b.needsResetCount(), r + ": DEVICE_NEEDS_RESET once more");
                assertTrue(b.isBound(), r + ": the new bundle's device is bound");
            }
            assertInstanceOf(io.bundlevisor.core.partition.HaltReason.PowerOff.class, h.awaitHalt(), h.output());
            assertTrue(h.output().contains("BLK-HOT-OK"), h.output());
        } finally {
            GuestHarness.virtio.removeFactory(previous, GuestHarness.TYPE);
            GuestHarness.virtio.addFactory(GuestHarness.factory, GuestHarness.TYPE);
        }
    }

    /**
     * A successor whose factory registers while the old device is being closed (here from that device's close(), as
     * a bundle starting on another thread at that moment would) takes the device over, with no reset. PlatformIT
     * found the race: the new factory came between the old one's removal and the old device's unbind, found the
     * device still bound, and nobody took it over; the grace period ran out and the guest saw DEVICE_NEEDS_RESET.
     */
    @Test
    void aSuccessorArrivingWhileTheOldDeviceClosesTakesItOver() throws Exception {
        Path img = image("race.img");
        GuestHarness.platform();
        BlkDeviceFactory successor = new BlkDeviceFactory();
        VirtioDeviceFactory racing = context -> new ForwardingDevice(GuestHarness.factory.create(context)) {
            @Override
            public void close() {
                d.close();
                GuestHarness.virtio.addFactory(successor, GuestHarness.TYPE);
            }
        };
        GuestHarness.virtio.removeFactory(GuestHarness.factory, GuestHarness.TYPE);
        GuestHarness.virtio.addFactory(racing, GuestHarness.TYPE);
        try (GuestHarness h = GuestHarness.start(GuestHarness.config("blk.mode=hot blk.strict=1 blk.acked=640", 1,
                img.toString()))) {
            VirtioBinding b = GuestHarness.virtio.bindings().getLast();
            h.await("BLK-HOT acked=", 2);
            GuestHarness.virtio.removeFactory(racing, GuestHarness.TYPE);
            assertTrue(b.isBound() && b.handoverMillis() < 0, "the successor took the device over at once");
            assertInstanceOf(io.bundlevisor.core.partition.HaltReason.PowerOff.class, h.awaitHalt(), h.output());
            assertTrue(h.output().contains("BLK-HOT-OK"), h.output());
            assertEquals(0, b.needsResetCount(), "DEVICE_NEEDS_RESET was never set");
        } finally {
            GuestHarness.virtio.removeFactory(racing, GuestHarness.TYPE);
            GuestHarness.virtio.removeFactory(successor, GuestHarness.TYPE);
            GuestHarness.virtio.addFactory(GuestHarness.factory, GuestHarness.TYPE);
        }
    }

    /**
     * Five updates of the device's bundle (a new factory each time) under a guest writing and reading back records:
     * the guest never sees DEVICE_NEEDS_RESET, an error or its queue reset (blk.strict), every acknowledged write
     * reads back, and while the device is between two bundles nobody else, in this process or another, can lock
     * its image.
     */
    @Test
    void fiveUpdatesUnderIoAreInvisibleToTheGuestAndTheImageStaysLocked() throws Exception {
        Path img = image("update.img");
        assertEquals("locked", OtherProcessLock.tryIn(img), "the probe takes a free image");
        GuestHarness.platform();
        BlkDeviceFactory previous = GuestHarness.factory;
        try (GuestHarness h = GuestHarness.start(GuestHarness.config("blk.mode=hot blk.strict=1 blk.acked=2560", 1,
                img.toString()))) {
            VirtioBinding b = GuestHarness.virtio.bindings().getLast();
            for (int round = 1; round <= 5; round++) {
                h.await("BLK-HOT acked=", GuestHarness.count(h.output(), "BLK-HOT acked=") + 2);
                GuestHarness.virtio.removeFactory(previous, GuestHarness.TYPE);
                assertTrue(b.handoverMillis() >= 0, "between two bundles");
                try (HostFile other = HostFile.open(img, HostFile.READ_WRITE)) {
                    assertFalse(other.tryLock(true), "the image stays locked between the two bundles");
                }
                if (round == 1) {
                    assertEquals("refused", OtherProcessLock.tryIn(img), "another process cannot take the image");
                }
                previous = new BlkDeviceFactory();
                GuestHarness.virtio.addFactory(previous, GuestHarness.TYPE);
                assertTrue(b.isBound() && b.handoverMillis() < 0);
            }
            assertInstanceOf(io.bundlevisor.core.partition.HaltReason.PowerOff.class, h.awaitHalt(), h.output());
            assertTrue(h.output().contains("BLK-HOT-OK"), h.output());
            assertFalse(h.output().contains("BLK-HOT gone"), h.output());
            assertEquals(0, b.needsResetCount(), "DEVICE_NEEDS_RESET was never set");
        } finally {
            GuestHarness.virtio.removeFactory(previous, GuestHarness.TYPE);
            GuestHarness.virtio.addFactory(GuestHarness.factory, GuestHarness.TYPE);
        }
    }

    @Test
    void aSaveTakenUnderIoContinuesInAFreshMachineOnTheSameDisk() throws Exception {
        Path img = image("saved.img");
        var config = GuestHarness.config("blk.mode=hot blk.strict=1 blk.acked=640", 1, img.toString());
        java.io.ByteArrayOutputStream saved = new java.io.ByteArrayOutputStream();
        String before;
        try (GuestHarness h = GuestHarness.start(config)) {
            h.await("BLK-HOT acked=", 2);
            h.partition.stop();
            h.partition.save(saved);
            before = h.output();
        }
        // The first machine is closed: its disk lock is released for the second.
        try (GuestHarness h = GuestHarness.create(config)) {
            h.partition.restore(new java.io.ByteArrayInputStream(saved.toByteArray()));
            h.partition.start();
            h.await("BLK-HOT acked=", 2);
            // A handover in the restored machine goes unnoticed too.
            GuestHarness.virtio.removeFactory(GuestHarness.factory, GuestHarness.TYPE);
            GuestHarness.virtio.addFactory(GuestHarness.factory, GuestHarness.TYPE);
            assertInstanceOf(io.bundlevisor.core.partition.HaltReason.PowerOff.class, h.awaitHalt(), before + h.output());
            assertTrue(h.output().contains("BLK-HOT-OK"), before + "\n--- restored ---\n" + h.output());
        }
    }
}
