package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bundlevisor.core.partition.EmulationPolicy;
import io.bundlevisor.core.partition.HaltReason;

import org.junit.jupiter.api.Test;

/**
 * The emulation-failure policy on the emulate guest. The inject cases need a host whose KVM fails at {@code int3}
 * and {@code fwait} in guest kernel mode (a software KVM); on hardware virtualization the CPU runs them and the
 * guest passes without the policy, which the test then says.
 */
class EmulationFailureTest {

    @Test
    void injectRaisesBreakpointAfterInt3AndCompletesFwait() throws Exception {
        try (GuestRun run = GuestRun.create(GuestRun.config("emulate", 1, 64L << 20)
                .withEmulation(EmulationPolicy.INJECT))) {
            run.partition.start();
            run.awaitOutput("emulate: done");
            long handled = run.partition.emulationFailuresHandled();
            if (GuestRun.kvm().host().software()) {
                assertEquals(2, handled, "int3 and fwait each failed once: " + run.output());
            } else {
                System.err.println("EmulationFailureTest: " + GuestRun.kvm().host().describe()
                        + " ran int3 and fwait itself (" + handled + " failures)");
            }
            assertEquals(EmulationPolicy.INJECT, run.partition.emulationPolicy());
        }
    }

    @Test
    void haltStopsAtTheInstructionWithItsBytes() throws Exception {
        try (GuestRun run = GuestRun.create(GuestRun.config("emulate", 1, 64L << 20)
                .withEmulation(EmulationPolicy.HALT))) {
            run.partition.start();
            if (!GuestRun.kvm().host().software()) {
                run.awaitOutput("emulate: done"); // the CPU ran int3 and fwait: nothing to halt for
                assertEquals(0, run.partition.emulationFailuresHandled());
                return;
            }
            HaltReason why = run.awaitHalt();
            HaltReason.InternalError e = assertInstanceOf(HaltReason.InternalError.class, why, run.output());
            assertEquals((byte) 0xCC, e.instruction()[0], why.describe());
            assertTrue(e.describe().contains("policy halt"), e.describe());
            assertTrue(run.output().contains("int3 at 0x" + Long.toHexString(e.rip())), run.output());
            assertEquals(0, run.partition.emulationFailuresHandled());
        }
    }

    @Test
    void autoInjectsOnASoftwareKvmAndHaltsOnHardware() throws Exception {
        try (GuestRun run = GuestRun.create(GuestRun.config("emulate", 1, 64L << 20))) {
            assertEquals(GuestRun.kvm().host().software() ? EmulationPolicy.INJECT : EmulationPolicy.HALT,
                    run.partition.emulationPolicy());
        }
    }

    @Test
    void aGuestStuckOnTheSameInstructionHalts() throws Exception {
        try (GuestRun run = GuestRun.create(GuestRun.config("emulate", 1, 64L << 20)
                .withCmdline("emulate.mode=stuck").withEmulation(EmulationPolicy.INJECT))) {
            run.partition.start();
            if (!GuestRun.kvm().host().software()) {
                // The CPU loops through int3 and its handler by itself: no exit, so nothing for the guard to see.
                run.awaitOutput("emulate: mode stuck");
                Thread.sleep(200);
                assertTrue(run.partition.halt().isEmpty());
                assertEquals(0, run.partition.emulationFailuresHandled());
                return;
            }
            HaltReason why = run.awaitHalt();
            assertInstanceOf(HaltReason.InternalError.class, why, run.output());
            assertTrue(why.describe().contains("without progress"), why.describe());
            assertEquals(NoProgressGuard.REPEATS - 1, run.partition.emulationFailuresHandled(), why.describe());
        }
    }
}
