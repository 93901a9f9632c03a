package io.bundlevisor.core.partition;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

/**
 * Where a VP starts and with what in its general registers (since 1.6), for {@link Partition#setInitialRegisters}:
 * a loader of our own putting a VP at an entry point, as OpenVMM's {@code set_initial_regs} does. Everything not
 * given here is the machine's 64-bit boot state: long mode with the boot GDT and the identity page tables of the
 * first 4 GiB, the other general registers 0, RFLAGS 0x2 unless given.
 *
 * @param values the registers given, {@link Register#RIP} among them
 */
public record InitialRegisters(Map<Register, Long> values) {

    /** RFLAGS bits a guest may set: CF PF AF ZF SF TF IF DF OF IOPL NT RF VM AC VIF VIP ID (SDM vol. 1, 3.4.3). */
    private static final long RFLAGS_WRITABLE = 0x3F_7FD5L;
    /** RFLAGS bit 1 is reserved and always 1. */
    private static final long RFLAGS_FIXED = 0x2;

    /** The general registers, in the order of {@code struct kvm_regs} ({@code arch/x86/include/uapi/asm/kvm.h}). */
    public enum Register {
        RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP, R8, R9, R10, R11, R12, R13, R14, R15, RIP, RFLAGS
    }

    /**
     * @throws IllegalArgumentException without RIP, with a non-canonical RIP or RSP, or with RFLAGS' reserved bits
     *                                  wrong (bit 1 must be set, bits 3, 5, 15 and 22-63 clear)
     */
    public InitialRegisters {
        EnumMap<Register, Long> copy = new EnumMap<>(Register.class);
        values.forEach((r, v) -> copy.put(java.util.Objects.requireNonNull(r), java.util.Objects.requireNonNull(v)));
        if (!copy.containsKey(Register.RIP)) {
            throw new IllegalArgumentException("initial registers need RIP");
        }
        for (Register r : new Register[] {Register.RIP, Register.RSP}) {
            Long v = copy.get(r);
            if (v != null && !canonical(v)) {
                throw new IllegalArgumentException(r + " 0x" + Long.toHexString(v) + " is not a canonical address");
            }
        }
        Long flags = copy.get(Register.RFLAGS);
        if (flags != null && ((flags & RFLAGS_FIXED) == 0 || (flags & ~(RFLAGS_WRITABLE | RFLAGS_FIXED)) != 0)) {
            throw new IllegalArgumentException("RFLAGS 0x" + Long.toHexString(flags)
                    + " has reserved bits wrong (bit 1 set, bits 3, 5, 15 and 22-63 clear)");
        }
        values = Collections.unmodifiableMap(copy);
    }

    /** A VP starting at {@code rip} with every other general register 0. */
    public static InitialRegisters at(long rip) {
        return new InitialRegisters(Map.of(Register.RIP, rip));
    }

    /** These registers with {@code register} set to {@code value}. */
    public InitialRegisters with(Register register, long value) {
        EnumMap<Register, Long> next = new EnumMap<>(values);
        next.put(register, value);
        return new InitialRegisters(next);
    }

    /** The value given for {@code register}, or its boot-state value (0; RFLAGS 0x2). */
    public long get(Register register) {
        return values.getOrDefault(register, register == Register.RFLAGS ? RFLAGS_FIXED : 0L);
    }

    /** 48-bit canonical: bits 63..47 all equal. */
    private static boolean canonical(long address) {
        return (address >> 47) == 0 || (address >> 47) == -1;
    }
}
