package io.bundlevisor.vhost.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The limit on lines an untrusted peer can cause: so many per window, the rest counted for the next line. */
class LogRateTest {

    @Test
    void atMostTheLimitPerWindowAndTheRestCounted() {
        LogRate rate = new LogRate(3, 1_000);
        for (int i = 0; i < 3; i++) {
            assertTrue(rate.allow(10 + i));
        }
        assertFalse(rate.allow(20));
        assertFalse(rate.allow(500));
        assertTrue(rate.allow(1_010), "a new window");
        assertEquals(2, rate.takeSuppressed());
        assertEquals(0, rate.takeSuppressed());
    }
}
