package io.bundlevisor.device.net.internal;

import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.VirtioDevice;

/**
 * A transmit queue (virtio 1.2 section 5.1.6.2): each chain, header and frame, goes to the tap in one writev straight
 * from guest memory, no copy. A chain the check refuses is dropped and counted, and given back with nothing written
 * (a transmit buffer has nothing to write). A full tap makes the write wait in the kernel's poll (the tap's
 * descriptor is blocking), so the worker never spins on EAGAIN. Worker thread only; allocates nothing.
 */
final class NetTx {

    private final int queue;
    private final int fd;
    private final NetCounters counters;
    private final NetWarnings warnings;
    private long features;

    NetTx(int queue, int fd, NetCounters counters, NetWarnings warnings) {
        this.queue = queue;
        this.fd = fd;
        this.counters = counters;
        this.warnings = warnings;
    }

    void activate(long negotiated) {
        this.features = negotiated;
    }

    int handle(DescChain chain, Sqe sqe) {
        NetRefusal refusal = NetTxCheck.check(chain, features);
        if (refusal != null) {
            warnings.refused(refusal, queue);
            counters.drop(queue);
            return 0;
        }
        int count = chain.describe(false, 0, chain.readableBytes());
        sqe.writev(fd, chain.iovecs(), count, -1);
        return VirtioDevice.SUBMIT;
    }

    int complete(DescChain chain, int result) {
        if (result < 0) {
            // EIO: the interface is down; EINVAL: the tap refused the header. The frame is lost, the queue goes on.
            warnings.failed(true, queue, result);
            counters.error(queue);
        } else {
            counters.packet(queue, Math.max(0, result - NetSpec.HDR_SIZE));
        }
        return 0;
    }
}
