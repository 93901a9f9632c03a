package io.bundlevisor.kvm.internal.machine;

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.locks.LockSupport;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.uring.host.Pty;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.Native;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Connects the console UART to where {@link Console} says: output through a buffered sink flushed at each newline
 * and every 50 ms, input pumped by a daemon thread into the UART as the guest makes room. A Unix-socket console
 * serves one client at a time; output with no client is dropped, as on a disconnected serial line.
 */
public final class ConsoleIo implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ConsoleIo.class);
    private static final long FLUSH_NANOS = 50_000_000L;
    /** How often a pty console looks for typed input (no one may be attached, so it cannot block in read). */
    private static final long PTY_POLL_NANOS = 20_000_000L;

    private final String name;
    private final Uart16550.Sink sink;
    private final InputStream input;
    private final ServerSocketChannel server;
    private volatile SocketChannel client;
    private volatile boolean closed;
    /** <asm-generic/errno-base.h> */
    private static final int ENXIO = 6;
    /** The file-type bits of st_mode and a FIFO's, inode(7). */
    private static final int S_IFMT = 0170000;
    private static final int S_IFIFO = 0010000;
    private Uart16550 uart;
    private Pty pty;
    /** A console file's stream: closed with the console (it is ours, unlike stdout). */
    private OutputStream owned;
    private final java.util.List<Thread> threads = new java.util.ArrayList<>();

    private ConsoleIo(String name, Uart16550.Sink sink, InputStream input, ServerSocketChannel server) {
        this.name = name;
        this.sink = sink;
        this.input = input;
        this.server = server;
    }

    /**
     * Opens the console's host side (files, sockets) before the UART exists.
     *
     * @throws IOException with a one-line reason (a file that cannot be opened, a socket path in use)
     */
    public static ConsoleIo open(String machine, Console console) throws IOException {
        return switch (console) {
            case Console.None n -> new ConsoleIo(machine, discard(), null, null);
            case Console.Stdio s -> new ConsoleIo(machine,
                    Uart16550.sinkOf(new BufferedOutputStream(new FileOutputStream(FileDescriptor.out))),
                    new FileInputStream(FileDescriptor.in), null);
            case Console.File f -> {
                refuseUnreadFifo(f.path());
                OutputStream out;
                try {
                    out = Files.newOutputStream(f.path(), StandardOpenOption.CREATE, StandardOpenOption.APPEND,
                            StandardOpenOption.WRITE);
                } catch (IOException e) {
                    throw new IOException("console file " + f.path() + ": " + e.getMessage(), e);
                }
                ConsoleIo io = new ConsoleIo(machine, warnOnce(machine, "console file " + f.path(),
                        Uart16550.sinkOf(new BufferedOutputStream(out))), null, null);
                io.owned = out;
                yield io;
            }
            case Console.Socket s -> {
                ConsoleIo io = new ConsoleIo(machine, null, null, listen(s.path()));
                if (s.waitForClient()) {
                    io.awaitFirstClient(s.path());
                }
                yield io;
            }
            case Console.Streams s -> new ConsoleIo(machine, Uart16550.sinkOf(s.out()), s.in(), null);
            case Console.Pty p -> {
                Pty pty;
                try {
                    pty = Pty.open();
                } catch (SyscallException e) {
                    throw new IOException("console pty: " + e.getMessage(), e);
                }
                ConsoleIo io = new ConsoleIo(machine, Uart16550.sinkOf(new BufferedOutputStream(output(pty))),
                        input(pty), null);
                io.pty = pty;
                LOG.info("{}: console on {}", machine, pty.path());
                yield io;
            }
        };
    }

    /**
     * A FIFO nobody reads would block the open, and the VM with it, before boot: refused in one line instead
     * (an open for writing with O_NONBLOCK fails with ENXIO exactly then, fifo(7)).
     */
    private static void refuseUnreadFifo(Path path) throws IOException {
        if (!Files.exists(path) || ((Integer) Files.getAttribute(path, "unix:mode") & S_IFMT) != S_IFIFO) {
            return;
        }
        int fd = Native.open(path.toString(), Native.O_WRONLY | Native.O_NONBLOCK | Native.O_CLOEXEC, 0);
        if (fd == -ENXIO) {
            throw new IOException("console file " + path + " is a FIFO no process reads (open it for reading "
                    + "first)");
        }
        if (fd >= 0) {
            Native.close(fd);
        }
    }

    /**
     * The sink, telling the operator once when it fails (a full disk, /dev/full): the guest goes on, its console
     * output from then on is lost, and that must not pass silently.
     */
    private static Uart16550.Sink warnOnce(String machine, String what, Uart16550.Sink sink) {
        return new Uart16550.Sink() {
            private boolean warned;

            @Override
            public void write(int b) throws IOException {
                try {
                    sink.write(b);
                } catch (IOException e) {
                    warn(e);
                    throw e;
                }
            }

            @Override
            public void flush() throws IOException {
                try {
                    sink.flush();
                } catch (IOException e) {
                    warn(e);
                    throw e;
                }
            }

            private void warn(IOException e) {
                if (!warned) {
                    warned = true;
                    LOG.warn("{}: {}: {}; the guest's console output is lost from here", machine, what,
                            e.getMessage());
                }
            }
        };
    }

    /** The pseudo terminal of a {@link Console.Pty} console. */
    public java.util.Optional<Path> ptyPath() {
        return java.util.Optional.ofNullable(pty).map(Pty::path);
    }

    /** What a person types on the pty: polled, since no one may be attached (a read then fails with EIO). */
    private static InputStream input(Pty pty) {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                byte[] chunk = new byte[Math.min(len, 512)];
                while (true) {
                    int n;
                    try {
                        n = pty.read(chunk);
                    } catch (SyscallException e) {
                        throw new IOException(e.getMessage(), e);
                    }
                    if (n != 0) {
                        if (n > 0) {
                            System.arraycopy(chunk, 0, b, off, n);
                        }
                        return n;
                    }
                    LockSupport.parkNanos(PTY_POLL_NANOS);
                    if (Thread.interrupted()) {
                        return -1;
                    }
                }
            }
        };
    }

    private static OutputStream output(Pty pty) {
        return new OutputStream() {
            @Override
            public void write(int b) {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                pty.write(b, off, len); // what no one takes is dropped, as on a disconnected line
            }
        };
    }

    /**
     * Listens on {@code path}. A socket left there by a VMM that ended without removing it (nobody accepts on it) is
     * replaced, as {@code serve} does; a socket someone serves, or anything else, is refused in one line.
     */
    private static ServerSocketChannel listen(Path path) throws IOException {
        UnixDomainSocketAddress address = UnixDomainSocketAddress.of(path);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(address);
            return server;
        } catch (java.net.BindException inUse) {
            // Something is there: replace it only if it is a socket nobody serves.
        } catch (IOException e) {
            server.close();
            throw new IOException("console socket " + path + ": " + e.getMessage(), e);
        }
        try {
            io.bundlevisor.uring.host.UnixSocket.removeStale(path);
            server.bind(address);
            LOG.info("console socket {}: replaced a stale socket", path);
            return server;
        } catch (IOException e) {
            server.close();
            throw new IOException("console socket " + path + ": " + e.getMessage(), e);
        }
    }

    /** Blocks until a client connects (socket:PATH,wait): it gets the console from the guest's first byte. */
    private void awaitFirstClient(Path path) throws IOException {
        LOG.info("console socket {}: waiting for a client before the VM is created", path);
        try {
            client = server.accept();
        } catch (IOException e) {
            close();
            throw new IOException("console socket " + path + ": " + e.getMessage(), e);
        }
    }

    /** The sink the UART transmits into. */
    public Uart16550.Sink sink() {
        return sink != null ? sink : socketSink();
    }

    /** Starts the input pump and the flusher for {@code console}. */
    public void start(Uart16550 console) {
        this.uart = console;
        threads.add(Thread.ofPlatform().daemon().name("console-flush " + name).start(this::flushLoop));
        if (server != null) {
            SocketChannel first = client;
            if (first != null) {
                threads.add(Thread.ofPlatform().daemon().name("console-in " + name)
                        .start(() -> pump(java.nio.channels.Channels.newInputStream(first))));
            }
            threads.add(Thread.ofPlatform().daemon().name("console-accept " + name).start(this::acceptLoop));
        } else if (input != null) {
            threads.add(Thread.ofPlatform().daemon().name("console-in " + name).start(() -> pump(input)));
        }
    }

    private void flushLoop() {
        while (!closed) {
            LockSupport.parkNanos(FLUSH_NANOS);
            uart.flush();
        }
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                SocketChannel c = server.accept();
                SocketChannel old = client;
                client = c;
                if (old != null) {
                    old.close();
                }
                Thread.ofPlatform().daemon().name("console-in " + name)
                        .start(() -> pump(java.nio.channels.Channels.newInputStream(c)));
            } catch (IOException e) {
                if (!closed) {
                    LOG.warn("console socket of {}: {}", name, e.getMessage());
                }
                return;
            }
        }
    }

    private void pump(InputStream in) {
        byte[] buffer = new byte[512];
        try {
            int n;
            while (!closed && (n = in.read(buffer)) > 0) {
                int done = 0;
                while (done < n && !closed) {
                    done += uart.offer(buffer, done, n - done);
                    if (done < n) {
                        LockSupport.parkNanos(1_000_000L); // the guest has not drained its input yet
                    }
                }
            }
        } catch (IOException e) {
            LOG.debug("console input of {} ended: {}", name, e.getMessage());
        }
    }

    private Uart16550.Sink socketSink() {
        return new Uart16550.Sink() {
            private final ByteBuffer buffer = ByteBuffer.allocate(4096);

            @Override
            public void write(int b) throws IOException {
                if (!buffer.hasRemaining()) {
                    flush();
                }
                buffer.put((byte) b);
            }

            @Override
            public void flush() {
                buffer.flip();
                SocketChannel c = client;
                if (c != null) {
                    try {
                        while (buffer.hasRemaining()) {
                            c.write(buffer);
                        }
                    } catch (IOException e) {
                        client = null; // the client went away; keep running without one
                    }
                }
                buffer.clear();
            }
        };
    }

    private static Uart16550.Sink discard() {
        return new Uart16550.Sink() {
            @Override
            public void write(int b) {
            }

            @Override
            public void flush() {
            }
        };
    }

    @Override
    public void close() {
        closed = true;
        if (uart != null) {
            uart.flush();
        }
        try {
            if (server != null) {
                java.net.SocketAddress bound = server.getLocalAddress();
                server.close();
                if (bound instanceof UnixDomainSocketAddress unix) {
                    Files.deleteIfExists(unix.getPath());
                }
            }
            SocketChannel c = client;
            if (c != null) {
                c.close();
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("closing the console of {}: {}", name, e.getMessage());
        }
        if (pty != null) {
            pty.close();
        }
        if (owned != null) {
            try {
                owned.close(); // flushed above; a failure was reported when it happened
            } catch (IOException e) {
                LOG.debug("closing the console file of {}: {}", name, e.getMessage());
            }
        }
        for (Thread t : threads) {
            t.interrupt();
        }
    }
}
