package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.VhostUserLayout.*;

import java.lang.foreign.MemorySegment;

import io.bundlevisor.uring.host.MappedRegion;
import io.bundlevisor.uring.host.MemFd;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.UnixSocket;

/**
 * The in-flight buffer (protocol feature INFLIGHT_SHMFD): GET_INFLIGHT_FD makes one (a zeroed memfd the front-end
 * keeps across our restarts), SET_INFLIGHT_FD gives it to this back-end, mapped here, one region a queue
 * ({@link InflightQueue}). The description's fields are checked before anything is made or mapped.
 */
final class InflightBuffer implements AutoCloseable {

    private final MappedRegion mapping;
    private final int queues;
    private final int queueSize;

    private InflightBuffer(MappedRegion mapping, int queues, int queueSize) {
        this.mapping = mapping;
        this.queues = queues;
        this.queueSize = queueSize;
    }

    /** The number of queues it tracks. */
    int queues() {
        return queues;
    }

    /** The queue size its regions are made for. */
    int queueSize() {
        return queueSize;
    }

    /** Queue {@code q}'s region. */
    MemorySegment region(int q) {
        long bytes = inflightRegionBytes(queueSize);
        return mapping.segment().asSlice(q * bytes, bytes);
    }

    /** Checks a description's queue count and size; returns the buffer's size. */
    private static long bytes(VhostMessage message, int deviceQueues) throws ProtocolException {
        int queues = queues(message);
        int queueSize = queueSize(message);
        if (queues < 1 || queues > deviceQueues || queueSize < 1 || queueSize > MAX_QUEUE_SIZE) {
            throw new ProtocolException(message.name() + " for " + queues + " queues of " + queueSize + " (the device "
                    + "has " + deviceQueues + ", a queue at most " + MAX_QUEUE_SIZE + ")");
        }
        return queues * inflightRegionBytes(queueSize);
    }

    /** The u16 num queues (read with the u16 after it: the description is 24 bytes). */
    private static int queues(VhostMessage message) throws ProtocolException {
        return message.u32(INFLIGHT_NUM_QUEUES) & 0xFFFF;
    }

    /** The u16 queue size. */
    private static int queueSize(VhostMessage message) throws ProtocolException {
        return message.u32(INFLIGHT_NUM_QUEUES) >>> 16;
    }

    /**
     * GET_INFLIGHT_FD: a zeroed buffer for the queues described (every region "uninitialized"), sent with its
     * descriptor; nothing of it is kept here (SET_INFLIGHT_FD gives it back).
     */
    static void get(VhostMessage message, int deviceQueues, UnixSocket socket) throws ProtocolException {
        message.expectSize(INFLIGHT_SIZE);
        long bytes = bytes(message, deviceQueues);
        byte[] reply = VhostMessage.reply(GET_INFLIGHT_FD, INFLIGHT_SIZE);
        VhostMessage.putU64(reply, INFLIGHT_MMAP_SIZE, bytes);
        VhostMessage.putU64(reply, INFLIGHT_MMAP_OFFSET, 0);
        VhostMessage.putU32(reply, INFLIGHT_NUM_QUEUES, queues(message) | queueSize(message) << 16);
        try (MemFd buffer = MemFd.create("vhost-user inflight", bytes)) {
            socket.send(reply, 0, reply.length, buffer.fd());
        } catch (SyscallException e) {
            throw new ProtocolException("GET_INFLIGHT_FD: " + e.getMessage(), e);
        }
    }

    /** SET_INFLIGHT_FD: maps the buffer described, with its one descriptor (closed here: the mapping keeps it). */
    static InflightBuffer set(VhostMessage message, int deviceQueues) throws ProtocolException {
        message.expectSize(INFLIGHT_SIZE);
        message.expectFds(1);
        int fd = message.takeFds()[0];
        try {
            long bytes = bytes(message, deviceQueues);
            long size = message.u64(INFLIGHT_MMAP_SIZE);
            long offset = message.u64(INFLIGHT_MMAP_OFFSET);
            if (Long.compareUnsigned(size, bytes) < 0 || (offset & (REGION_ALIGN - 1)) != 0) {
                throw new ProtocolException(String.format("SET_INFLIGHT_FD of 0x%x bytes at offset 0x%x: %d queues "
                        + "of %d need 0x%x bytes at a %d-byte aligned offset", size, offset, queues(message),
                        queueSize(message), bytes, REGION_ALIGN));
            }
            return new InflightBuffer(MappedRegion.map(fd, offset, bytes), queues(message), queueSize(message));
        } catch (SyscallException e) {
            throw new ProtocolException("SET_INFLIGHT_FD: " + e.getMessage(), e);
        } finally {
            UnixSocket.closeFd(fd);
        }
    }

    @Override
    public void close() {
        mapping.close();
    }
}
