package io.bundlevisor.uring.host;

/**
 * Numbers of the raw system calls this package makes through {@code Native.syscall}: x86_64 and aarch64 differ
 * here (x86_64: {@code arch/x86/entry/syscalls/syscall_64.tbl}; aarch64: {@code include/uapi/asm-generic/unistd.h}).
 */
final class SyscallNumbers {

    private static final boolean AARCH64 = "aarch64".equals(System.getProperty("os.arch"));

    /** fcntl(2): {@code __NR_fcntl}. */
    static final long FCNTL = AARCH64 ? 25 : 72;
    /** statx(2): {@code __NR_statx}, Linux 4.11. */
    static final long STATX = AARCH64 ? 291 : 332;

    private SyscallNumbers() {
    }
}
