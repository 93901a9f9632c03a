package io.bundlevisor.kvm.internal.gdb;

import io.bundlevisor.kvm.internal.KvmVcpu;
import io.bundlevisor.uring.host.SyscallException;

/**
 * The register packets ({@code g}, {@code G}, {@code p}, {@code P}) over a VP's registers, in {@link X86Registers}'
 * numbering. Malformed arguments throw IllegalArgumentException (an {@code E22} reply).
 */
final class RegisterCommands {

    private final DebugTarget target;

    RegisterCommands(DebugTarget target) {
        this.target = target;
    }


    String readAll(int vp) throws SyscallException {
        long[] general = target.generalRegisters(vp);
        long[] special = target.specialRegisters(vp);
        StringBuilder r = new StringBuilder(X86Registers.G_BYTES * 2);
        for (int n = 0; n < X86Registers.ALL.length; n++) {
            r.append(X86Registers.hex(n, general, special));
        }
        return r.toString();
    }

    String read(int vp, String arg) throws SyscallException {
        int n = Hex.small(arg, Integer.MAX_VALUE);
        if (n >= X86Registers.ALL.length) {
            return "E45";
        }
        return X86Registers.hex(n, target.generalRegisters(vp), target.specialRegisters(vp));
    }

    String write(int vp, String arg) throws SyscallException {
        int eq = arg.indexOf('=');
        if (eq < 0) {
            throw new IllegalArgumentException("P without '='");
        }
        int n = Hex.small(arg.substring(0, eq), Integer.MAX_VALUE);
        if (n >= X86Registers.ALL.length) {
            return "E45";
        }
        X86Registers.Register r = X86Registers.ALL[n];
        String value = arg.substring(eq + 1);
        if (value.length() != r.bytes() * 2) {
            throw new IllegalArgumentException("register " + r.name() + " takes " + r.bytes() + " bytes");
        }
        long v = r.source() == X86Registers.UNAVAILABLE ? 0 : Hex.littleEndian(value, 0, r.bytes());
        return set(vp, r, v) ? "OK" : "E01";
    }

    private boolean set(int vp, X86Registers.Register r, long v) throws SyscallException {
        if (r.source() == X86Registers.GENERAL) {
            long[] general = target.generalRegisters(vp);
            general[r.index()] = r.bytes() == 4 ? (general[r.index()] & ~0xFFFF_FFFFL) | (v & 0xFFFF_FFFFL) : v;
            target.setGeneralRegisters(vp, general);
            return true;
        }
        if (r.source() == X86Registers.SPECIAL) {
            long[] special = target.specialRegisters(vp);
            if (r.index() == KvmVcpu.SPECIAL_FS_BASE || r.index() == KvmVcpu.SPECIAL_GS_BASE) {
                special[r.index()] = v;
                target.setSegmentBases(vp, special[KvmVcpu.SPECIAL_FS_BASE], special[KvmVcpu.SPECIAL_GS_BASE]);
                return true;
            }
            return special[r.index()] == v; // selectors and control registers: read-only here
        }
        return false;
    }

    /**
     * {@code G}: the general registers, rip, eflags and the segment bases are written; any other register must
     * be sent as it is (or as {@code xx}, unavailable), else nothing is written and the reply is an error.
     */
    String writeAll(int vp, String hex) throws SyscallException {
        if (hex.length() != X86Registers.G_BYTES * 2) {
            throw new IllegalArgumentException("G carries " + hex.length() / 2 + " bytes, not "
                    + X86Registers.G_BYTES);
        }
        long[] general = target.generalRegisters(vp);
        long[] special = target.specialRegisters(vp);
        long[] newSpecial = special.clone();
        int at = 0;
        for (X86Registers.Register r : X86Registers.ALL) {
            String field = hex.substring(at, at + r.bytes() * 2);
            at += r.bytes() * 2;
            if (r.source() == X86Registers.UNAVAILABLE || field.startsWith("x")) {
                continue;
            }
            long v = Hex.littleEndian(field, 0, r.bytes());
            if (r.source() == X86Registers.GENERAL) {
                general[r.index()] = r.bytes() == 4 ? (general[r.index()] & ~0xFFFF_FFFFL) | (v & 0xFFFF_FFFFL) : v;
            } else {
                newSpecial[r.index()] = v;
            }
        }
        for (int i = 0; i < special.length; i++) {
            if (i != KvmVcpu.SPECIAL_FS_BASE && i != KvmVcpu.SPECIAL_GS_BASE && newSpecial[i] != special[i]) {
                return "E01";
            }
        }
        target.setGeneralRegisters(vp, general);
        if (newSpecial[KvmVcpu.SPECIAL_FS_BASE] != special[KvmVcpu.SPECIAL_FS_BASE]
                || newSpecial[KvmVcpu.SPECIAL_GS_BASE] != special[KvmVcpu.SPECIAL_GS_BASE]) {
            target.setSegmentBases(vp, newSpecial[KvmVcpu.SPECIAL_FS_BASE],
                    newSpecial[KvmVcpu.SPECIAL_GS_BASE]);
        }
        return "OK";
    }
}
