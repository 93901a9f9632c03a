package io.bundlevisor.device.net.internal;

import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.QueueIo;
import io.bundlevisor.core.virtio.VirtioDevice;

/**
 * A receive queue (virtio 1.2 section 5.1.6.4). The driver's buffers are {@linkplain VirtioDevice#HOLD held} until a
 * packet comes; one readv on the tap, posted through the worker's ring, puts the header and the packet straight into
 * guest memory. Without VIRTIO_NET_F_MRG_RXBUF the read covers one chain; with it, as many of the held chains as the
 * largest packet needs, and a packet fills one or several of them in order, the first one's {@code num_buffers}
 * saying how many (5.1.6.4.2). One read is in flight at a time, so packets reach the driver in the tap's order.
 *
 * <p>A read on an idle tap waits in the kernel. When the worker must stop pulling (pause, reset, stop, a backend
 * queue's stop) {@link #quiesce} cancels it; a packet it had already taken is delivered, and the buffers still held
 * go back to the driver unused ({@link QueueIo#releaseHeld}). With no buffers posted no read is posted, so a driver
 * that stops receiving costs nothing; packets then wait in the tap's queue (and the kernel drops beyond its length).
 *
 * <p>Worker thread only; allocates nothing.
 */
final class NetRx {

    /** The most iovecs one read takes ({@code UIO_MAXIOV}). */
    static final int IOV_MAX = 1024;
    private static final long IOVEC_SIZE = 16;
    private static final int TAG = 0;

    private final int queue;
    private final int fd;
    private final NetCounters counters;
    private final NetWarnings warnings;
    private final MemorySegment iovecs;
    /** Held chains in the order taken: a ring of {@code held.length}. */
    private final DescChain[] held;
    private int first;
    private int count;
    private long heldBytes;

    private boolean reading;
    private int readChains;
    private long readBytes;
    private boolean quiescing;

    private boolean mergeable;
    private boolean guestCsum;
    private int need;
    private int queueSize;

    /** @param iovecs native memory for {@link #IOV_MAX} iovecs, owned by the device */
    NetRx(int queue, int fd, int maxQueueSize, MemorySegment iovecs, NetCounters counters, NetWarnings warnings) {
        this.queue = queue;
        this.fd = fd;
        this.held = new DescChain[maxQueueSize];
        this.iovecs = iovecs;
        this.counters = counters;
        this.warnings = warnings;
    }

    /**
     * The driver's features and this queue's size: with a receive segmentation offload a packet may be a whole
     * 64 KiB TSO frame, else at most the MTU and an Ethernet (and VLAN) header.
     */
    void activate(long features, int size, int mtu) {
        mergeable = (features & NetSpec.MRG_RXBUF) != 0;
        guestCsum = (features & NetSpec.GUEST_CSUM) != 0;
        boolean gro = (features & (NetSpec.GUEST_TSO4 | NetSpec.GUEST_TSO6 | NetSpec.GUEST_UFO)) != 0;
        need = NetSpec.HDR_SIZE + (gro ? NetSpec.MAX_FRAME : NetSpec.ETH_HLEN + NetSpec.VLAN_HLEN + mtu);
        queueSize = size;
    }

    int handle(DescChain chain) {
        if (chain.writableBytes() < NetSpec.HDR_SIZE || count == held.length) {
            warnings.refused(NetRefusal.RX_SHORT, queue);
            counters.drop(queue);
            return 0;
        }
        held[(first + count) % held.length] = chain;
        count++;
        heldBytes += chain.writableBytes();
        counters.pending(queue, count);
        return VirtioDevice.HOLD;
    }

    /** Posts a read over the held buffers when none is in flight and they can take the largest packet. */
    void serviced(QueueIo io) {
        quiescing = false;
        if (reading || count == 0) {
            return;
        }
        if (mergeable && heldBytes < need && count < queueSize) {
            return; // more buffers are coming; a packet larger than these would be lost
        }
        int iov = 0;
        int chains = 0;
        long bytes = 0;
        int limit = mergeable ? count : 1;
        while (chains < limit && (chains == 0 || bytes < need)) {
            DescChain c = held[(first + chains) % held.length];
            int n = c.describe(true, 0, c.writableBytes());
            if (iov + n > IOV_MAX) {
                break;
            }
            MemorySegment.copy(c.iovecs(), 0, iovecs, iov * IOVEC_SIZE, n * IOVEC_SIZE);
            iov += n;
            bytes += c.writableBytes();
            chains++;
        }
        if (chains == 0) {
            // One chain of more than IOV_MAX segments: the kernel would refuse the read.
            DescChain c = take();
            warnings.refused(NetRefusal.RX_SHORT, queue);
            counters.drop(queue);
            io.complete(queue, c, 0);
            return;
        }
        io.sqe().readv(fd, iovecs, iov, -1);
        if (io.submit(queue, TAG)) {
            reading = true;
            readChains = chains;
            readBytes = bytes;
        }
    }

    void completeIo(int result, QueueIo io) {
        if (!reading) {
            return; // not ours: the worker completes only what was submitted
        }
        reading = false;
        if (result >= 0) {
            deliver(result, io);
        } else if (result != -Errno.ECANCELED) {
            warnings.failed(false, queue, result);
            counters.error(queue);
        }
        if (quiescing) {
            release(io);
        }
    }

    /** A packet of {@code result} bytes (header included) landed in the first chains of the read. */
    private void deliver(int result, QueueIo io) {
        if (result > readBytes || result < NetSpec.HDR_SIZE + NetSpec.ETH_HLEN) {
            // The tap reports a packet's full length even when the buffers were too small for it.
            warnings.refused(NetRefusal.RX_TOO_SMALL, queue);
            counters.drop(queue);
            return;
        }
        int used = 0;
        long left = result;
        while (left > 0 && used < readChains) {
            left -= held[(first + used) % held.length].writableBytes();
            used++;
        }
        DescChain head = held[first];
        // 5.1.6.4.1: num_buffers is 1 without MRG_RXBUF; without GUEST_CSUM the flags are 0.
        head.writeByte(NetSpec.HDR_NUM_BUFFERS, (byte) used);
        head.writeByte(NetSpec.HDR_NUM_BUFFERS + 1, (byte) (used >>> 8));
        if (!guestCsum) {
            head.writeByte(NetSpec.HDR_FLAGS, (byte) 0);
        }
        left = result;
        for (int i = 0; i < used; i++) {
            DescChain c = take();
            int n = (int) Math.min(left, c.writableBytes());
            io.complete(queue, c, n);
            left -= n;
        }
        counters.packet(queue, result - NetSpec.HDR_SIZE);
    }

    /** The worker stops pulling: cancel the read, or release the buffers now when none is in flight. */
    void quiesce(QueueIo io) {
        quiescing = true;
        if (reading) {
            io.cancel(queue, TAG);
        } else {
            release(io);
        }
    }

    private void release(QueueIo io) {
        if (count != 0) {
            io.releaseHeld(queue);
        }
        clear();
    }

    private DescChain take() {
        DescChain c = held[first];
        held[first] = null;
        first = (first + 1) % held.length;
        count--;
        heldBytes -= c.writableBytes();
        counters.pending(queue, count);
        return c;
    }

    /** Forgets every buffer (device reset, or after releasing them); nothing may be in flight. */
    void clear() {
        java.util.Arrays.fill(held, null);
        first = 0;
        count = 0;
        heldBytes = 0;
        reading = false;
        counters.pending(queue, 0);
    }

    boolean reading() {
        return reading;
    }
}
