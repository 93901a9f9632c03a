package io.bundlevisor.uring.host;

import static io.bundlevisor.uring.sys.SocketLayout.AF_UNIX;
import static io.bundlevisor.uring.sys.SocketLayout.CMSG_LEN_FIELD;
import static io.bundlevisor.uring.sys.SocketLayout.CMSG_LEVEL;
import static io.bundlevisor.uring.sys.SocketLayout.CMSG_TYPE;
import static io.bundlevisor.uring.sys.SocketLayout.SCM_RIGHTS;
import static io.bundlevisor.uring.sys.SocketLayout.SOCK_CLOEXEC;
import static io.bundlevisor.uring.sys.SocketLayout.SOCK_STREAM;
import static io.bundlevisor.uring.sys.SocketLayout.SOL_SOCKET;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.sys.Native;
import io.bundlevisor.uring.sys.SocketLayout;

/**
 * A Unix stream socket (AF_UNIX, SOCK_STREAM, close-on-exec) with file-descriptor passing (SCM_RIGHTS): the
 * transport of vhost-user. Blocking; one thread may receive (or accept) while another sends. Descriptors that
 * arrive are close-on-exec ({@code MSG_CMSG_CLOEXEC}) and belong to the caller, who must close or adopt each.
 *
 * <p>Native message buffers (msghdr, iovec, control and data) are allocated once per direction, on first use, in
 * an arena the socket owns and frees at {@link #close}; data is copied between them and the caller's arrays.
 */
public final class UnixSocket implements AutoCloseable {

    /** The most descriptors one message may carry (more are closed and reported as a truncation). */
    public static final int MAX_FDS = 16;

    private static final int[] NO_FDS = new int[0];
    private static final int INITIAL_DATA = 4096;
    private static final int MAX_DATA = 1 << 20;

    private final int fd;
    private final Arena arena = Arena.ofShared();
    /** Guards the receive buffers, and the descriptor against close() while accept/recvmsg is in flight. */
    private final Object readLock = new Object();
    /** Guards the send buffers, and the descriptor against close() while sendmsg is in flight. */
    private final Object writeLock = new Object();
    private final Object stateLock = new Object();
    private Buffers receiveBuffers;
    private Buffers sendBuffers;
    private volatile boolean closed;

    private UnixSocket(int fd) {
        this.fd = fd;
    }

    /**
     * Binds and listens on {@code path}. IllegalArgumentException if the path is longer than sun_path (107 bytes
     * plus NUL) or holds a NUL. SyscallException (EADDRINUSE) if it exists: the caller decides whether to unlink a
     * stale socket.
     */
    public static UnixSocket listen(Path path, int backlog) throws SyscallException {
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment address = sockaddr(path, temp);
            int fd = newSocket();
            int r = Native.bind(fd, address, (int) address.byteSize());
            if (r == 0) {
                r = Native.listen(fd, backlog);
                if (r < 0) {
                    Native.close(fd);
                    throw new SyscallException("listen " + path, -r);
                }
                return new UnixSocket(fd);
            }
            Native.close(fd);
            throw new SyscallException("bind " + path, -r);
        }
    }

    /**
     * Makes {@code path} free for a listener (since 1.4): nothing is there, or a socket left by a process that ended
     * (no one accepts on it), which is removed. Every listener of the platform (vhost-user back-ends, console
     * sockets, the API) replaces a stale socket this one way.
     *
     * @throws IOException "exists and is not a socket", or "another process is serving it", for the caller to
     *                     prefix with what the path is
     */
    public static void removeStale(Path path) throws java.io.IOException {
        java.nio.file.attribute.BasicFileAttributes a;
        try {
            a = java.nio.file.Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class,
                    java.nio.file.LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException free) {
            return;
        }
        if (!a.isOther()) {
            throw new java.io.IOException("exists and is not a socket");
        }
        try (UnixSocket probe = connect(path)) {
            throw new java.io.IOException("another process is serving it");
        } catch (SyscallException refused) {
            // Nobody accepts: left by a process that ended.
        }
        java.nio.file.Files.deleteIfExists(path);
    }

    /** Connects to the socket listening at {@code path}; limits on the path as for {@link #listen}. */
    public static UnixSocket connect(Path path) throws SyscallException {
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment address = sockaddr(path, temp);
            int fd = newSocket();
            int r;
            do {
                r = Native.connect(fd, address, (int) address.byteSize());
            } while (r == -Errno.EINTR); // an AF_UNIX connect that was interrupted left the socket unconnected
            if (r < 0) {
                Native.close(fd);
                throw new SyscallException("connect " + path, -r);
            }
            return new UnixSocket(fd);
        }
    }

    /** socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC): two connected ends (tests, in-process peers). */
    public static UnixSocket[] pair() throws SyscallException {
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment fds = temp.allocate(JAVA_INT, 2);
            Native.check("socketpair", Native.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
            return new UnixSocket[] {new UnixSocket(fds.getAtIndex(JAVA_INT, 0)),
                new UnixSocket(fds.getAtIndex(JAVA_INT, 1))};
        }
    }

    /** Closes a descriptor, ignoring errors and negative numbers: for descriptors received and then refused. */
    public static void closeFd(int fd) {
        if (fd >= 0) {
            Native.close(fd);
        }
    }

    private static int newSocket() throws SyscallException {
        int fd = Native.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new SyscallException("socket", -fd);
        }
        return fd;
    }

    /** A {@code sockaddr_un} for {@code path}, exactly as long as the family, the path and its NUL. */
    private static MemorySegment sockaddr(Path path, Arena arena) {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length > SocketLayout.SUN_PATH_MAX) {
            throw new IllegalArgumentException("a Unix socket path has 1 to " + SocketLayout.SUN_PATH_MAX
                    + " bytes; " + path + " has " + bytes.length);
        }
        for (byte b : bytes) {
            if (b == 0) {
                throw new IllegalArgumentException("a NUL in a Unix socket path (abstract sockets unsupported)");
            }
        }
        MemorySegment address = arena.allocate(SocketLayout.SUN_PATH + bytes.length + 1, 2); // zeroed: NUL-ended
        address.set(JAVA_SHORT, SocketLayout.SUN_FAMILY, (short) AF_UNIX);
        MemorySegment.copy(bytes, 0, address, JAVA_BYTE, SocketLayout.SUN_PATH, bytes.length);
        return address;
    }

    /**
     * Blocks for the next connection (accept4 with SOCK_CLOEXEC); after {@link #shutdown()} or {@link #close()}
     * from another thread it throws SyscallException (EINVAL or EBADF). EINTR and ECONNABORTED are retried.
     */
    public UnixSocket accept() throws SyscallException {
        synchronized (readLock) {
            ensureOpen("accept4");
            int r;
            do {
                r = Native.accept4(fd, SOCK_CLOEXEC);
            } while (r == -Errno.EINTR || r == -SocketLayout.ECONNABORTED);
            if (r < 0) {
                throw new SyscallException("accept4", -r);
            }
            return new UnixSocket(r);
        }
    }

    public int fd() {
        return fd;
    }

    /**
     * One recvmsg (MSG_CMSG_CLOEXEC) into {@code buffer[offset, offset+length)} ({@code length} from 1 to 1 MiB),
     * blocking; returns the bytes read (0 at end of stream) and the descriptors that came with them (an empty array
     * when none). A control message that was truncated (MSG_CTRUNC: more than {@link #MAX_FDS}) closes every
     * descriptor that did arrive and throws SyscallException("recvmsg", EMSGSIZE, "too many descriptors"); the
     * bytes of that message are lost, so the stream is out of step and should be closed. EINTR is retried; a
     * receive timeout ({@link #setReceiveTimeout}) throws EAGAIN.
     */
    public Received receive(byte[] buffer, int offset, int length) throws SyscallException {
        Objects.checkFromIndexSize(offset, length, buffer.length);
        if (length == 0) {
            throw new IllegalArgumentException("a receive needs room for at least one byte");
        }
        synchronized (readLock) {
            ensureOpen("recvmsg");
            Buffers b = receiveBuffers == null ? receiveBuffers = new Buffers(MAX_FDS) : receiveBuffers;
            MemorySegment data = b.data(length);
            b.prepare(data, length, b.control.byteSize());
            long r;
            do {
                r = Native.recvmsg(fd, b.msghdr, SocketLayout.MSG_CMSG_CLOEXEC);
            } while (r == -Errno.EINTR);
            if (r < 0) {
                throw new SyscallException("recvmsg", (int) -r);
            }
            int[] fds = b.receivedFds();
            if ((b.msghdr.get(JAVA_INT, SocketLayout.MSG_FLAGS) & SocketLayout.MSG_CTRUNC) != 0) {
                for (int received : fds) {
                    Native.close(received);
                }
                throw new SyscallException("recvmsg", SocketLayout.EMSGSIZE, "too many descriptors");
            }
            MemorySegment.copy(data, JAVA_BYTE, 0, buffer, offset, (int) r);
            return new Received((int) r, fds);
        }
    }

    /** What one receive brought: the byte count and the descriptors, which now belong to the caller. */
    public record Received(int bytes, int[] fds) {
    }

    /**
     * Reads exactly {@code length} bytes (several recvmsg if needed); descriptors arriving meanwhile are collected
     * and returned. Returns null if the stream ended before the first byte; throws SyscallException("recvmsg",
     * ECONNRESET, "stream ended mid-message") if it ends after some, closing the descriptors collected. A length of
     * 0 returns at once with no bytes and no descriptors. On any other failure the descriptors collected so far are
     * closed too.
     */
    public Received receiveFully(byte[] buffer, int offset, int length) throws SyscallException {
        Objects.checkFromIndexSize(offset, length, buffer.length);
        if (length == 0) {
            return new Received(0, NO_FDS);
        }
        synchronized (readLock) {
            int done = 0;
            int[] fds = NO_FDS;
            try {
                while (done < length) {
                    Received r = receive(buffer, offset + done, length - done);
                    if (r.bytes() == 0) {
                        if (done == 0) {
                            return null;
                        }
                        throw new SyscallException("recvmsg", SocketLayout.ECONNRESET,
                                "stream ended mid-message after " + done + " of " + length + " bytes");
                    }
                    if (r.fds().length > 0) {
                        int[] all = Arrays.copyOf(fds, fds.length + r.fds().length);
                        System.arraycopy(r.fds(), 0, all, fds.length, r.fds().length);
                        fds = all;
                    }
                    done += r.bytes();
                }
                return new Received(done, fds);
            } catch (SyscallException | RuntimeException e) {
                for (int received : fds) {
                    Native.close(received);
                }
                throw e;
            }
        }
    }

    /**
     * sendmsg with MSG_NOSIGNAL of {@code buffer[offset, offset+length)} (at most 1 MiB), the {@code fds} (may be
     * none; at most {@code SCM_MAX_FD}, 253) as one SCM_RIGHTS control message with the first bytes; loops until
     * all bytes are sent. Descriptors need at least one byte to travel with. The caller keeps its descriptors: the
     * peer receives duplicates. A peer that has gone throws EPIPE (or ECONNRESET).
     */
    public void send(byte[] buffer, int offset, int length, int... fds) throws SyscallException {
        Objects.checkFromIndexSize(offset, length, buffer.length);
        if (fds.length > SocketLayout.SCM_MAX_FD) {
            throw new IllegalArgumentException(fds.length + " descriptors; the kernel takes at most "
                    + SocketLayout.SCM_MAX_FD + " in one message");
        }
        if (fds.length > 0 && length == 0) {
            throw new IllegalArgumentException("descriptors need at least one byte to travel with");
        }
        for (int f : fds) {
            if (f < 0) {
                throw new IllegalArgumentException("not a descriptor: " + f);
            }
        }
        if (length == 0) {
            return;
        }
        synchronized (writeLock) {
            ensureOpen("sendmsg");
            Buffers b = sendBuffers == null ? sendBuffers = new Buffers(SocketLayout.SCM_MAX_FD) : sendBuffers;
            MemorySegment data = b.data(length);
            MemorySegment.copy(buffer, offset, data, JAVA_BYTE, 0, length);
            long controlLength = b.putFds(fds);
            int sent = 0;
            while (sent < length) {
                b.prepare(data.asSlice(sent), length - sent, controlLength);
                long r = Native.sendmsg(fd, b.msghdr, SocketLayout.MSG_NOSIGNAL);
                if (r == -Errno.EINTR) {
                    continue; // nothing was sent: the descriptors go with the next try
                }
                if (r < 0) {
                    throw new SyscallException("sendmsg", (int) -r);
                }
                sent += (int) r;
                controlLength = 0; // the descriptors went with the first bytes
            }
        }
    }

    /**
     * SO_RCVTIMEO: a receive (or accept) that waits longer throws SyscallException with errno EAGAIN.
     * {@link Duration#ZERO} waits forever; a positive duration under a microsecond counts as one.
     */
    public void setReceiveTimeout(Duration timeout) throws SyscallException {
        setTimeout(SocketLayout.SO_RCVTIMEO, "setsockopt SO_RCVTIMEO", timeout);
    }

    /**
     * SO_SNDTIMEO: a send that cannot go on for longer (a peer that reads nothing, its buffer full) throws
     * SyscallException with errno EAGAIN; as {@link #setReceiveTimeout} otherwise.
     */
    public void setSendTimeout(Duration timeout) throws SyscallException {
        setTimeout(SocketLayout.SO_SNDTIMEO, "setsockopt SO_SNDTIMEO", timeout);
    }

    private void setTimeout(int option, String operation, Duration timeout) throws SyscallException {
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("negative timeout " + timeout);
        }
        long seconds = timeout.getSeconds();
        long micros = timeout.getNano() / 1000;
        if (seconds == 0 && micros == 0 && !timeout.isZero()) {
            micros = 1;
        }
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment tv = temp.allocate(SocketLayout.TIMEVAL);
            tv.set(JAVA_LONG, SocketLayout.TV_SEC, seconds);
            tv.set(JAVA_LONG, SocketLayout.TV_USEC, micros);
            synchronized (stateLock) {
                ensureOpen(operation);
                Native.check(operation, Native.setsockopt(fd, SOL_SOCKET, option, tv,
                        (int) SocketLayout.TIMEVAL_SIZE));
            }
        }
    }

    /**
     * shutdown(SHUT_RDWR): wakes a thread blocked in accept (which then throws EINVAL) or receive (which then sees
     * the end of the stream) on this socket, and tells the peer. Never throws; does nothing once closed.
     */
    public void shutdown() {
        synchronized (stateLock) {
            if (!closed) {
                Native.shutdown(fd, SocketLayout.SHUT_RDWR);
            }
        }
    }

    /**
     * Shuts the socket down, waits for a receive, accept or send in flight on another thread to return, then
     * closes the descriptor and frees the buffers. Idempotent; thread-safe.
     */
    @Override
    public void close() {
        synchronized (stateLock) {
            if (closed) {
                return;
            }
            Native.shutdown(fd, SocketLayout.SHUT_RDWR);
            closed = true;
        }
        // The descriptor is closed only when no call can be using it: its number could otherwise be reused by an
        // unrelated open before the blocked call returns.
        synchronized (readLock) {
            synchronized (writeLock) {
                Native.close(fd);
                arena.close();
            }
        }
    }

    private void ensureOpen(String operation) throws SyscallException {
        if (closed) {
            throw new SyscallException(operation, Errno.EBADF, "socket closed");
        }
    }

    /** One direction's native msghdr, iovec, control buffer and data buffer, allocated in the socket's arena. */
    private final class Buffers {
        final MemorySegment msghdr = arena.allocate(SocketLayout.MSGHDR);
        final MemorySegment iovec = arena.allocate(SocketLayout.IOVEC);
        final MemorySegment control;
        MemorySegment data;

        Buffers(int maxFds) {
            control = arena.allocate(SocketLayout.cmsgSpace((long) maxFds * Integer.BYTES), 8);
        }

        /** The data buffer, grown (to a power of two, at most 1 MiB) when {@code length} does not fit. */
        MemorySegment data(int length) {
            if (length > MAX_DATA) {
                throw new IllegalArgumentException(length + " bytes in one call; at most " + MAX_DATA);
            }
            if (data == null || data.byteSize() < length) {
                // The smaller buffer stays in the arena until close: at most the sum of smaller powers of two.
                data = arena.allocate(Math.max(INITIAL_DATA, Integer.highestOneBit(length - 1) << 1), 8);
            }
            return data;
        }

        /** Points the msghdr at {@code length} bytes of {@code data} and {@code controlLength} control bytes. */
        void prepare(MemorySegment data, long length, long controlLength) {
            iovec.set(ADDRESS, SocketLayout.IOV_BASE, data);
            iovec.set(JAVA_LONG, SocketLayout.IOV_LEN, length);
            msghdr.set(ADDRESS, SocketLayout.MSG_NAME, MemorySegment.NULL);
            msghdr.set(JAVA_INT, SocketLayout.MSG_NAMELEN, 0);
            msghdr.set(ADDRESS, SocketLayout.MSG_IOV, iovec);
            msghdr.set(JAVA_LONG, SocketLayout.MSG_IOVLEN, 1);
            msghdr.set(ADDRESS, SocketLayout.MSG_CONTROL, controlLength == 0 ? MemorySegment.NULL : control);
            msghdr.set(JAVA_LONG, SocketLayout.MSG_CONTROLLEN, controlLength);
            msghdr.set(JAVA_INT, SocketLayout.MSG_FLAGS, 0);
        }

        /** Writes one SCM_RIGHTS message carrying {@code fds}; its CMSG_SPACE, or 0 when there are none. */
        long putFds(int[] fds) {
            if (fds.length == 0) {
                return 0;
            }
            long dataBytes = (long) fds.length * Integer.BYTES;
            control.fill((byte) 0);
            control.set(JAVA_LONG, CMSG_LEN_FIELD, SocketLayout.cmsgLen(dataBytes));
            control.set(JAVA_INT, CMSG_LEVEL, SOL_SOCKET);
            control.set(JAVA_INT, CMSG_TYPE, SCM_RIGHTS);
            MemorySegment.copy(fds, 0, control, JAVA_INT, SocketLayout.cmsgData(0), fds.length);
            return SocketLayout.cmsgSpace(dataBytes);
        }

        /** The descriptors in every SCM_RIGHTS message of the control bytes the last recvmsg returned. */
        int[] receivedFds() {
            long controlLength = Math.min(msghdr.get(JAVA_LONG, SocketLayout.MSG_CONTROLLEN), control.byteSize());
            int[] fds = NO_FDS;
            long at = 0;
            while (at + SocketLayout.CMSGHDR_SIZE <= controlLength) {
                long cmsgLen = control.get(JAVA_LONG, at + CMSG_LEN_FIELD);
                if (cmsgLen < SocketLayout.cmsgLen(0) || at + cmsgLen > controlLength) {
                    break; // malformed or cut: CMSG_NXTHDR stops here too
                }
                if (control.get(JAVA_INT, at + CMSG_LEVEL) == SOL_SOCKET
                        && control.get(JAVA_INT, at + CMSG_TYPE) == SCM_RIGHTS) {
                    int count = (int) ((cmsgLen - SocketLayout.cmsgLen(0)) / Integer.BYTES);
                    int[] all = Arrays.copyOf(fds, fds.length + count);
                    MemorySegment.copy(control, JAVA_INT, SocketLayout.cmsgData(at), all, fds.length, count);
                    fds = all;
                }
                at += SocketLayout.cmsgAlign(cmsgLen);
            }
            return fds;
        }
    }
}
