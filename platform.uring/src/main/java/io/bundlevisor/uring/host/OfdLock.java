package io.bundlevisor.uring.host;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.sys.HeaderLayouts;
import io.bundlevisor.uring.sys.Native;

/**
 * Whole-file open file description locks: {@code fcntl(F_OFD_SETLK)} (Linux 3.15). Unlike classic POSIX record
 * locks they belong to the open file description, not the process, so two opens in one process conflict too, and
 * closing an unrelated descriptor of the same file does not drop them. QEMU locks its images the same way.
 */
final class OfdLock {

    // include/uapi/asm-generic/fcntl.h
    private static final int F_OFD_SETLK = 37;
    private static final short F_RDLCK = 0;
    private static final short F_WRLCK = 1;
    private static final short SEEK_SET = 0;

    /** {@code struct flock} (include/uapi/asm-generic/fcntl.h); x86_64 and aarch64 share this 64-bit layout. */
    private static final StructLayout FLOCK = MemoryLayout.structLayout(
            JAVA_SHORT.withName("l_type"),
            JAVA_SHORT.withName("l_whence"),
            MemoryLayout.paddingLayout(4),
            JAVA_LONG.withName("l_start"),
            JAVA_LONG.withName("l_len"),
            JAVA_INT.withName("l_pid"),
            MemoryLayout.paddingLayout(4));
    private static final String HEADER = "<asm-generic/fcntl.h> struct flock";
    private static final long L_TYPE = HeaderLayouts.offset(HEADER, FLOCK, 0, "l_type");
    private static final long L_WHENCE = HeaderLayouts.offset(HEADER, FLOCK, 2, "l_whence");
    private static final long L_START = HeaderLayouts.offset(HEADER, FLOCK, 8, "l_start");
    private static final long L_LEN = HeaderLayouts.offset(HEADER, FLOCK, 16, "l_len");
    private static final long L_PID = HeaderLayouts.offset(HEADER, FLOCK, 24, "l_pid");
    private static final long SIZE = HeaderLayouts.size(HEADER, FLOCK, 32);

    private OfdLock() {
    }

    /**
     * Locks the whole file, shared (read) or exclusive (write), without waiting. Returns false when another open
     * file description holds a conflicting lock.
     */
    static boolean tryLock(int fd, boolean exclusive, String what) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flock = arena.allocate(SIZE, 8);
            flock.set(JAVA_SHORT, L_TYPE, exclusive ? F_WRLCK : F_RDLCK);
            flock.set(JAVA_SHORT, L_WHENCE, SEEK_SET);
            flock.set(JAVA_LONG, L_START, 0);
            flock.set(JAVA_LONG, L_LEN, 0); // 0: to the end of the file, however it grows
            flock.set(JAVA_INT, L_PID, 0);  // must be 0 for OFD locks (fcntl(2))
            long r = Native.syscall(SyscallNumbers.FCNTL, fd, F_OFD_SETLK, flock.address(), 0, 0, 0);
            if (r == -Errno.EAGAIN || r == -Errno.EACCES) {
                return false; // fcntl(2): a conflicting lock is held; both errnos are documented for it
            }
            Native.check((exclusive ? "lock (exclusive) " : "lock (shared) ") + what, r);
            return true;
        }
    }
}
