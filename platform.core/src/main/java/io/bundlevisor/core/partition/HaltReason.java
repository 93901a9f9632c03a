package io.bundlevisor.core.partition;

import java.util.HexFormat;

/**
 * Why a partition's virtual processors stopped on their own. Only the first halt after a start or
 * {@link Partition#clearHalt()} is reported; halts raced by other VPs meanwhile are dropped.
 */
public sealed interface HaltReason {

    /** One line for a person. */
    String describe();

    /** The process exit status a launcher uses for this reason: 0 power off, 1 guest failure, 2 reset. */
    int exitStatus();

    /** The guest powered off (ACPI S5 through the FADT sleep control register). */
    record PowerOff() implements HaltReason {
        @Override
        public String describe() {
            return "power off";
        }

        @Override
        public int exitStatus() {
            return 0;
        }
    }

    /** The guest asked for a reset (FADT reset register or the i8042 pulse). */
    record Reset() implements HaltReason {
        @Override
        public String describe() {
            return "reset";
        }

        @Override
        public int exitStatus() {
            return 2;
        }
    }

    /**
     * A VP triple-faulted (KVM_EXIT_SHUTDOWN), at {@code rip} (-1 when it could not be read) with {@code instruction}
     * the bytes there when they could be read (possibly empty; since 1.3).
     */
    record TripleFault(int vp, long rip, byte[] instruction) implements HaltReason {
        public TripleFault {
            instruction = instruction.clone();
        }

        /** A triple fault whose RIP is unknown. */
        public TripleFault(int vp) {
            this(vp, -1, new byte[0]);
        }

        @Override
        public byte[] instruction() {
            return instruction.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof TripleFault t && t.vp == vp && t.rip == rip
                    && java.util.Arrays.equals(t.instruction, instruction);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(vp, rip, java.util.Arrays.hashCode(instruction));
        }

        @Override
        public String describe() {
            return "triple fault on VP " + vp + (rip == -1 ? "" : " at rip 0x" + Long.toHexString(rip))
                    + (instruction.length == 0 ? "" : " (bytes " + HexFormat.ofDelimiter(" ").formatHex(instruction)
                            + ")");
        }

        @Override
        public int exitStatus() {
            return 1;
        }
    }

    /**
     * KVM could not run a VP: an emulation failure, a failed entry or an unexpected exit. {@code instruction}
     * holds the bytes at RIP when they could be read (possibly empty).
     */
    record InternalError(int vp, long rip, byte[] instruction, String message) implements HaltReason {
        public InternalError {
            instruction = instruction.clone();
        }

        @Override
        public byte[] instruction() {
            return instruction.clone();
        }

        @Override
        public String describe() {
            return "internal error on VP " + vp + " at rip 0x" + Long.toHexString(rip) + ": " + message
                    + (instruction.length == 0 ? "" : " (bytes " + HexFormat.ofDelimiter(" ").formatHex(instruction)
                            + ")");
        }

        @Override
        public int exitStatus() {
            return 1;
        }
    }
}
