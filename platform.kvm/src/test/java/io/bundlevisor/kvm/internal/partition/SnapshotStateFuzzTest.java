package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Timeout;

import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.PartitionException;

/**
 * Coverage-guided fuzzing (Jazzer) of the saved-machine reader ({@code SaveFormat}) as a snapshot restore drives
 * it: the state stream of a real snapshot (the counter guest on KVM, one vCPU, a test device), rewritten at places
 * and lengths the fuzzer picks, cut short or extended, is restored into the stopped partition with its memory
 * file. What must hold: the restore succeeds or is refused with a PartitionException or IOException of one
 * printable line, never another exception; whatever it did, the partition still restores the real snapshot (a
 * refused restore leaves nothing that blocks the next one); and nothing accumulates: the process keeps about as many
 * descriptors as after the first restore (the fuzzer's own files come and go), and the memory file stays mapped.
 */
class SnapshotStateFuzzTest {

    private static GuestRun run;
    private static byte[] state;
    private static Path memory;
    private static long fds;

    private static synchronized void snapshot() throws Exception {
        if (run == null) {
            Path dir = Files.createTempDirectory("snapshot-fuzz");
            dir.toFile().deleteOnExit();
            memory = dir.resolve("memory");
            memory.toFile().deleteOnExit();
            run = GuestRun.create(GuestRun.config("counter", 1, 16L << 20)
                    .withDevice(new DeviceSpec("test-dev", "")), new TestVirtio());
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            run.partition.snapshot(out, memory);
            state = out.toByteArray();
            run.partition.restoreSnapshot(new ByteArrayInputStream(state), memory);
            fds = openFds();
        }
    }

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyStateIsRestoredOrRefusedInOneLineAndTheRealOneStillRestores(FuzzedDataProvider data) throws Exception {
        snapshot();
        byte[] s = state.clone();
        for (int edits = data.consumeInt(0, 4); edits > 0; edits--) {
            int at = data.consumeInt(0, s.length);
            byte[] bytes = data.consumeBytes(data.consumeInt(1, 16));
            switch (data.consumeInt(0, 2)) {
                case 0 -> {
                    int n = Math.min(bytes.length, s.length);
                    System.arraycopy(bytes, 0, s, Math.min(at, s.length - n), n);
                }
                case 1 -> s = Arrays.copyOf(s, at);
                default -> {
                    byte[] grown = new byte[s.length + bytes.length];
                    System.arraycopy(s, 0, grown, 0, at);
                    System.arraycopy(bytes, 0, grown, at, bytes.length);
                    System.arraycopy(s, at, grown, at + bytes.length, s.length - at);
                    s = grown;
                }
            }
        }
        try {
            run.partition.restoreSnapshot(new ByteArrayInputStream(s), memory);
        } catch (PartitionException | IOException e) {
            String m = e.getMessage();
            if (m == null || m.isEmpty() || !m.chars().allMatch(c -> c >= 0x20 && c < 0x7F)) {
                fail("not one printable line: " + m, e);
            }
        }
        run.partition.restoreSnapshot(new ByteArrayInputStream(state), memory);
        assertTrue(!run.partition.isStarted());
        // Nothing accumulates across restores, refused or not: no descriptor, no second mapping of the file.
        long open = openFds();
        assertTrue(open <= fds + 4, "descriptors leaked: " + open + ", " + fds + " after the first restore");
        try (Stream<String> maps = Files.lines(Path.of("/proc/self/maps"))) {
            long mapped = maps.filter(l -> l.endsWith(memory.toString())).count();
            assertTrue(mapped >= 1 && mapped <= 2, mapped + " mappings of the memory file");
        }
    }

    private static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }
}
