package io.bundlevisor.core.internal.virtio;

import static io.bundlevisor.core.internal.virtio.MmioLayout.*;
import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.virtio.VirtioFeatures;

/** The virtio-mmio register window as a driver drives it (virtio 1.2 sections 3.1.1 and 4.2.3), and as a hostile one does. */
class MmioTransportTest {

    private final List<String> events = new ArrayList<>();
    private final CountingLine line = new CountingLine();
    private MmioTransport t;
    private GuestErrors errors;

    @BeforeEach
    void setUp() {
        TransportEvents ev = new TransportEvents() {
            @Override
            public void driverOk(long features, QueueConfig[] queues) {
                events.add("ok " + Long.toHexString(features) + " q0=" + queues[0].size + "@" + Long.toHexString(queues[0].desc)
                        + "/" + Long.toHexString(queues[0].driver) + "/" + Long.toHexString(queues[0].device)
                        + " ready=" + queues[0].ready);
            }

            @Override
            public void deviceReset() {
                events.add("reset");
            }

            @Override
            public void notifyQueue(int queue) {
                events.add("notify " + queue);
            }
        };
        errors = new GuestErrors(LoggerFactory.getLogger(getClass()), "test");
        t = new MmioTransport(2, line, ev, errors);
        t.setDevice(new FakeDevice());
    }

    private int r(int offset) {
        return (int) t.read(offset, 4);
    }

    private void w(int offset, int value) {
        t.write(offset, 4, value & 0xFFFF_FFFFL);
    }

    private void negotiate(long features) {
        w(STATUS, VirtioFeatures.ACKNOWLEDGE);
        w(STATUS, VirtioFeatures.ACKNOWLEDGE | VirtioFeatures.DRIVER);
        w(DRIVER_FEATURES_SEL, 0);
        w(DRIVER_FEATURES, (int) features);
        w(DRIVER_FEATURES_SEL, 1);
        w(DRIVER_FEATURES, (int) (features >>> 32));
        w(STATUS, VirtioFeatures.ACKNOWLEDGE | VirtioFeatures.DRIVER | VirtioFeatures.FEATURES_OK);
    }

    @Test
    void identifiesItselfAsAModernDevice() {
        assertEquals(0x74726976, r(MAGIC_VALUE));
        assertEquals(2, r(VERSION));
        assertEquals(2, r(DEVICE_ID));
        w(DEVICE_FEATURES_SEL, 0);
        assertEquals(VirtioFeatures.EVENT_IDX | VirtioFeatures.INDIRECT_DESC | 0x40, r(DEVICE_FEATURES) & 0xFFFF_FFFFL);
        w(DEVICE_FEATURES_SEL, 1);
        assertEquals(1, r(DEVICE_FEATURES));
        w(DEVICE_FEATURES_SEL, 7);
        assertEquals(0, r(DEVICE_FEATURES));
        w(QUEUE_SEL, 0);
        assertEquals(128, r(QUEUE_NUM_MAX));
        w(QUEUE_SEL, 1);
        assertEquals(0, r(QUEUE_NUM_MAX), "a queue the device lacks has no size");
    }

    @Test
    void fullInitialisationHandsTheQueuesToTheDevice() {
        negotiate(VirtioFeatures.VERSION_1 | VirtioFeatures.EVENT_IDX);
        assertEquals(0xB, r(STATUS));
        w(QUEUE_SEL, 0);
        w(QUEUE_NUM, 64);
        w(QUEUE_DESC_LOW, 0x1000);
        w(QUEUE_DESC_HIGH, 1);
        w(QUEUE_DRIVER_LOW, 0x2000);
        w(QUEUE_DEVICE_LOW, 0x3000);
        w(QUEUE_READY, 1);
        assertEquals(1, r(QUEUE_READY));
        w(STATUS, 0xF);
        assertEquals(0xF, r(STATUS));
        assertEquals(List.of("ok 120000000 q0=64@100001000/2000/3000 ready=true"), events);
        w(QUEUE_NOTIFY, 0);
        w(QUEUE_NOTIFY, 5);
        assertEquals("notify 0", events.get(1));
        assertEquals(2, events.size(), "a notify for a queue the device lacks is ignored");
        assertEquals(1, errors.total(), "and counted as the guest's error");
    }

    @Test
    void featuresOkDoesNotStickWithoutVersion1OrWithUnofferedBits() {
        negotiate(VirtioFeatures.EVENT_IDX);
        assertEquals(0x3, r(STATUS), "legacy drivers are refused");
        w(STATUS, 0);
        negotiate(VirtioFeatures.VERSION_1 | 1L << 20);
        assertEquals(0x3, r(STATUS), "a bit we did not offer is refused");
    }

    @Test
    void driverOkWithoutFeaturesOkNeedsReset() {
        w(STATUS, 1);
        w(STATUS, 3);
        w(STATUS, 7);
        assertEquals(0x43, r(STATUS));
        assertTrue(events.isEmpty());
    }

    @Test
    void statusOnlyGrowsUntilReset() {
        negotiate(VirtioFeatures.VERSION_1);
        w(STATUS, 1);
        assertEquals(0xB, r(STATUS), "clearing bits without a reset is ignored");
        w(STATUS, 0);
        assertEquals(0, r(STATUS));
        assertEquals("reset", events.get(0));
    }

    @Test
    void queueRegistersAreFrozenOnceReadyOrRunning() {
        negotiate(VirtioFeatures.VERSION_1);
        w(QUEUE_SEL, 0);
        w(QUEUE_NUM, 64);
        w(QUEUE_READY, 1);
        w(QUEUE_NUM, 8);
        w(QUEUE_DESC_LOW, 0x5000);
        w(STATUS, 0xF);
        assertTrue(events.get(0).startsWith("ok 100000000 q0=64@0/"), events.get(0));
    }

    @Test
    void hostileAccessesAreIgnoredNotThrown() {
        t.write(STATUS, 1, 0xF);
        t.write(QUEUE_NUM + 1, 4, 1);
        assertEquals(0, t.read(MAGIC_VALUE, 2));
        assertEquals(0, t.read(0xFFF, 8));
        t.write(CONFIG + 4, 4, 1);
        t.write(CONFIG + 100, 4, 1);
        w(QUEUE_SEL, -1);
        w(QUEUE_NUM, 4);
        assertEquals(0, r(QUEUE_NUM_MAX));
        assertEquals(0, r(STATUS));
    }

    @Test
    void configReadsAreBoundedAndGenerationCountsChanges() {
        assertEquals(0x0403_0201L, t.read(CONFIG, 4));
        assertEquals(0x02, t.read(CONFIG + 1, 1));
        assertEquals(0x0807_0605_0403_0201L, t.read(CONFIG, 8));
        assertEquals(0, t.read(CONFIG + 6, 4), "crossing the end of the config space reads 0");
        int before = r(CONFIG_GENERATION);
        t.configChanged();
        assertEquals(before + 1, r(CONFIG_GENERATION));
        assertEquals(INT_CONFIG_CHANGE, r(INTERRUPT_STATUS));
        assertEquals(1, line.asserted);
    }

    @Test
    void interruptStatusIsAcknowledgedBitByBitAndResampleReassertsWhileSet() {
        t.raiseUsedBuffer();
        t.configChanged();
        assertEquals(3, r(INTERRUPT_STATUS));
        w(INTERRUPT_ACK, 1);
        assertEquals(2, r(INTERRUPT_STATUS));
        t.resample();
        assertEquals(3, line.asserted, "a status bit still set raises the line again");
        w(INTERRUPT_ACK, 2);
        t.resample();
        assertEquals(3, line.asserted);
    }

    @Test
    void needsResetIsAnnouncedAsAConfigChange() {
        negotiate(VirtioFeatures.VERSION_1);
        t.markNeedsReset();
        assertEquals(0x4B, r(STATUS));
        assertEquals(INT_CONFIG_CHANGE, r(INTERRUPT_STATUS));
        w(STATUS, 0x4B | 4);
        assertEquals(0x4B, r(STATUS), "no DRIVER_OK before the driver resets the device");
        assertTrue(events.isEmpty(), "nothing was activated: " + events);
        w(STATUS, 0);
        assertEquals(0, r(STATUS));
        assertEquals(0, r(INTERRUPT_STATUS));
    }

    @Test
    void anAbsentDeviceOffersNothingSoTheDriverCannotGetFar() {
        t.setDevice(null);
        assertEquals(2, r(DEVICE_ID), "the window keeps its type");
        w(DEVICE_FEATURES_SEL, 1);
        assertEquals(0, r(DEVICE_FEATURES));
        negotiate(VirtioFeatures.VERSION_1);
        assertEquals(0x3, r(STATUS));
        assertEquals(0, t.read(CONFIG, 4));
    }

    @Test
    void aRestoredRecordIsCheckedWholeBeforeAnythingChanges() throws Exception {
        negotiate(VirtioFeatures.VERSION_1);
        w(QUEUE_SEL, 0);
        w(QUEUE_NUM, 64);
        w(QUEUE_READY, 1);
        w(STATUS, 0xF);
        java.io.ByteArrayOutputStream saved = new java.io.ByteArrayOutputStream();
        t.save(new java.io.DataOutputStream(saved));
        byte[] good = saved.toByteArray();
        w(STATUS, 0);

        byte[] noFeaturesOk = good.clone();
        noFeaturesOk[3] = (byte) (VirtioFeatures.ACKNOWLEDGE | VirtioFeatures.DRIVER | VirtioFeatures.DRIVER_OK);
        IOException e = assertThrows(IOException.class, () -> t.restore(in(noFeaturesOk)));
        assertTrue(e.getMessage().contains("DRIVER_OK without FEATURES_OK"), e.getMessage());
        byte[] badSize = good.clone();
        badSize[good.length - 28] = 3; // queue 0's size (big-endian, after 24 bytes): 64 + (3 << 16)
        e = assertThrows(IOException.class, () -> t.restore(in(badSize)));
        assertTrue(e.getMessage().contains("ready with size"), e.getMessage());
        byte[] cut = java.util.Arrays.copyOf(good, good.length - 1);
        assertThrows(java.io.EOFException.class, () -> t.restore(in(cut)));
        assertEquals(0, r(STATUS), "refused records changed nothing");
        w(QUEUE_SEL, 0);
        assertEquals(0, r(QUEUE_READY), "not even the queue registers read before the record ran out");

        assertEquals(VirtioFeatures.VERSION_1, t.restore(in(good)));
        assertEquals(0xF, r(STATUS));
    }

    private static java.io.DataInputStream in(byte[] bytes) {
        return new java.io.DataInputStream(new java.io.ByteArrayInputStream(bytes));
    }
}
