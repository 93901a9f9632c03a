package io.bundlevisor.core.internal.virtio;

import static io.bundlevisor.core.internal.virtio.FakeDriver.Seg.out;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Notification suppression both ways (virtio 1.x sections 2.7.7 and 2.7.10). */
class NotificationTest {

    private final FakeGuestRam ram = FakeGuestRam.of(1 << 20);
    private final FakeDriver driver = new FakeDriver(ram, 8);

    @AfterEach
    void close() throws Exception {
        ram.close();
    }

    /** Pops one chain and pushes it, as a device that finished a request. */
    private void complete(SplitQueue q) throws QueueException {
        Chain c = q.pop();
        q.pushUsed(c, 1);
    }

    private void offer(int count) {
        long b = driver.buffer(4);
        for (int i = 0; i < count; i++) {
            int head = driver.availIdx() % 8;
            driver.offerChain(head, out(b, 4));
        }
    }

    @Test
    void needEventFollowsVringNeedEventWithWrap() {
        // vring_need_event(event, new, old): notify when event lies in [old, new).
        assertTrue(SplitQueue.needEvent(0, 1, 0));
        assertFalse(SplitQueue.needEvent(1, 1, 0));
        assertTrue(SplitQueue.needEvent(4, 7, 2));
        assertTrue(SplitQueue.needEvent(2, 7, 2));
        assertTrue(SplitQueue.needEvent(6, 7, 2));
        assertFalse(SplitQueue.needEvent(7, 7, 2));
        assertFalse(SplitQueue.needEvent(1, 7, 2));
        assertTrue(SplitQueue.needEvent(65535, 1, 65534));
        assertTrue(SplitQueue.needEvent(0, 1, 65534));
        assertFalse(SplitQueue.needEvent(1, 1, 65534));
        assertFalse(SplitQueue.needEvent(65533, 1, 65534));
        assertFalse(SplitQueue.needEvent(5, 5, 5), "nothing new, nothing to say");
    }

    @Test
    void eventIdxInterruptsOnlyWhenUsedIdxPassesUsedEvent() throws Exception {
        SplitQueue q = driver.queue(8, true, false);
        offer(6);
        driver.usedEvent(0);
        complete(q);
        assertTrue(q.publishUsed(), "used.idx 0 -> 1 passes used_event 0");
        complete(q);
        assertFalse(q.publishUsed(), "1 -> 2 does not pass 0 again");
        driver.usedEvent(5);
        complete(q);
        complete(q);
        assertFalse(q.publishUsed(), "2 -> 4 stops short of 5");
        complete(q);
        complete(q);
        assertTrue(q.publishUsed(), "4 -> 6 passes 5");
        assertEquals(6, driver.usedIdx());
    }

    @Test
    void eventIdxIgnoresNoInterrupt() throws Exception {
        SplitQueue q = driver.queue(8, true, false);
        offer(2);
        driver.availFlags(1);
        driver.usedEvent(0);
        complete(q);
        assertTrue(q.publishUsed(), "section 2.7.7: the device MUST ignore the lower bit of flags");
        driver.availFlags(0);
        complete(q);
        assertFalse(q.publishUsed(), "and only used_event counts");
    }

    @Test
    void noInterruptFlagWithoutEventIdx() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        offer(3);
        driver.usedEvent(0); // ignored without EVENT_IDX
        driver.availFlags(1);
        complete(q);
        assertFalse(q.publishUsed(), "VRING_AVAIL_F_NO_INTERRUPT");
        assertEquals(1, driver.usedIdx(), "published all the same");
        driver.availFlags(0);
        complete(q);
        assertTrue(q.publishUsed());
        complete(q);
        assertTrue(q.publishUsed());
        assertFalse(q.publishUsed(), "nothing pushed since");
    }

    @Test
    void enableWithEventIdxWritesAvailEventAndRechecks() throws Exception {
        SplitQueue q = driver.queue(8, true, false);
        driver.usedEvent(0xFFFF);
        assertFalse(q.enableNotifications(), "nothing available");
        assertEquals(0, driver.availEvent());
        offer(2);
        q.disableNotifications();
        assertEquals(0, driver.usedFlags(), "EVENT_IDX: flags stay 0 (section 2.7.10)");
        assertEquals(0, driver.availEvent(), "avail_event simply lags");
        assertTrue(q.enableNotifications(), "two chains came in meanwhile");
        complete(q);
        complete(q);
        assertFalse(q.enableNotifications());
        assertEquals(2, driver.availEvent());
        assertEquals(0, driver.usedFlags());
    }

    @Test
    void enableAndDisableWithoutEventIdxUseNoNotify() throws Exception {
        SplitQueue q = driver.queue(8, false, false);
        q.disableNotifications();
        assertEquals(1, driver.usedFlags(), "VRING_USED_F_NO_NOTIFY");
        offer(1);
        assertTrue(q.enableNotifications());
        assertEquals(0, driver.usedFlags());
        assertEquals(0, driver.availEvent(), "avail_event untouched without EVENT_IDX");
        complete(q);
        assertFalse(q.enableNotifications());
    }
}
