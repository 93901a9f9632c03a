import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.SplittableRandom;

import io.bundlevisor.uring.host.EventFd;
import io.bundlevisor.uring.host.MappedRegion;
import io.bundlevisor.uring.host.MemFd;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.UnixSocket;
import io.bundlevisor.uring.sys.Native;

/**
 * A vhost-user-blk front-end at full speed, without a guest: the driver of bench/vhost-blk-path-bench.sh. It connects
 * to a vhost-user-blk back-end (ours or qemu-storage-daemon's: the same messages, the same rings, the same loop for
 * both), hands it 2 MiB of "guest" memory in a memfd, sets up queue 0 (256 entries, VIRTIO_F_INDIRECT_DESC and
 * VIRTIO_F_EVENT_IDX as Linux's virtio_blk uses them: each request one indirect table of header, 4 KiB data buffer
 * and status byte), and keeps QD 4 KiB reads at random 4 KiB-aligned offsets in flight: each completion posts the
 * next read at once. It sleeps in a blocking read of its call eventfd, as a VMM's irqfd would, and kicks only when
 * the back-end's avail_event asks for it.
 *
 * <pre>
 *   BlkPathBench SOCKET IMAGE BACKEND_PID WARMUP_S RAMP_S MEASURE_S QD...
 * </pre>
 *
 * First WARMUP_S seconds at QD 32 (the JIT of a Java back-end; the first 64 reads are checked against IMAGE read
 * directly), then for each QD: RAMP_S not counted, MEASURE_S counted. One line per QD:
 * {@code qd Q iops N ios N seconds S fe_ns_per_io N be_ns_per_io N kicks_per_io N calls_per_io N}: the driving
 * thread's CPU time per IO (this program), the back-end process's utime+stime from /proc/PID/stat per IO (clock
 * ticks of -Dbench.clkTck, default 100), kicks written and calls read per IO. The loop allocates nothing per IO.
 */
public final class BlkPathBench {

    // vhost-user messages (docs/interop/vhost-user.rst, "Front-end message types")
    private static final int GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, SET_MEM_TABLE = 5, SET_VRING_NUM = 8,
            SET_VRING_ADDR = 9, SET_VRING_BASE = 10, SET_VRING_KICK = 12, SET_VRING_CALL = 13,
            GET_PROTOCOL_FEATURES = 15, SET_PROTOCOL_FEATURES = 16, SET_VRING_ENABLE = 18;
    private static final int FLAG_VERSION = 1, FLAG_REPLY = 4, FLAG_NEED_REPLY = 8, HEADER = 12;
    private static final long F_PROTOCOL_FEATURES = 1L << 30, PF_REPLY_ACK = 1L << 3;
    // virtio 1.2: 6 (reserved feature bits), 2.7 (split virtqueues), 5.2.6 (block device requests)
    private static final long VERSION_1 = 1L << 32, INDIRECT_DESC = 1L << 28, EVENT_IDX = 1L << 29;
    private static final short DESC_NEXT = 1, DESC_WRITE = 2, DESC_INDIRECT = 4;
    private static final int T_IN = 0, SECTOR = 512, BLOCK = 4096;

    // "Guest" memory: one region at GPA, its layout fixed here.
    private static final int QSIZE = 256;
    private static final long GPA = 0x100000, MEMORY = 2 << 20;
    private static final long DESC = 0, AVAIL = 0x1000, USED = 0x2000, INDIRECT = 0x4000, HEADERS = 0x8000,
            STATUS = 0x9000, DATA = 0x10000;
    private static final long USED_EVENT = AVAIL + 4 + 2L * QSIZE, AVAIL_EVENT = USED + 4 + 8L * QSIZE;
    private static final int CHECKED_READS = 64;
    private static final long SYS_POLL = 7; // x86_64
    private static final short POLLIN = 1;
    private static final int EAGAIN = 11;

    private static final VarHandle MSG32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle MSG64 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** The ring indices shared with the back-end, with the order each access needs (x86: little-endian native). */
    private static final VarHandle IDX = ValueLayout.JAVA_SHORT.varHandle();

    private final UnixSocket socket;
    private final MemorySegment mem;
    private final long blocks;
    private final int callFd;
    private final EventFd kick;
    private final MemorySegment callValue;
    private final MemorySegment pollFd = java.lang.foreign.Arena.global().allocate(8, 8);
    private final SplittableRandom random = new SplittableRandom(42);
    private final long[] blockOf = new long[QSIZE];
    private final int[] free = new int[QSIZE];
    private int freeCount;
    private int inFlight;
    private int availIdx;
    private int lastUsed;
    private long ios, kicks, calls, errors;
    private boolean eventIdx;
    private FileChannel check;
    private int checked;

    private BlkPathBench(UnixSocket socket, MemorySegment mem, long imageBytes, int callFd, EventFd kick,
            MemorySegment callValue) {
        this.socket = socket;
        this.mem = mem;
        this.blocks = imageBytes / BLOCK;
        this.callFd = callFd;
        this.kick = kick;
        this.callValue = callValue;
    }

    public static void main(String[] args) throws Exception {
        Path sock = Path.of(args[0]);
        Path image = Path.of(args[1]);
        int pid = Integer.parseInt(args[2]);
        double warmup = Double.parseDouble(args[3]), ramp = Double.parseDouble(args[4]),
                measure = Double.parseDouble(args[5]);
        int[] depths = new int[args.length - 6];
        for (int i = 0; i < depths.length; i++) {
            depths[i] = Integer.parseInt(args[6 + i]);
            if (depths[i] < 1 || depths[i] > QSIZE) {
                throw new IllegalArgumentException("QD " + depths[i] + " is not 1.." + QSIZE);
            }
        }
        double clkTck = Double.parseDouble(System.getProperty("bench.clkTck", "100"));
        MemFd memfd = MemFd.create("bench-guest", MEMORY);
        MappedRegion region = MappedRegion.map(memfd.fd(), 0, MEMORY);
        // The back-end's calls: the driver sleeps on this eventfd as a VMM's irqfd wakes a vCPU.
        int callFd = (int) Native.check("eventfd", Native.eventfd(0, Native.O_CLOEXEC));
        EventFd kick = EventFd.create();
        UnixSocket socket = UnixSocket.connect(sock);
        socket.setReceiveTimeout(Duration.ofSeconds(20));
        MemorySegment callValue = java.lang.foreign.Arena.global().allocate(8, 8);
        BlkPathBench b = new BlkPathBench(socket, region.segment(), Files.size(image), callFd, kick, callValue);
        b.check = FileChannel.open(image, StandardOpenOption.READ);
        b.setUp(memfd.fd(), region.address());
        Thread watchdog = Thread.ofPlatform().daemon().start(b::watchdog);
        b.run(32, warmup, false, 0, clkTck);
        b.check.close();
        if (b.checked < Math.min(CHECKED_READS, 1) || b.errors != 0) {
            throw new IllegalStateException("warm-up: " + b.checked + " reads checked, " + b.errors + " errors");
        }
        for (int qd : depths) {
            b.run(qd, ramp, false, 0, clkTck);
            b.run(qd, measure, true, pid, clkTck);
        }
        watchdog.interrupt();
        System.out.flush();
        // Leave without closing anything: the back-end sees the connection go, as when a VMM exits.
        Runtime.getRuntime().halt(0);
    }

    // ---- the vhost-user session, as QEMU opens one ----------------------------------------------------------------

    private void setUp(int memfd, long userAddress) throws SyscallException {
        long offered = get(GET_FEATURES);
        long need = VERSION_1 | INDIRECT_DESC;
        if ((offered & need) != need || (offered & F_PROTOCOL_FEATURES) == 0) {
            throw new IllegalStateException("the back-end offers features 0x" + Long.toHexString(offered));
        }
        long features = offered & (VERSION_1 | INDIRECT_DESC | EVENT_IDX | F_PROTOCOL_FEATURES);
        eventIdx = (features & EVENT_IDX) != 0;
        long protocol = get(GET_PROTOCOL_FEATURES) & PF_REPLY_ACK;
        send(SET_PROTOCOL_FEATURES, FLAG_VERSION, u64(protocol));
        send(SET_OWNER, FLAG_VERSION, new byte[0]);
        send(SET_FEATURES, FLAG_VERSION, u64(features));
        int ack = protocol != 0 ? FLAG_VERSION | FLAG_NEED_REPLY : FLAG_VERSION;
        byte[] table = new byte[8 + 32];
        MSG32.set(table, 0, 1);
        MSG64.set(table, 8, GPA);
        MSG64.set(table, 16, MEMORY);
        MSG64.set(table, 24, userAddress);
        MSG64.set(table, 32, 0L);
        send(SET_MEM_TABLE, ack, table, memfd);
        acked(SET_MEM_TABLE, protocol);
        send(SET_VRING_NUM, FLAG_VERSION, state(0, QSIZE));
        send(SET_VRING_BASE, FLAG_VERSION, state(0, 0));
        byte[] addr = new byte[40];
        MSG64.set(addr, 8, userAddress + DESC);
        MSG64.set(addr, 16, userAddress + USED);
        MSG64.set(addr, 24, userAddress + AVAIL);
        send(SET_VRING_ADDR, FLAG_VERSION, addr);
        send(SET_VRING_KICK, FLAG_VERSION, u64(0), kick.fd());
        send(SET_VRING_CALL, FLAG_VERSION, u64(0), callFd);
        send(SET_VRING_ENABLE, ack, state(0, 1));
        acked(SET_VRING_ENABLE, protocol);
        get(GET_FEATURES); // a reply: every message before it was handled
        // Each slot i: main descriptor i is INDIRECT, to a table of header (readable), data and status (writable).
        for (int i = 0; i < QSIZE; i++) {
            long table0 = INDIRECT + 64L * i;
            desc(DESC + 16L * i, GPA + table0, 48, DESC_INDIRECT, 0);
            desc(table0, GPA + HEADERS + 16L * i, 16, DESC_NEXT, 1);
            desc(table0 + 16, GPA + DATA + (long) BLOCK * i, BLOCK, (short) (DESC_WRITE | DESC_NEXT), 2);
            desc(table0 + 32, GPA + STATUS + i, 1, DESC_WRITE, 0);
            mem.set(U32, HEADERS + 16L * i, T_IN);
            free[freeCount++] = i;
        }
    }

    private void desc(long at, long addr, int len, short flags, int next) {
        mem.set(U64, at, addr);
        mem.set(U32, at + 8, len);
        mem.set(U16, at + 12, flags);
        mem.set(U16, at + 14, (short) next);
    }

    private void send(int request, int flags, byte[] payload, int... fds) throws SyscallException {
        byte[] m = new byte[HEADER + payload.length];
        MSG32.set(m, 0, request);
        MSG32.set(m, 4, flags);
        MSG32.set(m, 8, payload.length);
        System.arraycopy(payload, 0, m, HEADER, payload.length);
        socket.send(m, 0, m.length, fds);
    }

    private byte[] reply(int request) throws SyscallException {
        byte[] h = new byte[HEADER];
        if (socket.receiveFully(h, 0, HEADER) == null) {
            throw new IllegalStateException("the back-end closed the connection");
        }
        int req = (int) MSG32.get(h, 0), flags = (int) MSG32.get(h, 4), size = (int) MSG32.get(h, 8);
        if (req != request || (flags & FLAG_REPLY) == 0 || size < 0 || size > 4096) {
            throw new IllegalStateException("reply " + req + " flags " + flags + " size " + size + " to " + request);
        }
        byte[] p = new byte[size];
        if (size > 0) {
            socket.receiveFully(p, 0, size);
        }
        return p;
    }

    private long get(int request) throws SyscallException {
        send(request, FLAG_VERSION, new byte[0]);
        return (long) MSG64.get(reply(request), 0);
    }

    private void acked(int request, long protocol) throws SyscallException {
        if (protocol != 0 && (long) MSG64.get(reply(request), 0) != 0) {
            throw new IllegalStateException("the back-end refused message " + request);
        }
    }

    private static byte[] u64(long v) {
        byte[] b = new byte[8];
        MSG64.set(b, 0, v);
        return b;
    }

    private static byte[] state(int index, int num) {
        byte[] b = new byte[8];
        MSG32.set(b, 0, index);
        MSG32.set(b, 4, num);
        return b;
    }

    // ---- the data path --------------------------------------------------------------------------------------------

    /** Keeps {@code qd} reads in flight for {@code seconds}; when {@code report}, prints the figures of that time. */
    private void run(int qd, double seconds, boolean report, int pid, double clkTck) throws Exception {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long ios0 = ios, kicks0 = kicks, calls0 = calls;
        long be0 = report ? backendTicks(pid) : 0;
        long cpu0 = threads.getCurrentThreadCpuTime();
        long t0 = System.nanoTime();
        long end = t0 + (long) (seconds * 1e9);
        int oldAvail = availIdx;
        while (inFlight < qd) {
            post();
        }
        publish(oldAvail);
        while (true) {
            int used = Short.toUnsignedInt((short) IDX.getAcquire(mem, USED + 2));
            if (used == lastUsed) {
                if (eventIdx) {
                    // Ask for a call when the next entry is used; then look again before sleeping (2.7.10).
                    IDX.setRelease(mem, USED_EVENT, (short) lastUsed);
                    VarHandle.fullFence();
                    used = Short.toUnsignedInt((short) IDX.getAcquire(mem, USED + 2));
                }
                if (used == lastUsed) {
                    if (System.nanoTime() >= end) {
                        break;
                    }
                    awaitCall();
                    calls++;
                    continue;
                }
            }
            oldAvail = availIdx;
            while (lastUsed != used) {
                int id = mem.get(U32, USED + 4 + 8L * (lastUsed % QSIZE));
                lastUsed = (lastUsed + 1) & 0xFFFF;
                complete(id);
                if (inFlight < qd) {
                    post();
                }
            }
            publish(oldAvail);
            if (System.nanoTime() >= end) {
                break;
            }
        }
        long elapsed = System.nanoTime() - t0;
        long cpu = threads.getCurrentThreadCpuTime() - cpu0;
        if (report) {
            long be = backendTicks(pid) - be0;
            long n = ios - ios0;
            if (n == 0) {
                throw new IllegalStateException("no IO completed in " + seconds + " s at QD " + qd);
            }
            double s = elapsed / 1e9;
            System.out.printf("qd %d iops %.0f ios %d seconds %.3f fe_ns_per_io %.0f be_ns_per_io %.0f "
                    + "kicks_per_io %.3f calls_per_io %.3f errors %d%n", qd, n / s, n, s, (double) cpu / n,
                    be * (1e9 / clkTck) / n, (double) (kicks - kicks0) / n, (double) (calls - calls0) / n, errors);
        }
    }

    /**
     * Sleeps until the back-end's call: the eventfd's file description is shared with the back-end, which may have
     * made it non-blocking, so poll(2) for it, then read(2) it.
     */
    private void awaitCall() throws SyscallException {
        while (true) {
            long r = Native.read(callFd, callValue, 8);
            if (r == 8) {
                return;
            }
            if (r != -EAGAIN) {
                throw new SyscallException("read call eventfd", (int) -r);
            }
            pollFd.set(ValueLayout.JAVA_INT, 0, callFd);
            pollFd.set(ValueLayout.JAVA_SHORT, 4, POLLIN);
            pollFd.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
            Native.syscall(SYS_POLL, pollFd.address(), 1, 1000, 0, 0, 0);
        }
    }

    private void post() {
        int slot = free[--freeCount];
        long block = random.nextLong(blocks);
        blockOf[slot] = block;
        mem.set(U64, HEADERS + 16L * slot + 8, block * (BLOCK / SECTOR));
        mem.set(ValueLayout.JAVA_BYTE, STATUS + slot, (byte) 0xFF);
        mem.set(U16, AVAIL + 4 + 2L * (availIdx % QSIZE), (short) slot);
        availIdx = (availIdx + 1) & 0xFFFF;
        inFlight++;
    }

    /** Makes the new avail entries visible and kicks if the back-end asked for it (2.7.13.4). */
    private void publish(int oldAvail) throws SyscallException {
        if (availIdx == oldAvail) {
            return;
        }
        IDX.setRelease(mem, AVAIL + 2, (short) availIdx);
        VarHandle.fullFence();
        boolean notify;
        if (eventIdx) {
            int event = Short.toUnsignedInt((short) IDX.getAcquire(mem, AVAIL_EVENT));
            notify = ((availIdx - event - 1) & 0xFFFF) < ((availIdx - oldAvail) & 0xFFFF);
        } else {
            notify = (mem.get(U16, USED) & 1) == 0; // VIRTQ_USED_F_NO_NOTIFY
        }
        if (notify) {
            kick.signal(1);
            kicks++;
        }
    }

    private void complete(int slot) throws Exception {
        if (slot < 0 || slot >= QSIZE) {
            throw new IllegalStateException("used id " + slot);
        }
        if (mem.get(ValueLayout.JAVA_BYTE, STATUS + slot) != 0) {
            errors++;
        }
        if (check != null && checked < CHECKED_READS) {
            ByteBuffer want = ByteBuffer.allocate(BLOCK);
            check.read(want, blockOf[slot] * BLOCK);
            if (MemorySegment.ofArray(want.array()).mismatch(mem.asSlice(DATA + (long) BLOCK * slot, BLOCK)) >= 0) {
                throw new IllegalStateException("block " + blockOf[slot] + " read wrong data");
            }
            checked++;
        }
        ios++;
        inFlight--;
        free[freeCount++] = slot;
    }

    /** utime + stime of the back-end process, clock ticks (proc(5): fields 14 and 15 of /proc/PID/stat). */
    private static long backendTicks(int pid) throws java.io.IOException {
        String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14, 15 counted from 3 (state)
    }

    /** A stall guard: if no IO completes for 2 s, wake the driver (counted as a call; a lost call would show). */
    private void watchdog() {
        long seen = -1;
        try {
            while (true) {
                Thread.sleep(2000);
                long now = ios;
                if (now == seen) {
                    System.err.println("blk-path-bench: no completion for 2 s, waking the driver");
                    try (var a = java.lang.foreign.Arena.ofConfined()) {
                        MemorySegment one = a.allocate(8, 8);
                        one.set(ValueLayout.JAVA_LONG, 0, 1);
                        Native.write(callFd, one, 8);
                    }
                }
                seen = now;
            }
        } catch (InterruptedException done) {
            // the run is over
        }
    }
}
