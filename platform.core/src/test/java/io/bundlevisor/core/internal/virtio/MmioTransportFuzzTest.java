package io.bundlevisor.core.internal.virtio;

import static io.bundlevisor.core.internal.virtio.MmioLayout.CONFIG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

import org.slf4j.helpers.NOPLogger;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Timeout;

import io.bundlevisor.core.virtio.VirtioFeatures;

/**
 * Coverage-guided fuzzing (Jazzer) of the virtio-mmio register file (virtio 1.2 section 4.2.2) and of its saved
 * state: any sequence of reads and writes of any size at any offset, then a save, a restore into a fresh window, and
 * a restore of the saved bytes as the input rewrote them. With the unit tests only the committed seeds run
 * (MmioTransportFuzzTestInputs); {@code scripts/fuzz.sh} fuzzes for longer.
 *
 * <p>What must hold for every input: no access throws; the device is activated only through the status state
 * machine (FEATURES_OK accepted with VERSION_1 and offered bits only, then DRIVER_OK) and with those features;
 * STATUS never shows DRIVER_OK without FEATURES_OK, nor a bit a driver cannot set; a saved window restores to one
 * that saves the same bytes; a rewritten record is either refused with an {@link IOException}, leaving the window
 * as it was, or restores to a state a driver could have reached, activating only with offered features.
 */
class MmioTransportFuzzTest {

    /** Offsets a driver uses (the register block and a little config), and sometimes anything at all. */
    private static final int WINDOW = CONFIG + 16;

    private long activatedWith = -1;
    private int activations;

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyAccessSequenceKeepsTheStatusMachineAndTheSavedStateSound(FuzzedDataProvider data) throws IOException {
        activatedWith = -1;
        activations = 0;
        MmioTransport t = window();
        long offered = (new FakeDevice().features() & VirtioFeatures.DEVICE_SPECIFIC) | VirtioFeatures.TRANSPORT;
        int accesses = data.consumeInt(0, 64);
        for (int i = 0; i < accesses; i++) {
            long offset = data.consumeBoolean() ? data.consumeInt(0, WINDOW / 4) * 4L : data.consumeLong(0, 1 << 13);
            int size = data.consumeBoolean() ? 4 : data.pickValue(new int[] {0, 1, 2, 3, 8, 16, -1});
            if (data.consumeBoolean()) {
                t.read(offset, size);
            } else {
                t.write(offset, size, data.consumeLong());
            }
            int status = t.status();
            assertEquals(0, status & ~0xFF, "STATUS is a byte");
            assertTrue((status & VirtioFeatures.DRIVER_OK) == 0 || (status & VirtioFeatures.FEATURES_OK) != 0,
                    () -> "DRIVER_OK without FEATURES_OK: 0x" + Integer.toHexString(status));
        }
        if (activations > 0) {
            assertEquals(0, activatedWith & ~offered, "activated with features never offered");
            assertTrue((activatedWith & VirtioFeatures.VERSION_1) != 0, "activated without VERSION_1");
        }

        byte[] saved = save(t);
        MmioTransport copy = window();
        copy.restore(new DataInputStream(new ByteArrayInputStream(saved)));
        assertArrayEquals(saved, save(copy), "a restored window saves what it was restored from");

        // The record as an attacker rewrote it: refused whole, or a state a driver could have reached.
        byte[] rewritten = saved.clone();
        int edits = data.consumeInt(0, 8);
        for (int i = 0; i < edits && rewritten.length > 0; i++) {
            rewritten[data.consumeInt(0, rewritten.length - 1)] = data.consumeByte();
        }
        byte[] cut = data.consumeBoolean() ? java.util.Arrays.copyOf(rewritten, data.consumeInt(0,
                rewritten.length)) : rewritten;
        MmioTransport target = window();
        byte[] before = save(target);
        long features;
        try {
            features = target.restore(new DataInputStream(new ByteArrayInputStream(cut)));
        } catch (IOException refused) {
            assertArrayEquals(before, save(target), "a refused record changed the window: " + refused.getMessage());
            return;
        }
        int status = target.status();
        assertTrue((status & VirtioFeatures.DRIVER_OK) == 0 || (status & VirtioFeatures.FEATURES_OK) != 0);
        if (features >= 0) {
            assertEquals(0, features & ~offered, "a restored device activates with features never offered");
            for (QueueConfig q : target.queueConfigs()) {
                assertTrue(!q.ready || (q.size > 0 && q.size <= new FakeDevice().maxQueueSize()
                        && Integer.bitCount(q.size) == 1), () -> "restored ready queue of size " + q.size);
            }
        }
    }

    private static byte[] save(MmioTransport t) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        t.save(new DataOutputStream(bytes));
        return bytes.toByteArray();
    }

    private MmioTransport window() {
        CountingLine line = new CountingLine();
        TransportEvents events = new TransportEvents() {
            @Override
            public void driverOk(long features, QueueConfig[] queues) {
                activatedWith = features;
                activations++;
            }

            @Override
            public void deviceReset() {
            }

            @Override
            public void notifyQueue(int queue) {
            }
        };
        MmioTransport t = new MmioTransport(2, line, events, new GuestErrors(NOPLogger.NOP_LOGGER, "fuzz"));
        t.setDevice(new FakeDevice());
        return t;
    }
}
