package io.bundlevisor.device.net.internal;

import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.QueueIo;
import io.bundlevisor.core.virtio.VirtioDevice;

/**
 * A receive queue (virtio 1.2 section 5.1.6.4). The driver's buffers are {@linkplain VirtioDevice#HOLD held} until a
 * packet comes; a readv on the tap, posted through the worker's ring, puts the header and the packet straight into
 * guest memory. Without VIRTIO_NET_F_MRG_RXBUF a read covers one chain; with it, as many of the held chains as the
 * largest packet needs, and a packet fills one or several of them in order, the first one's {@code num_buffers}
 * saying how many (5.1.6.4.2); the chains a packet left unused go back to the front of the free ones.
 *
 * <p>Several reads are in flight a queue, each over its own chains, so that one pass of the worker takes several
 * packets. How many adapts: one while the queue is quiet (every read posted on an idle tap is woken by each packet,
 * so many would cost CPU for nothing), doubling up to {@link #MAX_READS} while every read posted comes back with a
 * packet, and back to one after {@link #IDLE_NANOS} without a packet. Each read takes the packet at the head of the
 * tap's queue when it runs, and the worker submits them in order, so packets normally reach the driver in the tap's
 * order; the spec does not require it.
 *
 * <p>A read on an idle tap waits in the kernel. When the worker must stop pulling (pause, reset, stop, a backend
 * queue's stop) {@link #quiesce} cancels the reads; a packet one had already taken is delivered, and the buffers still
 * held go back to the driver unused ({@link QueueIo#releaseHeld}). With no buffers posted no read is posted, so a
 * driver that stops receiving costs nothing; packets then wait in the tap's queue (and the kernel drops beyond its
 * length).
 *
 * <p>Worker thread only; allocates nothing.
 */
final class NetRx {

    /** Reads in flight a queue at most. */
    static final int MAX_READS = 64;
    /** A queue without a packet for this long goes back to one read in flight. */
    static final long IDLE_NANOS = 1_000_000;
    /** iovecs one read takes at most: enough for a 64 KiB packet over 1.5 KiB buffers (below UIO_MAXIOV). */
    private static final int IOV_PER_READ = 128;
    private static final long IOVEC_SIZE = 16;
    /** Bytes of native memory a queue's reads need for their iovecs. */
    static final long IOVEC_BYTES = MAX_READS * IOV_PER_READ * IOVEC_SIZE;

    private final int queue;
    private final int fd;
    private final NetCounters counters;
    private final NetWarnings warnings;
    private final MemorySegment iovecs;
    /** Each read's part of {@link #iovecs}, made once (an SQE takes a segment). */
    private final MemorySegment[] readIovecs = new MemorySegment[MAX_READS];
    /** Held chains no read covers, in the order they are to be used: a ring of {@code free.length}. */
    private final DescChain[] free;
    private int first;
    private int count;
    private long freeBytes;
    /** Each read's chains, in order, and their bytes; a read whose {@code inFlight} is false has none. */
    private final DescChain[][] reads;
    private final int[] readChains = new int[MAX_READS];
    private final long[] readBytes = new long[MAX_READS];
    private final boolean[] inFlight = new boolean[MAX_READS];
    /** Chains under reads: the sum of {@link #readChains}. */
    private int underReads;
    private int reading;
    private int window = 1;
    private long lastPacket;
    private boolean quiescing;

    private boolean mergeable;
    private boolean guestCsum;
    private int need;
    private int queueSize;

    /** @param iovecs {@link #IOVEC_BYTES} of native memory for the reads' iovecs, owned by the device */
    NetRx(int queue, int fd, int maxQueueSize, MemorySegment iovecs, NetCounters counters, NetWarnings warnings) {
        this.queue = queue;
        this.fd = fd;
        this.free = new DescChain[maxQueueSize];
        this.reads = new DescChain[MAX_READS][maxQueueSize];
        this.iovecs = iovecs;
        for (int r = 0; r < MAX_READS; r++) {
            readIovecs[r] = iovecs.asSlice(r * IOV_PER_READ * IOVEC_SIZE, IOV_PER_READ * IOVEC_SIZE);
        }
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
        if (chain.writableBytes() < NetSpec.HDR_SIZE || held() == free.length) {
            warnings.refused(NetRefusal.RX_SHORT, queue);
            counters.drop(queue);
            return 0;
        }
        free[(first + count) % free.length] = chain;
        count++;
        freeBytes += chain.writableBytes();
        counters.pending(queue, held());
        return VirtioDevice.HOLD;
    }

    /** Posts reads over the free buffers while there is room for one and they can take the largest packet. */
    void serviced(QueueIo io) {
        quiescing = false;
        if (window > 1 && System.nanoTime() - lastPacket > IDLE_NANOS) {
            window = 1;
        }
        while (reading < window && count > 0) {
            if (mergeable && freeBytes < need && (reading > 0 || held() < queueSize)) {
                return; // more buffers are coming (or a read's leftovers); a packet larger than these would be lost
            }
            int r = 0;
            while (inFlight[r]) {
                r++;
            }
            if (!post(r, io)) {
                return;
            }
        }
    }

    /** Posts read {@code r} over the first free chains; false (nothing taken) if the worker had no room. */
    private boolean post(int r, QueueIo io) {
        int iov = 0;
        int chains = 0;
        long bytes = 0;
        int limit = mergeable ? count : 1;
        long base = r * IOV_PER_READ * IOVEC_SIZE;
        while (chains < limit && (chains == 0 || bytes < need)) {
            DescChain c = free[(first + chains) % free.length];
            int n = c.describe(true, 0, c.writableBytes());
            if (iov + n > IOV_PER_READ) {
                break;
            }
            MemorySegment.copy(c.iovecs(), 0, iovecs, base + iov * IOVEC_SIZE, n * IOVEC_SIZE);
            iov += n;
            bytes += c.writableBytes();
            chains++;
        }
        if (chains == 0) {
            // One chain of more segments than a read may take: the kernel would refuse the read.
            DescChain c = take();
            warnings.refused(NetRefusal.RX_SHORT, queue);
            counters.drop(queue);
            io.complete(queue, c, 0);
            counters.pending(queue, held());
            return true;
        }
        io.sqe().readv(fd, readIovecs[r], iov, -1);
        if (!io.submit(queue, r)) {
            return false;
        }
        for (int i = 0; i < chains; i++) {
            reads[r][i] = take();
        }
        readChains[r] = chains;
        underReads += chains;
        readBytes[r] = bytes;
        inFlight[r] = true;
        reading++;
        return true;
    }

    void completeIo(int tag, int result, QueueIo io) {
        if (tag < 0 || tag >= MAX_READS || !inFlight[tag]) {
            return; // not ours: the worker completes only what was submitted
        }
        inFlight[tag] = false;
        if (result >= 0 && reading >= window) {
            window = Math.min(MAX_READS, window * 2); // every read posted found a packet: post more
        }
        reading--;
        int used = 0;
        if (result >= 0) {
            lastPacket = System.nanoTime();
            used = deliver(tag, result, io);
        } else if (result != -Errno.ECANCELED) {
            warnings.failed(false, queue, result);
            counters.error(queue);
        }
        giveBack(tag, used);
        if (quiescing && reading == 0) {
            release(io);
        }
    }

    /**
     * A packet of {@code result} bytes (header included) landed in the first chains of read {@code r}: they go to
     * the used ring; returns how many.
     */
    private int deliver(int r, int result, QueueIo io) {
        if (result > readBytes[r] || result < NetSpec.HDR_SIZE + NetSpec.ETH_HLEN) {
            // The tap reports a packet's full length even when the buffers were too small for it.
            warnings.refused(NetRefusal.RX_TOO_SMALL, queue);
            counters.drop(queue);
            return 0;
        }
        DescChain[] chains = reads[r];
        int used = 0;
        long left = result;
        while (left > 0 && used < readChains[r]) {
            left -= chains[used].writableBytes();
            used++;
        }
        DescChain head = chains[0];
        // 5.1.6.4.1: num_buffers is 1 without MRG_RXBUF; without GUEST_CSUM the flags are 0.
        head.writeByte(NetSpec.HDR_NUM_BUFFERS, (byte) used);
        head.writeByte(NetSpec.HDR_NUM_BUFFERS + 1, (byte) (used >>> 8));
        if (!guestCsum) {
            head.writeByte(NetSpec.HDR_FLAGS, (byte) 0);
        }
        left = result;
        for (int i = 0; i < used; i++) {
            int n = (int) Math.min(left, chains[i].writableBytes());
            io.complete(queue, chains[i], n);
            left -= n;
        }
        counters.packet(queue, result - NetSpec.HDR_SIZE);
        return used;
    }

    /** The chains of read {@code r} past the first {@code used} go back to the front of the free ones, in order. */
    private void giveBack(int r, int used) {
        DescChain[] chains = reads[r];
        for (int i = readChains[r] - 1; i >= used; i--) {
            first = (first - 1 + free.length) % free.length;
            free[first] = chains[i];
            count++;
            freeBytes += chains[i].writableBytes();
        }
        java.util.Arrays.fill(chains, 0, readChains[r], null);
        underReads -= readChains[r];
        readChains[r] = 0;
        counters.pending(queue, held());
    }

    /** The worker stops pulling: cancel the reads, or release the buffers now when none is in flight. */
    void quiesce(QueueIo io) {
        quiescing = true;
        if (reading == 0) {
            release(io);
            return;
        }
        for (int r = 0; r < MAX_READS; r++) {
            if (inFlight[r]) {
                io.cancel(queue, r);
            }
        }
    }

    private void release(QueueIo io) {
        if (count != 0) {
            io.releaseHeld(queue);
        }
        clear();
    }

    private DescChain take() {
        DescChain c = free[first];
        free[first] = null;
        first = (first + 1) % free.length;
        count--;
        freeBytes -= c.writableBytes();
        return c;
    }

    /** Chains held: free or under a read. */
    private int held() {
        return count + underReads;
    }

    /** Forgets every buffer (device reset, or after releasing them); nothing may be in flight. */
    void clear() {
        java.util.Arrays.fill(free, null);
        for (int r = 0; r < MAX_READS; r++) {
            java.util.Arrays.fill(reads[r], null);
            readChains[r] = 0;
            inFlight[r] = false;
        }
        first = 0;
        count = 0;
        underReads = 0;
        freeBytes = 0;
        reading = 0;
        window = 1;
        counters.pending(queue, 0);
    }
}
