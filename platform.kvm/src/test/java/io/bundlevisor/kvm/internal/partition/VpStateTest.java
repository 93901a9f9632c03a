package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.core.internal.task.TaskDriverSourceComponent;
import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.task.TaskDriver;
import io.bundlevisor.core.task.VpGroup;
import io.bundlevisor.core.task.VpState;
import io.bundlevisor.uring.internal.RingServiceImpl;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The partition feeds its VPs' states to the task drivers that target them (issue 18, OpenVMM's vm_task): stopped
 * before start and while stopped, running while started, halted by a guest's power-off, gone once closed.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VpStateTest {

    private TaskDriverSourceComponent drivers;

    @BeforeEach
    void source() {
        drivers = new TaskDriverSourceComponent("thread", new RingServiceImpl());
    }

    @AfterEach
    void stop() {
        drivers.deactivate();
    }

    private static void awaitStates(VpGroup group, VpState expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (states(group).stream().allMatch(s -> s == expected)) {
                return;
            }
            Thread.sleep(2);
        }
        assertEquals(List.of(expected, expected), states(group));
    }

    private static List<VpState> states(VpGroup group) {
        return java.util.stream.IntStream.range(0, group.vpCount()).mapToObj(group::state).toList();
    }

    @Test
    void eachVpsStateReachesTheDriversThatTargetIt() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        VpGroup group = drivers.createVpGroup("states", 2);
        KvmPartition p = KvmPartition.create(GuestRun.kvm(),
                GuestRun.config("counter", 2, 64L << 20).withConsole(Console.streams(null, out)), TestVirtio.NONE,
                Runnable::run, x -> { }, group);
        try {
            assertSame(group, p.vpGroup().orElseThrow());
            awaitStates(group, VpState.STOPPED);
            TaskDriver onVp1 = group.builder().targetVp(1).build("vp1-work");
            CompletableFuture<Void> ready = onVp1.waitTargetVpReady().toCompletableFuture();
            Thread.sleep(50);
            assertFalse(ready.isDone(), "VP 1 does not run before the partition starts");

            p.start();
            ready.get(30, TimeUnit.SECONDS);
            awaitStates(group, VpState.RUNNING);
            assertTrue(onVp1.isTargetVpReady());

            p.stop();
            assertEquals(List.of(VpState.STOPPED, VpState.STOPPED), states(group),
                    "stop returns once every VP has parked and said so");
            assertFalse(onVp1.isTargetVpReady());

            p.start();
            assertInstanceOf(HaltReason.PowerOff.class, p.awaitHalt(GuestRun.TIMEOUT), out.toString());
            awaitStates(group, VpState.HALTED);
            assertEquals(VpState.HALTED, onVp1.targetVpState());
            p.stop();
            Thread.sleep(20);
            assertEquals(List.of(VpState.HALTED, VpState.HALTED), states(group), "still halted while stopped");
            p.clearHalt();
            awaitStates(group, VpState.STOPPED);
        } finally {
            p.close();
        }
        assertEquals(List.of(VpState.GONE, VpState.GONE), states(group));
    }
}
