package io.bundlevisor.core.internal.virtio;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** One busy queue takes the shared pool but never another queue's reserve. */
class QueueBudgetTest {

    @Test
    void aBusyQueueCannotStarveAnother() {
        QueueBudget b = new QueueBudget(2, 4);
        int taken = 0;
        while (b.canTake(0)) {
            b.take(0);
            taken++;
        }
        assertEquals(3, taken, "its reserve and the pool of two");
        assertTrue(b.canTake(1), "queue 1 still has its reserve");
        b.take(1);
        assertFalse(b.canTake(1));
        b.release(0);
        assertTrue(b.canTake(1), "a pool entry came back");
        assertEquals(3, b.total());
        b.release(0);
        b.release(0);
        b.release(1);
        assertEquals(0, b.total());
        assertTrue(b.canTake(0) && b.canTake(1));
    }

    @Test
    void refusesFewerEntriesThanQueues() {
        assertThrows(IllegalArgumentException.class, () -> new QueueBudget(3, 2));
    }
}
