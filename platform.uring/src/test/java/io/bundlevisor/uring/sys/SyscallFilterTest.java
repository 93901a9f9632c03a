package io.bundlevisor.uring.sys;

import static io.bundlevisor.uring.sys.SeccompLayout.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.IoMemory;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.HostFile;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.UnixSocket;
import io.bundlevisor.uring.internal.RingServiceImpl;

/**
 * The system-call filter of virtual-processor and device-worker threads: the program, run by a small classic-BPF
 * interpreter written from the kernel's description, and the filter installed for real on a thread, which keeps
 * doing what such threads do (memory, GC, sleeps, class loading, reading files, eventfds, io_uring) and fails with
 * EPERM, said and logged, at what they must not (processes, threads, sockets, opening files to write).
 */
class SyscallFilterTest {

    private static final int ALLOW = SECCOMP_RET_ALLOW;
    private static final int EPERM = SECCOMP_RET_ERRNO | 1;
    private static final SyscallFilter.Profile VP = SyscallFilter.Profile.VIRTUAL_PROCESSOR;
    private static final SyscallFilter.Profile WORKER = SyscallFilter.Profile.DEVICE_WORKER;

    @TempDir
    Path dir;

    /** Runs classic BPF over a seccomp_data (nr, arch, args), as kernel/seccomp.c and net/core/filter.c do. */
    private static int run(int[] p, int arch, int nr, long... args) {
        int a = 0;
        for (int pc = 0; pc < p.length / 4; pc++) {
            int code = p[4 * pc], jt = p[4 * pc + 1], jf = p[4 * pc + 2], k = p[4 * pc + 3];
            switch (code) {
                case BPF_LD | BPF_W | BPF_ABS -> a = switch (k) {
                    case DATA_NR -> nr;
                    case DATA_ARCH -> arch;
                    default -> {
                        assertTrue(k >= 16 && k < 64 && k % 8 == 0, "load of an argument's low word only: " + k);
                        yield (int) args[(k - 16) / 8];
                    }
                };
                case BPF_JMP | BPF_JEQ | BPF_K -> pc += a == k ? jt : jf;
                case BPF_JMP | BPF_JGE | BPF_K -> pc += Integer.compareUnsigned(a, k) >= 0 ? jt : jf;
                case BPF_JMP | BPF_JSET | BPF_K -> pc += (a & k) != 0 ? jt : jf;
                case BPF_RET | BPF_K -> {
                    return k;
                }
                default -> throw new AssertionError("unexpected instruction " + code);
            }
        }
        throw new AssertionError("the program ran off its end");
    }

    private static int x86(int nr, long... args) {
        long[] six = Arrays.copyOf(args, 6);
        return run(SyscallFilter.program(VP), AUDIT_ARCH_X86_64, nr, six);
    }

    @Test
    void theProgramAllowsTheListAndRefusesTheRest() {
        for (int nr = 0; nr < 512; nr++) {
            final int n = nr;
            boolean listed = Arrays.stream(SyscallFilter.ALLOWED).anyMatch(x -> x == n);
            if (nr == NR_OPEN || nr == NR_OPENAT) {
                continue;
            }
            assertEquals(listed ? ALLOW : EPERM, x86(nr), "system call " + nr);
        }
        for (int nr : new int[] {NR_EXECVE, NR_CLONE, NR_CLONE3, NR_FORK, NR_VFORK, NR_SOCKET, NR_PRCTL, NR_SECCOMP,
                425 /* io_uring_setup */, 101 /* ptrace */, 165 /* mount */, 321 /* bpf */, 62 /* kill */}) {
            assertEquals(EPERM, x86(nr), "system call " + nr + " must be refused");
        }
        for (int nr : new int[] {NR_READ, NR_WRITE, NR_FUTEX, NR_MMAP, NR_IOCTL, NR_IO_URING_ENTER, NR_RT_SIGRETURN,
                NR_EXIT}) {
            assertEquals(ALLOW, x86(nr), "system call " + nr + " must be allowed");
        }
    }

    @Test
    void openingForReadingOnlyIsAllowed() {
        assertEquals(ALLOW, x86(NR_OPENAT, -100, 0, Native.O_RDONLY | Native.O_CLOEXEC));
        assertEquals(ALLOW, x86(NR_OPEN, 0, Native.O_RDONLY | Native.O_DIRECT));
        for (int bad : new int[] {Native.O_WRONLY, Native.O_RDWR, Native.O_CREAT, Native.O_TRUNC, 0x400}) {
            assertEquals(EPERM, x86(NR_OPENAT, -100, 0, bad | Native.O_CLOEXEC), "openat flags " + bad);
            assertEquals(EPERM, x86(NR_OPEN, 0, bad), "open flags " + bad);
        }
    }

    /** A device worker may reopen an existing image to write it (a device's update), never create or truncate. */
    @Test
    void aWorkerMayOpenExistingFilesToWriteButNotCreateThem() {
        int[] p = SyscallFilter.program(WORKER);
        assertEquals(ALLOW, run(p, AUDIT_ARCH_X86_64, NR_OPENAT, new long[] {-100, 0,
                Native.O_RDWR | Native.O_DIRECT | Native.O_CLOEXEC, 0, 0, 0}));
        for (int bad : new int[] {Native.O_CREAT, Native.O_TRUNC, 0x410000 /* O_TMPFILE */}) {
            assertEquals(EPERM, run(p, AUDIT_ARCH_X86_64, NR_OPENAT, new long[] {-100, 0, Native.O_RDWR | bad, 0, 0,
                    0}), "openat flags " + bad);
        }
        assertEquals(EPERM, run(p, AUDIT_ARCH_X86_64, NR_SOCKET, new long[6]));
        assertEquals(EPERM, run(p, AUDIT_ARCH_X86_64, NR_EXECVE, new long[6]));
    }

    @Test
    void otherArchitecturesAndTheX32AbiAreRefused() {
        int[] p = SyscallFilter.program(VP);
        assertEquals(EPERM, run(p, 0x40000003 /* AUDIT_ARCH_I386 */, NR_READ, new long[6]));
        assertEquals(EPERM, run(p, 0xc00000b7 /* AUDIT_ARCH_AARCH64 */, NR_READ, new long[6]));
        assertEquals(EPERM, x86(X32_SYSCALL_BIT | NR_READ));
    }

    /** Runs {@code body} on a fresh thread confined as a VP; returns what it returned or rethrows. */
    private static <T> T confined(Callable<T> body) throws Exception {
        return confined(VP, body);
    }

    /** Runs {@code body} on a fresh thread confined with {@code profile}; returns what it returned or rethrows. */
    private static <T> T confined(SyscallFilter.Profile profile, Callable<T> body) throws Exception {
        AtomicReference<Object> result = new AtomicReference<>();
        Thread t = Thread.ofPlatform().name("filtered test").start(() -> {
            Optional<String> why = SyscallFilter.confineCurrentThread(profile);
            if (why.isPresent()) {
                result.set(new AssertionError("not confined: " + why.get()));
                return;
            }
            try {
                result.set(body.call());
            } catch (Throwable e) {
                result.set(e);
            }
        });
        t.join();
        if (result.get() instanceof Throwable e) {
            if (e instanceof Exception x) {
                throw x;
            }
            throw (Error) e;
        }
        @SuppressWarnings("unchecked")
        T r = (T) result.get();
        return r;
    }

    private static String seccompMode() throws IOException {
        return Files.readAllLines(Path.of("/proc/thread-self/status")).stream()
                .filter(l -> l.startsWith("Seccomp:")).findFirst().orElse("Seccomp: ?").split("\\s+")[1];
    }

    @Test
    void aConfinedThreadKeepsDoingWhatThoseThreadsDo() throws Exception {
        Path file = dir.resolve("a.txt");
        Files.writeString(file, "readable");
        RingServiceImpl rings = new RingServiceImpl();
        try (Ring ring = rings.create("filter test", 8);
                EventFd efd = EventFd.create()) {
            String report = confined(() -> {
                StringBuilder sb = new StringBuilder("mode=" + seccompMode());
                byte[][] keep = new byte[64][];
                for (int i = 0; i < 2000; i++) {
                    keep[i % 64] = new byte[256 * 1024];
                }
                System.gc();
                Thread.sleep(5);
                sb.append(" read=").append(Files.readString(file));
                sb.append(" class=").append(Class.forName("java.util.zip.Adler32").getSimpleName());
                efd.signal(3);
                sb.append(" eventfd=").append(efd.drain());
                long io = ring.submit(new Sqe().nop(), IoMemory.NONE, null);
                while (!ring.isDone(io)) {
                    ring.submitAndWait(1);
                    ring.processCompletions();
                }
                sb.append(" ring=").append(ring.take(io));
                sb.append(" role=").append(SyscallFilter.currentRole().orElse("none"));
                return sb.toString() + keep.length;
            });
            assertEquals("mode=2 read=readable class=Adler32 eventfd=3 ring=0 role=virtual processor64", report);
        }
        assertEquals("0", seccompMode(), "other threads are not confined");
    }

    @Test
    void aConfinedWorkerReopensAnExistingImageButCreatesNothing() throws Exception {
        Path image = Files.write(dir.resolve("disk.img"), new byte[4096]);
        confined(WORKER, () -> {
            try (HostFile f = HostFile.open(image, HostFile.READ_WRITE)) {
                assertEquals(4096, f.size());
            }
            SyscallException create = assertThrows(SyscallException.class,
                    () -> HostFile.open(dir.resolve("other.img"), HostFile.READ_WRITE | HostFile.CREATE));
            assertEquals(Errno.EPERM, create.errno());
            assertThrows(SyscallException.class, () -> UnixSocket.listen(dir.resolve("w.sock"), 1));
            return null;
        });
        assertFalse(Files.exists(dir.resolve("other.img")));
    }

    @Test
    void forbiddenCallsFailWithEpermAndAreLogged() throws Exception {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        long before = SyscallFilter.refusals();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            confined(() -> {
                SyscallException create = assertThrows(SyscallException.class,
                        () -> HostFile.open(dir.resolve("new.img"), HostFile.READ_WRITE | HostFile.CREATE));
                assertEquals(Errno.EPERM, create.errno());
                assertTrue(create.getMessage().contains("refused by the virtual processor thread's system-call filter"),
                        create.getMessage());
                SyscallException socket = assertThrows(SyscallException.class,
                        () -> UnixSocket.listen(dir.resolve("s.sock"), 1));
                assertEquals(Errno.EPERM, socket.errno(), socket.getMessage());
                assertThrows(IOException.class, () -> new ProcessBuilder("true").start());
                assertThrows(OutOfMemoryError.class, () -> Thread.ofPlatform().start(() -> { }));
                assertFalse(Files.exists(dir.resolve("new.img")));
                return null;
            });
        } finally {
            System.setErr(old);
        }
        String log = err.toString(StandardCharsets.UTF_8);
        assertTrue(SyscallFilter.refusals() >= before + 2, "refusals counted");
        assertTrue(log.contains("refused on virtual processor thread 'filtered test' by its system-call filter"), log);
        assertTrue(log.contains("open " + dir.resolve("new.img")), log);
        // Outside such a thread the same calls work.
        try (HostFile f = HostFile.open(dir.resolve("new.img"), HostFile.READ_WRITE | HostFile.CREATE)) {
            assertTrue(Files.exists(dir.resolve("new.img")));
        }
    }
}
