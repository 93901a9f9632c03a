package io.bundlevisor.manage.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.manage.cli.ArgumentList;

/**
 * Coverage-guided fuzzing (Jazzer) of the snapshot state file's header reader: a file that is ours (magic, version,
 * a machine definition of run arguments) or nearly, whose every field and byte the input may change. With the unit
 * tests only the committed seeds run (SnapshotFileFuzzTestInputs); {@code scripts/fuzz.sh} fuzzes for longer.
 *
 * <p>What must hold for every input: {@link SnapshotFile#open} returns the arguments it was given, or refuses with
 * a {@link PartitionException} or {@link IOException} of one line naming the file; nothing else escapes, and nothing
 * larger than the definition limit is allocated for a length the file claims.
 */
class SnapshotFileFuzzTest {

    private static Path dir;

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyStateFileHeaderIsReadOrRefusedInOneLine(FuzzedDataProvider data) throws IOException {
        if (dir == null) {
            dir = Files.createTempDirectory("snapshot-fuzz");
        }
        List<String> arguments = new ArrayList<>();
        int count = data.consumeInt(0, 6);
        for (int i = 0; i < count; i++) {
            arguments.add(data.consumeString(40));
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeLong(data.consumeInt(0, 15) == 0 ? data.consumeLong() : SnapshotFile.MAGIC);
        out.writeInt(data.consumeInt(0, 15) == 0 ? data.consumeInt() : SnapshotFile.VERSION);
        boolean joinable = arguments.stream().noneMatch(a -> a.indexOf('\u001f') >= 0);
        byte[] definition = joinable && data.consumeBoolean()
                ? ArgumentList.join(arguments).getBytes(StandardCharsets.UTF_8) : data.consumeBytes(200);
        int claimed = data.consumeInt(0, 7) == 0 ? data.consumeInt() : definition.length;
        out.writeInt(claimed);
        out.write(definition);
        out.write(data.consumeRemainingAsBytes());
        Path file = Files.write(dir.resolve("state"), bytes.toByteArray());
        try (SnapshotFile.Opened opened = SnapshotFile.open(file)) {
            // [""] joins as [] does: neither is a machine definition (run needs --kernel), so the two need no
            // telling apart.
            if (joinable && claimed == definition.length && !arguments.equals(List.of("")) && new String(definition, StandardCharsets.UTF_8).equals(
                    ArgumentList.join(arguments))) {
                assertEquals(arguments, opened.header().arguments());
            }
        } catch (PartitionException | IOException refused) {
            String message = refused.getMessage();
            assertFalse(message.contains("\n"), () -> "not one line: " + message);
            assertTrue(message.contains(file.toString()), () -> "names no file: " + message);
        }
    }

    @AfterAll
    static void clean() throws IOException {
        if (dir != null) {
            Files.deleteIfExists(dir.resolve("state"));
            Files.delete(dir);
            dir = null;
        }
    }
}
