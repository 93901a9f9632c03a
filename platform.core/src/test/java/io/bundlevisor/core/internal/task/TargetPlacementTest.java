package io.bundlevisor.core.internal.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import io.bundlevisor.core.ring.CompletionHandler;
import io.bundlevisor.core.ring.Opcode;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.task.TaskDriver;
import io.bundlevisor.core.task.VpGroup;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code runOnTarget} without a kernel: a ring service that only records each thread's pin. The {@code thread}
 * backend pins a runOnTarget driver's thread next to its VP (at start, when the VP's CPUs arrive, at a retarget, and
 * back when the VP is unpinned); the {@code single} backend and drivers without runOnTarget pin nothing.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TargetPlacementTest {

    private static final BitSet ALL = cpus(0, 1, 2, 3);

    /** Pins only in a thread-local: what {@code currentThreadCpus} answers on that thread. */
    static final class PinRecorder implements RingService {
        private final ThreadLocal<BitSet> pinned = ThreadLocal.withInitial(() -> ALL);

        @Override
        public boolean pinCurrentThread(BitSet set) {
            RingService.super.pinCurrentThread(set);
            pinned.set((BitSet) set.clone());
            return true;
        }

        @Override
        public Optional<BitSet> currentThreadCpus() {
            return Optional.of((BitSet) pinned.get().clone());
        }

        @Override
        public boolean isAvailable() {
            return false;
        }

        @Override
        public Optional<String> unavailabilityCause() {
            return Optional.of("a test without io_uring");
        }

        @Override
        public boolean probe(Opcode opcode) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Ring create(String name, int entries) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Ring create(String name, int entries, CompletionHandler rawHandler) {
            throw new UnsupportedOperationException();
        }

        @Override
        public boolean confineWorkerThread() {
            return false;
        }

        @Override
        public List<Ring> rings() {
            return List.of();
        }
    }

    @Test
    void theThreadBackendKeepsARunOnTargetDriverNextToItsVp() throws Exception {
        PinRecorder service = new PinRecorder();
        TaskDriverSourceImpl source = new TaskDriverSourceImpl("thread", new RingFactory(service, 8));
        try {
            VpGroup group = source.createVpGroup("m", 2);
            TaskDriver near = group.builder().targetVp(1).runOnTarget(true).build("near");
            TaskDriver far = group.builder().targetVp(1).build("far");
            assertEquals(ALL, cpusOf(near, service), "VP 1's CPUs are not known yet");

            group.reportCpus(1, cpus(1));
            assertEquals(Optional.of(cpus(1)), group.cpus(1));
            awaitCpus(near, service, cpus(1));
            group.reportCpus(0, cpus(0, 2));
            near.retargetVp(0);
            awaitCpus(near, service, cpus(0, 2));
            group.reportCpus(0, new BitSet());
            assertEquals(Optional.empty(), group.cpus(0), "an empty report: unpinned");
            awaitCpus(near, service, ALL);
            assertEquals(ALL, cpusOf(far, service), "without runOnTarget: never pinned");

            TaskDriver late = group.builder().targetVp(1).runOnTarget(true).build("late");
            assertEquals(cpus(1), cpusOf(late, service), "pinned by its first task");

            BitSet mine = cpus(3);
            group.reportCpus(1, mine);
            mine.set(0);
            assertEquals(Optional.of(cpus(3)), group.cpus(1), "the group keeps a copy");
            group.cpus(1).orElseThrow().set(2);
            assertEquals(Optional.of(cpus(3)), group.cpus(1), "and hands out copies");
            assertThrows(IllegalArgumentException.class, () -> group.reportCpus(2, cpus(0)));
            assertThrows(IllegalArgumentException.class, () -> group.reportCpus(0, null));
            assertThrows(IllegalArgumentException.class, () -> group.cpus(-1));
        } finally {
            source.shutdown();
        }
    }

    @Test
    void theSingleBackendPinsNothing() throws Exception {
        PinRecorder service = new PinRecorder();
        TaskDriverSourceImpl source = new TaskDriverSourceImpl("single", new RingFactory(service, 8));
        try {
            VpGroup group = source.createVpGroup("m", 2);
            group.reportCpus(1, cpus(1));
            TaskDriver near = group.builder().targetVp(1).runOnTarget(true).build("near");
            assertTrue(near.runOnTarget(), "still reported");
            Thread.sleep(20);
            assertEquals(ALL, cpusOf(near, service));
        } finally {
            source.shutdown();
        }
    }

    private static BitSet cpusOf(TaskDriver driver, PinRecorder service) throws Exception {
        return driver.spawn("cpus", () -> service.currentThreadCpus().orElseThrow()).get(10, TimeUnit.SECONDS);
    }

    private static void awaitCpus(TaskDriver driver, PinRecorder service, BitSet expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        BooleanSupplier there = () -> {
            try {
                return expected.equals(cpusOf(driver, service));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        };
        while (!there.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, driver.name() + " never reached CPUs " + expected);
            Thread.sleep(2);
        }
    }

    private static BitSet cpus(int... cpus) {
        BitSet s = new BitSet();
        for (int c : cpus) {
            s.set(c);
        }
        return s;
    }
}
