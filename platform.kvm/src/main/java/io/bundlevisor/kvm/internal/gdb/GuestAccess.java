package io.bundlevisor.kvm.internal.gdb;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.MemorySegment;

import io.bundlevisor.uring.host.SyscallException;

/**
 * Guest memory as gdb addresses it: linear addresses, translated page by page through a VP's paging
 * (KVM_TRANSLATE walks the guest's page tables from its CR3), then checked to be guest RAM. Nothing outside guest
 * RAM is read or written: an unmapped page, or one that maps to MMIO or the hole, ends the access there.
 */
final class GuestAccess {

    static final long PAGE = 4096;

    private final DebugTarget target;

    GuestAccess(DebugTarget target) {
        this.target = target;
    }

    /** The guest-physical address of {@code address} through {@code vp}'s paging, if RAM; else -1. */
    long physical(int vp, long address) throws SyscallException {
        long gpa = target.translate(vp, address);
        return gpa >= 0 && target.ram(gpa, 1) != null ? gpa : -1;
    }

    byte ramByte(long gpa) {
        return segment(gpa, 1).get(JAVA_BYTE, 0);
    }

    void setRamByte(long gpa, byte value) {
        segment(gpa, 1).set(JAVA_BYTE, 0, value);
    }

    private MemorySegment segment(long gpa, int length) {
        MemorySegment s = target.ram(gpa, length);
        if (s == null) {
            throw new IllegalStateException("guest-physical 0x" + Long.toHexString(gpa) + " is not RAM");
        }
        return s;
    }

    /**
     * Reads up to {@code into.length} bytes at linear {@code address}; returns how many could be read (fewer where a
     * page is unmapped or not RAM). {@code breakpoints} shows the original bytes under its INT3s.
     */
    int read(int vp, long address, byte[] into, Breakpoints breakpoints) throws SyscallException {
        int done = 0;
        while (done < into.length) {
            long at = address + done;
            int chunk = (int) Math.min(into.length - done, PAGE - (at & (PAGE - 1)));
            long gpa = target.translate(vp, at);
            MemorySegment s = gpa < 0 ? null : target.ram(gpa, chunk);
            if (s == null) {
                break;
            }
            MemorySegment.copy(s, JAVA_BYTE, 0, into, done, chunk);
            if (breakpoints != null) {
                breakpoints.hide(gpa, into, done, chunk);
            }
            done += chunk;
        }
        return done;
    }

    /**
     * Writes {@code data} at linear {@code address}, all or nothing: every page is translated and checked first.
     * False if any is unmapped or not RAM. {@code breakpoints} keeps its INT3s over the new bytes.
     */
    boolean write(int vp, long address, byte[] data, Breakpoints breakpoints) throws SyscallException {
        int pages = 0;
        long[] gpas = new long[(int) ((data.length + 2 * PAGE - 1) / PAGE) + 1];
        for (int done = 0; done < data.length; pages++) {
            long at = address + done;
            int chunk = (int) Math.min(data.length - done, PAGE - (at & (PAGE - 1)));
            long gpa = target.translate(vp, at);
            if (gpa < 0 || target.ram(gpa, chunk) == null) {
                return false;
            }
            gpas[pages] = gpa;
            done += chunk;
        }
        int done = 0;
        for (int p = 0; p < pages; p++) {
            long at = address + done;
            int chunk = (int) Math.min(data.length - done, PAGE - (at & (PAGE - 1)));
            MemorySegment.copy(data, done, segment(gpas[p], chunk), JAVA_BYTE, 0, chunk);
            if (breakpoints != null) {
                breakpoints.rewritten(gpas[p], chunk);
            }
            done += chunk;
        }
        return true;
    }
}
