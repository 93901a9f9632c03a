import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

import io.bundlevisor.core.internal.virtio.VirtioServiceImpl;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.core.partition.Notifier;
import io.bundlevisor.core.virtio.BackendEvents;
import io.bundlevisor.core.virtio.VirtioBackend;
import io.bundlevisor.core.virtio.VirtioFeatures;
import io.bundlevisor.device.net.internal.NetDeviceFactory;
import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.internal.RingServiceImpl;

/**
 * The transmit data path of device.virtio-net at full speed, without a guest: this program is the driver. It serves
 * the device as a backend (the same worker, split queue, device bundle and tap as for a VM or a vhost-user front-end)
 * over guest memory it owns, keeps transmit queue 0 full of frames, recycles each used chain at once, and counts
 * frames for SECONDS. Prints {@code frames N seconds S}.
 *
 * <p>With {@code rx TAP SECONDS} it measures the receive path instead: receive queue 0 kept full of 256 buffers of
 * 2 KiB, each used buffer posted again at once, packets counted (whatever writes into the tap's other side).
 *
 * <p>java --enable-native-access=ALL-UNNAMED -cp JARS NetPathBench.java TAP FRAME_BYTES SECONDS [DEPTH]
 * (DEPTH: frames kept in flight, 1..256, default 256)
 * (FRAME_BYTES 65536: a 64 KiB TCP/IPv4 TSO frame with gso_size 1448; the host's stack segments nothing, since the
 * frames are addressed to another MAC and dropped on arrival, for the C reference alike.)
 */
public final class NetPathBench {

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle IDX = ValueLayout.JAVA_SHORT.varHandle();
    private static final int SIZE = 256;
    private static final long DESC = 0x1000, AVAIL = 0x3000, USED = 0x4000, FRAMES = 0x10000;
    private static final int TX_QUEUE = 1;
    private static final long CSUM = 1L << 0, HOST_TSO4 = 1L << 11;
    /** bench.spin=true: the receive driver polls the used ring instead of sleeping until an interrupt. */
    private static final boolean SPIN = Boolean.getBoolean("bench.spin");

    public static void main(String[] args) throws Exception {
        if (args[0].equals("rx")) {
            receive(args[1], Double.parseDouble(args[2]));
            return;
        }
        String tap = args[0];
        int frameBytes = Integer.parseInt(args[1]);
        double seconds = Double.parseDouble(args[2]);
        int depth = args.length > 3 ? Integer.parseInt(args[3]) : SIZE;
        boolean tso = frameBytes > 1514;
        int len = 12 + frameBytes;
        Arena arena = Arena.ofShared();
        long stride = (len + 4095) & ~4095L;
        MemorySegment mem = arena.allocate(FRAMES + stride * SIZE, 4096);
        GuestRam ram = ram(mem);
        byte[] frame = Frames.frame(frameBytes, tso);
        for (int i = 0; i < SIZE; i++) {
            long at = FRAMES + stride * i;
            MemorySegment.copy(frame, 0, mem, ValueLayout.JAVA_BYTE, at, frame.length);
            mem.set(U64, DESC + 16L * i, at);
            mem.set(U32, DESC + 16L * i + 8, len);
            mem.set(U16, AVAIL + 4 + 2L * i, (short) i);
        }
        VirtioServiceImpl service = new VirtioServiceImpl(new RingServiceImpl());
        service.addFactory(new NetDeviceFactory(), "virtio-net");
        VirtioBackend b = service.serve("bench", new DeviceSpec("virtio-net", "tap=" + tap), 1, ram, events(null));
        b.setAckedFeatures(VirtioFeatures.VERSION_1 | VirtioFeatures.EVENT_IDX | (tso ? CSUM | HOST_TSO4 : 0));
        EventFd kick = EventFd.create();
        // Kicks go to a second descriptor of the same eventfd; the backend owns the first and closes it.
        EventFd mine = EventFd.adopt(io.bundlevisor.uring.sys.Native.dup(kick.fd()));
        b.startQueue(TX_QUEUE, new VirtioBackend.QueueSetup(SIZE, DESC, AVAIL, USED, 0, notifier(kick)));
        int avail = depth;
        IDX.setRelease(mem, AVAIL + 2, (short) avail);
        mine.signal(1);
        int used = 0;
        long frames = 0;
        long warm = System.nanoTime() + 500_000_000L;
        long start = 0;
        long end = Long.MAX_VALUE;
        while (true) {
            int now = Short.toUnsignedInt((short) IDX.getAcquire(mem, USED + 2));
            int n = (now - used) & 0xFFFF;
            if (n == 0) {
                Thread.onSpinWait();
                continue;
            }
            avail = recycle(mem, used, avail, n, mine);
            used = now;
            long t = System.nanoTime();
            if (start == 0 && t >= warm) {
                start = t;
                end = t + (long) (seconds * 1e9);
                frames = 0;
            } else {
                frames += n;
            }
            if (t >= end) {
                System.out.printf("frames %d seconds %.3f%n", frames, (t - start) / 1e9);
                System.exit(0);
            }
        }
    }

    /** The receive path: queue 0 full of 2 KiB buffers, recycled as they are used; prints "frames N seconds S". */
    static void receive(String tap, double seconds) throws Exception {
        Thread driver = Thread.currentThread();
        Arena arena = Arena.ofShared();
        int buffer = 2048;
        MemorySegment mem = arena.allocate(FRAMES + (long) buffer * SIZE, 4096);
        GuestRam ram = ram(mem);
        for (int i = 0; i < SIZE; i++) {
            mem.set(U64, DESC + 16L * i, FRAMES + (long) buffer * i);
            mem.set(U32, DESC + 16L * i + 8, buffer);
            mem.set(U16, DESC + 16L * i + 12, (short) 2); // VIRTQ_DESC_F_WRITE
            mem.set(U16, AVAIL + 4 + 2L * i, (short) i);
        }
        VirtioServiceImpl service = new VirtioServiceImpl(new RingServiceImpl());
        service.addFactory(new NetDeviceFactory(), "virtio-net");
        VirtioBackend b = service.serve("bench", new DeviceSpec("virtio-net", "tap=" + tap), 1, ram, events(driver));
        b.setAckedFeatures(VirtioFeatures.VERSION_1 | VirtioFeatures.EVENT_IDX);
        EventFd kick = EventFd.create();
        EventFd mine = EventFd.adopt(io.bundlevisor.uring.sys.Native.dup(kick.fd()));
        b.startQueue(0, new VirtioBackend.QueueSetup(SIZE, DESC, AVAIL, USED, 0, notifier(kick)));
        int avail = SIZE;
        IDX.setRelease(mem, AVAIL + 2, (short) avail);
        mine.signal(1);
        int used = 0;
        long frames = 0;
        long warm = System.nanoTime() + 500_000_000L;
        long start = 0;
        long end = Long.MAX_VALUE;
        while (true) {
            long t = System.nanoTime();
            if (start == 0 && t >= warm) {
                start = t;
                end = t + (long) (seconds * 1e9);
                frames = 0;
            }
            if (t >= end) {
                System.out.printf("frames %d seconds %.3f%n", frames, (t - start) / 1e9);
                System.exit(0);
            }
            int now = Short.toUnsignedInt((short) IDX.getAcquire(mem, USED + 2));
            int n = (now - used) & 0xFFFF;
            if (n == 0) {
                // Ask for an interrupt at the next used buffer (used_event, 2.7.10) and sleep until it comes: on
                // 2 CPUs a spinning driver would take the worker's or the packet source's CPU.
                if (SPIN) {
                    Thread.onSpinWait();
                    continue;
                }
                mem.set(U16, AVAIL + 4 + 2L * SIZE, (short) used);
                VarHandle.fullFence();
                if (Short.toUnsignedInt((short) IDX.getAcquire(mem, USED + 2)) == used) {
                    java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
                }
                continue;
            }
            avail = recycle(mem, used, avail, n, mine);
            used = now;
            frames += n;
        }
    }

    /**
     * Posts the {@code n} chains used from {@code used} again at {@code avail}, publishes the avail index and kicks when
     * the worker asked to be told (vring_need_event on avail_event, 2.7.10); returns the new avail index.
     */
    static int recycle(MemorySegment mem, int used, int avail, int n, EventFd kick) throws Exception {
        for (int k = 0; k < n; k++) {
            int id = mem.get(U32, USED + 4 + 8L * ((used + k) & (SIZE - 1)));
            mem.set(U16, AVAIL + 4 + 2L * ((avail + k) & (SIZE - 1)), (short) id);
        }
        int next = (avail + n) & 0xFFFF;
        IDX.setRelease(mem, AVAIL + 2, (short) next);
        VarHandle.fullFence();
        int event = Short.toUnsignedInt(mem.get(U16, USED + 4 + 8L * SIZE));
        if (((next - event - 1) & 0xFFFF) < ((next - avail) & 0xFFFF)) {
            kick.signal(1);
        }
        return next;
    }

    /** Guest memory that is just {@code mem}: guest-physical address = offset. */
    static GuestRam ram(MemorySegment mem) {
        return new GuestRam() {
            public MemorySegment memory() {
                return mem;
            }

            public long hostOffset(long address, long length) {
                return address >= 0 && length >= 0 && address + length <= mem.byteSize() ? address : -1;
            }
        };
    }

    /** The backend's events: a used-buffer interrupt unparks {@code driver} (if any); a reset request ends the run. */
    static BackendEvents events(Thread driver) {
        return new BackendEvents() {
            public void usedBuffers(int queue) {
                if (driver != null) {
                    java.util.concurrent.locks.LockSupport.unpark(driver);
                }
            }

            public void needsReset() {
                System.err.println("NetPathBench: the device needs a reset");
                System.exit(1);
            }

            public void configChanged() {
            }

            public void deviceGone() {
            }
        };
    }

    /** A queue's kick notifier over {@code kick}. */
    static Notifier notifier(EventFd kick) {
        return new Notifier() {
            public int fd() {
                return kick.fd();
            }

            public long drain() {
                try {
                    return kick.drain();
                } catch (Exception e) {
                    return 0;
                }
            }

            public void close() {
                kick.close();
            }
        };
    }
}

/** The frames both sides send: a virtio-net header, then Ethernet to a MAC nobody has, IPv4, UDP or TCP. */
final class Frames {

    static byte[] frame(int frameBytes, boolean tso) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(12 + frameBytes);
        if (tso) { // virtio_net_hdr_v1: NEEDS_CSUM, TCPV4, hdr_len 54, gso_size 1448, csum at 34 + 16
            b.order(ByteOrder.LITTLE_ENDIAN).put(0, (byte) 1).put(1, (byte) 1).putShort(2, (short) 54)
                    .putShort(4, (short) 1448).putShort(6, (short) 34).putShort(8, (short) 16);
        }
        b.order(ByteOrder.BIG_ENDIAN);
        int e = 12;
        b.put(e, new byte[] {2, 0, 0, 0, 0, (byte) 0x99, 2, 0, 0, 0, 0, 1}).putShort(e + 12, (short) 0x0800);
        int ip = e + 14;
        b.put(ip, (byte) 0x45).putShort(ip + 2, (short) Math.min(65535, frameBytes - 14)).put(ip + 8, (byte) 64)
                .put(ip + 9, (byte) (tso ? 6 : 17)).putInt(ip + 12, 0x0a4f0002).putInt(ip + 16, 0x0a4f0001);
        int l4 = ip + 20;
        b.putShort(l4, (short) 5001).putShort(l4 + 2, (short) 5002);
        if (tso) {
            b.put(l4 + 12, (byte) 0x50).put(l4 + 13, (byte) 0x10);
        } else {
            b.putShort(l4 + 4, (short) (frameBytes - 34));
        }
        return b.array();
    }
}
