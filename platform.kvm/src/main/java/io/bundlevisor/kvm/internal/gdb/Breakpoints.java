package io.bundlevisor.kvm.internal.gdb;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.bundlevisor.kvm.internal.KvmVcpu;
import io.bundlevisor.uring.host.SyscallException;

/**
 * The breakpoints and watchpoints gdb inserted. Software ones are an INT3 (0xCC) written over the instruction's
 * first byte, the original kept here; the VP recognises one by its address when the guest reaches it (a #BP debug
 * exit with KVM_GUESTDBG_USE_SW_BP, or, on a KVM that cannot emulate INT3 in kernel mode, an emulation failure).
 * Hardware ones use the four debug address registers (Intel SDM vol. 3B, 18.2: DR7's L0-L3 enable bits, R/W and
 * LEN fields), which KVM loads for the guest with KVM_GUESTDBG_USE_HW_BP.
 *
 * <p>Changed on the stub's thread with the VPs stopped; {@link #softwareAt} is read by VP threads.
 */
final class Breakpoints {

    static final byte INT3 = (byte) 0xCC;
    static final int SLOTS = 4;
    // DR7 R/W field values.
    static final int RW_EXECUTE = 0b00;
    static final int RW_WRITE = 0b01;
    static final int RW_ACCESS = 0b11;

    /** A software breakpoint: where the INT3 went in guest RAM, and the byte it replaced. */
    private record Software(long gpa, byte original) {
    }

    /** A hardware slot: address, DR7 R/W and LEN codes, the length in bytes. */
    private record Hardware(long address, int rw, int length) {
    }

    private final GuestAccess memory;
    private final Map<Long, Software> software = new ConcurrentHashMap<>();
    private final Hardware[] hardware = new Hardware[SLOTS];

    Breakpoints(GuestAccess memory) {
        this.memory = memory;
    }

    /** Whether a software breakpoint of ours is at linear {@code address} (any thread). */
    boolean softwareAt(long address) {
        return software.containsKey(address);
    }

    boolean anySoftware() {
        return !software.isEmpty();
    }

    /** Inserts a software breakpoint at {@code address} through {@code vp}'s paging; false if unmapped. */
    boolean insertSoftware(int vp, long address) throws SyscallException {
        if (software.containsKey(address)) {
            return true;
        }
        long gpa = memory.physical(vp, address);
        if (gpa < 0) {
            return false;
        }
        byte original = memory.ramByte(gpa);
        memory.setRamByte(gpa, INT3);
        software.put(address, new Software(gpa, original));
        return true;
    }

    /** Removes the software breakpoint at {@code address}; true if there was one. */
    boolean removeSoftware(long address) {
        Software s = software.remove(address);
        if (s == null) {
            return false;
        }
        memory.setRamByte(s.gpa(), s.original());
        return true;
    }

    /**
     * Puts the original bytes over {@code data}, read at guest-physical {@code gpa}, where breakpoints are: gdb
     * reads memory as the guest's program has it.
     */
    void hide(long gpa, byte[] data, int offset, int length) {
        for (Software s : software.values()) {
            long at = s.gpa() - gpa;
            if (at >= 0 && at < length) {
                data[offset + (int) at] = s.original();
            }
        }
    }

    /**
     * After gdb wrote {@code length} bytes at guest-physical {@code gpa}: a breakpoint inside keeps the newly
     * written byte as its original and its INT3 in RAM.
     */
    void rewritten(long gpa, int length) {
        for (Map.Entry<Long, Software> e : software.entrySet()) {
            long at = e.getValue().gpa() - gpa;
            if (at >= 0 && at < length) {
                byte written = memory.ramByte(e.getValue().gpa());
                e.setValue(new Software(e.getValue().gpa(), written));
                memory.setRamByte(e.getValue().gpa(), INT3);
            }
        }
    }

    /**
     * Takes a debug register for {@code rw} at {@code address} of {@code length} bytes (1 for execution; 1, 2, 4
     * or 8, aligned, for data); false when none is free or the length is not one x86 can watch.
     */
    boolean insertHardware(int rw, long address, int length) {
        if (rw == RW_EXECUTE) {
            length = 1;
        } else if ((length != 1 && length != 2 && length != 4 && length != 8) || (address & (length - 1)) != 0) {
            return false;
        }
        for (int i = 0; i < SLOTS; i++) {
            Hardware h = hardware[i];
            if (h != null && h.address() == address && h.rw() == rw && h.length() == length) {
                return true;
            }
        }
        for (int i = 0; i < SLOTS; i++) {
            if (hardware[i] == null) {
                hardware[i] = new Hardware(address, rw, length);
                return true;
            }
        }
        return false;
    }

    boolean removeHardware(int rw, long address, int length) {
        if (rw == RW_EXECUTE) {
            length = 1;
        }
        for (int i = 0; i < SLOTS; i++) {
            Hardware h = hardware[i];
            if (h != null && h.address() == address && h.rw() == rw && h.length() == length) {
                hardware[i] = null;
                return true;
            }
        }
        return false;
    }

    /** The address slot {@code i} watches, or -1. */
    long hardwareAddress(int slot) {
        return slot >= 0 && slot < SLOTS && hardware[slot] != null ? hardware[slot].address() : -1;
    }

    /** Whether slot {@code i} is a data watchpoint on writes only. */
    boolean watchesWrites(int slot) {
        return slot >= 0 && slot < SLOTS && hardware[slot] != null && hardware[slot].rw() == RW_WRITE;
    }

    boolean anyHardware() {
        for (Hardware h : hardware) {
            if (h != null) {
                return true;
            }
        }
        return false;
    }

    /** DR0-DR3, two unused, DR6 (0) and DR7 for KVM_SET_GUEST_DEBUG. */
    long[] debugRegisters() {
        long[] dr = new long[KvmVcpu.DEBUG_REGISTERS];
        long dr7 = 0;
        for (int i = 0; i < SLOTS; i++) {
            Hardware h = hardware[i];
            if (h == null) {
                continue;
            }
            dr[i] = h.address();
            int len = switch (h.length()) {
                case 2 -> 0b01;
                case 4 -> 0b11;
                case 8 -> 0b10;
                default -> 0b00;
            };
            dr7 |= 1L << (2 * i);
            dr7 |= (long) h.rw() << (16 + 4 * i);
            dr7 |= (long) len << (18 + 4 * i);
        }
        dr[7] = dr7;
        return dr;
    }

    /** The KVM_SET_GUEST_DEBUG control for these breakpoints, plus single-step if {@code step}. */
    int control(boolean step, boolean blockIrq) {
        int c = 0;
        if (anySoftware()) {
            c |= KvmVcpu.GUESTDBG_USE_SW_BP;
        }
        if (anyHardware()) {
            c |= KvmVcpu.GUESTDBG_USE_HW_BP;
        }
        if (step) {
            c |= KvmVcpu.GUESTDBG_SINGLESTEP | (blockIrq ? KvmVcpu.GUESTDBG_BLOCKIRQ : 0);
        }
        return c == 0 ? 0 : c | KvmVcpu.GUESTDBG_ENABLE;
    }

    /** Removes every breakpoint and watchpoint (detach): the guest's bytes go back. */
    void clear() {
        for (Long address : software.keySet()) {
            removeSoftware(address);
        }
        java.util.Arrays.fill(hardware, null);
    }
}
