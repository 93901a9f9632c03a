package io.bundlevisor.device.blk.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Timeout;

/**
 * Coverage-guided fuzzing of the virtio-blk request parser (Jazzer): any chain a guest can build (header bytes,
 * readable and writable lengths, buffer alignment, iovec size) over a disk of any size, read-only or not. With the
 * unit tests only the committed seeds run (BlkRequestFuzzTestInputs); {@code scripts/fuzz.sh} fuzzes for longer.
 *
 * <p>What must hold for every input: {@link BlkRequest#check} returns (never throws), and its answer is one of
 * PROCEED, MALFORMED (with a reason: no status byte or no header), or a status byte IOERR/UNSUPP with a reason; a
 * PROCEED request stays inside the disk and inside the chain (the data fits the buffers it names, the status byte is
 * the chain's last writable byte), writes nothing to a read-only disk, and a FLUSH or GET_ID has the shape the spec
 * gives it.
 */
class BlkRequestFuzzTest {

    /** Disks under 2^54 sectors (8 EiB): no file or block device is larger, and capacity << 9 stays positive. */
    private static final long MAX_CAPACITY = (1L << 54) - 1;

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void everyChainIsAnsweredWithinTheDiskAndTheChain(FuzzedDataProvider data) {
        long capacity = data.consumeLong(0, MAX_CAPACITY);
        boolean readOnly = data.consumeBoolean();
        int writable = data.consumeInt(0, (1 << 20) + 1);
        int misalign = data.consumeInt(0, 4095);
        int segment = data.consumeInt(1, 1 << 20);
        byte[] readable = data.consumeBytes(1 << 16);
        try (Arena arena = Arena.ofConfined()) {
            FakeChain chain = new FakeChain(arena, 0, readable, writable, misalign, segment);
            BlkRequest r = new BlkRequest(capacity, readOnly);
            int verdict = r.check(chain);
            if (verdict == BlkRequest.MALFORMED) {
                assertNotNull(r.refusal());
                assertTrue(writable < 1 || readable.length < BlkSpec.HEADER_SIZE, "malformed only without a "
                        + "status byte or a header");
                return;
            }
            assertTrue(writable >= 1 && readable.length >= BlkSpec.HEADER_SIZE);
            assertEquals(writable - 1, r.statusOffset(), "the status is the chain's last writable byte");
            if (verdict != BlkRequest.PROCEED) {
                assertTrue(verdict == BlkSpec.S_IOERR || verdict == BlkSpec.S_UNSUPP, "verdict " + verdict);
                assertNotNull(r.refusal());
                return;
            }
            assertNull(r.refusal());
            long end = r.offset() + r.length();
            assertTrue(r.offset() >= 0 && r.length() >= 0 && end >= r.offset(), "no overflow");
            assertTrue(end <= capacity << BlkSpec.SECTOR_SHIFT, () -> "inside the disk: type " + r.type() + " at "
                    + r.offset() + " +" + r.length() + ", capacity " + capacity + " sectors");
            switch (r.type()) {
                case BlkSpec.T_IN -> assertEquals(writable - 1, r.length(), "reads fill the writable data");
                case BlkSpec.T_OUT -> {
                    assertTrue(!readOnly, "no write to a read-only disk");
                    assertEquals(readable.length - BlkSpec.HEADER_SIZE, r.length(), "writes take the readable data");
                }
                case BlkSpec.T_FLUSH -> assertTrue(readable.length == BlkSpec.HEADER_SIZE && writable == 1);
                case BlkSpec.T_GET_ID -> assertEquals(BlkSpec.ID_BYTES + 1, writable);
                case BlkSpec.T_DISCARD, BlkSpec.T_WRITE_ZEROES -> {
                    assertTrue(!readOnly, "no discard on a read-only disk");
                    assertTrue(r.length() <= (long) BlkConfig.MAX_RANGE_SECTORS << BlkSpec.SECTOR_SHIFT);
                }
                default -> throw new AssertionError("PROCEED for type " + r.type());
            }
            if (r.type() == BlkSpec.T_IN || r.type() == BlkSpec.T_OUT) {
                assertEquals(0, r.length() % BlkSpec.SECTOR_SIZE, "whole sectors");
                assertTrue(r.length() <= BlkConfig.MAX_TRANSFER);
            }
        }
    }
}
