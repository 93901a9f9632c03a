package io.bundlevisor.manage;

import java.util.Objects;

import io.bundlevisor.core.partition.EmulationPolicy;

/**
 * A VM as it is at one instant.
 *
 * @param name              its name
 * @param cpus              virtual processors
 * @param memoryBytes       guest RAM
 * @param started           whether its VPs run (or would, but for a halt)
 * @param emulation         the emulation-failure policy in force (halt or inject)
 * @param emulationFailures instructions the hypervisor could not emulate that the inject policy handled
 * @param halt              the pending halt, described in one line, or empty
 * @param devices           how many devices it declares
 * @param consolePty        the pseudo terminal of a pty console, or empty
 */
public record VmSummary(String name, int cpus, long memoryBytes, boolean started, EmulationPolicy emulation,
        long emulationFailures, String halt, int devices, String consolePty) {

    public VmSummary {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(emulation, "emulation");
        Objects.requireNonNull(halt, "halt");
        Objects.requireNonNull(consolePty, "consolePty");
    }
}
