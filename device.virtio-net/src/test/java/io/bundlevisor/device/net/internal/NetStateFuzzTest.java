package io.bundlevisor.device.net.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * Coverage-guided fuzzing (Jazzer) of virtio-net's saved-state reader: a snapshot's device record is untrusted
 * input. Each input is a record written from fuzzed fields and then cut or extended, or raw bytes. What must hold:
 * {@link NetState#read} returns a state whose fields are in range (1..MAX_PAIRS pairs, pairs in use within them, a
 * 48-bit MAC, an MTU the spec allows, the six receive modes) or throws an IOException whose message is one printable
 * line; a state it returns reads back the same after a write; {@link NetState#requireSameShape} refuses another
 * tap, pair count, control queue or MTU in one printable line and accepts the rest.
 */
class NetStateFuzzTest {

    private static final NetState DEVICE = new NetState("tap0", 2, true, 1500, 0x0242_0000_0001L, 1, 0);

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyRecordIsReadInRangeOrRefusedInOnePrintableLine(FuzzedDataProvider data) throws IOException {
        byte[] bytes;
        if (data.consumeBoolean()) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            new NetState(data.consumeString(40), data.consumeInt(0, 20), data.consumeBoolean(),
                    data.consumeInt(0, 70000), data.consumeLong(), data.consumeInt(0, 20), data.consumeInt())
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
        NetState s;
        try {
            s = NetState.read(new DataInputStream(new ByteArrayInputStream(bytes)));
        } catch (IOException e) {
            assertOnePrintableLine(e);
            return;
        }
        assertTrue(s.pairs() >= 1 && s.pairs() <= NetOptions.MAX_PAIRS, s.toString());
        assertTrue(s.pairsInUse() >= 1 && s.pairsInUse() <= s.pairs(), s.toString());
        assertEquals(0, s.mac() >>> 48, s.toString());
        assertTrue(s.mtu() >= NetSpec.MIN_MTU && s.mtu() <= NetSpec.MAX_MTU, s.toString());
        assertEquals(0, s.rxModes() & ~0x3F, s.toString());
        ByteArrayOutputStream again = new ByteArrayOutputStream();
        s.write(new DataOutputStream(again));
        assertEquals(s, NetState.read(new DataInputStream(new ByteArrayInputStream(again.toByteArray()))));
        boolean sameShape = DEVICE.tap().equals(s.tap()) && DEVICE.pairs() == s.pairs()
                && DEVICE.control() == s.control() && DEVICE.mtu() == s.mtu();
        try {
            DEVICE.requireSameShape(s);
            assertTrue(sameShape, "requireSameShape accepted " + s);
        } catch (IOException e) {
            assertTrue(!sameShape, "requireSameShape refused its own shape: " + e.getMessage());
            assertOnePrintableLine(e);
        }
    }

    private static void assertOnePrintableLine(IOException e) {
        String m = e.getMessage();
        if (m == null || m.isEmpty()) {
            fail("a refusal without a reason: " + e);
        }
        assertTrue(m.chars().allMatch(c -> c >= 0x20 && c < 0x7F), "not one printable line: " + m);
    }
}
