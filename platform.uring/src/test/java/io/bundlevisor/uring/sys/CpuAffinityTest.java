package io.bundlevisor.uring.sys;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.uring.internal.RingServiceImpl;

import org.junit.jupiter.api.Test;

/**
 * A thread pins itself and reads its affinity back, through the system-call layer and through the ring service;
 * the kernel's view ({@code /proc/self/task/TID/status}) agrees; bad sets are refused before any call. Each test
 * pins a thread of its own, never the test runner's.
 */
class CpuAffinityTest {

    @Test
    void aThreadPinsItselfToEachCpuAndReadsItBack() throws Exception {
        int last = CpuAffinity.hostCpus() - 1;
        for (int cpu : new int[] {0, last}) {
            String seen = onNewThread(() -> {
                BitSet before = CpuAffinity.currentThreadCpus();
                assertTrue(before.get(cpu), "the process may run on CPU " + cpu + ": " + before);
                CpuAffinity.pinCurrentThread(only(cpu));
                assertEquals(only(cpu), CpuAffinity.currentThreadCpus());
                assertEquals(cpu, CpuAffinity.currentCpu(), "a thread pinned to one CPU runs there");
                return allowedList(Native.gettid());
            });
            assertEquals(Integer.toString(cpu), seen, "the kernel's Cpus_allowed_list of the pinned thread");
        }
    }

    @Test
    void aNewThreadIsNotPinnedByAnotherThreadsPin() throws Exception {
        BitSet all = onNewThread(CpuAffinity::currentThreadCpus);
        onNewThread(() -> {
            CpuAffinity.pinCurrentThread(only(0));
            return null;
        });
        assertEquals(all, onNewThread(CpuAffinity::currentThreadCpus), "pid 0 means the calling thread only");
    }

    @Test
    void theRingServicePinsAndRefusesBadSets() throws Exception {
        RingServiceImpl service = new RingServiceImpl();
        BitSet cpu0 = new BitSet();
        cpu0.set(0);
        assertEquals(Optional.of(cpu0), onNewThread(() -> {
            assertTrue(service.pinCurrentThread(cpu0));
            assertEquals(0, service.currentCpu().orElseThrow());
            return service.currentThreadCpus();
        }));

        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                () -> service.pinCurrentThread(new BitSet()));
        assertEquals("a CPU set needs at least one CPU", empty.getMessage());
        BitSet missing = new BitSet();
        missing.set(CpuAffinity.hostCpus());
        IllegalArgumentException absent = assertThrows(IllegalArgumentException.class,
                () -> service.pinCurrentThread(missing));
        assertTrue(absent.getMessage().startsWith("CPU " + CpuAffinity.hostCpus() + " is not one of this host's"),
                absent.getMessage());
        assertFalse(absent.getMessage().contains("\n"));
        assertThrows(IllegalArgumentException.class, () -> service.pinCurrentThread(null));
        assertEquals(onNewThread(CpuAffinity::currentThreadCpus), service.currentThreadCpus().orElseThrow(),
                "a refused set changed nothing");
    }

    @Test
    void describeWritesLinuxCpuLists() {
        BitSet s = new BitSet();
        s.set(0, 4);
        s.set(6);
        s.set(9, 11);
        assertEquals("0-3,6,9-10", CpuAffinity.describe(s));
        assertEquals("", CpuAffinity.describe(new BitSet()));
    }

    private static BitSet only(int cpu) {
        BitSet s = new BitSet();
        s.set(cpu);
        return s;
    }

    private static String allowedList(int tid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/task/" + tid + "/status"))) {
            if (line.startsWith("Cpus_allowed_list:")) {
                return line.substring(line.indexOf(':') + 1).strip();
            }
        }
        throw new IOException("no Cpus_allowed_list in the status of thread " + tid);
    }

    private static <T> T onNewThread(Callable<T> body) throws Exception {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().name("affinity-test").start(() -> {
            try {
                result.complete(body.call());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        });
        t.join();
        return result.get(10, TimeUnit.SECONDS);
    }
}
