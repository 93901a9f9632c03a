package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;

import io.bundlevisor.core.internal.task.TaskDriverSourceComponent;
import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.VpAffinity;
import io.bundlevisor.core.task.TaskDriver;
import io.bundlevisor.core.task.VpGroup;
import io.bundlevisor.core.task.VpState;
import io.bundlevisor.uring.internal.RingServiceImpl;
import io.bundlevisor.uring.sys.CpuAffinity;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * VP affinity and {@code runOnTarget} (issue 18): a 2-VP machine with VP 0 on CPU 0 and VP 1 on CPU 1 has each VP
 * thread pinned (as the kernel sees it, in {@code /proc/self/task/TID/status}), its VP group reports both sets, and
 * a {@code runOnTarget} driver for VP 1 runs its tasks on a thread pinned to CPU 1, whether built before or after the
 * VP pinned itself, and follows a retarget to VP 0; a driver without {@code runOnTarget} stays unpinned.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VpAffinityTest {

    private final RingServiceImpl rings = new RingServiceImpl();
    private TaskDriverSourceComponent drivers;

    @BeforeEach
    void source() {
        drivers = new TaskDriverSourceComponent("thread", rings);
    }

    @AfterEach
    void stop() {
        drivers.deactivate();
    }

    @Test
    void vpThreadsArePinnedAndRunOnTargetDriversFollowThem() throws Exception {
        Assumptions.assumeTrue(CpuAffinity.hostCpus() >= 2 && rings.currentThreadCpus().orElseThrow().get(0, 2)
                .cardinality() == 2, "needs host CPUs 0 and 1");
        BitSet cpu0 = only(0);
        BitSet cpu1 = only(1);
        BitSet unpinned = rings.currentThreadCpus().orElseThrow();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        MachineConfig config = new MachineConfig("pinned", 2, 64L << 20, GuestRun.guest("counter"), Optional.empty(),
                "", Console.streams(null, out)).withVpAffinity(VpAffinity.of(Map.of(0, cpu0, 1, cpu1)));
        VpGroup group = drivers.createVpGroup("pinned", 2);
        // Built before the partition: VP 1's CPUs are not known yet; the driver moves once they are.
        TaskDriver early = group.builder().targetVp(1).runOnTarget(true).build("early-vp1");
        assertEquals(unpinned, taskCpus(early), "nothing to follow yet");

        KvmPartition p = KvmPartition.create(GuestRun.kvm(), config, TestVirtio.NONE, Runnable::run, x -> { }, group);
        try {
            await(() -> group.cpus(1).isPresent() && group.cpus(0).isPresent(), "both VPs reported their CPUs");
            assertEquals(Optional.of(cpu0), group.cpus(0));
            assertEquals(Optional.of(cpu1), group.cpus(1));
            assertEquals("0", allowedList("vp-0 pinned"), "VP 0's thread as the kernel sees it");
            assertEquals("1", allowedList("vp-1 pinned"), "VP 1's thread as the kernel sees it");

            p.start();
            awaitRunning(group);

            TaskDriver near = group.builder().targetVp(1).runOnTarget(true).build("near-vp1");
            assertEquals(cpu1, taskCpus(near), "built after VP 1 pinned itself: pinned from its first task");
            assertEquals(1, near.spawn("where", () -> rings.currentCpu().orElseThrow()).get(10, TimeUnit.SECONDS));
            await(() -> cpu1.equals(quietly(() -> taskCpus(early))), "the early driver moved next to VP 1");

            TaskDriver far = group.builder().targetVp(1).build("far-vp1");
            assertEquals(unpinned, taskCpus(far), "without runOnTarget: unpinned");
            assertNotEquals(cpu1, taskCpus(far));

            early.retargetVp(0);
            await(() -> cpu0.equals(quietly(() -> taskCpus(early))), "a retargeted driver follows VP 0");
            p.stop();
            near.close();
            far.close();
            early.close();
        } finally {
            p.close();
        }
    }

    @Test
    void aDriverWhoseVpIsNotPinnedStaysUnpinned() throws Exception {
        BitSet unpinned = rings.currentThreadCpus().orElseThrow();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        MachineConfig config = new MachineConfig("unpinned", 2, 64L << 20, GuestRun.guest("counter"),
                Optional.empty(), "", Console.streams(null, out)).withVpAffinity(VpAffinity.of(Map.of(0, only(0))));
        VpGroup group = drivers.createVpGroup("unpinned", 2);
        KvmPartition p = KvmPartition.create(GuestRun.kvm(), config, TestVirtio.NONE, Runnable::run, x -> { }, group);
        try {
            await(() -> group.cpus(0).isPresent(), "VP 0 reported its CPUs");
            assertEquals(Optional.empty(), group.cpus(1), "VP 1 has no affinity");
            TaskDriver onVp1 = group.builder().targetVp(1).runOnTarget(true).build("vp1-unpinned");
            assertEquals(unpinned, taskCpus(onVp1));
            assertEquals(unpinned, CpuAffinity.currentThreadCpus(), "the test thread itself was never pinned");
            onVp1.close();
        } finally {
            p.close();
        }
    }

    /** The CPUs of the driver's thread, asked from a task on it. */
    private BitSet taskCpus(TaskDriver driver) throws Exception {
        return driver.spawn("cpus", () -> rings.currentThreadCpus().orElseThrow()).get(10, TimeUnit.SECONDS);
    }

    private static <T> T quietly(java.util.concurrent.Callable<T> call) {
        try {
            return call.call();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static void await(Supplier<Boolean> condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.get()) {
            assertTrue(System.nanoTime() < deadline, "timed out: " + what);
            Thread.sleep(2);
        }
    }

    private static void awaitRunning(VpGroup group) throws InterruptedException {
        await(() -> group.state(0) == VpState.RUNNING && group.state(1) == VpState.RUNNING, "both VPs running");
    }

    private static BitSet only(int cpu) {
        BitSet s = new BitSet();
        s.set(cpu);
        return s;
    }

    /** The {@code Cpus_allowed_list} of the one thread of this process named {@code comm}. */
    private static String allowedList(String comm) throws IOException {
        List<String> found = new ArrayList<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : tasks.toList()) {
                try {
                    if (Files.readString(task.resolve("comm")).strip().equals(comm)) {
                        for (String line : Files.readAllLines(task.resolve("status"))) {
                            if (line.startsWith("Cpus_allowed_list:")) {
                                found.add(line.substring(line.indexOf(':') + 1).strip());
                            }
                        }
                    }
                } catch (IOException e) {
                    // The thread ended while we looked.
                }
            }
        }
        assertEquals(1, found.size(), "threads named '" + comm + "': " + found);
        return found.get(0);
    }
}
