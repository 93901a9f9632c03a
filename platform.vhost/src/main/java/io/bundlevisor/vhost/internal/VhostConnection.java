package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.VhostUserLayout.*;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.virtio.BackendEvents;
import io.bundlevisor.core.virtio.VirtioBackend;
import io.bundlevisor.core.virtio.VirtioService;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.UnixSocket;

/**
 * One front-end on the socket, from connect to disconnect: reads its messages in order, validates each one, and
 * drives a fresh {@link VirtioBackend} of the served device type (QEMU docs/interop/vhost-user.rst). Anything
 * malformed or out of order ends the connection with a logged one-line reason; the device then finishes its IO,
 * closes, and the server waits for the next front-end.
 */
final class VhostConnection implements BackendEvents {

    private static final Logger LOG = LoggerFactory.getLogger(VhostConnection.class);
    /** Protocol features we offer; DEVICE_STATE is added where the device can save its state. */
    static final long PROTOCOL_FEATURES = PF_MQ | PF_REPLY_ACK | PF_CONFIG | PF_RESET_DEVICE | PF_DEVICE_STATE
            | PF_CONFIGURE_MEM_SLOTS | PF_BACKEND_REQ | PF_INFLIGHT_SHMFD | PF_LOG_SHMFD;

    private final String name;
    private final UnixSocket socket;
    private final VirtioBackend backend;
    private final VhostMemory memory;
    private final VringState[] rings;
    private final MemoryTable memoryTable;
    /** The dirty-page log (LOG_SHMFD, LOG_ALL), marked by every running ring's {@link LoggingTracker}. */
    private final DirtyLog dirtyLog;
    private final VhostMessage message = new VhostMessage();

    private boolean owner;
    private boolean featuresSet;
    private boolean protocolNegotiated;
    /** SET_PROTOCOL_FEATURES came (the front-end saw F_PROTOCOL_FEATURES offered). */
    private boolean protocolFeaturesSet;
    /** Written on the connection's thread, read by {@link #configChanged()} on others. */
    private volatile long protocolFeatures;
    /** The in-flight buffer (SET_INFLIGHT_FD), or null. */
    private InflightBuffer inflight;
    /** The back-end's request channel (SET_BACKEND_REQ_FD), or null. */
    private volatile BackendChannel channel;
    private CompletableFuture<String> transfer;
    /** The pipe of the transfer under way, to abort it when the connection ends. */
    private volatile StateTransfer transferPipe;
    private volatile boolean deviceGone;
    /** The connection is being released: nothing more is sent to the front-end. */
    private volatile boolean releasing;

    private VhostConnection(String name, UnixSocket socket, VirtioBackend backend, VhostMemory memory) {
        this.name = name;
        this.socket = socket;
        this.backend = backend;
        this.memory = memory;
        this.rings = new VringState[backend.queueCount()];
        for (int i = 0; i < rings.length; i++) {
            rings[i] = new VringState();
        }
        this.memoryTable = new MemoryTable(name, memory, backend, rings);
        this.dirtyLog = new DirtyLog(memory);
    }

    /** The holder lets the backend's events reach a connection created after it. */
    private static final class Events implements BackendEvents {
        volatile VhostConnection target;

        @Override
        public void usedBuffers(int queue) {
            VhostConnection c = target;
            if (c != null) {
                c.usedBuffers(queue);
            }
        }

        @Override
        public void needsReset() {
            VhostConnection c = target;
            if (c != null) {
                c.needsReset();
            }
        }

        @Override
        public void configChanged() {
            VhostConnection c = target;
            if (c != null) {
                c.configChanged();
            }
        }

        @Override
        public void deviceGone() {
            VhostConnection c = target;
            if (c != null) {
                c.deviceGone();
            }
        }
    }

    /** How a front-end's connection ended, and the device that now holds the back-end's host resources, if any. */
    record End(String why, VirtioBackend idle) {

        /** Whether the front-end broke the protocol (and the connection was closed for it). */
        boolean refused() {
            return why.startsWith(REFUSED);
        }
    }

    /** How long a message may take to arrive once begun, and a reply to go out (tests shorten it). */
    static volatile java.time.Duration stallLimit = java.time.Duration.ofSeconds(10);

    /** How the end of a connection closed for a protocol violation begins. */
    static final String REFUSED = "refused: ";

    /**
     * Serves one front-end until it disconnects, breaks the protocol or the device's bundle goes; then releases
     * everything. Its device takes over the host resources of {@code idle} (the device that held them while no
     * front-end was connected; null if none), and gives them on to a new idle device named {@code idleName} at
     * the end, so that the image's lock never lapses between two front-ends. {@code serving} is given the
     * front-end's device once it is made.
     *
     * @throws PartitionException if no device could be created for it (the socket is closed)
     */
    static End serve(String name, UnixSocket socket, VirtioService service, DeviceSpec spec, VirtioBackend idle,
            String idleName, java.util.function.Consumer<VirtioBackend> serving) throws PartitionException {
        try {
            // A front-end that stops inside a message, or stops reading our replies, is dropped after this, so it
            // cannot keep the next one waiting (red-team finding); between messages it may be silent.
            socket.setReceiveTimeout(stallLimit);
            socket.setSendTimeout(stallLimit);
        } catch (SyscallException e) {
            socket.close();
            throw new PartitionException(name + ": " + e.getMessage(), e);
        }
        VhostMemory memory = new VhostMemory();
        Events events = new Events();
        VirtioBackend backend;
        try {
            backend = idle == null ? service.serve(name, spec, 1, memory, events)
                    : service.serve(name, spec, 1, memory, events, idle);
        } catch (PartitionException | RuntimeException e) {
            socket.close();
            throw e instanceof PartitionException pe ? pe : new PartitionException(name + ": " + e, e);
        }
        VhostConnection c = new VhostConnection(name, socket, backend, memory);
        events.target = c;
        serving.accept(backend);
        String why = "internal error";
        VirtioBackend next = null;
        try {
            why = c.run();
        } finally {
            LOG.info("{}: chains completed per queue: {}", name,
                    java.util.Arrays.toString(backend.completedChainsPerQueue()));
            next = c.release(service, spec, idleName);
        }
        return new End(why, next);
    }

    private String run() {
        try {
            while (message.read(socket)) {
                try {
                    handle();
                } finally {
                    message.closeFds();
                }
            }
            return deviceGone ? "the device's bundle went away" : "the front-end disconnected";
        } catch (ProtocolException e) {
            if (deviceGone) {
                return "the device's bundle went away";
            }
            // Logged once, by the server, with the connection's end (and at a limited rate: a front-end is
            // untrusted, and so is how often it comes back).
            return REFUSED + e.getMessage();
        } catch (RuntimeException e) {
            LOG.error("{}: internal error on {}; closing the connection", name, message.name(), e);
            return "internal error: " + e;
        }
    }

    /** Closes the connection; its device's resources go to a new idle device (returned; null if none could be made). */
    private VirtioBackend release(VirtioService service, DeviceSpec spec, String idleName) {
        releasing = true; // a device that announces a change as it closes (a net link going down) is not waited on
        socket.close();
        VirtioBackend idle = null;
        if (backend.isBound()) {
            try {
                idle = service.serve(idleName, spec, 1, new VhostMemory(), IDLE_EVENTS, backend);
            } catch (PartitionException | RuntimeException e) {
                LOG.warn("{}: no device holds {} until the next front-end: {}", name, spec.options(), e.getMessage());
            }
        }
        backend.close();
        StateTransfer pipe = transferPipe;
        if (pipe != null) {
            pipe.abort(); // the front-end is gone: its pipe end may stay open, nobody is waiting for the state
        }
        String failure = waitTransfer();
        if (failure != null && transfer != null) {
            LOG.warn("{}: {}", name, failure);
        }
        for (VringState r : rings) {
            r.clear(); // a kick handed to the backend was closed with its worker
        }
        VhostMemory.unmap(memory.replace(new VhostMemory.Region[0]));
        BackendChannel c = channel;
        if (c != null) {
            c.close();
        }
        if (inflight != null) {
            inflight.close(); // the backend and its worker are closed: no tracker uses it
        }
        warnDirtyLog();
        dirtyLog.close(); // likewise
        return idle;
    }

    /** The idle device has no front-end to tell anything. */
    static final BackendEvents IDLE_EVENTS = new BackendEvents() {
        @Override
        public void usedBuffers(int queue) {
        }

        @Override
        public void needsReset() {
        }

        @Override
        public void configChanged() {
        }

        @Override
        public void deviceGone() {
        }
    };

    // ---- messages -------------------------------------------------------------------------------------------------

    private void handle() throws ProtocolException {
        int request = message.request;
        if (!owner && request != GET_FEATURES && request != GET_PROTOCOL_FEATURES && request != SET_PROTOCOL_FEATURES
                && request != SET_OWNER && request != GET_QUEUE_NUM && request != GET_CONFIG
                && request != GET_MAX_MEM_SLOTS && request != SET_BACKEND_REQ_FD) {
            // QEMU sends SET_OWNER right after the feature handshake (its backend init, which asks for the queue
            // count and the memory slots first); state-changing requests before it are out of order ("Front-end
            // message types", VHOST_USER_SET_OWNER).
            throw new ProtocolException(message.name() + " before SET_OWNER");
        }
        switch (request) {
            case GET_FEATURES -> {
                message.expectSize(0);
                replyU64(backend.features() | F_PROTOCOL_FEATURES | F_LOG_ALL);
            }
            case SET_FEATURES -> setFeatures();
            case SET_OWNER -> {
                message.expectSize(0);
                owner = true;
                ack(true);
            }
            case RESET_OWNER, RESET_DEVICE -> {
                message.expectSize(0);
                if (request == RESET_DEVICE && !negotiated(PF_RESET_DEVICE)) {
                    throw new ProtocolException("RESET_DEVICE without its protocol feature");
                }
                resetDevice();
                ack(true);
            }
            case SET_MEM_TABLE -> {
                memoryTable.set(message);
                ack(true);
            }
            case SET_BACKEND_REQ_FD -> setBackendReqFd();
            case GET_INFLIGHT_FD -> {
                requireProtocolFeature(PF_INFLIGHT_SHMFD, "INFLIGHT_SHMFD");
                InflightBuffer.get(message, rings.length, socket);
            }
            case SET_INFLIGHT_FD -> setInflightFd();
            case SET_LOG_BASE -> setLogBase();
            case SET_LOG_FD -> {
                // Optional: an eventfd to tell the front-end the log changed; QEMU reads the log when it syncs, so
                // it is taken and closed.
                requireProtocolFeature(PF_LOG_SHMFD, "LOG_SHMFD");
                message.expectSize(0);
                message.expectFds(1);
                UnixSocket.closeFd(message.takeFds()[0]);
                ack(true);
            }
            case GET_MAX_MEM_SLOTS -> {
                requireProtocolFeature(PF_CONFIGURE_MEM_SLOTS, "CONFIGURE_MEM_SLOTS");
                message.expectSize(0);
                replyU64(MAX_MEM_SLOTS);
            }
            case ADD_MEM_REG -> {
                requireProtocolFeature(PF_CONFIGURE_MEM_SLOTS, "CONFIGURE_MEM_SLOTS");
                memoryTable.add(message);
                ack(true);
            }
            case REM_MEM_REG -> {
                requireProtocolFeature(PF_CONFIGURE_MEM_SLOTS, "CONFIGURE_MEM_SLOTS");
                memoryTable.remove(message);
                ack(true);
            }
            case SET_VRING_NUM -> setVringNum();
            case SET_VRING_ADDR -> setVringAddr();
            case SET_VRING_BASE -> setVringBase();
            case GET_VRING_BASE -> getVringBase();
            case SET_VRING_KICK -> setVringKick();
            case SET_VRING_CALL, SET_VRING_ERR -> setVringCallOrErr(request == SET_VRING_CALL);
            case GET_PROTOCOL_FEATURES -> {
                message.expectSize(0);
                replyU64(PROTOCOL_FEATURES);
            }
            case SET_PROTOCOL_FEATURES -> {
                message.expectSize(U64_SIZE);
                long f = message.u64(0);
                if ((f & ~PROTOCOL_FEATURES) != 0) {
                    throw new ProtocolException(String.format("protocol features 0x%x were not offered",
                            f & ~PROTOCOL_FEATURES));
                }
                protocolFeatures = f;
                protocolFeaturesSet = true;
                ack(true);
            }
            case GET_QUEUE_NUM -> {
                message.expectSize(0);
                replyU64(backend.queueCount());
            }
            case SET_VRING_ENABLE -> setVringEnable();
            case GET_CONFIG -> getConfig();
            case SET_CONFIG -> setConfig();
            case SET_DEVICE_STATE_FD -> setDeviceStateFd();
            case CHECK_DEVICE_STATE -> checkDeviceState();
            default -> throw new ProtocolException(message.name() + " is not supported (its feature was not offered)");
        }
    }

    private boolean negotiated(long protocolFeature) {
        return (protocolFeatures & protocolFeature) != 0;
    }

    private void requireProtocolFeature(long protocolFeature, String name) throws ProtocolException {
        if (!negotiated(protocolFeature)) {
            throw new ProtocolException(message.name() + " without protocol feature " + name);
        }
    }

    private void setInflightFd() throws ProtocolException {
        requireProtocolFeature(PF_INFLIGHT_SHMFD, "INFLIGHT_SHMFD");
        for (int i = 0; i < rings.length; i++) {
            if (rings[i].running) {
                throw new ProtocolException("SET_INFLIGHT_FD while vring " + i + " runs");
            }
        }
        InflightBuffer next = InflightBuffer.set(message, rings.length);
        if (inflight != null) {
            inflight.close(); // no ring runs: the worker holds no tracker over it
        }
        inflight = next;
        LOG.info("{}: in-flight tracking in a buffer of {} queues of {}", name, next.queues(), next.queueSize());
        ack(true);
    }

    /**
     * SET_LOG_BASE (LOG_SHMFD): maps the front-end's log ({@link DirtyLog#setBase}) and replies with a u64 0, which
     * QEMU 7.2 waits for (vhost_user_set_log_base reads a SET_LOG_BASE reply whenever LOG_SHMFD was negotiated). A log
     * replaced under running rings is unmapped only after the worker has moved off it.
     */
    private void setLogBase() throws ProtocolException {
        requireProtocolFeature(PF_LOG_SHMFD, "LOG_SHMFD");
        io.bundlevisor.uring.host.MappedRegion old = dirtyLog.setBase(message);
        if (old != null) {
            if (anyRunning()) {
                backend.memoryChanged(); // the worker has finished its IO and left the old log when this returns
            }
            old.close();
        }
        warnDirtyLog();
        replyU64(0);
    }

    private boolean anyRunning() {
        for (VringState r : rings) {
            if (r.running) {
                return true;
            }
        }
        return false;
    }

    private void warnDirtyLog() {
        String w = dirtyLog.takeWarnings();
        if (w != null) {
            LOG.warn("{}: {}", name, w);
        }
    }

    private void setBackendReqFd() throws ProtocolException {
        requireProtocolFeature(PF_BACKEND_REQ, "BACKEND_REQ");
        message.expectSize(0);
        message.expectFds(1);
        BackendChannel next;
        try {
            next = BackendChannel.adopt(message.takeFds()[0]);
        } catch (SyscallException e) {
            throw new ProtocolException("SET_BACKEND_REQ_FD: " + e.getMessage(), e);
        }
        BackendChannel old = channel;
        channel = next;
        if (old != null) {
            old.close();
        }
        ack(true);
    }

    private void setFeatures() throws ProtocolException {
        message.expectSize(U64_SIZE);
        long f = message.u64(0);
        if (featuresSet && (f & ~(F_PROTOCOL_FEATURES | F_LOG_ALL)) == backend.ackedFeatures()
                && protocolNegotiated == ((f & F_PROTOCOL_FEATURES) != 0)) {
            // The same features again: a multi-queue net front-end (QEMU's vhost-user-net, one vhost device a queue
            // pair on one socket) sends them once for each pair, the later ones while the first pair's rings run;
            // and QEMU turns LOG_ALL on and off so under running rings when a migration starts and ends.
            setLogging((f & F_LOG_ALL) != 0);
            ack(true);
            return;
        }
        for (int i = 0; i < rings.length; i++) {
            if (rings[i].running) {
                throw new ProtocolException("SET_FEATURES while vring " + i + " runs");
            }
        }
        try {
            backend.setAckedFeatures(f & ~(F_PROTOCOL_FEATURES | F_LOG_ALL));
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new ProtocolException("SET_FEATURES 0x" + Long.toHexString(f) + ": " + e.getMessage());
        }
        protocolNegotiated = (f & F_PROTOCOL_FEATURES) != 0;
        featuresSet = true;
        setLogging((f & F_LOG_ALL) != 0);
        ack(true);
    }

    /** LOG_ALL on or off: from now the worker marks (or stops marking) what it writes. */
    private void setLogging(boolean on) {
        if (on != dirtyLog.logging()) {
            LOG.info("{}: dirty-page logging {}{}", name, on ? "on" : "off",
                    on && !dirtyLog.hasLog() ? " (no log yet: SET_LOG_BASE)" : "");
            if (!on) {
                warnDirtyLog();
            }
        }
        dirtyLog.logging(on);
    }

    private VringState ring(int index) throws ProtocolException {
        if (index < 0 || index >= rings.length) {
            throw new ProtocolException(message.name() + " for vring " + Integer.toUnsignedString(index)
                    + "; the device has " + rings.length);
        }
        return rings[index];
    }


    private VringState stoppedRing(int index) throws ProtocolException {
        VringState r = ring(index);
        if (r.started) {
            throw new ProtocolException(message.name() + " for vring " + index + " while it is started");
        }
        return r;
    }

    private void setVringNum() throws ProtocolException {
        message.expectSize(STATE_SIZE);
        VringState r = stoppedRing(message.u32(STATE_INDEX));
        int num = message.u32(STATE_NUM);
        if (num < 1 || num > backend.maxQueueSize() || Integer.bitCount(num) != 1) {
            throw new ProtocolException("SET_VRING_NUM " + Integer.toUnsignedString(num)
                    + ": a queue size is a power of two up to " + backend.maxQueueSize());
        }
        r.size = num;
        ack(true);
    }

    private void setVringAddr() throws ProtocolException {
        message.expectSize(ADDR_SIZE);
        int index = message.u32(ADDR_INDEX);
        VringState r = ring(index);
        int flags = message.u32(ADDR_FLAGS);
        if ((flags & ~ADDR_F_LOG) != 0) {
            throw new ProtocolException("SET_VRING_ADDR with flags 0x" + Integer.toHexString(flags)
                    + " (only VHOST_VRING_F_LOG is known)");
        }
        long usedLog = -1;
        if ((flags & ADDR_F_LOG) != 0) {
            usedLog = message.u64(ADDR_LOG);
            // The used ring's last byte must have a page number; where it falls past the log it is counted, not
            // marked ("this value might be outside the legal guest physical address range").
            if (usedLog < 0 || usedLog + 6 + 8L * Math.max(r.size, 1) < usedLog) {
                throw new ProtocolException(String.format("SET_VRING_ADDR: log_guest_addr 0x%x", usedLog));
            }
        }
        if (r.started) {
            // QEMU turns used-ring logging on and off under a running ring (vhost_dev_set_log), resending the same
            // ring addresses: only the log may change then.
            if (r.size == 0 || memory.guestAddressOf(message.u64(ADDR_DESC), 16L * r.size) != r.desc
                    || memory.guestAddressOf(message.u64(ADDR_USED), 6 + 8L * r.size) != r.used
                    || memory.guestAddressOf(message.u64(ADDR_AVAIL), 6 + 2L * r.size) != r.avail) {
                throw new ProtocolException("SET_VRING_ADDR for vring " + index + " while it is started moves its "
                        + "rings");
            }
            r.usedLog = usedLog;
            ack(true);
            return;
        }
        if (r.size == 0) {
            throw new ProtocolException("SET_VRING_ADDR for vring " + index + " before SET_VRING_NUM");
        }
        if (memory.isEmpty()) {
            throw new ProtocolException("SET_VRING_ADDR before SET_MEM_TABLE");
        }
        // Front-end virtual addresses; the sizes are section 2.7's (split virtqueue) for this queue size.
        long desc = translate("descriptor table", message.u64(ADDR_DESC), 16L * r.size);
        long used = translate("used ring", message.u64(ADDR_USED), 6 + 8L * r.size);
        long avail = translate("available ring", message.u64(ADDR_AVAIL), 6 + 2L * r.size);
        r.desc = desc;
        r.used = used;
        r.avail = avail;
        r.usedLog = usedLog;
        ack(true);
    }

    private long translate(String what, long userAddress, long length) throws ProtocolException {
        long gpa = memory.guestAddressOf(userAddress, length);
        if (gpa < 0) {
            throw new ProtocolException(String.format("SET_VRING_ADDR: the %s at 0x%x (+0x%x) is not in the "
                    + "memory table", what, userAddress, length));
        }
        return gpa;
    }

    private void setVringBase() throws ProtocolException {
        message.expectSize(STATE_SIZE);
        VringState r = stoppedRing(message.u32(STATE_INDEX));
        int num = message.u32(STATE_NUM);
        if ((num & ~0xFFFF) != 0) {
            throw new ProtocolException("SET_VRING_BASE " + Integer.toUnsignedString(num)
                    + " is not a 16-bit split-ring index");
        }
        r.base = num;
        ack(true);
    }

    private void getVringBase() throws ProtocolException {
        message.expectSize(STATE_SIZE);
        int index = message.u32(STATE_INDEX);
        VringState r = ring(index);
        if (r.running) {
            int next = backend.stopQueue(index);
            if (next >= 0) {
                r.base = next;
            }
            r.running = false;
        }
        r.started = false;
        // "Stop the ring": its kick is forgotten (the backend keeps polling a handed kick until it is replaced).
        r.setKick(null);
        byte[] reply = VhostMessage.reply(GET_VRING_BASE, STATE_SIZE);
        VhostMessage.putU32(reply, STATE_INDEX, index);
        VhostMessage.putU32(reply, STATE_NUM, r.base);
        send(reply);
    }

    private EventFd vringFd(String what) throws ProtocolException {
        message.expectSize(U64_SIZE);
        long u = message.u64(0);
        if ((u & ~(VRING_INDEX_MASK | VRING_NOFD)) != 0) {
            throw new ProtocolException(String.format("%s 0x%x has bits beyond the index and NOFD", what, u));
        }
        ring((int) (u & VRING_INDEX_MASK));
        if ((u & VRING_NOFD) != 0) {
            message.expectFds(0);
            return null;
        }
        message.expectFds(1);
        int fd = message.takeFds()[0];
        try {
            return EventFd.adopt(fd);
        } catch (SyscallException e) {
            throw new ProtocolException(what + ": " + e.getMessage(), e);
        }
    }

    private void setVringKick() throws ProtocolException {
        int index = (int) (message.u64(0) & VRING_INDEX_MASK);
        EventFd fd = vringFd("SET_VRING_KICK");
        VringState r = ring(index);
        if (fd == null) {
            // Without a kick the back-end would have to poll the ring (or take in-band kicks); we offer neither.
            throw new ProtocolException("SET_VRING_KICK without a descriptor (polling mode is not offered)");
        }
        if (r.running) {
            r.running = false;
            int next = backend.stopQueue(index);
            if (next >= 0) {
                r.base = next;
            }
        }
        r.setKick(new KickNotifier(fd));
        r.started = true;
        if (!protocolNegotiated) {
            r.enabled = true; // without F_PROTOCOL_FEATURES a ring starts enabled
        }
        startIfReady(index, r);
        ack(true);
    }

    private void setVringCallOrErr(boolean call) throws ProtocolException {
        int index = (int) (message.u64(0) & VRING_INDEX_MASK);
        EventFd fd = vringFd(call ? "SET_VRING_CALL" : "SET_VRING_ERR");
        VringState r = ring(index);
        (call ? r.call : r.err).replace(fd);
        ack(true);
    }

    private void setVringEnable() throws ProtocolException {
        message.expectSize(STATE_SIZE);
        // QEMU 7.2's vhost-user-net negotiates the protocol features but leaves F_PROTOCOL_FEATURES out of its
        // SET_FEATURES, then enables the rings of the queue pairs it uses: take SET_VRING_ENABLE from a front-end that
        // set protocol features, as rust-vmm's backends do.
        if (!protocolNegotiated && !protocolFeaturesSet) {
            throw new ProtocolException("SET_VRING_ENABLE without F_PROTOCOL_FEATURES");
        }
        int index = message.u32(STATE_INDEX);
        VringState r = ring(index);
        int enable = message.u32(STATE_NUM);
        if (enable != 0 && enable != 1) {
            throw new ProtocolException("SET_VRING_ENABLE " + Integer.toUnsignedString(enable) + " (0 or 1)");
        }
        r.enabled = enable == 1;
        if (r.enabled) {
            startIfReady(index, r);
        } else if (r.running) {
            r.running = false;
            int next = backend.stopQueue(index);
            if (next >= 0) {
                r.base = next;
            }
        }
        ack(true);
    }

    /** A ring that is started and enabled runs: its setup goes to the backend, with its kick. */
    private void startIfReady(int index, VringState r) throws ProtocolException {
        if (!r.started || !r.enabled || r.running) {
            return;
        }
        if (!featuresSet) {
            throw new ProtocolException("vring " + index + " started before SET_FEATURES");
        }
        if (r.size == 0 || !r.addressed()) {
            throw new ProtocolException("vring " + index + " started without "
                    + (r.size == 0 ? "SET_VRING_NUM" : "SET_VRING_ADDR"));
        }
        InflightQueue tracker = null;
        int nextAvail = r.base;
        if (inflight != null && index < inflight.queues()) {
            // "Inflight I/O tracking": the chains a previous back-end had in flight are taken again first, and the
            // avail ring resumes after them (QEMU gave the used index as the base when that back-end vanished).
            int ringUsed = usedIndexInRing(index, r);
            if (r.size > inflight.queueSize()) {
                throw new ProtocolException("vring " + index + " of " + r.size + " entries; the in-flight buffer is for "
                        + inflight.queueSize());
            }
            try {
                tracker = InflightQueue.open("the in-flight region of vring " + index, inflight.region(index), r.size,
                        ringUsed);
            } catch (InternalError e) {
                // SIGBUS: the front-end shrank the buffer's file under the mapping.
                throw new ProtocolException("vring " + index + ": its in-flight region cannot be read: " + e, e);
            }
            if (tracker.pending() > 0) {
                nextAvail = (ringUsed + tracker.pending()) & 0xFFFF;
                LOG.info("{}: vring {}: {} chains were in flight; taking them again first", name, index,
                        tracker.pending());
            }
        }
        try {
            r.kickHanded = true;
            backend.startQueue(index, new VirtioBackend.QueueSetup(r.size, r.desc, r.avail, r.used, nextAvail,
                    r.kick, new LoggingTracker(dirtyLog, r, tracker)));
        } catch (IllegalArgumentException | IllegalStateException e) {
            r.kick = null; // closed by the backend
            r.kickHanded = false;
            r.started = false;
            throw new ProtocolException("vring " + index + " cannot start: " + e.getMessage(), e);
        }
        r.running = true;
    }

    /** The used ring's idx in guest memory now. */
    private int usedIndexInRing(int index, VringState r) throws ProtocolException {
        long at = memory.hostOffset(r.used + 2, 2); // struct virtq_used: le16 flags, le16 idx (virtio 2.7.8)
        if (at < 0) {
            throw new ProtocolException("vring " + index + ": its used ring is not in the memory table");
        }
        try {
            return Short.toUnsignedInt(memory.memory().get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED
                    .withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), at));
        } catch (InternalError e) {
            // SIGBUS: the front-end shrank its memory's file under the mapping.
            throw new ProtocolException("vring " + index + ": its used ring cannot be read: " + e, e);
        }
    }

    private void getConfig() throws ProtocolException {
        if (!negotiated(PF_CONFIG)) {
            throw new ProtocolException("GET_CONFIG without its protocol feature");
        }
        int offset = message.u32(CONFIG_OFFSET);
        int size = message.u32(CONFIG_SIZE);
        if (size < 0 || size > MAX_CONFIG_SIZE || offset < 0 || offset > MAX_CONFIG_SIZE) {
            throw new ProtocolException("GET_CONFIG of " + Integer.toUnsignedString(size) + " bytes at "
                    + Integer.toUnsignedString(offset) + " (at most " + MAX_CONFIG_SIZE + ")");
        }
        message.expectSize(CONFIG_HEADER_SIZE + size);
        byte[] reply = VhostMessage.reply(GET_CONFIG, CONFIG_HEADER_SIZE + size);
        VhostMessage.putU32(reply, CONFIG_OFFSET, offset);
        VhostMessage.putU32(reply, CONFIG_SIZE, size);
        VhostMessage.putU32(reply, CONFIG_FLAGS, message.u32(CONFIG_FLAGS));
        backend.readConfig(offset, reply, HEADER_SIZE + CONFIG_HEADER_SIZE, size);
        send(reply);
    }

    private void setConfig() throws ProtocolException {
        if (!negotiated(PF_CONFIG)) {
            throw new ProtocolException("SET_CONFIG without its protocol feature");
        }
        int offset = message.u32(CONFIG_OFFSET);
        int size = message.u32(CONFIG_SIZE);
        if (size < 0 || size > MAX_CONFIG_SIZE) {
            throw new ProtocolException("SET_CONFIG of " + Integer.toUnsignedString(size) + " bytes");
        }
        message.expectSize(CONFIG_HEADER_SIZE + size);
        boolean ok = true;
        try {
            backend.writeConfig(offset, message.payload, CONFIG_HEADER_SIZE, size);
        } catch (IllegalArgumentException e) {
            LOG.warn("{}: SET_CONFIG refused: {}", name, e.getMessage());
            ok = false;
        }
        ack(ok);
    }

    private void resetDevice() {
        backend.reset();
        for (VringState r : rings) {
            r.clear(); // a kick handed to the backend stays its own until it replaces it or ends
        }
        featuresSet = false;
    }

    // ---- device state transfer ("Migrating back-end state") ----------------------------------------------------

    private void setDeviceStateFd() throws ProtocolException {
        if (!negotiated(PF_DEVICE_STATE)) {
            throw new ProtocolException("SET_DEVICE_STATE_FD without its protocol feature");
        }
        message.expectSize(TRANSFER_SIZE);
        int direction = message.u32(TRANSFER_DIRECTION);
        int phase = message.u32(TRANSFER_PHASE);
        if (direction != DIRECTION_SAVE && direction != DIRECTION_LOAD || phase != PHASE_STOPPED) {
            throw new ProtocolException("SET_DEVICE_STATE_FD direction " + direction + ", phase " + phase);
        }
        message.expectFds(1);
        int fd = message.takeFds()[0];
        waitTransfer();
        boolean running = false;
        for (VringState r : rings) {
            running |= r.running;
        }
        if (running) {
            UnixSocket.closeFd(fd);
            replyU64(1); // failure: the device must be stopped
            return;
        }
        // Reply first: the front-end reads (or writes) the pipe only after it (the spec's order of events).
        replyU64(TRANSFER_REPLY_NOFD);
        StateTransfer t = new StateTransfer(fd);
        transferPipe = t;
        transfer = CompletableFuture.supplyAsync(() -> direction == DIRECTION_SAVE ? save(t) : load(t),
                r -> Thread.ofPlatform().name("vhost state " + name).start(r));
    }

    private String save(StateTransfer t) {
        try (t) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            backend.saveState(new DataOutputStream(bytes));
            t.writeAll(bytes.toByteArray());
            return null;
        } catch (IOException | RuntimeException e) {
            return "saving the device state: " + e.getMessage();
        }
    }

    private String load(StateTransfer t) {
        try (t) {
            byte[] state = t.readAll(1 << 20);
            backend.restoreState(new DataInputStream(new java.io.ByteArrayInputStream(state)));
            return null;
        } catch (IOException | RuntimeException e) {
            return "loading the device state: " + e.getMessage();
        }
    }

    private void checkDeviceState() throws ProtocolException {
        message.expectSize(0);
        String failure = transfer == null ? "no device state transfer was started" : waitTransfer();
        transfer = null;
        if (failure != null) {
            LOG.warn("{}: {}", name, failure);
        }
        replyU64(failure == null ? 0 : 1);
    }

    private String waitTransfer() {
        CompletableFuture<String> t = transfer;
        if (t == null) {
            return null;
        }
        try {
            return t.get(60, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            return "the device state transfer did not finish: " + e;
        }
    }

    // ---- replies ----------------------------------------------------------------------------------------------------

    private void replyU64(long value) throws ProtocolException {
        byte[] reply = VhostMessage.reply(message.request, U64_SIZE);
        VhostMessage.putU64(reply, 0, value);
        send(reply);
    }

    /** REPLY_ACK: a message without a reply of its own is acknowledged when the front-end asked (0 is success). */
    private void ack(boolean ok) throws ProtocolException {
        if (message.needsReply() && negotiated(PF_REPLY_ACK)) {
            replyU64(ok ? 0 : 1);
        }
    }

    private void send(byte[] reply) throws ProtocolException {
        try {
            socket.send(reply, 0, reply.length);
        } catch (SyscallException e) {
            throw new ProtocolException("replying to " + message.name() + ": " + e.getMessage(), e);
        }
    }

    // ---- BackendEvents ------------------------------------------------------------------------------------------

    @Override
    public void usedBuffers(int queue) {
        if (queue >= 0 && queue < rings.length) {
            rings[queue].call.signal();
        }
    }

    @Override
    public void needsReset() {
        LOG.warn("{}: the device needs a reset; signalling the vrings' error descriptors", name);
        for (VringState r : rings) {
            r.err.signal();
        }
    }

    /**
     * The device's config changed: CONFIG_CHANGE_MSG on the back-end channel, acknowledged when REPLY_ACK was
     * negotiated (QEMU's vhost-user-blk then reads the config with GET_CONFIG and, for a new capacity, raises the
     * guest's config interrupt). Never called on the connection's thread (which must stay free for that GET_CONFIG);
     * bounded by the stall limit.
     */
    @Override
    public void configChanged() {
        BackendChannel c = channel;
        if (releasing) {
            return;
        }
        if (c == null || !negotiated(PF_CONFIG)) {
            LOG.info("{}: the device's config changed; without a back-end channel the front-end reads it on its next "
                    + "GET_CONFIG", name);
            return;
        }
        String failure = c.configChanged(negotiated(PF_REPLY_ACK), stallLimit);
        if (failure != null) {
            LOG.warn("{}: the front-end was not told the device's config changed: {}", name, failure);
        } else {
            LOG.info("{}: the front-end was told the device's config changed", name);
        }
    }

    @Override
    public void deviceGone() {
        deviceGone = true;
        socket.shutdown();
    }
}
