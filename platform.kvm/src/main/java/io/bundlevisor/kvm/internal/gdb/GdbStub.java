package io.bundlevisor.kvm.internal.gdb;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import io.bundlevisor.core.partition.GdbEndpoint;
import io.bundlevisor.uring.host.UnixSocket;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A gdb remote stub for one partition: listens on 127.0.0.1:PORT or a Unix socket, serves one debugger at a time
 * ({@link GdbSession} on the listener's thread, a reader thread per connection), and tells the session when a VP
 * stopped for it or the VM ended. A debugger that attaches stops every VP; one that detaches or goes away leaves
 * the VM running without breakpoints.
 */
public final class GdbStub implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(GdbStub.class);
    /** How long closing waits for gdb to take the VM's end and hang up. */
    private static final long GOODBYE_MILLIS = 2000;
    /** DR6.BS: the #DB is a single step (Intel SDM vol. 3B, 18.2.3). */
    private static final long DR6_BS = 1L << 14;

    private final DebugTarget target;
    private final String vm;
    private final ServerSocketChannel server;
    private final Optional<Path> socketPath;
    private final Breakpoints breakpoints;
    private final GuestAccess memory;
    private final Thread thread;
    private volatile GdbSession session;
    private volatile SocketChannel client;
    private volatile boolean closed;
    /** The VM's end, once it came: a session that starts later is told at once. */
    private volatile Integer exitStatus;

    private GdbStub(DebugTarget target, String vm, ServerSocketChannel server, Optional<Path> socketPath) {
        this.target = target;
        this.vm = vm;
        this.server = server;
        this.socketPath = socketPath;
        this.memory = new GuestAccess(target);
        this.breakpoints = new Breakpoints(memory);
        this.thread = Thread.ofPlatform().daemon().name("gdb " + vm).unstarted(this::serve);
    }

    /**
     * Listens on {@code endpoint} and starts serving.
     *
     * @throws IOException with a one-line reason (the port or path in use)
     */
    public static GdbStub start(GdbEndpoint endpoint, DebugTarget target, String vm) throws IOException {
        ServerSocketChannel server;
        if (endpoint.socket().isPresent()) {
            Path path = endpoint.socket().get();
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                try {
                    server.bind(UnixDomainSocketAddress.of(path));
                } catch (java.net.BindException inUse) {
                    UnixSocket.removeStale(path); // a socket a VMM left behind; anything else is refused
                    server.bind(UnixDomainSocketAddress.of(path));
                }
            } catch (IOException e) {
                server.close();
                throw new IOException("gdb socket " + path + ": " + e.getMessage(), e);
            }
        } else {
            server = ServerSocketChannel.open(StandardProtocolFamily.INET);
            try {
                server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), endpoint.port()));
            } catch (IOException e) {
                server.close();
                throw new IOException("gdb port 127.0.0.1:" + endpoint.port() + ": " + e.getMessage(), e);
            }
        }
        GdbStub stub = new GdbStub(target, vm, server, endpoint.socket());
        LOG.info("{}: gdb stub on {}{}", vm, endpoint.describe(),
                endpoint.waitForAttach() ? ", the VM waits for it" : "");
        stub.thread.start();
        return stub;
    }

    /** Whether a software breakpoint of the debugger's is at linear {@code address} (VP threads). */
    public boolean softwareBreakpointAt(long address) {
        return breakpoints.softwareAt(address);
    }

    /** Whether the debugger has a software breakpoint anywhere (VP threads: a cheap test first). */
    public boolean anySoftwareBreakpoint() {
        return breakpoints.anySoftware();
    }

    /**
     * What a KVM_EXIT_DEBUG means (its kvm_debug_exit_arch): a software breakpoint of ours (#BP at one), a hardware
     * breakpoint or watchpoint (#DB with DR6.B0-B3), a single step (#DB with DR6.BS), another #DB; null for a #BP
     * that is not ours, which the guest should take itself.
     */
    public Stop decodeDebugExit(int vp, int exception, long pc, long dr6) {
        if (exception == 3) {
            return softwareBreakpointAt(pc) ? new Stop(vp, Stop.Cause.SOFTWARE_BREAKPOINT, pc) : null;
        }
        if ((dr6 & DR6_BS) != 0) {
            return new Stop(vp, Stop.Cause.STEP, pc);
        }
        for (int slot = 0; slot < Breakpoints.SLOTS; slot++) {
            if ((dr6 & (1L << slot)) != 0 && breakpoints.hardwareAddress(slot) >= 0) {
                long address = breakpoints.hardwareAddress(slot);
                Stop.Cause cause = breakpoints.watchesWrites(slot) ? Stop.Cause.WATCH_WRITE
                        : address == pc ? Stop.Cause.HARDWARE_BREAKPOINT : Stop.Cause.WATCH_ACCESS;
                return new Stop(vp, cause, address);
            }
        }
        return new Stop(vp, Stop.Cause.OTHER, pc);
    }

    /**
     * A VP stopped the VM for the debugger (the partition stopped the others). Without a session (it just
     * detached) the VM goes on.
     */
    public void stopped(Stop stop) {
        GdbSession s = session;
        if (s != null) {
            s.post(new GdbSession.Stopped(stop));
        } else {
            target.resume(-1);
        }
    }

    /** The VM was reset and runs again: a later session is not told it ended. */
    public void reset() {
        exitStatus = null;
    }

    /** The VM ended with {@code status} (0 power-off): gdb is told the program exited. */
    public void exited(int status) {
        exitStatus = status;
        GdbSession s = session;
        if (s != null) {
            s.post(new GdbSession.Exited(status));
        }
    }

    private void serve() {
        while (!closed) {
            SocketChannel c;
            try {
                c = server.accept();
            } catch (IOException e) {
                if (!closed) {
                    LOG.error("{}: gdb stub stops accepting: {}", vm, e.getMessage());
                }
                return;
            }
            client = c;
            try {
                session(c);
            } catch (InterruptedException e) {
                return;
            } finally {
                client = null;
                closeQuietly(c);
            }
        }
    }

    private void session(SocketChannel c) throws InterruptedException {
        try {
            c.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
        } catch (IOException | UnsupportedOperationException e) {
            // A Unix socket has no Nagle to turn off.
        }
        InputStream in = Channels.newInputStream(c);
        OutputStream out = Channels.newOutputStream(c);
        GdbSession s = new GdbSession(target, breakpoints, memory, new PacketWriter(out), vm);
        LOG.info("{}: gdb attached; every VP stops", vm);
        session = s;
        Integer status = exitStatus;
        if (status != null) {
            s.post(new GdbSession.Exited(status));
        }
        Thread reader = Thread.ofPlatform().daemon().name("gdb-in " + vm).start(() -> read(in, s));
        try {
            s.run();
        } finally {
            session = null;
            if (closed && s.exitSent()) {
                s.awaitClientGone(GOODBYE_MILLIS);
            }
            closeQuietly(c);
            reader.join(GOODBYE_MILLIS);
        }
    }

    /** The connection's reader: frames into the session; a malformed frame or the end drops the connection. */
    private void read(InputStream in, GdbSession s) {
        PacketReader reader = new PacketReader(in, GdbSession.PACKET_SIZE);
        try {
            while (true) {
                s.post(new GdbSession.FromClient(reader.next()));
            }
        } catch (EOFException e) {
            s.post(new GdbSession.ClientGone("it closed the connection"));
        } catch (PacketReader.ProtocolException e) {
            LOG.warn("{}: dropping the gdb connection: {}", vm, e.getMessage());
            s.post(new GdbSession.ClientGone(e.getMessage()));
        } catch (IOException e) {
            s.post(new GdbSession.ClientGone(e.getMessage()));
        }
    }

    /**
     * Stops serving. A debugger still attached is told the VM's end ({@code exitStatus}, if it ended) and given a
     * moment to hang up; then the connection and the socket close (a Unix socket's file is removed).
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        GdbSession s = session;
        if (s != null) {
            Integer status = exitStatus;
            if (status != null) {
                s.post(new GdbSession.Exited(status));
            }
            s.post(new GdbSession.Shutdown());
        }
        closeQuietly(server);
        try {
            thread.join(2 * GOODBYE_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        SocketChannel c = client;
        if (c != null) {
            closeQuietly(c);
        }
        socketPath.ifPresent(p -> {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                LOG.debug("{}: removing gdb socket {}: {}", vm, p, e.getMessage());
            }
        });
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // Closing is all that is left to do.
        }
    }
}
