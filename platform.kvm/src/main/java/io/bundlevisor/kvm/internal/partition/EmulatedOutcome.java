package io.bundlevisor.kvm.internal.partition;

/**
 * What an instruction KVM could not emulate would have done on the CPU, for the inject policy: complete (RIP moves
 * past it) or raise an exception (a trap after the instruction, a fault at it). Decided from the instruction's first
 * byte, CR0 and the x87 status word; Intel SDM vol. 2 (INT3, WAIT/FWAIT), vol. 3A section 6.15 (the exceptions).
 *
 * @param vector the exception to raise, or {@link #NONE}
 * @param ripAdvance how far RIP moves before the exception (or instead of one)
 * @param what the instruction and the outcome, for the log
 */
record EmulatedOutcome(int vector, int ripAdvance, String what) {

    static final int NONE = -1;
    static final int VECTOR_BP = 3;
    static final int VECTOR_UD = 6;
    static final int VECTOR_NM = 7;
    static final int VECTOR_MF = 16;

    static final int OPCODE_INT3 = 0xCC;
    static final int OPCODE_FWAIT = 0x9B;
    static final long CR0_MP = 1L << 1;
    static final long CR0_TS = 1L << 3;
    /** FSW.ES: an unmasked x87 exception is pending. */
    static final int FSW_ES = 1 << 7;

    /**
     * The outcome of the instruction starting with {@code opcode}: {@code int3} traps with #BP after itself;
     * {@code fwait} raises #NM when CR0.TS and CR0.MP are both set, else #MF when an unmasked x87 exception is
     * pending, else completes; anything else is taken as undefined, #UD at itself.
     */
    static EmulatedOutcome of(int opcode, long cr0, int fsw) {
        return switch (opcode & 0xFF) {
            case OPCODE_INT3 -> new EmulatedOutcome(VECTOR_BP, 1, "int3: #BP after it");
            case OPCODE_FWAIT -> {
                if ((cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP)) {
                    yield new EmulatedOutcome(VECTOR_NM, 0, "fwait: #NM (CR0.TS and CR0.MP)");
                }
                if ((fsw & FSW_ES) != 0) {
                    yield new EmulatedOutcome(VECTOR_MF, 0, "fwait: #MF (x87 exception pending)");
                }
                yield new EmulatedOutcome(NONE, 1, "fwait: completed");
            }
            default -> new EmulatedOutcome(VECTOR_UD, 0, String.format("opcode 0x%02x: #UD", opcode & 0xFF));
        };
    }

    boolean raises() {
        return vector != NONE;
    }
}
