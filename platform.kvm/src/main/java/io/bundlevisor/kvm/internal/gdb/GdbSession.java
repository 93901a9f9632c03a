package io.bundlevisor.kvm.internal.gdb;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.kvm.internal.KvmVcpu;
import io.bundlevisor.uring.host.SyscallException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One gdb connection, all-stop (GDB manual, "Remote Protocol"): the command dispatcher. Everything it does happens
 * on one thread, taking events in order from one queue: frames from the connection's reader, and stops and the
 * VM's end from the partition. While VPs run, only the interrupt byte is acted on; a packet waits for the stop.
 *
 * <p>A malformed packet gets an error reply ({@code E22}), an unknown one the empty reply; memory the guest has not
 * mapped to RAM gives {@code E14}. Nothing a client sends reaches a VP thread: VPs only see the debug settings and
 * the run permission this session gives them while they are stopped.
 */
final class GdbSession {

    private static final Logger LOG = LoggerFactory.getLogger(GdbSession.class);
    /** PacketSize in qSupported: 16 KiB, in hex as the protocol writes it. */
    static final int PACKET_SIZE = 0x4000;
    private static final String E_INVALID = "E22";
    private static final String E_FAULT = "E14";
    private static final String E_IO = "E05";

    /** What the session reacts to. */
    sealed interface Event {
    }

    record FromClient(Frame frame) implements Event {
    }

    record ClientGone(String why) implements Event {
    }

    record Stopped(Stop stop) implements Event {
    }

    record Exited(int status) implements Event {
    }

    record Shutdown() implements Event {
    }

    private final DebugTarget target;
    private final Breakpoints breakpoints;
    private final RegisterCommands registers;
    private final MemoryCommands memoryCommands;
    private final PacketWriter out;
    private final String vm;
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final Queue<Frame.Packet> deferred = new ArrayDeque<>();
    private boolean acks = true;
    private boolean running;
    private boolean over;
    private boolean swbreak;
    private boolean hwbreak;
    private boolean blockIrq = true;
    private Stop last = new Stop(0, Stop.Cause.OTHER, 0);
    private int gThread;
    private int cThread;
    /** The VM's end while VPs were stopped: told at the next resume. */
    private Integer pendingExit;
    private boolean exitedSent;
    private boolean killed;
    /** The last packet sent, for a '-' from the client. */
    private byte[] lastSent;

    GdbSession(DebugTarget target, Breakpoints breakpoints, GuestAccess memory, PacketWriter out, String vm) {
        this.target = target;
        this.breakpoints = breakpoints;
        this.registers = new RegisterCommands(target);
        this.memoryCommands = new MemoryCommands(memory, breakpoints);
        this.out = out;
        this.vm = vm;
    }

    /** Called from any thread: queues {@code e} for the session. */
    void post(Event e) {
        events.add(e);
    }

    /**
     * Stops the VM and serves the connection until it ends: detached, killed, the client gone, the VM gone.
     * Whatever way it ends, the breakpoints are removed and the VPs may run again (unless killed).
     */
    void run() throws InterruptedException {
        target.stopAll();
        boolean detach = true;
        try {
            while (!over) {
                Event e = events.take();
                switch (e) {
                    case FromClient(Frame f) -> frame(f);
                    case ClientGone(String why) -> {
                        LOG.info("{}: gdb went away ({})", vm, why);
                        over = true;
                    }
                    case Stopped(Stop s) -> stopped(s);
                    case Exited(int status) -> exited(status);
                    case Shutdown() -> {
                        detach = false;
                        over = true;
                    }
                }
            }
        } catch (IOException e) {
            LOG.info("{}: gdb connection failed: {}", vm, e.getMessage());
        } finally {
            if (detach && !killed && !exitedSent) {
                detachTarget();
            }
        }
    }

    /** Waits up to {@code millis} for the client to close its end (after the VM's end was sent). */
    void awaitClientGone(long millis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (true) {
            long left = deadline - System.nanoTime();
            Event e = left > 0 ? events.poll(left, TimeUnit.NANOSECONDS) : null;
            if (e == null || e instanceof ClientGone) {
                return;
            }
        }
    }

    private void frame(Frame f) throws IOException {
        switch (f) {
            case Frame.Packet p -> {
                if (acks) {
                    out.ack(true);
                }
                if (running) {
                    deferred.add(p);
                } else {
                    packet(p);
                }
            }
            case Frame.BadChecksum b -> {
                if (acks) {
                    out.ack(false);
                }
            }
            case Frame.Interrupt i -> {
                if (running) {
                    target.stopAll();
                    stopped(new Stop(last.vp(), Stop.Cause.INTERRUPT, 0));
                }
            }
            case Frame.Ack a -> {
                if (!a.positive() && acks && lastSent != null) {
                    out.packet(lastSent);
                }
            }
        }
    }

    private void stopped(Stop s) throws IOException {
        if (!running) {
            return; // a stop that raced an interrupt: the VPs are stopped and gdb was told already
        }
        target.stopAll();
        running = false;
        last = s;
        gThread = s.vp();
        cThread = s.vp();
        send(stopReply(s));
        while (!running && !over && !deferred.isEmpty()) {
            packet(deferred.remove());
        }
    }

    private void exited(int status) throws IOException {
        if (!running) {
            pendingExit = status; // told at the next resume: gdb expects no reply while stopped
            return;
        }
        running = false;
        send("W" + Hex.littleEndian(status & 0xFF, 1));
        pendingExit = null;
        over = true;
        exitedSent = true;
    }

    /** Whether the VM's end was reported to gdb. */
    boolean exitSent() {
        return exitedSent;
    }

    String stopReply(Stop s) {
        StringBuilder r = new StringBuilder("T").append(Hex.littleEndian(s.signal(), 1)).append("thread:")
                .append(Long.toHexString(s.vp() + 1)).append(';');
        switch (s.cause()) {
            case SOFTWARE_BREAKPOINT -> r.append(swbreak ? "swbreak:;" : "");
            case HARDWARE_BREAKPOINT -> r.append(hwbreak ? "hwbreak:;" : "");
            case WATCH_WRITE -> r.append("watch:").append(Long.toHexString(s.address())).append(';');
            case WATCH_ACCESS -> r.append("awatch:").append(Long.toHexString(s.address())).append(';');
            default -> {
            }
        }
        return r.toString();
    }

    private void send(String reply) throws IOException {
        byte[] data = reply.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        lastSent = data;
        out.packet(data);
    }

    private void packet(Frame.Packet p) throws IOException {
        String text = p.text();
        String reply;
        try {
            reply = dispatch(text, p.data());
        } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
            LOG.debug("{}: gdb packet '{}' refused: {}", vm, printable(text), e.getMessage());
            reply = E_INVALID;
        } catch (SyscallException e) {
            LOG.info("{}: gdb packet '{}' failed: {}", vm, printable(text), e.getMessage());
            reply = E_IO;
        } catch (RuntimeException e) {
            LOG.warn("{}: gdb packet '{}' failed", vm, printable(text), e);
            reply = E_IO;
        }
        if (reply != null) {
            send(reply);
        }
    }

    /** The reply to one packet, or null for none (a resume, a kill). */
    String dispatch(String p, byte[] raw) throws SyscallException, IOException {
        if (p.isEmpty()) {
            return "";
        }
        char c = p.charAt(0);
        return switch (c) {
            case '?' -> stopReply(last);
            case 'g' -> registers.readAll(gThread);
            case 'G' -> registers.writeAll(gThread, p.substring(1));
            case 'p' -> registers.read(gThread, p.substring(1));
            case 'P' -> registers.write(gThread, p.substring(1));
            case 'm' -> memoryCommands.read(gThread, p.substring(1));
            case 'M' -> memoryCommands.writeHex(gThread, p.substring(1));
            case 'X' -> memoryCommands.writeBinary(gThread, p, raw);
            case 'c' -> resumeAt(p.substring(1), -1);
            case 's' -> resumeAt(p.substring(1), cThreadOr(gThread));
            case 'C' -> resumeAt(afterSignal(p.substring(1)), -1);
            case 'S' -> resumeAt(afterSignal(p.substring(1)), cThreadOr(gThread));
            case 'Z' -> breakpoint(p.substring(1), true);
            case 'z' -> breakpoint(p.substring(1), false);
            case 'H' -> setThread(p.substring(1));
            case 'T' -> threadAlive(p.substring(1)) ? "OK" : "E01";
            case 'D' -> {
                over = true;
                yield "OK";
            }
            case 'k' -> {
                kill();
                yield null;
            }
            case 'q' -> query(p);
            case 'Q' -> p.equals("QStartNoAckMode") ? noAck() : "";
            case 'v' -> v(p);
            default -> "";
        };
    }

    private String noAck() throws IOException {
        send("OK");
        acks = false;
        return null;
    }

    private void kill() {
        over = true;
        killed = true;
        breakpoints.clear();
        target.kill();
    }

    private int cThreadOr(int fallback) {
        return cThread >= 0 ? cThread : fallback;
    }

    // ---- breakpoints ----

    private String breakpoint(String arg, boolean insert) throws SyscallException {
        String[] f = arg.split("[,;]", -1);
        if (f.length < 3) {
            throw new IllegalArgumentException("Z/z needs type,addr,kind");
        }
        int type = Hex.small(f[0], 4);
        long address = Hex.number(f[1]);
        int kind = Hex.small(f[2], 64);
        if (insert && (type == 2 || type == 4) && !target.dataWatchpoints()) {
            LOG.info("{}: this KVM does not fire data watchpoints; in gdb, 'set can-use-hw-watchpoints 0' makes "
                    + "them software ones", vm);
            return "E28";
        }
        boolean ok = switch (type) {
            case 0 -> insert ? breakpoints.insertSoftware(gThread, address) : breakpoints.removeSoftware(address);
            case 1 -> insert ? breakpoints.insertHardware(Breakpoints.RW_EXECUTE, address, 1)
                    : breakpoints.removeHardware(Breakpoints.RW_EXECUTE, address, 1);
            case 2 -> insert ? breakpoints.insertHardware(Breakpoints.RW_WRITE, address, kind)
                    : breakpoints.removeHardware(Breakpoints.RW_WRITE, address, kind);
            case 4 -> insert ? breakpoints.insertHardware(Breakpoints.RW_ACCESS, address, kind)
                    : breakpoints.removeHardware(Breakpoints.RW_ACCESS, address, kind);
            default -> {
                yield false; // read watchpoints: x86 can only watch accesses (gdb then asks for Z4)
            }
        };
        if (type == 3) {
            return "";
        }
        return ok ? "OK" : insert ? (type == 0 ? E_FAULT : "E28") : "OK";
    }

    // ---- threads ----

    /** A thread id: -1 (all) and 0 (any) as -1; 1..n as VP id-1; else IllegalArgumentException. */
    private int thread(String id) {
        if (id.equals("-1") || id.equals("0")) {
            return -1;
        }
        long t = Hex.number(id);
        if (t < 1 || t > target.vpCount()) {
            throw new IllegalArgumentException("no thread " + id);
        }
        return (int) t - 1;
    }

    private boolean threadAlive(String id) {
        try {
            return thread(id) >= 0;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private String setThread(String arg) {
        if (arg.isEmpty()) {
            throw new IllegalArgumentException("H without an operation");
        }
        int t = thread(arg.substring(1));
        switch (arg.charAt(0)) {
            case 'g' -> gThread = t < 0 ? last.vp() : t;
            case 'c' -> cThread = t;
            default -> throw new IllegalArgumentException("H" + arg.charAt(0));
        }
        return "OK";
    }

    // ---- run control ----

    private static String afterSignal(String arg) {
        int semi = arg.indexOf(';');
        if (semi < 0) {
            Hex.small(arg, 255);
            return "";
        }
        Hex.small(arg.substring(0, semi), 255);
        return arg.substring(semi + 1);
    }

    /** {@code c [addr]}, {@code s [addr]}: from {@code addr} if given; {@code stepVp} single-steps alone. */
    private String resumeAt(String address, int stepVp) throws SyscallException, IOException {
        int vp = stepVp >= 0 ? stepVp : last.vp();
        if (!address.isEmpty()) {
            long rip = Hex.number(address);
            long[] general = target.generalRegisters(vp);
            general[X86Registers.RIP] = rip;
            target.setGeneralRegisters(vp, general);
        }
        resume(stepVp);
        return null;
    }

    private void resume(int stepVp) throws SyscallException, IOException {
        long[] dr = breakpoints.debugRegisters();
        for (int vp = 0; vp < target.vpCount(); vp++) {
            boolean step = vp == stepVp;
            try {
                target.setGuestDebug(vp, breakpoints.control(step, blockIrq && step), dr);
            } catch (SyscallException e) {
                if (!(step && blockIrq)) {
                    throw e;
                }
                blockIrq = false; // a KVM without KVM_GUESTDBG_BLOCKIRQ: interrupts may come in during a step
                target.setGuestDebug(vp, breakpoints.control(true, false), dr);
            }
        }
        running = true;
        if (pendingExit != null) {
            exited(pendingExit);
            return;
        }
        target.resume(stepVp);
    }

    private String v(String p) throws SyscallException, IOException {
        if (p.equals("vCont?")) {
            return "vCont;c;C;s;S";
        }
        if (p.startsWith("vCont;")) {
            int step = -1;
            for (String action : p.substring(6).split(";")) {
                if (action.isEmpty()) {
                    throw new IllegalArgumentException("an empty vCont action");
                }
                int colon = action.indexOf(':');
                String verb = colon < 0 ? action : action.substring(0, colon);
                int t = colon < 0 ? -1 : thread(action.substring(colon + 1));
                switch (verb.charAt(0)) {
                    case 's', 'S' -> {
                        if (verb.length() > 1) {
                            Hex.small(verb.substring(1), 255);
                        }
                        if (step < 0) {
                            step = t >= 0 ? t : cThreadOr(last.vp());
                        }
                    }
                    case 'c', 'C' -> {
                        if (verb.length() > 1) {
                            Hex.small(verb.substring(1), 255);
                        }
                    }
                    default -> throw new IllegalArgumentException("vCont action " + verb);
                }
            }
            resume(step);
            return null;
        }
        if (p.startsWith("vKill")) {
            kill();
            return "OK";
        }
        return "";
    }

    // ---- queries ----

    private String query(String p) {
        if (p.startsWith("qSupported")) {
            swbreak = p.contains("swbreak+");
            hwbreak = p.contains("hwbreak+");
            return "PacketSize=" + Integer.toHexString(PACKET_SIZE)
                    + ";qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;vContSupported+";
        }
        if (p.startsWith("qXfer:features:read:")) {
            return features(p.substring("qXfer:features:read:".length()));
        }
        return switch (p) {
            case "qAttached" -> "1";
            case "qC" -> "QC" + Long.toHexString(last.vp() + 1);
            case "qfThreadInfo" -> {
                StringBuilder r = new StringBuilder("m");
                for (int i = 0; i < target.vpCount(); i++) {
                    r.append(i == 0 ? "" : ",").append(Long.toHexString(i + 1));
                }
                yield r.toString();
            }
            case "qsThreadInfo" -> "l";
            default -> {
                if (p.startsWith("qThreadExtraInfo,")) {
                    int t = thread(p.substring("qThreadExtraInfo,".length()));
                    byte[] text = ("VP " + t).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                    yield Hex.of(text, 0, text.length);
                }
                yield "";
            }
        };
    }

    /** {@code qXfer:features:read:ANNEX:offset,length}: target.xml only. */
    private String features(String arg) {
        int colon = arg.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("qXfer without offset,length");
        }
        if (!arg.substring(0, colon).equals("target.xml")) {
            return "E00";
        }
        String[] ol = arg.substring(colon + 1).split(",", -1);
        if (ol.length != 2) {
            throw new IllegalArgumentException("qXfer without offset,length");
        }
        long offset = Hex.number(ol[0]);
        long length = Math.min(Hex.number(ol[1]), PACKET_SIZE - 16);
        String xml = X86Registers.TARGET_XML;
        if (offset >= xml.length()) {
            return "l";
        }
        int end = (int) Math.min(xml.length(), offset + length);
        return (end == xml.length() ? "l" : "m") + xml.substring((int) offset, end);
    }

    private void detachTarget() {
        try {
            target.stopAll();
            breakpoints.clear();
            for (int vp = 0; vp < target.vpCount(); vp++) {
                target.setGuestDebug(vp, 0, new long[KvmVcpu.DEBUG_REGISTERS]);
            }
        } catch (SyscallException | RuntimeException e) {
            LOG.error("{}: removing the debugger's settings failed: {}", vm, e.getMessage());
        }
        target.resume(-1);
        LOG.info("{}: gdb detached; the VM runs on", vm);
    }

    private static String printable(String text) {
        String t = text.length() > 80 ? text.substring(0, 80) + "..." : text;
        return t.replaceAll("[^\\x20-\\x7e]", "?");
    }
}
