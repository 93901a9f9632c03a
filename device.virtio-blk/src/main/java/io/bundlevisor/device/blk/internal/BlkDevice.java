package io.bundlevisor.device.blk.internal;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.DeviceResources;
import io.bundlevisor.core.virtio.VirtioContext;
import io.bundlevisor.core.virtio.VirtioDevice;

/**
 * A virtio block device (virtio 1.x section 5.2) over a {@link BlkDisk}: checks each chain ({@link BlkRequest}),
 * answers GET_ID and refusals at once, and hands reads, writes, flushes, discards and write zeroes to the ring
 * ({@link BlkBackend}). The data path runs on the worker thread and allocates nothing.
 */
final class BlkDevice implements VirtioDevice {

    private final String name;
    // The medium: replaced together by update() on the worker thread with nothing in flight. The worker reads the
    // backend and request; VP threads read the config (volatile); blk:list reads the disk.
    private volatile BlkDisk disk;
    private volatile BlkConfig config;
    private BlkBackend backend;
    /** Each queue's request parser: queues run on workers of their own (queueGroup), so nothing is shared. */
    private BlkRequest[] requests;
    private final String serialText;
    private final BlkInFlight inFlight = new BlkInFlight();
    /** Each queue's counters (one writer each: the queue's worker); blk:list sums them. */
    private final BlkCounters[] counters;
    private final BlkWarnings warnings;
    private final byte[] serial = new byte[BlkSpec.ID_BYTES];
    private final Consumer<BlkDevice> onClose;
    private boolean closed;

    /**
     * @param name    {@code machine/type+index}, for logs and {@code blk:list}
     * @param disk    the opened disk; the device closes it
     * @param serial  GET_ID's answer, up to 20 ASCII characters
     * @param queues  request queues
     * @param onClose told once when the device is closed
     */
    BlkDevice(String name, BlkDisk disk, String serial, int queues, Consumer<BlkDevice> onClose) {
        this.name = name;
        this.disk = disk;
        this.config = new BlkConfig(disk.capacity(), queues, disk.readOnly(), disk.blockSize());
        this.backend = new BlkBackend(disk);
        this.requests = requests(disk, queues);
        this.counters = new BlkCounters[queues];
        for (int q = 0; q < queues; q++) {
            counters[q] = new BlkCounters();
        }
        this.warnings = new BlkWarnings(name);
        this.serialText = serial;
        byte[] id = serial.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(id, 0, this.serial, 0, Math.min(id.length, BlkSpec.ID_BYTES)); // the rest stays NUL
        this.onClose = onClose;
    }

    String name() {
        return name;
    }

    BlkDisk disk() {
        return disk;
    }

    private static BlkRequest[] requests(BlkDisk disk, int queues) {
        BlkRequest[] r = new BlkRequest[queues];
        for (int q = 0; q < queues; q++) {
            r[q] = new BlkRequest(disk.capacity(), disk.readOnly());
        }
        return r;
    }

    BlkCounters.Snapshot counters() {
        return BlkCounters.sum(counters);
    }

    /**
     * Each queue is a group of its own: the queues of a multi-queue disk are served by one worker per vCPU (virtio
     * 1.2 section 5.2.6: requests of different queues are independent); in-flight slots, the request parser and the
     * counters are per queue.
     */
    @Override
    public int queueGroup(int queue) {
        return queue;
    }

    @Override
    public int deviceId() {
        return BlkSpec.DEVICE_ID;
    }

    @Override
    public long features() {
        return config.features();
    }

    @Override
    public int queueCount() {
        return config.queues();
    }

    @Override
    public int maxQueueSize() {
        return BlkConfig.MAX_QUEUE_SIZE;
    }

    @Override
    public int configSize() {
        return BlkConfig.SIZE;
    }

    @Override
    public int readConfig(int offset, int size) {
        return config.read(offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        // Every field is read-only without VIRTIO_BLK_F_CONFIG_WCE, which this device does not offer.
    }

    @Override
    public void activate(VirtioContext context) {
        int[] sizes = new int[config.queues()];
        for (int q = 0; q < sizes.length; q++) {
            sizes[q] = Math.clamp(context.queueSize(q), 0, BlkConfig.MAX_QUEUE_SIZE);
        }
        inFlight.activate(sizes);
    }

    @Override
    public int handleDesc(int queue, DescChain chain, Sqe sqe) {
        if (queue < 0 || queue >= counters.length) {
            return needsReset(0, BlkRefusal.BAD_HEAD); // a queue this device does not have
        }
        BlkCounters counters = this.counters[queue];
        BlkRequest request = requests[queue];
        counters.request();
        int head = chain.head();
        if (!inFlight.fits(queue, head)) {
            return needsReset(queue, BlkRefusal.BAD_HEAD);
        }
        int verdict = request.check(chain);
        if (verdict == BlkRequest.MALFORMED) {
            return needsReset(queue, request.refusal());
        }
        int status = request.statusOffset();
        if (verdict != BlkRequest.PROCEED) {
            counters.error();
            warnings.refused(request.refusal());
            chain.writeByte(status, (byte) verdict);
            return 1;
        }
        int type = request.type();
        long offset = request.offset();
        int length = (int) Math.min(request.length(), Integer.MAX_VALUE); // IN/OUT: at most MAX_TRANSFER
        boolean direct = false;
        switch (type) {
            case BlkSpec.T_GET_ID -> {
                for (int i = 0; i < BlkSpec.ID_BYTES; i++) {
                    chain.writeByte(i, serial[i]);
                }
                chain.writeByte(status, BlkSpec.S_OK);
                return BlkSpec.ID_BYTES + 1;
            }
            case BlkSpec.T_IN -> {
                if (length == 0) {
                    return answer(chain, status, BlkSpec.S_OK);
                }
                direct = backend.read(sqe, chain, length, offset);
            }
            case BlkSpec.T_OUT -> {
                if (length == 0) {
                    return answer(chain, status, BlkSpec.S_OK);
                }
                direct = backend.write(sqe, chain, length, offset);
            }
            case BlkSpec.T_FLUSH -> {
                if (disk.readOnly()) {
                    return answer(chain, status, BlkSpec.S_OK); // nothing was written to make stable
                }
                backend.flush(sqe);
                length = 0;
            }
            case BlkSpec.T_DISCARD, BlkSpec.T_WRITE_ZEROES -> {
                if (request.length() == 0) {
                    return answer(chain, status, BlkSpec.S_OK);
                }
                if (type == BlkSpec.T_DISCARD) {
                    backend.discard(sqe, offset, request.length());
                } else {
                    backend.writeZeroes(sqe, offset, request.length(), request.unmap());
                }
                length = 0; // fallocate returns 0
            }
            default -> {
                return needsReset(queue, BlkRefusal.UNKNOWN_TYPE); // check() answers every other type
            }
        }
        inFlight.put(queue, head, type, length, status);
        counters.submitted(direct);
        return SUBMIT;
    }

    @Override
    public int completeDesc(int queue, DescChain chain, int result) {
        if (queue < 0 || queue >= counters.length) {
            return needsReset(0, BlkRefusal.BAD_HEAD);
        }
        BlkCounters counters = this.counters[queue];
        int head = chain.head();
        if (!inFlight.holds(queue, head)) {
            return needsReset(queue, BlkRefusal.BAD_HEAD);
        }
        int type = inFlight.type(queue, head);
        int expected = inFlight.expected(queue, head);
        int status = inFlight.statusAt(queue, head);
        inFlight.free(queue, head);
        counters.completed();
        byte outcome;
        if (result == expected) {
            outcome = BlkSpec.S_OK;
            switch (type) {
                case BlkSpec.T_IN -> counters.read(expected);
                case BlkSpec.T_OUT -> counters.written(expected);
                case BlkSpec.T_FLUSH -> counters.flushed();
                default -> counters.discarded();
            }
        } else if (result == -Errno.EOPNOTSUPP && (type == BlkSpec.T_DISCARD || type == BlkSpec.T_WRITE_ZEROES)) {
            // The host cannot (a file system without holes or ZERO_RANGE): UNSUPP makes Linux stop sending these
            // and zero by writing instead.
            outcome = BlkSpec.S_UNSUPP;
            counters.error();
            warnings.failed(type, result, expected, outcome);
        } else {
            outcome = BlkSpec.S_IOERR; // an errno, or a short read or write
            counters.error();
            warnings.failed(type, result, expected, outcome);
        }
        chain.writeByte(status, outcome);
        return type == BlkSpec.T_IN ? expected + 1 : 1;
    }

    private int answer(DescChain chain, int status, byte value) {
        chain.writeByte(status, value);
        return 1;
    }

    private int needsReset(int queue, BlkRefusal why) {
        counters[queue].error();
        warnings.refused(why);
        return NEEDS_RESET;
    }

    @Override
    public void reset() {
        inFlight.clear();
    }

    /**
     * Another image under the running guest (Firecracker's {@code PATCH /drives} with a new {@code path_on_host}):
     * the new image is opened and locked, the guest sees its capacity after the config-change interrupt, and the old
     * image is closed (its lock released). Read-only-ness, block size, serial and queue count stay: the driver
     * negotiated them. Nothing is in flight (the worker drained it); on any refusal the old image stays.
     */
    @Override
    public void update(String options) throws DeviceException {
        BlkOptions next;
        try {
            next = BlkOptions.parse(options);
        } catch (IllegalArgumentException e) {
            throw new DeviceException(e.getMessage());
        }
        BlkDisk old = disk;
        if (next.readOnly() != old.readOnly()) {
            throw new DeviceException("a disk cannot become " + (next.readOnly() ? "read-only" : "writable")
                    + " under a running guest (the driver negotiated it)");
        }
        if (!next.serial().equals(serialText)) {
            throw new DeviceException("the serial cannot change under a running guest (" + serialText + ")");
        }
        if (next.queues() != 0 && next.queues() != config.queues()) {
            throw new DeviceException("the queue count cannot change under a running guest (" + config.queues() + ")");
        }
        BlkDisk opened = BlkDisk.open(next);
        if (opened.blockSize() != old.blockSize()) {
            opened.close();
            throw new DeviceException("disk " + opened.path() + " has " + opened.blockSize() + "-byte blocks, this one "
                    + old.blockSize());
        }
        backend = new BlkBackend(opened);
        requests = requests(opened, config.queues());
        config = new BlkConfig(opened.capacity(), config.queues(), opened.readOnly(), opened.blockSize());
        disk = opened;
        old.close();
    }

    BlkState state() {
        return new BlkState(disk.path().toString(), config.capacity(), config.readOnly(), config.queues());
    }

    @Override
    public void saveState(DataOutput out) throws IOException {
        state().write(out);
    }

    @Override
    public void restoreState(DataInput in) throws IOException {
        state().requireSame(BlkState.read(in));
    }

    /** The open image and its lock go to the successor: another process never gets the image meanwhile. */
    @Override
    public void handOver(DeviceResources resources) {
        disk.handOver(resources);
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        disk.close();
        onClose.accept(this);
    }
}
