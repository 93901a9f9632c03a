package io.bundlevisor.uring.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import io.bundlevisor.uring.host.SyscallException;

/**
 * The libc functions and raw system calls this bundle uses, as FFM downcalls that capture errno. Each method
 * returns the call's result, or {@code -errno} on failure, so hot paths can handle EINTR/EBUSY without
 * exceptions; {@link #check} turns a failure into a {@link SyscallException} naming the operation.
 *
 * <p>Restricted methods ({@code Linker.downcallHandle}, {@code MemorySegment.reinterpret}) are called only here;
 * the JVM must enable native access ({@code --enable-native-access=ALL-UNNAMED}). The package is exported to
 * platform bundles only (mandatory attribute {@code platform=true}): device bundles never call native code.
 */
public final class Native {

    /** x86_64 and aarch64 share these numbers (the generic syscall table, since Linux 5.1). */
    public static final long SYS_IO_URING_SETUP = 425;
    public static final long SYS_IO_URING_ENTER = 426;
    public static final long SYS_IO_URING_REGISTER = 427;

    // <asm-generic/fcntl.h> (x86_64 and aarch64 differ only in O_DIRECT: 0x4000 vs 0x10000)
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0x40;
    public static final int O_TRUNC = 0x200;
    public static final int O_NONBLOCK = 0x800;
    public static final int O_CLOEXEC = 0x80000;
    public static final int O_DIRECT = isAarch64() ? 0x10000 : 0x4000;

    // <sys/mman.h>
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    public static final int MAP_PRIVATE = 2;
    public static final int MAP_FIXED = 0x10;
    public static final int MAP_POPULATE = 0x8000;
    public static final long MAP_FAILED = -1L;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(PathElement.groupElement("errno"));
    /** One errno capture buffer per thread, so a call allocates nothing. */
    private static final ThreadLocal<MemorySegment> CAPTURE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE_LAYOUT));

    private static final MethodHandle SYSCALL = downcall("syscall",
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG,
                    JAVA_LONG),
            Linker.Option.firstVariadicArg(1));
    /**
     * The same {@code syscall} as a critical function ({@link Linker.Option#critical}): no thread-state transition
     * around the call, so the thread stays "in Java" and a safepoint waits for it to return. Only for calls that
     * never sleep: see {@link #ioUringSubmit}. It captures no errno: the capture segment is checked on each call
     * by slicing it ({@code SharedUtils.checkCaptureSegment}), a 40-byte object that only C2's escape analysis
     * removes, and a caller that runs it rarely (one wait in 65 at QD1) keeps it in C1 code, which allocates.
     */
    private static final MethodHandle SYSCALL_CRITICAL = LINKER.downcallHandle(
            LINKER.defaultLookup().find("syscall").orElseThrow(() -> new UnsatisfiedLinkError("libc has no syscall")),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG,
                    JAVA_LONG),
            Linker.Option.firstVariadicArg(1), Linker.Option.critical(false));
    /**
     * The same {@code syscall} as an ordinary downcall without errno capture, for {@link #ioUringEnter}: the capture
     * slices its segment on every call (see {@link #SYSCALL_CRITICAL}), and a ring whose waits mostly end early (the
     * critical submit found its completions) runs the waiting call too rarely for C2, so C1 code allocated there.
     */
    private static final MethodHandle SYSCALL_UNCAPTURED = LINKER.downcallHandle(
            LINKER.defaultLookup().find("syscall").orElseThrow(() -> new UnsatisfiedLinkError("libc has no syscall")),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG,
                    JAVA_LONG),
            Linker.Option.firstVariadicArg(1));
    private static final MethodHandle OPEN = downcall("open",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = downcall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle DUP = downcall("dup", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = downcall("read",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = downcall("write",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle LSEEK = downcall("lseek",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle FTRUNCATE = downcall("ftruncate",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle EVENTFD = downcall("eventfd",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle PIPE2 = downcall("pipe2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle MMAP = downcall("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle IOCTL = downcall("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle MEMFD_CREATE = downcall("memfd_create",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle MUNMAP = downcall("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle SOCKET = downcall("socket",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SOCKETPAIR = downcall("socketpair",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle BIND = downcall("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT = downcall("connect",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LISTEN = downcall("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle ACCEPT4 = downcall("accept4",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle SENDMSG = downcall("sendmsg",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RECVMSG = downcall("recvmsg",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SHUTDOWN = downcall("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SETSOCKOPT = downcall("setsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FCNTL = downcall("fcntl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle READLINK = downcall("readlink",
            FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle SYSCONF = downcall("sysconf", FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
    // <sched.h>: a thread's CPU affinity (the caller's with pid 0), where it runs now; <unistd.h> gettid (glibc 2.30)
    private static final MethodHandle SCHED_SETAFFINITY = downcall("sched_setaffinity",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle SCHED_GETAFFINITY = downcall("sched_getaffinity",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle SCHED_GETCPU = downcall("sched_getcpu", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle GETTID = downcall("gettid", FunctionDescriptor.of(JAVA_INT));
    // <termios.h>, <stdlib.h> (POSIX pseudo terminals); a struct termios is opaque here (TermiosLayout).
    private static final MethodHandle ISATTY = downcall("isatty", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle TCGETATTR = downcall("tcgetattr",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle TCSETATTR = downcall("tcsetattr",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle CFMAKERAW = downcall("cfmakeraw", FunctionDescriptor.ofVoid(ADDRESS));
    private static final MethodHandle POSIX_OPENPT = downcall("posix_openpt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle GRANTPT = downcall("grantpt", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle UNLOCKPT = downcall("unlockpt", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle PTSNAME_R = downcall("ptsname_r",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG));

    /** The base page size (sysconf {@code _SC_PAGESIZE}): 4 KiB on x86_64, 4, 16 or 64 KiB on aarch64. */
    public static final long PAGE_SIZE = pageSize();

    /**
     * The whole process address space as one segment at base address 0, so a host virtual address is its offset.
     * SAFETY: the segment itself proves nothing; every user must have checked the address range against a live
     * mapping it owns before reading or writing through it (see {@code MappedRegion.addressSpace}).
     */
    private static final MemorySegment ADDRESS_SPACE = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    private Native() {
    }

    private static MethodHandle downcall(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        Linker.Option[] all = new Linker.Option[options.length + 1];
        System.arraycopy(options, 0, all, 0, options.length);
        all[options.length] = Linker.Option.captureCallState("errno");
        MemorySegment symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, descriptor, all);
    }

    private static boolean isAarch64() {
        return "aarch64".equals(System.getProperty("os.arch"));
    }

    private static int errno(MemorySegment capture) {
        return (int) ERRNO.get(capture, 0L);
    }

    /** Returns {@code result} if it is not negative, else throws the errno it carries. */
    public static long check(String operation, long result) throws SyscallException {
        if (result < 0) {
            throw new SyscallException(operation, (int) -result);
        }
        return result;
    }

    /** A raw system call with up to six arguments; {@code -errno} on failure. */
    public static long syscall(long number, long a, long b, long c, long d, long e, long f) {
        MemorySegment capture = CAPTURE.get();
        try {
            long r = (long) SYSCALL.invokeExact(capture, number, a, b, c, d, e, f);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code io_uring_enter(fd, toSubmit, 0, 0)}: hands the kernel up to {@code toSubmit} queued entries and returns
     * at once, without waiting for completions (no {@code IORING_ENTER_GETEVENTS}). The count accepted, or
     * {@code -errno}.
     *
     * <p>It runs as a critical downcall, which saves the thread-state transitions of an ordinary one (a round trip
     * of a few tens of nanoseconds, most of a NOP's cost in user space). That is sound because this call cannot
     * sleep on IO: io_uring issues each entry without blocking and hands whatever would block to its io-wq
     * workers; what runs inline is bounded work (a NOP, a copy from the page cache, a poll arming). A safepoint
     * meanwhile waits that long for this thread, as it would for a loop of Java code. Waiting for completions
     * always goes through {@link #syscall}, an ordinary downcall.
     *
     * <p>The critical call captures no errno, so that it allocates nothing even where it runs too rarely to be
     * compiled by C2 (see the note at its method handle). When it fails, the same call is made again through
     * {@link #syscall}, which captures errno: io_uring_enter fails only when it consumed no entry (once it has
     * consumed any, it returns their count and reports later errors in their CQEs), so the ring is as it was and
     * the repeat is the call the caller would make anyway (for EINTR) or fails the same way (EBUSY, EAGAIN, EBADF,
     * ...); if it succeeds this time, its count is returned.
     */
    public static int ioUringSubmit(int fd, int toSubmit) {
        long r;
        try {
            r = (long) SYSCALL_CRITICAL.invokeExact(SYS_IO_URING_ENTER, (long) fd, (long) toSubmit, 0L, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r != -1) {
            return (int) r;
        }
        return (int) syscall(SYS_IO_URING_ENTER, fd, toSubmit, 0, 0, 0, 0);
    }

    /**
     * {@code io_uring_enter(fd, toSubmit, minComplete, flags)}, which may wait: the count submitted, or {@code -errno}.
     * An ordinary downcall that captures no errno, so that it allocates nothing in whatever tier the JIT left its
     * caller; when it fails, the same call is made again through {@link #syscall}, which captures errno. That is
     * sound for the reason {@link #ioUringSubmit} gives (a failing io_uring_enter consumed no entry), and the repeat
     * of a wait that failed is what its caller does anyway (EINTR: wait again) or fails the same way (EBUSY,
     * EAGAIN: completions wait to be reaped; EBADF, EFAULT, EINVAL).
     */
    public static int ioUringEnter(int fd, int toSubmit, int minComplete, int flags) {
        long r;
        try {
            r = (long) SYSCALL_UNCAPTURED.invokeExact(SYS_IO_URING_ENTER, (long) fd, (long) toSubmit,
                    (long) minComplete, (long) flags, 0L, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r != -1) {
            return (int) r;
        }
        return (int) syscall(SYS_IO_URING_ENTER, fd, toSubmit, minComplete, flags, 0, 0);
    }

    /** open(2) on a path; the file descriptor, or {@code -errno}. */
    public static int open(String path, int flags, int mode) {
        if (path.indexOf('\0') >= 0) {
            return -22; // EINVAL: a NUL would silently cut the path
        }
        MemorySegment capture = CAPTURE.get();
        try (Arena arena = Arena.ofConfined()) {
            int r = (int) OPEN.invokeExact(capture, arena.allocateFrom(path), flags, mode);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int close(int fd) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) CLOSE.invokeExact(capture, fd);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** dup(2): a second descriptor for the same open file (not close-on-exec). */
    public static int dup(int fd) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) DUP.invokeExact(capture, fd);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long read(int fd, MemorySegment buffer, long length) {
        checkBounds(buffer, length);
        MemorySegment capture = CAPTURE.get();
        try {
            long r = (long) READ.invokeExact(capture, fd, buffer, length);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long write(int fd, MemorySegment buffer, long length) {
        checkBounds(buffer, length);
        MemorySegment capture = CAPTURE.get();
        try {
            long r = (long) WRITE.invokeExact(capture, fd, buffer, length);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long lseek(int fd, long offset, int whence) {
        MemorySegment capture = CAPTURE.get();
        try {
            long r = (long) LSEEK.invokeExact(capture, fd, offset, whence);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int ftruncate(int fd, long length) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) FTRUNCATE.invokeExact(capture, fd, length);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int eventfd(int initval, int flags) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) EVENTFD.invokeExact(capture, initval, flags);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * ioctl(2) with an integer or pointer argument ({@code MemorySegment.address()}); the result, or
     * {@code -errno}. Request numbers are long literals (they exceed a signed int).
     */
    public static int ioctl(int fd, long request, long arg) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) IOCTL.invokeExact(capture, fd, request, arg);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** memfd_create(2), close-on-exec: anonymous memory with a file descriptor (shareable, mappable). */
    public static int memfdCreate(String name) {
        MemorySegment capture = CAPTURE.get();
        try (Arena arena = Arena.ofConfined()) {
            int r = (int) MEMFD_CREATE.invokeExact(capture, arena.allocateFrom(name), 1 /* MFD_CLOEXEC */);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** pipe2(2) into {@code fds} (two ints: read end, write end); 0 or {@code -errno}. */
    public static int pipe2(MemorySegment fds, int flags) {
        checkBounds(fds, 8);
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) PIPE2.invokeExact(capture, fds, flags);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * mmap(2) of a shared read-write mapping of {@code fd}, as a segment of {@code arena}: closing the arena unmaps
     * it. A shared arena makes a racing access after close throw instead of touching unmapped memory.
     * {@code populate} pre-faults the pages (MAP_POPULATE): right for small rings, wrong for guest RAM.
     */
    public static MemorySegment mmapShared(String what, int fd, long length, long offset, boolean populate,
            Arena arena) throws SyscallException {
        MemorySegment capture = CAPTURE.get();
        MemorySegment address;
        try {
            address = (MemorySegment) MMAP.invokeExact(capture, MemorySegment.NULL, length,
                    PROT_READ | PROT_WRITE, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (address.address() == MAP_FAILED) {
            throw new SyscallException("mmap " + what, errno(capture));
        }
        long start = address.address();
        // SAFETY: the kernel just mapped exactly `length` bytes at this address; the segment spans no more, and
        // it is unmapped only when its arena closes, after which no access can succeed.
        return address.reinterpret(length, arena, unused -> munmap(start, length));
    }

    /**
     * Replaces the pages of {@code mapping}, a read-write mapping made by {@link #mmapShared} and still open, in
     * place with {@code fd} from offset 0 (mmap(2) with MAP_FIXED at the same address and length): MAP_SHARED
     * ({@code shared}) or MAP_PRIVATE, where the file's pages are read on first touch and copied on first write.
     * The segment, its arena and everything holding its address (a KVM memory slot) stay valid: the kernel
     * invalidates the old pages in every user of the range. The caller must own the whole range and no other thread
     * may access it meanwhile.
     */
    public static void mmapOver(String what, MemorySegment mapping, int fd, boolean shared) throws SyscallException {
        if (mapping.address() % PAGE_SIZE != 0 || mapping.byteSize() % PAGE_SIZE != 0 || mapping.byteSize() == 0) {
            throw new IllegalArgumentException("mmap " + what + ": not a whole-page mapping");
        }
        MemorySegment capture = CAPTURE.get();
        MemorySegment address;
        try {
            address = (MemorySegment) MMAP.invokeExact(capture, MemorySegment.ofAddress(mapping.address()),
                    mapping.byteSize(), PROT_READ | PROT_WRITE, (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED, fd,
                    0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (address.address() == MAP_FAILED) {
            throw new SyscallException("mmap " + what, errno(capture));
        }
        if (address.address() != mapping.address()) {
            throw new IllegalStateException("mmap " + what + ": MAP_FIXED mapped elsewhere"); // never, per mmap(2)
        }
    }

    /**
     * The whole address space as a segment (base 0, {@code Long.MAX_VALUE} bytes, never closed), for memory made of
     * several mappings addressed by host virtual address. Callers bounds-check each address against a live
     * mapping before every access: this segment checks nothing.
     */
    public static MemorySegment addressSpace() {
        return ADDRESS_SPACE;
    }

    private static long pageSize() {
        MemorySegment capture = CAPTURE.get();
        try {
            long r = (long) SYSCONF.invokeExact(capture, 30 /* _SC_PAGESIZE, <bits/confname.h> */);
            if (r <= 0 || Long.bitCount(r) != 1) {
                throw new ExceptionInInitializerError("sysconf(_SC_PAGESIZE) returned " + r);
            }
            return r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** socket(2); the descriptor, or {@code -errno}. */
    public static int socket(int domain, int type, int protocol) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) SOCKET.invokeExact(capture, domain, type, protocol);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** socketpair(2) into {@code fds} (two ints); 0 or {@code -errno}. */
    public static int socketpair(int domain, int type, int protocol, MemorySegment fds) {
        checkBounds(fds, 8);
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) SOCKETPAIR.invokeExact(capture, domain, type, protocol, fds);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** bind(2) to the first {@code length} bytes of {@code address} (a sockaddr); 0 or {@code -errno}. */
    public static int bind(int fd, MemorySegment address, int length) {
        checkBounds(address, length);
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) BIND.invokeExact(capture, fd, address, length);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** connect(2) to the first {@code length} bytes of {@code address} (a sockaddr); 0 or {@code -errno}. */
    public static int connect(int fd, MemorySegment address, int length) {
        checkBounds(address, length);
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) CONNECT.invokeExact(capture, fd, address, length);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int listen(int fd, int backlog) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) LISTEN.invokeExact(capture, fd, backlog);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** accept4(2) without the peer's address; the new descriptor, or {@code -errno}. */
    public static int accept4(int fd, int flags) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) ACCEPT4.invokeExact(capture, fd, MemorySegment.NULL, MemorySegment.NULL, flags);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * sendmsg(2) of a {@code struct msghdr} ({@link SocketLayout#MSGHDR}); the bytes sent, or {@code -errno}. The
     * iovecs and control buffer it points to must stay alive for the call: the caller owns them.
     */
    public static long sendmsg(int fd, MemorySegment msghdr, int flags) {
        checkBounds(msghdr, SocketLayout.MSGHDR_SIZE);
        MemorySegment capture = CAPTURE.get();
        try {
            long r = (long) SENDMSG.invokeExact(capture, fd, msghdr, flags);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** recvmsg(2) into a {@code struct msghdr} ({@link SocketLayout#MSGHDR}); the bytes read, or {@code -errno}. */
    public static long recvmsg(int fd, MemorySegment msghdr, int flags) {
        checkBounds(msghdr, SocketLayout.MSGHDR_SIZE);
        MemorySegment capture = CAPTURE.get();
        try {
            long r = (long) RECVMSG.invokeExact(capture, fd, msghdr, flags);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int shutdown(int fd, int how) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) SHUTDOWN.invokeExact(capture, fd, how);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** setsockopt(2) with the first {@code length} bytes of {@code value}; 0 or {@code -errno}. */
    public static int setsockopt(int fd, int level, int name, MemorySegment value, int length) {
        checkBounds(value, length);
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) SETSOCKOPT.invokeExact(capture, fd, level, name, value, length);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** fcntl(2) with an integer argument (F_GETFL, F_SETFL, F_GETFD, F_SETFD); the result, or {@code -errno}. */
    public static int fcntl(int fd, int command, long arg) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) FCNTL.invokeExact(capture, fd, command, arg);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * readlink(2) of {@code path} into {@code buffer} (not NUL-terminated); the bytes written, or {@code -errno}.
     * A result equal to the buffer's size may mean the target was cut.
     */
    public static long readlink(String path, MemorySegment buffer) {
        if (path.indexOf('\0') >= 0) {
            return -22; // EINVAL
        }
        MemorySegment capture = CAPTURE.get();
        try (Arena arena = Arena.ofConfined()) {
            long r = (long) READLINK.invokeExact(capture, arena.allocateFrom(path), buffer, buffer.byteSize());
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * sched_setaffinity(2) of thread {@code tid} (0: the calling thread) to the CPUs set in {@code mask}, a
     * {@code cpu_set_t} of {@code mask.byteSize()} bytes (a multiple of 8); 0 or {@code -errno} (EINVAL: no CPU of the
     * mask is one the thread may use, e.g. outside its cpuset). See {@link CpuAffinity} for the checked form.
     */
    public static int schedSetaffinity(int tid, MemorySegment mask) {
        checkMask(mask);
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) SCHED_SETAFFINITY.invokeExact(capture, tid, mask.byteSize(), mask);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * sched_getaffinity(2) of thread {@code tid} (0: the calling thread) into {@code mask}, a {@code cpu_set_t} of
     * {@code mask.byteSize()} bytes (a multiple of 8; glibc zeroes what the kernel does not fill); 0 or
     * {@code -errno} (EINVAL: the mask is smaller than the kernel's CPU count).
     */
    public static int schedGetaffinity(int tid, MemorySegment mask) {
        checkMask(mask);
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) SCHED_GETAFFINITY.invokeExact(capture, tid, mask.byteSize(), mask);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** sched_getcpu(3): the CPU the calling thread runs on as it asks (maybe not a moment later), or {@code -errno}. */
    public static int schedGetcpu() {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) SCHED_GETCPU.invokeExact(capture);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** gettid(2): the calling thread's kernel id (its {@code /proc/self/task/TID}); it cannot fail. */
    public static int gettid() {
        MemorySegment capture = CAPTURE.get();
        try {
            return (int) GETTID.invokeExact(capture);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The number of CPUs the host is configured with (sysconf {@code _SC_NPROCESSORS_CONF}), or {@code -errno}. */
    public static long configuredCpus() {
        MemorySegment capture = CAPTURE.get();
        try {
            long r = (long) SYSCONF.invokeExact(capture, 83 /* _SC_NPROCESSORS_CONF, <bits/confname.h> */);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void checkMask(MemorySegment mask) {
        if (mask.byteSize() == 0 || mask.byteSize() % 8 != 0) {
            throw new IllegalArgumentException("a CPU mask is a non-empty multiple of 8 bytes, not "
                    + mask.byteSize());
        }
    }

    private static int munmap(long address, long length) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) MUNMAP.invokeExact(capture, MemorySegment.ofAddress(address), length);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void checkBounds(MemorySegment buffer, long length) {
        if (length < 0 || length > buffer.byteSize()) {
            throw new IndexOutOfBoundsException(length + " bytes do not fit in a " + buffer.byteSize()
                    + "-byte segment");
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException e) {
            return e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    /** isatty(3): whether {@code fd} is a terminal. */
    public static boolean isatty(int fd) {
        MemorySegment capture = CAPTURE.get();
        try {
            return (int) ISATTY.invokeExact(capture, fd) == 1;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** tcgetattr(3) into {@code termios} ({@link TermiosLayout#SIZE} bytes); 0 or {@code -errno}. */
    public static int tcgetattr(int fd, MemorySegment termios) {
        checkBounds(termios, TermiosLayout.SIZE);
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) TCGETATTR.invokeExact(capture, fd, termios);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** tcsetattr(3) with {@code when} ({@link TermiosLayout#TCSANOW}, ...); 0 or {@code -errno}. */
    public static int tcsetattr(int fd, int when, MemorySegment termios) {
        checkBounds(termios, TermiosLayout.SIZE);
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) TCSETATTR.invokeExact(capture, fd, when, termios);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** cfmakeraw(3): no echo, no line editing, no signals from keys, no output processing, 8 bits, VMIN 1. */
    public static void cfmakeraw(MemorySegment termios) {
        checkBounds(termios, TermiosLayout.SIZE);
        MemorySegment capture = CAPTURE.get();
        try {
            CFMAKERAW.invokeExact(capture, termios);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** posix_openpt(3): a pseudo terminal's master side; the descriptor or {@code -errno}. */
    public static int posixOpenpt(int flags) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) POSIX_OPENPT.invokeExact(capture, flags);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** grantpt(3) then unlockpt(3) on a master; 0 or {@code -errno}. */
    public static int grantAndUnlockpt(int fd) {
        MemorySegment capture = CAPTURE.get();
        try {
            int r = (int) GRANTPT.invokeExact(capture, fd);
            if (r == -1) {
                return -errno(capture);
            }
            r = (int) UNLOCKPT.invokeExact(capture, fd);
            return r == -1 ? -errno(capture) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ptsname_r(3): the path of a master's slave side, e.g. {@code /dev/pts/3}; the errno as a negative code. */
    public static String ptsname(int fd) throws SyscallException {
        MemorySegment capture = CAPTURE.get();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(128);
            int r = (int) PTSNAME_R.invokeExact(capture, fd, buffer, buffer.byteSize());
            if (r != 0) {
                throw new SyscallException("ptsname_r", r > 0 ? r : errno(capture));
            }
            return buffer.getString(0);
        } catch (SyscallException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
