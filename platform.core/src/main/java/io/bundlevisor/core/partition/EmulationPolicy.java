package io.bundlevisor.core.partition;

/**
 * What a VMM does when KVM cannot emulate a guest instruction (KVM_EXIT_INTERNAL_ERROR, emulation failure). On
 * hardware virtualization (VMX, SVM) that is rare and means a broken guest; on a software KVM (kvm_pvm) guest
 * kernel code is emulated, and a few ordinary instructions ({@code int3}, {@code fwait}) are not.
 */
public enum EmulationPolicy {

    /** The host's default: {@link #INJECT} on a software KVM, {@link #HALT} where the CPU virtualizes itself. */
    AUTO,

    /** Halt the VM with an internal error that names the VP, RIP and the instruction bytes. */
    HALT,

    /**
     * Do what the instruction would have done: {@code int3} raises #BP after itself; {@code fwait} completes, or
     * raises #NM (CR0.TS with CR0.MP) or #MF (an unmasked x87 exception pending); any other instruction raises #UD
     * at itself. A VP that fails at the same instruction and stack again and again without progress halts as
     * under {@link #HALT}.
     */
    INJECT;

    /**
     * The policy for its {@code --on-emulation-failure} word ({@code auto}, {@code halt}, {@code inject}).
     *
     * @throws IllegalArgumentException with a one-line message
     */
    public static EmulationPolicy parse(String word) {
        for (EmulationPolicy p : values()) {
            if (p.name().equalsIgnoreCase(word)) {
                return p;
            }
        }
        throw new IllegalArgumentException("--on-emulation-failure must be auto, halt or inject, not '" + word + "'");
    }
}
