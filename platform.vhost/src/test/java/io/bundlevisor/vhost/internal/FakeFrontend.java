package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.VhostUserLayout.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;

import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.MappedRegion;
import io.bundlevisor.uring.host.MemFd;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.UnixSocket;

/**
 * A vhost-user front-end for tests, as QEMU drives one: guest memory in a memfd (one region at {@link #GPA}, which
 * the front-end pretends to map at {@link #USER}), split rings it lays out itself, and raw messages for the hostile
 * cases.
 */
final class FakeFrontend implements AutoCloseable {

    static final long GPA = 0x100000;
    static final long USER = 0x7f12_3400_0000L;
    static final long MEMORY = 1 << 20;
    static final int QSIZE = 16;
    private static final VarHandle U32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle U64 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE16 =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final UnixSocket socket;
    final MemFd memfd;
    final MemorySegment ram;
    private final MappedRegion mapping;
    final EventFd[] kick = new EventFd[2];
    final EventFd[] call = new EventFd[2];
    private final int[] availIdx = new int[2];
    /** The end of the back-end channel given to the back-end ({@link #handshakeWithChannel}), or null. */
    private UnixSocket channelPeer;
    /** When set, the next chains' readable descriptor points here instead of at their buffer (hostile tests). */
    long readableAt;

    FakeFrontend(Path path) throws SyscallException {
        socket = UnixSocket.connect(path);
        socket.setReceiveTimeout(Duration.ofSeconds(20));
        memfd = MemFd.create("fake-guest", MEMORY);
        mapping = MappedRegion.map(memfd.fd(), 0, MEMORY);
        ram = mapping.segment();
        for (int q = 0; q < 2; q++) {
            kick[q] = EventFd.create();
            call[q] = EventFd.create();
        }
    }

    // ---- layout: queue q's rings at GPA + q * 0x4000, buffers from GPA + 0x10000 -----------------------------

    static long desc(int q) {
        return GPA + q * 0x4000L;
    }

    static long avail(int q) {
        return desc(q) + 16L * QSIZE;
    }

    static long used(int q) {
        return desc(q) + 0x1000;
    }

    static long buffer(int q, int i) {
        return GPA + 0x10000 + q * 0x20000L + i * 0x1000L;
    }

    long off(long gpa) {
        return gpa - GPA;
    }

    // ---- messages -----------------------------------------------------------------------------------------------

    void send(int request, int flags, byte[] payload, int... fds) throws SyscallException {
        byte[] m = new byte[HEADER_SIZE + payload.length];
        U32.set(m, HEADER_REQUEST, request);
        U32.set(m, HEADER_FLAGS, flags);
        U32.set(m, HEADER_SIZE_FIELD, payload.length);
        System.arraycopy(payload, 0, m, HEADER_SIZE, payload.length);
        socket.send(m, 0, m.length, fds);
    }

    void send(int request, byte[] payload, int... fds) throws SyscallException {
        send(request, FLAG_VERSION, payload, fds);
    }

    /** Reads a reply's payload; checks it answers {@code request}. */
    byte[] reply(int request) throws SyscallException {
        byte[] h = new byte[HEADER_SIZE];
        UnixSocket.Received r = socket.receiveFully(h, 0, HEADER_SIZE);
        if (r == null) {
            throw new IllegalStateException("the back-end closed the connection");
        }
        int req = (int) U32.get(h, HEADER_REQUEST);
        int flags = (int) U32.get(h, HEADER_FLAGS);
        int size = (int) U32.get(h, HEADER_SIZE_FIELD);
        if (req != request || flags != (FLAG_VERSION | FLAG_REPLY)) {
            throw new IllegalStateException("reply " + req + " flags " + flags + " to request " + request);
        }
        byte[] p = new byte[size];
        if (size > 0) {
            socket.receiveFully(p, 0, size);
        }
        return p;
    }

    /** True when the back-end has closed the connection (reads end of stream). */
    boolean closedByBackend() throws SyscallException {
        byte[] b = new byte[1];
        return socket.receive(b, 0, 1).bytes() == 0;
    }

    static byte[] u64(long v) {
        byte[] b = new byte[8];
        U64.set(b, 0, v);
        return b;
    }

    static byte[] state(int index, int num) {
        byte[] b = new byte[8];
        U32.set(b, 0, index);
        U32.set(b, 4, num);
        return b;
    }

    static long u64(byte[] b) {
        return (long) U64.get(b, 0);
    }

    static int u32(byte[] b, int at) {
        return (int) U32.get(b, at);
    }

    long getU64(int request) throws SyscallException {
        send(request, new byte[0]);
        return u64(reply(request));
    }

    byte[] memTable(long size, long offset) {
        byte[] b = new byte[MEM_HEADER_SIZE + REGION_SIZE];
        U32.set(b, MEM_NREGIONS, 1);
        U64.set(b, MEM_HEADER_SIZE + REGION_GUEST_ADDR, GPA);
        U64.set(b, MEM_HEADER_SIZE + REGION_MEMORY_SIZE, size);
        U64.set(b, MEM_HEADER_SIZE + REGION_USER_ADDR, USER);
        U64.set(b, MEM_HEADER_SIZE + REGION_MMAP_OFFSET, offset);
        return b;
    }

    /** A "single memory region description" (ADD_MEM_REG, REM_MEM_REG). */
    static byte[] memReg(long gpa, long size, long user, long offset) {
        byte[] b = new byte[MEM_REG_SIZE];
        U64.set(b, MEM_REG_REGION + REGION_GUEST_ADDR, gpa);
        U64.set(b, MEM_REG_REGION + REGION_MEMORY_SIZE, size);
        U64.set(b, MEM_REG_REGION + REGION_USER_ADDR, user);
        U64.set(b, MEM_REG_REGION + REGION_MMAP_OFFSET, offset);
        return b;
    }

    /** Where {@link #startInSlots} splits the memory: the rings below, the buffers above. */
    static final long SPLIT = 0x8000;

    /** Region 0 or 1 of {@link #startInSlots}, as ADD_MEM_REG and REM_MEM_REG describe it. */
    static byte[] slot(int i) {
        return i == 0 ? memReg(GPA, SPLIT, USER, 0) : memReg(GPA + SPLIT, MEMORY - SPLIT, USER + SPLIT, SPLIT);
    }

    /** Sends {@code request} asking for REPLY_ACK and returns the acknowledgement (0 is success). */
    long acked(int request, byte[] payload, int... fds) throws SyscallException {
        send(request, FLAG_VERSION | FLAG_NEED_REPLY, payload, fds);
        return u64(reply(request));
    }

    /**
     * What QEMU 7.2 does with CONFIGURE_MEM_SLOTS: the memory in two ADD_MEM_REG regions of the one memfd (rings in
     * the first, buffers in the second), each acknowledged, instead of SET_MEM_TABLE; then queue 0 as {@link #start}.
     */
    void startInSlots(long features) throws SyscallException {
        send(SET_FEATURES, u64(features | F_PROTOCOL_FEATURES));
        for (int i = 0; i < 2; i++) {
            if (acked(ADD_MEM_REG, slot(i), memfd.fd()) != 0) {
                throw new IllegalStateException("ADD_MEM_REG refused");
            }
        }
        startRing(0);
        if (acked(SET_VRING_ENABLE, state(0, 1)) != 0) {
            throw new IllegalStateException("enable refused");
        }
    }

    private void startRing(int q) throws SyscallException {
        send(SET_VRING_NUM, state(q, QSIZE));
        send(SET_VRING_BASE, state(q, availIdx[q]));
        send(SET_VRING_ADDR, vringAddr(q, user(desc(q)), user(used(q)), user(avail(q))));
        send(SET_VRING_KICK, u64(q), kick[q].fd());
        send(SET_VRING_CALL, u64(q), call[q].fd());
    }

    byte[] vringAddr(int q, long descUser, long usedUser, long availUser) {
        byte[] b = new byte[ADDR_SIZE];
        U32.set(b, ADDR_INDEX, q);
        U64.set(b, ADDR_DESC, descUser);
        U64.set(b, ADDR_USED, usedUser);
        U64.set(b, ADDR_AVAIL, availUser);
        return b;
    }

    static long user(long gpa) {
        return USER + (gpa - GPA);
    }

    /**
     * QEMU 7.2's backend init with a back-end channel: features, protocol features (all offered, or {@code
     * protocolFeatures}), then SET_BACKEND_REQ_FD with one end of a socket pair (acknowledged), then the owner.
     * Returns our end of the channel.
     */
    UnixSocket handshakeWithChannel(long protocolFeatures) throws SyscallException {
        getU64(GET_FEATURES);
        getU64(GET_PROTOCOL_FEATURES);
        send(SET_PROTOCOL_FEATURES, u64(protocolFeatures));
        UnixSocket[] pair = UnixSocket.pair();
        try {
            send(SET_BACKEND_REQ_FD, FLAG_VERSION | FLAG_NEED_REPLY, new byte[0], pair[1].fd());
            if ((protocolFeatures & PF_REPLY_ACK) != 0 && u64(reply(SET_BACKEND_REQ_FD)) != 0) {
                throw new IllegalStateException("SET_BACKEND_REQ_FD refused");
            }
        } finally {
            // Kept, not closed: UnixSocket.close() shuts the socket down, for the back-end's copy too.
            channelPeer = pair[1];
        }
        pair[0].setReceiveTimeout(Duration.ofSeconds(20));
        send(SET_OWNER, new byte[0]);
        return pair[0];
    }

    /**
     * GET_INFLIGHT_FD for {@code queues} queues of {@link #QSIZE}, as QEMU's vhost-user-blk asks at start: the reply's
     * payload and the buffer's descriptor (the caller's to close).
     */
    Received getInflight(int queues) throws SyscallException {
        byte[] d = new byte[INFLIGHT_SIZE];
        U32.set(d, INFLIGHT_NUM_QUEUES, queues | QSIZE << 16);
        send(GET_INFLIGHT_FD, d);
        byte[] h = new byte[HEADER_SIZE];
        UnixSocket.Received r = socket.receiveFully(h, 0, HEADER_SIZE);
        if (r == null || (int) U32.get(h, HEADER_REQUEST) != GET_INFLIGHT_FD) {
            throw new IllegalStateException("no GET_INFLIGHT_FD reply");
        }
        byte[] p = new byte[(int) U32.get(h, HEADER_SIZE_FIELD)];
        UnixSocket.Received rest = socket.receiveFully(p, 0, p.length);
        int[] fds = java.util.stream.IntStream.concat(java.util.Arrays.stream(r.fds()),
                java.util.Arrays.stream(rest.fds())).toArray();
        return new Received(p, fds);
    }

    /** A reply's payload and descriptors. */
    record Received(byte[] payload, int[] fds) {
    }

    /** An "inflight description" for SET_INFLIGHT_FD. */
    static byte[] inflight(long mmapSize, long mmapOffset, int queues, int queueSize) {
        byte[] d = new byte[INFLIGHT_SIZE];
        U64.set(d, INFLIGHT_MMAP_SIZE, mmapSize);
        U64.set(d, INFLIGHT_MMAP_OFFSET, mmapOffset);
        U32.set(d, INFLIGHT_NUM_QUEUES, queues | queueSize << 16);
        return d;
    }

    /** The handshake QEMU does at realize: features, protocol features, owner. */
    void handshake() throws SyscallException {
        getU64(GET_FEATURES);
        getU64(GET_PROTOCOL_FEATURES);
        send(SET_PROTOCOL_FEATURES, u64(VhostConnection.PROTOCOL_FEATURES));
        send(SET_OWNER, new byte[0]);
    }

    /** What QEMU does at the guest's DRIVER_OK, for queue 0 only or both, ending with an acknowledged enable. */
    void start(long features, int queues) throws SyscallException {
        send(SET_FEATURES, u64(features | F_PROTOCOL_FEATURES));
        send(SET_MEM_TABLE, memTable(MEMORY, 0), memfd.fd());
        for (int q = 0; q < queues; q++) {
            startRing(q);
        }
        for (int q = 0; q < queues; q++) {
            send(SET_VRING_ENABLE, FLAG_VERSION | FLAG_NEED_REPLY, state(q, 1));
            if (u64(reply(SET_VRING_ENABLE)) != 0) {
                throw new IllegalStateException("enable refused");
            }
        }
    }

    /** Puts a two-descriptor chain (readable bytes, then a writable buffer) on queue q and kicks. */
    int offer(int q, byte[] data, int writable) throws SyscallException {
        int head = (availIdx[q] * 2) % QSIZE;
        long in = buffer(q, head);
        long out = buffer(q, head + 1);
        MemorySegment.copy(data, 0, ram, ValueLayout.JAVA_BYTE, off(in), data.length);
        writeDesc(q, head, readableAt != 0 ? readableAt : in, data.length, 1, head + 1);
        writeDesc(q, head + 1, out, writable, 2, 0);
        ram.set(LE16, off(avail(q)) + 4 + 2L * (availIdx[q] % QSIZE), (short) head);
        availIdx[q] = (availIdx[q] + 1) & 0xFFFF;
        ram.set(LE16, off(avail(q)) + 2, (short) availIdx[q]);
        kick[q].signal(1);
        return head;
    }

    private void writeDesc(int q, int i, long addr, int len, int flags, int next) {
        long at = off(desc(q)) + 16L * i;
        ram.set(LE64, at, addr);
        ram.set(LE32, at + 8, len);
        ram.set(LE16, at + 12, (short) flags);
        ram.set(LE16, at + 14, (short) next);
    }

    int usedIdx(int q) {
        return Short.toUnsignedInt(ram.get(LE16, off(used(q)) + 2));
    }

    /** The used element {@code i}: id and len. */
    int[] usedElem(int q, int i) {
        long at = off(used(q)) + 4 + 8L * (i % QSIZE);
        return new int[] {ram.get(LE32, at), ram.get(LE32, at + 4)};
    }

    byte[] read(long gpa, int length) {
        return ram.asSlice(off(gpa), length).toArray(ValueLayout.JAVA_BYTE);
    }

    /** Waits (bounded) for the back-end's call on queue q. */
    boolean awaitCall(int q, long millis) throws SyscallException, InterruptedException {
        long deadline = System.nanoTime() + millis * 1_000_000;
        while (System.nanoTime() < deadline) {
            if (call[q].drain() > 0) {
                return true;
            }
            Thread.sleep(2);
        }
        return false;
    }

    @Override
    public void close() {
        socket.close();
        if (channelPeer != null) {
            channelPeer.close();
        }
        mapping.close();
        memfd.close();
        for (int q = 0; q < 2; q++) {
            kick[q].close();
            call[q].close();
        }
    }
}
