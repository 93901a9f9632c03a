package io.bundlevisor.device.net.internal;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.function.Consumer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.DeviceResources;
import io.bundlevisor.core.virtio.QueueIo;
import io.bundlevisor.core.virtio.VirtioContext;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.Tap;

/**
 * A virtio network device on a tap (virtio 1.2 section 5.1): queue {@code 2p} receives and {@code 2p + 1} transmits
 * for pair {@code p}, each pair on its own tap descriptor; the control queue, where we own it, comes last. This class
 * routes; {@link NetRx}, {@link NetTx} and {@link NetCtrl} do the work.
 */
final class NetDevice implements VirtioDevice {

    private static final Logger LOG = LoggerFactory.getLogger(NetDevice.class);
    /** Queue size offered (Firecracker's and QEMU's default). */
    static final int QUEUE_SIZE = 256;
    /** The key under which the tap is handed over (see {@link DeviceResources}). */
    static final String TAP_KEY = "virtio-net.tap";

    private final String name;
    private final Tap tap;
    private final NetConfig config;
    private final NetCounters counters;
    private final NetRx[] rx;
    private final NetTx[] tx;
    private final NetCtrl ctrl;
    private final int ctrlQueue;
    private final Arena arena = Arena.ofShared();
    private final Consumer<NetDevice> onClose;
    private volatile VirtioContext context;
    private volatile boolean closed;
    private volatile boolean handedOver;

    NetDevice(String name, Tap tap, long mac, int mtu, boolean control, Consumer<NetDevice> onClose)
            throws SyscallException {
        this.name = name;
        this.tap = tap;
        int pairs = tap.queues();
        this.config = new NetConfig(mac, pairs, mtu, control, tap.isUp());
        this.counters = new NetCounters(config.queueCount());
        NetWarnings warnings = new NetWarnings(name);
        this.rx = new NetRx[pairs];
        this.tx = new NetTx[pairs];
        for (int p = 0; p < pairs; p++) {
            rx[p] = new NetRx(2 * p, tap.fd(p), QUEUE_SIZE, arena.allocate(NetRx.IOVEC_BYTES, 8), counters,
                    warnings);
            tx[p] = new NetTx(2 * p + 1, tap.fd(p), counters, warnings);
        }
        this.ctrlQueue = config.controlQueue();
        this.ctrl = control ? new NetCtrl(ctrlQueue, pairs, counters, warnings, new NetCtrl.Effects() {
            @Override
            public void macSet(long m) {
                config.setMac(m);
            }

            @Override
            public boolean pairsSet(int n) {
                return enablePairs(n);
            }
        }) : null;
        this.onClose = onClose;
    }

    String name() {
        return name;
    }

    Tap tap() {
        return tap;
    }

    NetConfig config() {
        return config;
    }

    NetCounters counters() {
        return counters;
    }

    /** Pairs the driver uses now. */
    int pairsInUse() {
        return ctrl != null ? ctrl.pairs() : rx.length;
    }

    int rxModes() {
        return ctrl != null ? ctrl.rxModes() : 0;
    }

    @Override
    public int deviceId() {
        return NetSpec.DEVICE_ID;
    }

    @Override
    public long features() {
        return config.features();
    }

    @Override
    public int queueCount() {
        return config.queueCount();
    }

    @Override
    public int maxQueueSize() {
        return QUEUE_SIZE;
    }

    @Override
    public int configSize() {
        return NetSpec.CONFIG_SIZE;
    }

    @Override
    public int readConfig(int offset, int size) {
        return config.read(offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        // Every field is read-only with VERSION_1 (5.1.4.2); the MAC changes through the control queue.
    }

    @Override
    public void activate(VirtioContext ctx) throws DeviceException {
        long f = ctx.features();
        int offload = 0;
        if ((f & NetSpec.GUEST_CSUM) != 0) {
            offload |= Tap.OFFLOAD_CSUM;
            offload |= (f & NetSpec.GUEST_TSO4) != 0 ? Tap.OFFLOAD_TSO4 : 0;
            offload |= (f & NetSpec.GUEST_TSO6) != 0 ? Tap.OFFLOAD_TSO6 : 0;
            offload |= (f & NetSpec.GUEST_ECN) != 0 && (f & (NetSpec.GUEST_TSO4 | NetSpec.GUEST_TSO6)) != 0
                    ? Tap.OFFLOAD_TSO_ECN : 0;
        }
        // 5.1.6.5.5: with a control queue only the first pair carries traffic until VQ_PAIRS_SET; a backend's
        // front-end starts the rings of the pairs it uses.
        int pairs = 1;
        if (ctrl == null) {
            pairs = 0;
            while (pairs < rx.length && ctx.queueSize(2 * pairs) != 0) {
                pairs++;
            }
        }
        try {
            tap.setOffload(offload);
            tap.enableQueues(pairs);
            config.setLinkUp(tap.isUp());
        } catch (SyscallException e) {
            throw new DeviceException(name + ": " + e.getMessage());
        }
        for (int p = 0; p < rx.length; p++) {
            rx[p].activate(f, ctx.queueSize(2 * p), config.mtu());
            tx[p].activate(f);
        }
        if (ctrl != null) {
            ctrl.activate(f);
        }
        context = ctx;
    }

    private boolean enablePairs(int n) {
        try {
            tap.enableQueues(n);
            return true;
        } catch (SyscallException e) {
            LOG.warn("{}: {} queue pairs: {}", name, n, e.getMessage());
            return false;
        }
    }

    @Override
    public int handleDesc(int queue, DescChain chain, Sqe sqe) {
        if (queue == ctrlQueue) {
            return ctrl.handle(chain);
        }
        return (queue & 1) == 0 ? rx[queue >> 1].handle(chain) : tx[queue >> 1].handle(chain, sqe);
    }

    @Override
    public int completeDesc(int queue, DescChain chain, int result) {
        if (queue == ctrlQueue || (queue & 1) == 0) {
            return NEEDS_RESET; // only transmit chains are submitted one by one
        }
        return tx[queue >> 1].complete(chain, result);
    }

    @Override
    public void queueServiced(int queue, QueueIo io) {
        if (queue != ctrlQueue && (queue & 1) == 0) {
            rx[queue >> 1].serviced(io);
        }
    }

    @Override
    public void completeIo(int queue, int tag, int result, QueueIo io) {
        if (queue != ctrlQueue && (queue & 1) == 0) {
            rx[queue >> 1].completeIo(tag, result, io);
        }
    }

    @Override
    public void quiesce(QueueIo io) {
        for (NetRx r : rx) {
            r.quiesce(io);
        }
    }

    /** E.g. {@code rx0 packets=3 bytes=180 drops=0 errors=0 pending=255}, as {@code net:list} shows it. */
    @Override
    public String queueCounters(int queue) {
        NetCounters.Queue c = counters.queue(queue);
        return String.format("%s packets=%d bytes=%d drops=%d errors=%d pending=%d",
                NetCommands.queueName(queue, config), c.packets(), c.bytes(), c.drops(), c.errors(), c.pending());
    }

    @Override
    public void reset() {
        context = null;
        for (NetRx r : rx) {
            r.clear();
        }
        if (ctrl != null) {
            ctrl.reset();
        }
    }

    @Override
    public void saveState(DataOutput out) throws IOException {
        state().write(out);
    }

    private NetState state() {
        return new NetState(tap.name(), rx.length, ctrl != null, config.mtu(), config.mac(), pairsInUse(), rxModes());
    }

    @Override
    public void restoreState(DataInput in) throws IOException {
        NetState saved = NetState.read(in);
        state().requireSameShape(saved);
        config.setMac(saved.mac());
        if (ctrl != null) {
            ctrl.restoreRxModes(saved.rxModes());
            if (!enablePairs(saved.pairsInUse())) {
                throw new IOException(name + ": the tap refused " + saved.pairsInUse() + " queue pairs");
            }
        }
    }

    /**
     * The tap, with its queues attached and its offloads, goes to the successor: the host never sees the carrier go,
     * and {@link #close} neither takes the guest's link down nor closes the tap.
     */
    @Override
    public void handOver(DeviceResources resources) {
        resources.keep(TAP_KEY, tap);
        handedOver = true;
    }

    /**
     * The link goes down for the guest (a configuration change it is told of), then the tap's descriptors close:
     * the bundle is stopping or the machine is going. After a {@link #handOver} only the device's own memory goes.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (handedOver) {
            arena.close();
            onClose.accept(this);
            return;
        }
        VirtioContext ctx = context;
        if (config.setLinkUp(false) && ctx != null) {
            try {
                ctx.configChanged();
            } catch (RuntimeException e) {
                LOG.debug("{}: link-down notification failed", name, e);
            }
        }
        tap.close();
        arena.close();
        onClose.accept(this);
    }
}
