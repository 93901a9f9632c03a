package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** What the inject policy makes of an instruction (Intel SDM vol. 2: INT3, WAIT/FWAIT), and its no-progress guard. */
class EmulatedOutcomeTest {

    private static final long CR0_PE_PG = 0x8000_0001L;

    @Test
    void int3TrapsAfterItself() {
        EmulatedOutcome o = EmulatedOutcome.of(0xCC, CR0_PE_PG, 0);
        assertEquals(EmulatedOutcome.VECTOR_BP, o.vector());
        assertEquals(1, o.ripAdvance());
    }

    @Test
    void fwaitCompletesUnlessTheFpuSaysOtherwise() {
        EmulatedOutcome done = EmulatedOutcome.of(0x9B, CR0_PE_PG, 0);
        assertFalse(done.raises());
        assertEquals(1, done.ripAdvance());
        // CR0.TS alone does not fault WAIT; with CR0.MP it is #NM, at the instruction.
        assertFalse(EmulatedOutcome.of(0x9B, CR0_PE_PG | EmulatedOutcome.CR0_TS, 0).raises());
        EmulatedOutcome nm = EmulatedOutcome.of(0x9B, CR0_PE_PG | EmulatedOutcome.CR0_TS | EmulatedOutcome.CR0_MP, 0);
        assertEquals(EmulatedOutcome.VECTOR_NM, nm.vector());
        assertEquals(0, nm.ripAdvance());
        EmulatedOutcome mf = EmulatedOutcome.of(0x9B, CR0_PE_PG, EmulatedOutcome.FSW_ES);
        assertEquals(EmulatedOutcome.VECTOR_MF, mf.vector());
        assertEquals(0, mf.ripAdvance());
    }

    @Test
    void anythingElseIsUndefinedAtItself() {
        EmulatedOutcome xrstor = EmulatedOutcome.of(0x48, CR0_PE_PG, 0); // 48 0f ae 2f: xrstor64
        assertEquals(EmulatedOutcome.VECTOR_UD, xrstor.vector());
        assertEquals(0, xrstor.ripAdvance());
        assertTrue(xrstor.what().contains("0x48"));
    }

    @Test
    void theGuardTripsOnlyOnTheSameInstructionAndStackInQuickSuccession() {
        NoProgressGuard g = new NoProgressGuard();
        long t = 1_000_000_000L;
        for (int i = 1; i < NoProgressGuard.REPEATS; i++) {
            assertFalse(g.stuck(0x1000, 0x8000, t += 1_000), "repeat " + i);
        }
        assertTrue(g.stuck(0x1000, 0x8000, t += 1_000));

        NoProgressGuard tasks = new NoProgressGuard();
        for (int i = 0; i < 10 * NoProgressGuard.REPEATS; i++) {
            // the same fwait on process exit, each process on its own kernel stack
            assertFalse(tasks.stuck(0x1000, 0x8000 + (i % 2) * 0x4000, t += 1_000));
        }
        NoProgressGuard slow = new NoProgressGuard();
        for (int i = 0; i < 10 * NoProgressGuard.REPEATS; i++) {
            assertFalse(slow.stuck(0x1000, 0x8000, t += NoProgressGuard.WINDOW_NANOS));
        }
    }
}
