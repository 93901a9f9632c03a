package io.bundlevisor.core.internal.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.core.ring.RingUnavailableException;
import io.bundlevisor.core.task.TaskDriver;
import io.bundlevisor.core.task.VpGroup;
import io.bundlevisor.core.task.VpState;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Task-driver semantics, with executors that have no ring (no ring service here: platform.uring depends on this
 * bundle, not the other way round). The ring-backed executor loop is tested in-framework by the distro's Pax Exam
 * tests.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TaskDriverSourceTest {

    private final List<TaskDriverSourceImpl> sources = new ArrayList<>();

    private TaskDriverSourceImpl source(String backend) {
        TaskDriverSourceImpl s = new TaskDriverSourceImpl(backend, new RingFactory(null, 8));
        sources.add(s);
        return s;
    }

    @AfterEach
    void shutdown() {
        sources.forEach(TaskDriverSourceImpl::shutdown);
    }

    private static Thread threadOf(TaskDriver driver) throws Exception {
        return driver.spawn("which thread", Thread::currentThread).get(10, TimeUnit.SECONDS);
    }

    @Test
    void threadBackendGivesTargetedDriversTheirOwnNamedThread() throws Exception {
        TaskDriverSourceImpl source = source("thread");
        assertEquals("thread", source.backend());
        TaskDriver simple = source.simple();
        assertEquals("default", simple.name());
        Thread defaultThread = threadOf(simple);
        assertEquals(ThreadDriverBackend.DEFAULT_THREAD_NAME, defaultThread.getName());
        assertFalse(defaultThread.isVirtual());

        TaskDriver vp2 = source.builder().targetVp(2).build("blk0-q2");
        Thread vp2Thread = threadOf(vp2);
        assertEquals("blk0-q2", vp2Thread.getName());
        assertNotSame(defaultThread, vp2Thread);
        assertSame(vp2Thread, threadOf(vp2), "a driver's tasks always run on the same thread");
        assertEquals(OptionalInt.of(2), vp2.targetVp());

        TaskDriver untargeted = source.builder().build("misc");
        assertSame(defaultThread, threadOf(untargeted), "no target VP: the default thread");
    }

    @Test
    void singleBackendRunsEverythingOnOneThread() throws Exception {
        TaskDriverSourceImpl source = source("single");
        Thread t = threadOf(source.simple());
        assertEquals(SingleDriverBackend.THREAD_NAME, t.getName());
        assertSame(t, threadOf(source.builder().targetVp(0).build("a")));
        assertSame(t, threadOf(source.builder().targetVp(5).runOnTarget(true).build("b")));
    }

    @Test
    void currentDispatchesToTheCallingThreadsDriver() throws Exception {
        TaskDriverSourceImpl source = source("thread");
        TaskDriver vp1 = source.builder().targetVp(1).build("net0-rx");
        assertSame(vp1, vp1.spawn("current", source::current).get());
        assertSame(source.simple(), source.simple().spawn("current", source::current).get());
        assertSame(source.simple(), source.current(), "outside any executor thread: the default driver");

        // A thread of another source does not count as one of ours.
        TaskDriverSourceImpl other = source("thread");
        TaskDriver foreign = other.builder().targetVp(1).build("foreign");
        assertSame(source.simple(), foreign.spawn("current", source::current).get());
    }

    @Test
    void retargetAndReadiness() throws Exception {
        TaskDriverSourceImpl source = source("thread");
        assertTrue(source.simple().isTargetVpReady(), "no target: always ready");

        TaskDriver d = source.builder().targetVp(3).build("d");
        assertFalse(d.isTargetVpReady());
        CompletableFuture<Void> ready3 = d.waitTargetVpReady().toCompletableFuture();
        assertFalse(ready3.isDone());
        assertEquals(7, d.spawn("still usable", () -> 7).get(), "a driver works while its VP is not ready");

        source.setVpReady(3, true);
        ready3.get(5, TimeUnit.SECONDS);
        assertTrue(d.isTargetVpReady());

        d.retargetVp(4);
        assertEquals(OptionalInt.of(4), d.targetVp());
        assertFalse(d.isTargetVpReady(), "readiness follows the new target");
        CompletableFuture<Void> ready4 = d.waitTargetVpReady().toCompletableFuture();
        source.setVpReady(4, true);
        ready4.get(5, TimeUnit.SECONDS);

        source.setVpReady(4, false);
        assertFalse(d.isTargetVpReady(), "a VP can stop being ready");
        assertThrows(IllegalArgumentException.class, () -> d.retargetVp(-1));
        assertThrows(IllegalArgumentException.class, () -> source.builder().targetVp(-2));
    }

    @Test
    void spawnPropagatesFailures() {
        TaskDriver d = source("thread").simple();
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> d.spawn("fails", () -> { throw new IllegalStateException("boom"); }).get());
        assertEquals("boom", e.getCause().getMessage());
    }

    @Test
    void shutdownRunsQueuedTasksThenStopsEveryThread() throws Exception {
        TaskDriverSourceImpl source = source("thread");
        TaskDriver a = source.builder().targetVp(0).build("a");
        TaskDriver b = source.builder().targetVp(1).build("b");
        Thread ta = threadOf(a);
        Thread tb = threadOf(b);
        Thread td = threadOf(source.simple());
        CountDownLatch gate = new CountDownLatch(1);
        List<Integer> ran = new ArrayList<>();
        a.execute(() -> {
            try {
                gate.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        for (int i = 0; i < 5; i++) {
            int n = i;
            a.execute(() -> ran.add(n));
        }
        gate.countDown();
        source.shutdown();
        assertEquals(List.of(0, 1, 2, 3, 4), ran, "queued tasks run before the thread stops");
        for (Thread t : List.of(ta, tb, td)) {
            assertFalse(t.isAlive(), t.getName() + " stopped");
        }
        assertThrows(RejectedExecutionException.class, () -> a.execute(() -> { }));
        assertThrows(IllegalStateException.class, () -> source.builder().targetVp(2).build("late"));
    }

    @Test
    void closingADedicatedDriverStopsOnlyItsThread() throws Exception {
        TaskDriverSourceImpl source = source("thread");
        TaskDriver a = source.builder().targetVp(0).build("a");
        Thread ta = threadOf(a);
        a.close();
        a.close();
        assertFalse(ta.isAlive());
        assertTrue(threadOf(source.simple()).isAlive());
        TaskDriver shared = source.builder().build("shared");
        shared.close();
        assertEquals(1, shared.spawn("x", () -> 1).get(), "closing a shared driver closes nothing");
    }

    @Test
    void withoutARingServiceIoSaysWhy() {
        TaskDriver d = source("thread").simple();
        RingUnavailableException e = assertThrows(RingUnavailableException.class, d::ring);
        assertTrue(e.getMessage().contains("platform.uring"), e.getMessage());
    }

    @Test
    void unknownBackendIsRejectedWithItsName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TaskDriverSourceImpl("fibers", new RingFactory(null, 8)));
        assertEquals("task backend 'fibers' is not one of: single, thread", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> source("thread").builder().build(" "));
    }

    @Test
    void aPartitionsVpGroupReportsStatesAndDriversTargetOnlyItsVps() throws Exception {
        TaskDriverSourceImpl source = source("thread");
        VpGroup a = source.createVpGroup("a", 2);
        VpGroup b = source.createVpGroup("b", 1);
        assertEquals(VpState.STOPPED, a.state(1), "a VP nobody reported on is stopped");
        assertThrows(IllegalArgumentException.class, () -> a.builder().targetVp(2), "a has VPs 0..1");
        assertThrows(IllegalArgumentException.class, () -> a.report(-1, VpState.RUNNING));
        assertThrows(IllegalArgumentException.class, () -> source.createVpGroup("c", 0));

        TaskDriver onA1 = a.builder().targetVp(1).build("a1");
        TaskDriver onB0 = b.builder().targetVp(0).build("b0");
        assertFalse(onA1.isTargetVpReady());
        CompletableFuture<Void> a1Ready = onA1.waitTargetVpReady().toCompletableFuture();
        CompletableFuture<Thread> completedOn = a1Ready.thenApply(v -> Thread.currentThread());

        a.report(0, VpState.RUNNING);
        assertFalse(a1Ready.isDone(), "VP 0 of a is not the driver's target");
        b.report(0, VpState.RUNNING);
        assertTrue(onB0.isTargetVpReady());
        assertFalse(onA1.isTargetVpReady(), "VP 0 of b is not VP 1 of a");
        assertFalse(onA1.targetVpState() == VpState.RUNNING);

        Thread reporter = Thread.currentThread();
        a.report(1, VpState.RUNNING);
        a1Ready.get(5, TimeUnit.SECONDS);
        assertTrue(onA1.isTargetVpReady());
        assertEquals(VpState.RUNNING, onA1.targetVpState());
        assertNotSame(reporter, completedOn.get(5, TimeUnit.SECONDS),
                "a waiter never runs on the reporting thread (a VP thread)");
        assertSame(threadOf(source.simple()), completedOn.get(), "waiters complete on the default driver");

        assertThrows(IllegalArgumentException.class, () -> onA1.retargetVp(2), "retargeting stays in the group");
        a.report(1, VpState.HALTED);
        assertEquals(VpState.HALTED, onA1.targetVpState());
        assertFalse(onA1.isTargetVpReady(), "a halted VP is not ready");
        CompletableFuture<Void> again = onA1.waitTargetVpReady().toCompletableFuture();

        a.close();
        assertEquals(VpState.GONE, a.state(0));
        a.report(0, VpState.RUNNING);
        assertEquals(VpState.GONE, a.state(0), "gone is final");
        ExecutionException gone = assertThrows(ExecutionException.class, () -> again.get(5, TimeUnit.SECONDS));
        assertTrue(gone.getCause() instanceof java.util.concurrent.CancellationException, gone.toString());
        assertEquals(7, onA1.spawn("still usable", () -> 7).get(), "a driver outlives its VP group");
        assertTrue(onB0.isTargetVpReady(), "closing a leaves b alone");
    }
}
