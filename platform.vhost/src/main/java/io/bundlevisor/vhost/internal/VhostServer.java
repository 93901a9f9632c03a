package io.bundlevisor.vhost.internal;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.virtio.VirtioBackend;
import io.bundlevisor.core.virtio.VirtioService;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.UnixSocket;
import io.bundlevisor.uring.sys.SocketLayout;

/**
 * A vhost-user back-end listening on a Unix socket for one device type: serves front-ends one at a time (a second
 * waits in the listen backlog until the first goes), each with a fresh device. A front-end that disconnects, breaks
 * the protocol or is killed leaves the server ready for the next. The device's host resources (an image and its
 * lock, a tap) stay held from the server's start to its close, passed from device to device, so that no other
 * process (another VMM, a second {@code serve}) can take the image between two front-ends.
 */
final class VhostServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(VhostServer.class);

    private final Path path;
    /** The type and options a new device is made from; the options change with {@link #update}. */
    private volatile DeviceSpec spec;
    /** The device a change goes to: the connected front-end's, else the idle one (null when neither). */
    private volatile VirtioBackend holder;
    private final String name;
    private final VirtioService service;
    private final UnixSocket listener;
    private final Thread thread;
    private final AtomicLong connections = new AtomicLong();
    private volatile UnixSocket current;
    /**
     * The device that holds the host resources (an image and its lock, a tap) while no front-end is connected, so
     * that nobody else takes them between two front-ends; each front-end's device takes them over from it and gives
     * them to a new one when it goes. Null when none could be made (the device's bundle is away). Server thread only,
     * after construction.
     */
    private VirtioBackend idle;
    private volatile boolean closed;
    private volatile String lastEnd = "";
    /** Refused front-ends are logged at most 10 in 10 s: a hostile one could otherwise fill the log. */
    private final LogRate refusals = new LogRate(10, java.util.concurrent.TimeUnit.SECONDS.toNanos(10));

    /**
     * Listens on {@code path}. A stale socket there (nobody accepting) is replaced; anything else is refused.
     *
     * @throws PartitionException with a one-line reason
     */
    VhostServer(String name, Path path, DeviceSpec spec, VirtioService service) throws PartitionException {
        this.name = name;
        this.path = path;
        this.spec = spec;
        this.service = service;
        // A device made now refuses bad options (a missing image, one locked by another process) before anyone
        // connects, and holds the image (its lock) or tap until the first front-end's device takes it over.
        this.idle = service.serve(name, spec, 1, new VhostMemory(), VhostConnection.IDLE_EVENTS);
        this.holder = idle;
        try {
            this.listener = listen(path);
        } catch (PartitionException | RuntimeException e) {
            idle.close();
            throw e;
        }
        this.thread = Thread.ofPlatform().name("vhost-user " + path.getFileName()).daemon().unstarted(this::run);
        thread.start();
    }

    private static UnixSocket listen(Path path) throws PartitionException {
        try {
            return UnixSocket.listen(path, 4);
        } catch (IllegalArgumentException e) {
            throw new PartitionException("--socket " + path + ": " + e.getMessage());
        } catch (SyscallException e) {
            if (e.errno() != SocketLayout.EADDRINUSE) {
                throw new PartitionException("--socket " + path + ": " + e.getMessage());
            }
        }
        // Something is there: replace it only if it is a socket nobody serves.
        try {
            UnixSocket.removeStale(path);
            return UnixSocket.listen(path, 4);
        } catch (java.io.IOException e) {
            throw new PartitionException("--socket " + path + ": " + e.getMessage());
        }
    }

    private void run() {
        while (!closed) {
            if (!awaitDeviceType()) {
                break;
            }
            UnixSocket s;
            try {
                s = listener.accept();
            } catch (SyscallException e) {
                if (!closed) {
                    LOG.error("{}: accept failed: {}; the server stops", name, e.getMessage());
                }
                break;
            }
            long n = connections.incrementAndGet();
            current = s;
            if (closed) {
                s.close();
                break;
            }
            LOG.info("{}: front-end {} connected", name, n);
            String why;
            VirtioBackend before = idle != null && idle.isBound() ? idle : null;
            if (idle != null && before == null) {
                idle.close(); // its device's bundle went and no other took it over: it holds nothing
            }
            idle = null;
            holder = null;
            try {
                VhostConnection.End end = VhostConnection.serve(name + "#" + n, s, service, spec, before, name,
                        b -> holder = b);
                why = end.why();
                idle = end.idle();
                holder = idle;
            } catch (PartitionException e) {
                why = "refused: " + e.getMessage();
                LOG.error("{}: front-end {} {}", name, n, why);
            } catch (RuntimeException e) {
                why = "internal error: " + e;
                LOG.error("{}: front-end {} failed", name, n, e);
            } finally {
                current = null;
                s.close();
            }
            lastEnd = why;
            if (!why.startsWith(VhostConnection.REFUSED)) {
                LOG.info("{}: front-end {} gone: {}", name, n, why);
            } else if (refusals.allow(System.nanoTime())) {
                long unlogged = refusals.takeSuppressed();
                LOG.warn("{}: front-end {} {}; connection closed{}", name, n, why,
                        unlogged == 0 ? "" : " (" + unlogged + " more refused front-ends were not logged)");
            }
        }
    }

    /**
     * While no bundle provides the device type (it is being updated, or stopped), the next front-end is not
     * accepted: it waits in the backlog and is served when the type is back. QEMU reconnecting (chardev
     * {@code reconnect=N}) thus finds the device again after a bundle update instead of a refusal, which QEMU 7.2's
     * vhost-user-blk does not recover from. False when the server closed meanwhile.
     */
    private boolean awaitDeviceType() {
        if (idle != null && !idle.isBound()) {
            idle.close(); // its bundle went and no other took the device over within the grace period
            idle = null;
        }
        if (idle == null && service.deviceTypes().contains(spec.type())) {
            try {
                idle = service.serve(name, spec, 1, new VhostMemory(), VhostConnection.IDLE_EVENTS);
                holder = idle;
            } catch (PartitionException | RuntimeException e) {
                LOG.warn("{}: no device holds {} until the next front-end: {}", name, spec.options(), e.getMessage());
            }
        }
        boolean logged = false;
        while (!closed && !service.deviceTypes().contains(spec.type())) {
            if (!logged) {
                LOG.info("{}: no bundle provides {} now; the next front-end waits for one", name, spec.type());
                logged = true;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return !closed;
    }

    /**
     * Changes the served device to {@code options} (its factory's syntax) under the connected front-end, or the idle
     * device between two: the front-end is told its config changed (see {@link VhostConnection#configChanged()}),
     * and later front-ends get a device made from these options.
     *
     * @throws PartitionException with one line: the device refused the change, or none is there now
     */
    synchronized void update(String options) throws PartitionException {
        VirtioBackend b = holder;
        if (b == null || !b.isBound()) {
            throw new PartitionException(name + ": no device is there to change now (its bundle is away)");
        }
        try {
            b.update(options);
        } catch (io.bundlevisor.core.virtio.DeviceException e) {
            throw new PartitionException(e.getMessage(), e);
        }
        spec = new DeviceSpec(spec.type(), options);
    }

    Path path() {
        return path;
    }

    DeviceSpec spec() {
        return spec;
    }

    String name() {
        return name;
    }

    /** Front-ends accepted so far. */
    long connections() {
        return connections.get();
    }

    boolean isConnected() {
        return current != null;
    }

    String lastEnd() {
        return lastEnd;
    }

    /** Stops listening, drops the front-end (its device finishes its IO and closes) and removes the socket. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        listener.shutdown();
        UnixSocket c = current;
        if (c != null) {
            c.shutdown();
        }
        try {
            thread.join(60_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        VirtioBackend last = idle;
        if (last != null) {
            last.close();
        }
        listener.close();
        try {
            Files.deleteIfExists(path);
        } catch (java.io.IOException e) {
            LOG.warn("{}: cannot remove {}: {}", name, path, e.getMessage());
        }
    }
}
