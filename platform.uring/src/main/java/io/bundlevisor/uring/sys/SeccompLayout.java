package io.bundlevisor.uring.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/**
 * Classic BPF as seccomp runs it, x86_64 only: the instruction encoding from {@code include/uapi/linux/filter.h} and
 * {@code bpf_common.h}, {@code struct seccomp_data} and the return values from {@code include/uapi/linux/seccomp.h},
 * the architecture from {@code include/uapi/linux/audit.h}, system call numbers from
 * {@code arch/x86/entry/syscalls/syscall_64.tbl}.
 */
public final class SeccompLayout {

    // BPF instruction classes, sizes, modes and operations (bpf_common.h)
    public static final short BPF_LD = 0x00;
    public static final short BPF_JMP = 0x05;
    public static final short BPF_RET = 0x06;
    public static final short BPF_W = 0x00;
    public static final short BPF_ABS = 0x20;
    public static final short BPF_JEQ = 0x10;
    public static final short BPF_JGE = 0x30;
    public static final short BPF_JSET = 0x40;
    public static final short BPF_K = 0x00;

    /** {@code struct sock_filter}: one instruction. */
    public static final StructLayout SOCK_FILTER = MemoryLayout.structLayout(
            JAVA_SHORT.withName("code"), JAVA_BYTE.withName("jt"), JAVA_BYTE.withName("jf"), JAVA_INT.withName("k"));
    /** {@code struct sock_fprog}: the length, padding, the instructions' address. */
    public static final StructLayout SOCK_FPROG = MemoryLayout.structLayout(
            JAVA_SHORT.withName("len"), MemoryLayout.paddingLayout(6), ADDRESS.withName("filter"));
    /** The kernel's limit on one program ({@code BPF_MAXINSNS}). */
    public static final int BPF_MAXINSNS = 4096;

    // struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
    public static final int DATA_NR = 0;
    public static final int DATA_ARCH = 4;
    /** The low 32 bits of argument {@code i} (little-endian). */
    public static int dataArgLow(int i) {
        return 16 + 8 * i;
    }

    /** {@code AUDIT_ARCH_X86_64}: {@code EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE}. */
    public static final int AUDIT_ARCH_X86_64 = 0xc000003e;
    /** System calls of the x32 ABI have this bit set in their number: refused, as they bypass the table below. */
    public static final int X32_SYSCALL_BIT = 0x40000000;

    public static final int SECCOMP_RET_ALLOW = 0x7fff0000;
    public static final int SECCOMP_RET_ERRNO = 0x00050000;

    /** seccomp(2)'s {@code SECCOMP_SET_MODE_FILTER}, and {@code SECCOMP_FILTER_FLAG_LOG}: the kernel logs refusals. */
    public static final int SECCOMP_SET_MODE_FILTER = 1;
    public static final int SECCOMP_FILTER_FLAG_LOG = 2;
    /** prctl(2)'s {@code PR_SET_NO_NEW_PRIVS} ({@code include/uapi/linux/prctl.h}): needed without CAP_SYS_ADMIN. */
    public static final int PR_SET_NO_NEW_PRIVS = 38;

    // x86_64 system call numbers (syscall_64.tbl)
    public static final int NR_READ = 0;
    public static final int NR_WRITE = 1;
    public static final int NR_OPEN = 2;
    public static final int NR_CLOSE = 3;
    public static final int NR_STAT = 4;
    public static final int NR_FSTAT = 5;
    public static final int NR_LSTAT = 6;
    public static final int NR_POLL = 7;
    public static final int NR_LSEEK = 8;
    public static final int NR_MMAP = 9;
    public static final int NR_MPROTECT = 10;
    public static final int NR_MUNMAP = 11;
    public static final int NR_BRK = 12;
    public static final int NR_RT_SIGACTION = 13;
    public static final int NR_RT_SIGPROCMASK = 14;
    public static final int NR_RT_SIGRETURN = 15;
    public static final int NR_IOCTL = 16;
    public static final int NR_PREAD64 = 17;
    public static final int NR_PWRITE64 = 18;
    public static final int NR_READV = 19;
    public static final int NR_WRITEV = 20;
    public static final int NR_ACCESS = 21;
    public static final int NR_SCHED_YIELD = 24;
    public static final int NR_MREMAP = 25;
    public static final int NR_MINCORE = 27;
    public static final int NR_MADVISE = 28;
    public static final int NR_DUP = 32;
    public static final int NR_NANOSLEEP = 35;
    public static final int NR_GETPID = 39;
    public static final int NR_SOCKET = 41;
    public static final int NR_CLONE = 56;
    public static final int NR_FORK = 57;
    public static final int NR_VFORK = 58;
    public static final int NR_EXECVE = 59;
    public static final int NR_EXIT = 60;
    public static final int NR_UNAME = 63;
    public static final int NR_FCNTL = 72;
    public static final int NR_GETCWD = 79;
    public static final int NR_READLINK = 89;
    public static final int NR_GETTIMEOFDAY = 96;
    public static final int NR_GETRUSAGE = 98;
    public static final int NR_SYSINFO = 99;
    public static final int NR_TIMES = 100;
    public static final int NR_GETUID = 102;
    public static final int NR_GETPPID = 110;
    public static final int NR_RT_SIGPENDING = 127;
    public static final int NR_RT_SIGTIMEDWAIT = 128;
    public static final int NR_SIGALTSTACK = 131;
    public static final int NR_STATFS = 137;
    public static final int NR_FSTATFS = 138;
    public static final int NR_PRCTL = 157;
    public static final int NR_GETTID = 186;
    public static final int NR_FUTEX = 202;
    public static final int NR_SCHED_GETAFFINITY = 204;
    public static final int NR_GETDENTS64 = 217;
    public static final int NR_RESTART_SYSCALL = 219;
    public static final int NR_CLOCK_GETTIME = 228;
    public static final int NR_CLOCK_GETRES = 229;
    public static final int NR_CLOCK_NANOSLEEP = 230;
    public static final int NR_EXIT_GROUP = 231;
    public static final int NR_TGKILL = 234;
    public static final int NR_OPENAT = 257;
    public static final int NR_NEWFSTATAT = 262;
    public static final int NR_READLINKAT = 267;
    public static final int NR_FACCESSAT = 269;
    public static final int NR_PPOLL = 271;
    public static final int NR_DUP3 = 292;
    public static final int NR_SECCOMP = 317;
    public static final int NR_GETRANDOM = 318;
    public static final int NR_MEMBARRIER = 324;
    public static final int NR_STATX = 332;
    public static final int NR_IO_URING_ENTER = 426;
    public static final int NR_CLONE3 = 435;
    public static final int NR_FACCESSAT2 = 439;

    /** open(2) flags that write or create: an allowed {@code open}/{@code openat} may carry none of them. */
    public static final int OPEN_WRITE_FLAGS = Native.O_WRONLY | Native.O_RDWR | Native.O_CREAT | Native.O_TRUNC
            | 0x400 /* O_APPEND */;

    static {
        if (SOCK_FILTER.byteSize() != 8 || SOCK_FPROG.byteSize() != 16) {
            throw new ExceptionInInitializerError("sock_filter or sock_fprog layout is wrong");
        }
    }

    private SeccompLayout() {
    }
}
