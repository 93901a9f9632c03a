package io.bundlevisor.uring.host;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.sys.Native;
import io.bundlevisor.uring.sys.SocketLayout;
import io.bundlevisor.uring.sys.TunLayout;

/**
 * A tap interface (Linux {@code Documentation/networking/tuntap.rst}) opened for a virtio-net device: one descriptor a
 * queue pair ({@code IFF_MULTI_QUEUE} when there are several, or when the tap was made multi-queue), each with
 * {@code IFF_TAP | IFF_NO_PI | IFF_VNET_HDR} and a 12-byte virtio-net header ({@code TUNSETVNETHDRSZ}: the virtio 1.x
 * header with {@code num_buffers}, section 5.1.6). Frames read and written on a descriptor start with that header.
 *
 * <p>Descriptors are blocking on purpose: an io_uring read on an idle tap, or a write on a full one, then waits in the
 * kernel's poll instead of failing with EAGAIN, so nothing spins; such an IO is ended with {@code ASYNC_CANCEL}.
 *
 * <p>An existing tap is attached by name (made beforehand with {@code ip tuntap add NAME mode tap multi_queue user
 * USER}, so the VMM needs no privilege at run time); a missing one is created when the process may (CAP_NET_ADMIN),
 * brought up, and goes when closed. Every refusal is a {@link SyscallException} whose message is one line.
 */
public final class Tap implements AutoCloseable {

    /** The longest interface name ({@code IFNAMSIZ} less its NUL). */
    public static final int MAX_NAME = TunLayout.IFNAMSIZ - 1;
    /** The virtio-net header the descriptors carry: {@code struct virtio_net_hdr_v1}, 12 bytes (section 5.1.6). */
    public static final int VNET_HDR_SIZE = 12;
    /** {@link #setOffload} bits. */
    public static final int OFFLOAD_CSUM = TunLayout.TUN_F_CSUM;
    public static final int OFFLOAD_TSO4 = TunLayout.TUN_F_TSO4;
    public static final int OFFLOAD_TSO6 = TunLayout.TUN_F_TSO6;
    public static final int OFFLOAD_TSO_ECN = TunLayout.TUN_F_TSO_ECN;

    private static final Path TUN = Path.of("/dev/net/tun");

    private final String name;
    private final int[] fds;
    private final boolean[] attached;
    private final boolean multiQueue;
    private final boolean created;
    /**
     * A datagram socket for the interface ioctls (flags, MTU), opened with the tap: they may come from a device
     * worker, whose system-call filter lets it open no socket.
     */
    private final int control;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment ifreq = arena.allocate(TunLayout.IFREQ);
    private boolean closed;

    private Tap(String name, int[] fds, boolean multiQueue, boolean created, int control) {
        this.name = name;
        this.control = control;
        this.fds = fds;
        this.attached = new boolean[fds.length];
        java.util.Arrays.fill(attached, true);
        this.multiQueue = multiQueue;
        this.created = created;
    }

    /**
     * Opens tap {@code name} with {@code queues} descriptors (1 or more; several need a multi-queue tap), creating it
     * if it does not exist.
     *
     * @throws IllegalArgumentException if the name is not a valid interface name or queues is below 1
     * @throws SyscallException         with a one-line reason: no /dev/net/tun, no permission, the name in use by a
     *                                  non-tap or by another process, a single-queue tap asked for several queues
     */
    public static Tap open(String name, int queues) throws SyscallException {
        checkName(name);
        if (queues < 1) {
            throw new IllegalArgumentException("a tap needs at least one queue, not " + queues);
        }
        Path sys = Path.of("/sys/class/net", name);
        boolean exists = Files.exists(sys);
        boolean multiQueue = queues > 1;
        if (exists) {
            int flags = existingFlags(name, sys);
            if ((flags & TunLayout.IFF_TAP) == 0) {
                throw new SyscallException("open tap " + name, Errno.EINVAL, name + " is a tun device, not a tap");
            }
            boolean madeMulti = (flags & TunLayout.IFF_MULTI_QUEUE) != 0;
            if (queues > 1 && !madeMulti) {
                throw new SyscallException("open tap " + name, Errno.EINVAL, name + " is a single-queue tap and "
                        + queues + " queues were asked for: make it with 'ip tuntap add " + name
                        + " mode tap multi_queue'");
            }
            multiQueue = madeMulti;
        }
        if (!Files.exists(TUN)) {
            throw new SyscallException("open tap " + name, Errno.ENOENT, "no /dev/net/tun: load the tun module "
                    + "(modprobe tun)");
        }
        int[] fds = new int[queues];
        java.util.Arrays.fill(fds, -1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment req = a.allocate(TunLayout.IFREQ);
            MemorySegment hdr = a.allocate(ValueLayout.JAVA_INT);
            hdr.set(ValueLayout.JAVA_INT, 0, VNET_HDR_SIZE);
            for (int q = 0; q < queues; q++) {
                int fd = Native.open(TUN.toString(), Native.O_RDWR | Native.O_CLOEXEC, 0);
                if (fd < 0) {
                    throw new SyscallException("open /dev/net/tun", -fd, -fd == Errno.EACCES || -fd == Errno.EPERM
                            ? "no permission to open /dev/net/tun" : null);
                }
                fds[q] = fd;
                req.fill((byte) 0);
                putName(req, name);
                short flags = (short) (TunLayout.IFF_TAP | TunLayout.IFF_NO_PI | TunLayout.IFF_VNET_HDR
                        | (multiQueue ? TunLayout.IFF_MULTI_QUEUE : 0));
                req.set(ValueLayout.JAVA_SHORT, TunLayout.IFR_FLAGS, flags);
                int r = Native.ioctl(fd, TunLayout.TUNSETIFF, req.address());
                if (r < 0) {
                    throw setIffFailure(name, exists, -r);
                }
                r = Native.ioctl(fd, TunLayout.TUNSETVNETHDRSZ, hdr.address());
                if (r < 0) {
                    throw new SyscallException("TUNSETVNETHDRSZ " + name, -r);
                }
            }
        } catch (SyscallException | RuntimeException e) {
            for (int fd : fds) {
                if (fd >= 0) {
                    Native.close(fd);
                }
            }
            throw e;
        }
        // Any family reaches the device ioctls (net/core/dev_ioctl.c).
        int control = Native.socket(SocketLayout.AF_UNIX, SocketLayout.SOCK_DGRAM | SocketLayout.SOCK_CLOEXEC, 0);
        if (control < 0) {
            for (int fd : fds) {
                Native.close(fd);
            }
            throw new SyscallException("socket for the interface ioctls of " + name, -control);
        }
        Tap tap = new Tap(name, fds, multiQueue, !exists, control);
        if (!exists) {
            try {
                tap.setUp();
            } catch (SyscallException e) {
                tap.close();
                throw e;
            }
        }
        return tap;
    }

    private static void checkName(String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length > MAX_NAME) {
            throw new IllegalArgumentException("a tap name has 1 to " + MAX_NAME + " bytes, not " + bytes.length
                    + " ('" + name + "')");
        }
        for (byte b : bytes) {
            if (b <= ' ' || b == '/' || b == ':' || b >= 0x7f) {
                throw new IllegalArgumentException("a tap name has no spaces, '/', ':' or non-ASCII characters ('"
                        + name + "')");
            }
        }
        if (name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException("'" + name + "' is not an interface name");
        }
    }

    /** The tun flags of an existing interface ({@code /sys/class/net/NAME/tun_flags}, e.g. 0x1902). */
    private static int existingFlags(String name, Path sys) throws SyscallException {
        Path flags = sys.resolve("tun_flags");
        if (!Files.exists(flags)) {
            throw new SyscallException("open tap " + name, Errno.EINVAL, name + " exists and is not a tap");
        }
        try {
            String text = Files.readString(flags).trim();
            return Integer.parseInt(text.startsWith("0x") ? text.substring(2) : text, 16);
        } catch (IOException | NumberFormatException e) {
            throw new SyscallException("open tap " + name, Errno.EIO, "cannot read " + flags + ": " + e.getMessage());
        }
    }

    private static SyscallException setIffFailure(String name, boolean exists, int errno) {
        String why = switch (errno) {
            case Errno.EPERM, Errno.EACCES -> exists
                    ? "no permission to attach to " + name + ": make it for this user ('ip tuntap add " + name
                            + " mode tap multi_queue user $USER') or run with CAP_NET_ADMIN"
                    : name + " does not exist and creating it needs CAP_NET_ADMIN: make it beforehand with 'ip "
                            + "tuntap add " + name + " mode tap multi_queue user $USER'";
            case Errno.EBUSY -> name + " is in use by another process (a single-queue tap takes one)";
            case Errno.EINVAL -> name + " is not a tap of the kind asked for (a tun, or its multi_queue setting "
                    + "differs)";
            default -> null;
        };
        return new SyscallException("TUNSETIFF " + name, errno, why);
    }

    private static void putName(MemorySegment req, String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        MemorySegment.copy(bytes, 0, req, ValueLayout.JAVA_BYTE, TunLayout.IFR_NAME, bytes.length);
    }

    public String name() {
        return name;
    }

    /** Descriptors, one a queue pair. */
    public int queues() {
        return fds.length;
    }

    /** Queue {@code q}'s descriptor. */
    public int fd(int q) {
        return fds[q];
    }

    /** Whether the tap is multi-queue. */
    public boolean multiQueue() {
        return multiQueue;
    }

    /** Whether this object created the interface (it goes when closed). */
    public boolean created() {
        return created;
    }

    /**
     * What the host stack may hand the tap unfinished ({@code TUNSETOFFLOAD}, {@code OFFLOAD_*}): set from the receive
     * offloads the guest's driver negotiated, so a packet the guest cannot take is finished by the host first.
     */
    public synchronized void setOffload(int offloads) throws SyscallException {
        int r = Native.ioctl(fds[0], TunLayout.TUNSETOFFLOAD, offloads & 0xff);
        if (r < 0) {
            throw new SyscallException("TUNSETOFFLOAD " + name, -r);
        }
    }

    /**
     * Attaches queues {@code 0..n-1} and detaches the others ({@code TUNSETQUEUE}), so the host steers packets only to
     * queues a driver reads. A single-queue tap has nothing to do.
     */
    public synchronized void enableQueues(int n) throws SyscallException {
        if (!multiQueue) {
            return;
        }
        // Attach before detaching: a tap with no queue attached loses its carrier.
        for (int pass = 0; pass < 2; pass++) {
            for (int q = 0; q < fds.length; q++) {
                boolean want = q < Math.max(1, n);
                if (want == attached[q] || (pass == 0) != want) {
                    continue;
                }
                ifreq.fill((byte) 0);
                ifreq.set(ValueLayout.JAVA_SHORT, TunLayout.IFR_FLAGS,
                        want ? TunLayout.IFF_ATTACH_QUEUE : TunLayout.IFF_DETACH_QUEUE);
                int r = Native.ioctl(fds[q], TunLayout.TUNSETQUEUE, ifreq.address());
                if (r < 0) {
                    throw new SyscallException("TUNSETQUEUE " + name + " queue " + q, -r);
                }
                attached[q] = want;
            }
        }
    }

    /** The interface's MTU ({@code SIOCGIFMTU}). */
    public synchronized int mtu() throws SyscallException {
        interfaceIoctl(TunLayout.SIOCGIFMTU, "SIOCGIFMTU");
        return ifreq.get(ValueLayout.JAVA_INT, TunLayout.IFR_MTU);
    }

    /** Sets the interface's MTU ({@code SIOCSIFMTU}; needs CAP_NET_ADMIN). */
    public synchronized void setMtu(int mtu) throws SyscallException {
        ifreq.fill((byte) 0);
        ifreq.set(ValueLayout.JAVA_INT, TunLayout.IFR_MTU, mtu);
        interfaceIoctl(TunLayout.SIOCSIFMTU, "SIOCSIFMTU");
    }

    /** Whether the interface is administratively up ({@code IFF_UP}): frames written to a down tap are refused. */
    public synchronized boolean isUp() throws SyscallException {
        interfaceIoctl(TunLayout.SIOCGIFFLAGS, "SIOCGIFFLAGS");
        return (ifreq.get(ValueLayout.JAVA_SHORT, TunLayout.IFR_FLAGS) & TunLayout.IFF_UP) != 0;
    }

    private void setUp() throws SyscallException {
        interfaceIoctl(TunLayout.SIOCGIFFLAGS, "SIOCGIFFLAGS");
        short flags = ifreq.get(ValueLayout.JAVA_SHORT, TunLayout.IFR_FLAGS);
        ifreq.set(ValueLayout.JAVA_SHORT, TunLayout.IFR_FLAGS, (short) (flags | TunLayout.IFF_UP));
        interfaceIoctl(TunLayout.SIOCSIFFLAGS, "SIOCSIFFLAGS");
    }

    /** An interface ioctl on the tap's control socket (never on a closed tap: its number may be reused). */
    private void interfaceIoctl(long request, String what) throws SyscallException {
        if (closed) {
            throw new SyscallException(what + " " + name, Errno.EBADF, "the tap is closed");
        }
        if (request != TunLayout.SIOCSIFMTU && request != TunLayout.SIOCSIFFLAGS) {
            ifreq.fill((byte) 0);
        }
        putName(ifreq, name);
        int r = Native.ioctl(control, request, ifreq.address());
        if (r < 0) {
            throw new SyscallException(what + " " + name, -r);
        }
    }

    /** Closes every descriptor; a tap this object created goes with them. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int fd : fds) {
            Native.close(fd);
        }
        Native.close(control);
        arena.close();
    }
}
