package io.bundlevisor.device.blk.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing (Jazzer) of virtio-blk's saved-state reader: a snapshot's device record is untrusted
 * input. Each input is a record written from fuzzed fields and then cut or extended, or raw bytes. What must hold:
 * {@link BlkState#read} returns a state or throws an IOException whose message is one printable line (never a bare
 * EOF, never the record's own control characters); a state it returns writes back to the same bytes' meaning;
 * {@link BlkState#requireSame} accepts only an equal disk and refuses any other in one printable line.
 */
class BlkStateFuzzTest {

    private static final BlkState DISK = new BlkState("/images/disk.img", 2048, false, 1);

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyRecordIsReadOrRefusedInOnePrintableLine(FuzzedDataProvider data) throws IOException {
        byte[] bytes;
        if (data.consumeBoolean()) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            new BlkState(data.consumeString(100), data.consumeLong(), data.consumeBoolean(), data.consumeInt())
                    .write(new DataOutputStream(out));
            byte[] record = out.toByteArray();
            int keep = data.consumeInt(0, record.length);
            byte[] tail = data.consumeRemainingAsBytes();
            bytes = new byte[keep + tail.length];
            System.arraycopy(record, 0, bytes, 0, keep);
            System.arraycopy(tail, 0, bytes, keep, tail.length);
        } else {
            bytes = data.consumeRemainingAsBytes();
        }
        BlkState read;
        try {
            read = BlkState.read(new DataInputStream(new ByteArrayInputStream(bytes)));
        } catch (IOException e) {
            assertOnePrintableLine(e);
            return;
        }
        ByteArrayOutputStream again = new ByteArrayOutputStream();
        read.write(new DataOutputStream(again));
        assertEquals(read, BlkState.read(new DataInputStream(new ByteArrayInputStream(again.toByteArray()))));
        read.requireSame(read);
        try {
            DISK.requireSame(read);
            assertEquals(DISK, read, "requireSame accepted another disk");
        } catch (IOException e) {
            assertNotEquals(DISK, read);
            assertOnePrintableLine(e);
        }
    }

    static void assertOnePrintableLine(IOException e) {
        String m = e.getMessage();
        if (m == null || m.isEmpty()) {
            fail("a refusal without a reason: " + e);
        }
        assertTrue(m.chars().allMatch(c -> c >= 0x20 && c < 0x7F), "not one printable line: " + m);
    }
}
