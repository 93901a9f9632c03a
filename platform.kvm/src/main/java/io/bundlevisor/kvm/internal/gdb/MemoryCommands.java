package io.bundlevisor.kvm.internal.gdb;

import io.bundlevisor.uring.host.SyscallException;

/**
 * The memory packets ({@code m}, {@code M}, {@code X}) at linear addresses through a VP's paging
 * ({@link GuestAccess}), with the breakpoints' INT3s hidden. Unmapped memory is {@code E14}; malformed arguments
 * throw IllegalArgumentException (an {@code E22} reply).
 */
final class MemoryCommands {

    /** The most bytes one {@code m} reply carries (two hex digits each). */
    static final int MAX_READ = 4096;
    private static final String E_FAULT = "E14";

    private final GuestAccess memory;
    private final Breakpoints breakpoints;

    MemoryCommands(GuestAccess memory, Breakpoints breakpoints) {
        this.memory = memory;
        this.breakpoints = breakpoints;
    }


    String read(int vp, String arg) throws SyscallException {
        int comma = arg.indexOf(',');
        if (comma < 0) {
            throw new IllegalArgumentException("m without ','");
        }
        long address = Hex.number(arg.substring(0, comma));
        int length = (int) Math.min(Hex.number(arg.substring(comma + 1)), MAX_READ);
        byte[] data = new byte[length];
        int done = memory.read(vp, address, data, breakpoints);
        if (done == 0 && length > 0) {
            return E_FAULT;
        }
        return Hex.of(data, 0, done);
    }

    String writeHex(int vp, String arg) throws SyscallException {
        int comma = arg.indexOf(',');
        int colon = arg.indexOf(':');
        if (comma < 0 || colon < comma) {
            throw new IllegalArgumentException("M without 'addr,length:'");
        }
        long address = Hex.number(arg.substring(0, comma));
        long length = Hex.number(arg.substring(comma + 1, colon));
        byte[] data = Hex.bytes(arg.substring(colon + 1));
        if (data.length != length) {
            throw new IllegalArgumentException("M says " + length + " bytes and carries " + data.length);
        }
        return memory.write(vp, address, data, breakpoints) ? "OK" : E_FAULT;
    }

    /** {@code X addr,length:binary}: the binary part is the rest of the packet's bytes, escapes already undone. */
    String writeBinary(int vp, String p, byte[] raw) throws SyscallException {
        int comma = p.indexOf(',');
        int colon = p.indexOf(':');
        if (comma < 0 || colon < comma) {
            throw new IllegalArgumentException("X without 'addr,length:'");
        }
        long address = Hex.number(p.substring(1, comma));
        long length = Hex.number(p.substring(comma + 1, colon));
        byte[] data = java.util.Arrays.copyOfRange(raw, colon + 1, raw.length);
        if (data.length != length) {
            throw new IllegalArgumentException("X says " + length + " bytes and carries " + data.length);
        }
        return memory.write(vp, address, data, breakpoints) ? "OK" : E_FAULT;
    }
}
