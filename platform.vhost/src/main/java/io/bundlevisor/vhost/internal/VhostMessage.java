package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.VhostUserLayout.FLAG_NEED_REPLY;
import static io.bundlevisor.vhost.internal.VhostUserLayout.FLAG_REPLY;
import static io.bundlevisor.vhost.internal.VhostUserLayout.FLAG_VERSION;
import static io.bundlevisor.vhost.internal.VhostUserLayout.FLAG_VERSION_MASK;
import static io.bundlevisor.vhost.internal.VhostUserLayout.HEADER_FLAGS;
import static io.bundlevisor.vhost.internal.VhostUserLayout.HEADER_REQUEST;
import static io.bundlevisor.vhost.internal.VhostUserLayout.HEADER_SIZE;
import static io.bundlevisor.vhost.internal.VhostUserLayout.HEADER_SIZE_FIELD;
import static io.bundlevisor.vhost.internal.VhostUserLayout.MAX_PAYLOAD;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.UnixSocket;

/**
 * One vhost-user message read off the socket: the header fields, the payload and the descriptors that came with
 * it. Reading checks the header (version, a payload no larger than {@link VhostUserLayout#MAX_PAYLOAD}); the payload
 * accessors check each field lies inside the payload the front-end declared.
 */
final class VhostMessage {

    private static final VarHandle U32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle U64 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private final byte[] header = new byte[HEADER_SIZE];
    final byte[] payload = new byte[MAX_PAYLOAD];
    int request;
    int flags;
    int size;
    int[] fds = new int[0];

    /**
     * Reads the next message; false at a clean end of stream (between messages).
     *
     * @throws ProtocolException if the header is not one we take or the stream ends inside a message; the
     *                           descriptors that came are closed
     */
    boolean read(UnixSocket socket) throws ProtocolException {
        // Between messages a front-end may stay silent as long as it likes: a receive timeout there (the socket's,
        // set by the connection) only means "still idle". Once a message began, the rest must come within it.
        UnixSocket.Received first;
        while (true) {
            try {
                first = socket.receive(header, 0, HEADER_SIZE);
                break;
            } catch (SyscallException e) {
                if (e.errno() != io.bundlevisor.core.ring.Errno.EAGAIN) {
                    throw new ProtocolException("reading a message header: " + e.getMessage(), e);
                }
            }
        }
        fds = first.fds();
        if (first.bytes() == 0) {
            closeFds();
            return false;
        }
        if (first.bytes() < HEADER_SIZE) {
            UnixSocket.Received rest;
            try {
                rest = socket.receiveFully(header, first.bytes(), HEADER_SIZE - first.bytes());
            } catch (SyscallException e) {
                closeFds();
                throw new ProtocolException(stalled(e, "a message header"), e);
            }
            if (rest == null) {
                closeFds();
                throw new ProtocolException("the stream ended inside a message header");
            }
            fds = concat(fds, rest.fds());
        }
        request = (int) U32.get(header, HEADER_REQUEST);
        flags = (int) U32.get(header, HEADER_FLAGS);
        size = (int) U32.get(header, HEADER_SIZE_FIELD);
        if ((flags & FLAG_VERSION_MASK) != FLAG_VERSION || (flags & FLAG_REPLY) != 0) {
            closeFds();
            throw new ProtocolException(String.format("%s with flags 0x%x: not a version 1 request",
                    VhostUserLayout.name(request), flags));
        }
        if (size < 0 || size > MAX_PAYLOAD) {
            closeFds();
            throw new ProtocolException(VhostUserLayout.name(request) + " declares a payload of "
                    + Integer.toUnsignedString(size) + " bytes (at most " + MAX_PAYLOAD + ")");
        }
        if (size > 0) {
            UnixSocket.Received p;
            try {
                p = socket.receiveFully(payload, 0, size);
            } catch (SyscallException e) {
                closeFds();
                throw new ProtocolException(stalled(e, "the payload of " + VhostUserLayout.name(request)), e);
            }
            if (p == null) {
                closeFds();
                throw new ProtocolException("the stream ended inside " + VhostUserLayout.name(request));
            }
            fds = concat(fds, p.fds());
        }
        return true;
    }

    private static String stalled(SyscallException e, String what) {
        return e.errno() == io.bundlevisor.core.ring.Errno.EAGAIN
                ? "the front-end stalled inside " + what + " (nothing more came in time)"
                : "reading " + what + ": " + e.getMessage();
    }

    private static int[] concat(int[] a, int[] b) {
        if (b.length == 0) {
            return a;
        }
        int[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    boolean needsReply() {
        return (flags & FLAG_NEED_REPLY) != 0;
    }

    String name() {
        return VhostUserLayout.name(request);
    }

    /** The payload must be exactly {@code expected} bytes. */
    void expectSize(int expected) throws ProtocolException {
        if (size != expected) {
            throw new ProtocolException(name() + " carries " + size + " bytes, expected " + expected);
        }
    }

    /** The message must carry exactly {@code expected} descriptors. */
    void expectFds(int expected) throws ProtocolException {
        if (fds.length != expected) {
            throw new ProtocolException(name() + " came with " + fds.length + " descriptors, expected " + expected);
        }
    }

    int u32(int offset) throws ProtocolException {
        within(offset, 4);
        return (int) U32.get(payload, offset);
    }

    long u64(int offset) throws ProtocolException {
        within(offset, 8);
        return (long) U64.get(payload, offset);
    }

    private void within(int offset, int length) throws ProtocolException {
        if (offset < 0 || offset + length > size) {
            throw new ProtocolException(name() + " is too short (" + size + " bytes) for a field at " + offset);
        }
    }

    /** Takes the descriptors: they are the caller's to close from now. */
    int[] takeFds() {
        int[] taken = fds;
        fds = new int[0];
        return taken;
    }

    /** Closes the descriptors nobody took. */
    void closeFds() {
        for (int fd : fds) {
            UnixSocket.closeFd(fd);
        }
        fds = new int[0];
    }

    // ---- replies ------------------------------------------------------------------------------------------------

    /** A reply buffer: header for {@code request} plus {@code payloadSize} bytes, to be filled with the put methods. */
    static byte[] reply(int request, int payloadSize) {
        byte[] r = new byte[HEADER_SIZE + payloadSize];
        U32.set(r, HEADER_REQUEST, request);
        U32.set(r, HEADER_FLAGS, FLAG_VERSION | FLAG_REPLY);
        U32.set(r, HEADER_SIZE_FIELD, payloadSize);
        return r;
    }

    static void putU32(byte[] reply, int payloadOffset, int value) {
        U32.set(reply, HEADER_SIZE + payloadOffset, value);
    }

    static void putU64(byte[] reply, int payloadOffset, long value) {
        U64.set(reply, HEADER_SIZE + payloadOffset, value);
    }
}
