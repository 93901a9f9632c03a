package io.bundlevisor.uring.sys;

import static io.bundlevisor.uring.sys.SeccompLayout.*;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Least privilege for the threads that run guest-driven code (virtual processors and device workers): a seccomp
 * filter on the calling thread that allows only the system calls such a thread makes, as a JVM thread and as ours,
 * and fails every other with {@code EPERM}, which the JVM and our system-call layer report as an ordinary error.
 * The kernel logs each refusal ({@code SECCOMP_FILTER_FLAG_LOG}: an audit record of type 1326 naming the thread
 * and the call) and our layer logs the refusals it sees, once per thread and call ({@link #refused}).
 *
 * <p>What stays allowed: memory (mmap, mprotect, madvise, brk: the JVM's heap, stacks and code), futexes, sleeps,
 * clocks and signals (the JVM's safepoints and handshakes; a VP takes its kick out of {@code KVM_RUN} with
 * {@code rt_sigtimedwait}), reads and writes on
 * descriptors the process already has (eventfds, the console, logs, io_uring), {@code ioctl} (KVM's and the tap's),
 * {@code io_uring_enter}, and opening files for reading (the JVM loads classes lazily from jars it may reopen); a
 * device worker may also open an existing file to write it ({@link Profile}). What fails: creating processes or
 * threads ({@code clone}, {@code clone3}, {@code fork}, {@code execve}: a thread made here would inherit the filter),
 * creating or truncating files (and, on a VP, opening one to write), sockets, mounts, namespaces,
 * {@code ptrace}, {@code bpf}, {@code io_uring_setup}, changing identity, and everything else not listed.
 *
 * <p>The filter is per thread and cannot be lifted; it needs {@code PR_SET_NO_NEW_PRIVS} on the thread, which
 * keeps an unprivileged platform able to install it. x86_64 only: elsewhere nothing is installed and the reason
 * is returned.
 */
public final class SyscallFilter {

    /** What a confined thread may open: a VP only reads; a device worker may also reopen an existing image. */
    public enum Profile {
        /** A virtual processor: files opened for reading only. */
        VIRTUAL_PROCESSOR("virtual processor", OPEN_WRITE_FLAGS | O_TMPFILE),
        /**
         * A device worker: existing files also for writing (a device's update reopens its image there, on its
         * worker), but nothing created or truncated.
         */
        DEVICE_WORKER("device worker", Native.O_CREAT | Native.O_TRUNC | O_TMPFILE);

        private final String role;
        private final int refusedOpenFlags;

        Profile(String role, int refusedOpenFlags) {
            this.role = role;
            this.refusedOpenFlags = refusedOpenFlags;
        }

        /** What the thread is, for the log. */
        public String role() {
            return role;
        }

        /** open(2) flags that make an open refused. */
        int refusedOpenFlags() {
            return refusedOpenFlags;
        }
    }

    /** {@code O_TMPFILE} ({@code __O_TMPFILE | O_DIRECTORY}): an unnamed file created in a directory. */
    private static final int O_TMPFILE = 0x410000;

    private static final Logger LOG = LoggerFactory.getLogger(SyscallFilter.class);
    private static final boolean X86_64 = "amd64".equals(System.getProperty("os.arch"))
            || "x86_64".equals(System.getProperty("os.arch"));
    private static final int EPERM = 1;

    /** System calls the confined threads make; see the class comment. open/openat are checked apart. */
    static final int[] ALLOWED = {
            NR_READ, NR_WRITE, NR_CLOSE, NR_STAT, NR_FSTAT, NR_LSTAT, NR_POLL, NR_LSEEK, NR_MMAP, NR_MPROTECT,
            NR_MUNMAP, NR_BRK, NR_RT_SIGACTION, NR_RT_SIGPROCMASK, NR_RT_SIGRETURN, NR_IOCTL, NR_PREAD64,
            NR_PWRITE64, NR_READV, NR_WRITEV, NR_ACCESS, NR_SCHED_YIELD, NR_MREMAP, NR_MINCORE, NR_MADVISE, NR_DUP,
            NR_NANOSLEEP, NR_GETPID, NR_EXIT, NR_UNAME, NR_FCNTL, NR_GETCWD, NR_READLINK, NR_GETTIMEOFDAY,
            NR_GETRUSAGE, NR_SYSINFO, NR_TIMES, NR_GETUID, NR_GETPPID, NR_RT_SIGPENDING, NR_RT_SIGTIMEDWAIT,
            NR_SIGALTSTACK, NR_STATFS, NR_FSTATFS,
            NR_GETTID, NR_FUTEX, NR_SCHED_GETAFFINITY, NR_GETDENTS64, NR_RESTART_SYSCALL, NR_CLOCK_GETTIME,
            NR_CLOCK_GETRES, NR_CLOCK_NANOSLEEP, NR_EXIT_GROUP, NR_TGKILL, NR_NEWFSTATAT, NR_READLINKAT,
            NR_FACCESSAT, NR_PPOLL, NR_DUP3, NR_GETRANDOM, NR_MEMBARRIER, NR_STATX, NR_IO_URING_ENTER,
            NR_FACCESSAT2,
    };

    /** The system property that turns the filter off: {@code -Dbundlevisor.seccomp=off}. */
    public static final String PROPERTY = "bundlevisor.seccomp";

    private static final ThreadLocal<String> ROLE = new ThreadLocal<>();
    private static final AtomicBoolean SAID = new AtomicBoolean();
    private static final ThreadLocal<Set<String>> LOGGED = ThreadLocal.withInitial(HashSet::new);
    private static final AtomicLong REFUSALS = new AtomicLong();

    private SyscallFilter() {
    }

    /**
     * Confines the calling thread as {@code profile} unless the filter is turned off ({@link #PROPERTY}); says once
     * per process, in the log, that the filter is on, off, or cannot be installed and why.
     *
     * @return whether the thread is now confined
     */
    public static boolean confine(Profile profile) {
        if ("off".equals(System.getProperty(PROPERTY))) {
            if (!SAID.getAndSet(true)) {
                LOG.warn("system-call filter off ({}=off): virtual processors and device workers run unconfined",
                        PROPERTY);
            }
            return false;
        }
        Optional<String> why = confineCurrentThread(profile);
        if (!SAID.getAndSet(true)) {
            if (why.isEmpty()) {
                LOG.info("system-call filter on: virtual processor and device worker threads are confined (seccomp;"
                        + " turn it off with -D{}=off)", PROPERTY);
            } else {
                LOG.warn("no system-call filter: {}; threads run unconfined", why.get());
            }
        }
        return why.isEmpty();
    }

    /**
     * Confines the calling thread with {@code profile}.
     *
     * @return empty when the filter is in place, else why not (the thread then runs unconfined)
     */
    public static Optional<String> confineCurrentThread(Profile profile) {
        if (ROLE.get() != null) {
            return Optional.empty();
        }
        if (!X86_64) {
            return Optional.of("the system-call filter is written for x86_64, not " + System.getProperty("os.arch"));
        }
        long r = Native.syscall(NR_PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
        if (r < 0) {
            return Optional.of("prctl(PR_SET_NO_NEW_PRIVS) failed: errno " + -r);
        }
        int[] program = program(profile);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment insns = arena.allocate(SOCK_FILTER, program.length / 4);
            for (int i = 0; i < program.length / 4; i++) {
                MemorySegment insn = insns.asSlice(i * SOCK_FILTER.byteSize(), SOCK_FILTER.byteSize());
                insn.set(ValueLayout.JAVA_SHORT, 0, (short) program[4 * i]);
                insn.set(ValueLayout.JAVA_BYTE, 2, (byte) program[4 * i + 1]);
                insn.set(ValueLayout.JAVA_BYTE, 3, (byte) program[4 * i + 2]);
                insn.set(ValueLayout.JAVA_INT, 4, program[4 * i + 3]);
            }
            MemorySegment fprog = arena.allocate(SOCK_FPROG);
            fprog.set(ValueLayout.JAVA_SHORT, 0, (short) (program.length / 4));
            fprog.set(ValueLayout.ADDRESS, 8, insns);
            r = Native.syscall(NR_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, fprog.address(), 0, 0, 0);
        }
        if (r < 0) {
            return Optional.of("seccomp(SECCOMP_SET_MODE_FILTER) failed: errno " + -r);
        }
        ROLE.set(profile.role());
        return Optional.empty();
    }

    /** The role the calling thread was confined as, or empty when it runs unconfined. */
    public static Optional<String> currentRole() {
        return Optional.ofNullable(ROLE.get());
    }

    /** Refusals our system-call layer saw ({@link #refused}). */
    public static long refusals() {
        return REFUSALS.get();
    }

    /**
     * Called by the system-call layer for each {@code EPERM}: when the calling thread is confined, counts the
     * refusal, logs it once per thread and operation, and returns the note to add to the error's message.
     */
    public static Optional<String> refused(String operation) {
        String role = ROLE.get();
        if (role == null) {
            return Optional.empty();
        }
        REFUSALS.incrementAndGet();
        if (LOGGED.get().add(operation)) {
            LOG.warn("{} refused on {} thread '{}' by its system-call filter (seccomp)", operation, role,
                    Thread.currentThread().getName());
        }
        return Optional.of("refused by the " + role + " thread's system-call filter");
    }

    /**
     * The seccomp mode of each of this process's threads, by the kernel's name for it (the thread's name cut to 15
     * bytes): 0 none, 2 filtered. Read from {@code /proc/self/task/TID/comm} and {@code status}; for diagnostics.
     */
    public static Map<String, Integer> threadModes() {
        Map<String, Integer> modes = new TreeMap<>();
        try (Stream<Path> tasks = Files.list(
                Path.of("/proc/self/task"))) {
            for (Path t : (Iterable<Path>) tasks::iterator) {
                try {
                    String comm = Files.readString(t.resolve("comm")).strip();
                    for (String line : Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("Seccomp:")) {
                            modes.merge(comm, Integer.parseInt(line.substring(8).strip()), Math::min);
                        }
                    }
                } catch (IOException | RuntimeException gone) {
                    // the thread ended while we looked
                }
            }
        } catch (IOException e) {
            return Map.of();
        }
        return modes;
    }

    /**
     * The filter as {@code code, jt, jf, k} quadruples: x86_64 only (other architectures and the x32 ABI refused),
     * open and openat allowed without the profile's refused flags, the {@link #ALLOWED} calls allowed, the rest EPERM.
     */
    static int[] program(Profile profile) {
        Assembler a = new Assembler();
        a.load(DATA_ARCH);
        a.jumpIf(BPF_JEQ, AUDIT_ARCH_X86_64, null, "deny");
        a.load(DATA_NR);
        a.jumpIf(BPF_JGE, X32_SYSCALL_BIT, "deny", null);
        a.jumpIf(BPF_JEQ, NR_OPEN, null, "not open");
        a.load(dataArgLow(1));
        a.jumpIf(BPF_JSET, profile.refusedOpenFlags(), "deny", "allow");
        a.label("not open");
        a.jumpIf(BPF_JEQ, NR_OPENAT, null, "not openat");
        a.load(dataArgLow(2));
        a.jumpIf(BPF_JSET, profile.refusedOpenFlags(), "deny", "allow");
        a.label("not openat");
        for (int nr : ALLOWED) {
            a.jumpIf(BPF_JEQ, nr, "allow", null);
        }
        a.label("deny");
        a.ret(SECCOMP_RET_ERRNO | EPERM);
        a.label("allow");
        a.ret(SECCOMP_RET_ALLOW);
        return a.assemble();
    }

    /** A classic BPF assembler with forward labels (jumps go forward only, at most 255 instructions). */
    private static final class Assembler {
        private final List<Object[]> insns = new ArrayList<>();
        private final Map<String, Integer> labels = new HashMap<>();

        void load(int offset) {
            insns.add(new Object[] {BPF_LD | BPF_W | BPF_ABS, null, null, offset});
        }

        /** Jumps to {@code ifTrue} or {@code ifFalse}; null falls through. */
        void jumpIf(int op, int k, String ifTrue, String ifFalse) {
            insns.add(new Object[] {BPF_JMP | op | BPF_K, ifTrue, ifFalse, k});
        }

        void ret(int k) {
            insns.add(new Object[] {BPF_RET | BPF_K, null, null, k});
        }

        void label(String name) {
            labels.put(name, insns.size());
        }

        int[] assemble() {
            if (insns.size() > BPF_MAXINSNS) {
                throw new IllegalStateException("filter too long: " + insns.size());
            }
            int[] out = new int[insns.size() * 4];
            for (int i = 0; i < insns.size(); i++) {
                Object[] insn = insns.get(i);
                out[4 * i] = (int) insn[0];
                out[4 * i + 1] = offset(i, (String) insn[1]);
                out[4 * i + 2] = offset(i, (String) insn[2]);
                out[4 * i + 3] = (int) insn[3];
            }
            return out;
        }

        private int offset(int from, String label) {
            if (label == null) {
                return 0;
            }
            int d = labels.get(label) - from - 1;
            if (d < 0 || d > 255) {
                throw new IllegalStateException("jump to " + label + " out of reach: " + d);
            }
            return d;
        }
    }
}
