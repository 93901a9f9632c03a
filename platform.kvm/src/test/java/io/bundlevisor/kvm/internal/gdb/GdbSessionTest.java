package io.bundlevisor.kvm.internal.gdb;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.kvm.internal.KvmVcpu;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The command dispatcher against a fake target: each packet's reply, run control, breakpoints, and packets a
 * hostile or broken client sends, which get an error or the empty reply and leave the session serving.
 */
class GdbSessionTest {

    private FakeTarget target;
    private GdbSession session;
    private Thread thread;
    private final BlockingQueue<String> sent = new LinkedBlockingQueue<>();

    @BeforeEach
    void start() {
        target = new FakeTarget(2);
        GuestAccess memory = new GuestAccess(target);
        OutputStream out = new OutputStream() {
            @Override
            public void write(int b) {
                sent.add(Character.toString(b));
            }

            @Override
            public void write(byte[] b, int off, int len) {
                sent.add(new String(b, off, len, StandardCharsets.ISO_8859_1));
            }
        };
        session = new GdbSession(target, new Breakpoints(memory), memory, new PacketWriter(out), "test");
        thread = Thread.ofPlatform().start(() -> {
            try {
                session.run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    @AfterEach
    void stop() throws InterruptedException {
        session.post(new GdbSession.Shutdown());
        thread.join(5000);
    }

    /** Sends {@code packet}; returns the reply's data (after the ack), checking its framing. */
    private String ask(String packet) throws Exception {
        session.post(new GdbSession.FromClient(new Frame.Packet(packet.getBytes(StandardCharsets.ISO_8859_1))));
        String ack = sent.poll(5, TimeUnit.SECONDS);
        if (!"+".equals(ack)) {
            return frameData(ack);
        }
        return frameData(sent.poll(5, TimeUnit.SECONDS));
    }

    private static String frameData(String frame) throws IOException {
        assertNotNull(frame, "no reply");
        Frame f = new PacketReader(new ByteArrayInputStream(frame.getBytes(StandardCharsets.ISO_8859_1)), 1 << 20)
                .next();
        return ((Frame.Packet) f).text();
    }

    /** Sends {@code packet}, which has no reply (a resume): waits for its ack and for the target to resume. */
    private void resume(String packet) throws Exception {
        int before = resumedCount();
        session.post(new GdbSession.FromClient(new Frame.Packet(packet.getBytes(StandardCharsets.ISO_8859_1))));
        assertEquals("+", sent.poll(5, TimeUnit.SECONDS));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (resumedCount() == before) {
            assertTrue(System.nanoTime() < deadline, packet + " did not resume the target");
            Thread.sleep(1);
        }
    }

    private int resumedCount() {
        synchronized (target) {
            return target.resumed.size();
        }
    }

    private String next() throws Exception {
        return frameData(sent.poll(5, TimeUnit.SECONDS));
    }

    @Test
    void answersTheQueriesGdbStartsWith() throws Exception {
        String supported = ask("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+");
        assertTrue(supported.startsWith("PacketSize=4000;"), supported);
        assertTrue(supported.contains("qXfer:features:read+"), supported);
        assertEquals("T05thread:1;", ask("?"));
        assertEquals("1", ask("qAttached"));
        assertEquals("QC1", ask("qC"));
        assertEquals("m1,2", ask("qfThreadInfo"));
        assertEquals("l", ask("qsThreadInfo"));
        assertEquals("OK", ask("T2"));
        assertEquals("E01", ask("T3"));
        assertEquals("", ask("qTStatus"));
        assertEquals("", ask("vMustReplyEmpty"));
        assertEquals("vCont;c;C;s;S", ask("vCont?"));
    }

    @Test
    void servesTheTargetDescriptionInPieces() throws Exception {
        StringBuilder xml = new StringBuilder();
        String piece;
        do {
            piece = ask("qXfer:features:read:target.xml:" + Integer.toHexString(xml.length()) + ",100");
            xml.append(piece, 1, piece.length());
        } while (piece.startsWith("m"));
        assertEquals("l", piece.substring(0, 1));
        assertEquals(X86Registers.TARGET_XML, xml.toString());
        assertTrue(xml.toString().contains("<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\" regnum=\"16\""));
        assertEquals("E00", ask("qXfer:features:read:other.xml:0,100"));
    }

    @Test
    void readsAndWritesRegisters() throws Exception {
        String g = ask("g");
        assertEquals(X86Registers.G_BYTES * 2, g.length());
        assertEquals("0000200000000000", g.substring(16 * 16, 17 * 16)); // rip
        assertEquals("0000200000000000", ask("p10"));
        assertEquals("10000000", ask("p12")); // cs
        assertEquals("xxxxxxxxxxxxxxxxxxxx", ask("p18")); // st0: unavailable
        assertEquals("OK", ask("P10=efbeadde00000000"));
        assertEquals(0xdeadbeefL, target.general[0][16]);
        assertEquals("OK", ask("P6=0800000000000000")); // rbp is gdb's 6, kvm_regs' 7
        assertEquals(8, target.general[0][7]);
        assertEquals("E01", ask("P12=11000000")); // a selector cannot be changed
        assertEquals("OK", ask("Hg2"));
        assertEquals("0100200000000000", ask("p10"));
        assertEquals("OK", ask("G" + ask("g")));
        assertEquals("E45", ask("p999"));
    }

    @Test
    void memoryGoesThroughTranslationAndStaysInRam() throws Exception {
        target.ram.set(JAVA_BYTE, 0x10, (byte) 0x5A);
        assertEquals("5a", ask("m10000010,1"));
        assertEquals("E14", ask("m0,4"), "unmapped");
        assertEquals("E14", ask("m40000000,4"), "mapped, but not to RAM");
        // A read running off the end of the mapping is cut there.
        assertEquals(4, ask("m1000fffe,8").length());
        assertEquals("OK", ask("M10000020,2:abcd"));
        assertEquals("abcd", ask("m10000020,2"));
        assertEquals("E14", ask("M1000fffe,4:00000000"), "all or nothing");
        assertEquals("0000", ask("m1000fffe,2"));
        assertEquals("OK", ask("X10000030,2:\u0024\u0023"));
        assertEquals("2423", ask("m10000030,2"));
    }

    @Test
    void softwareBreakpointsAreInt3sGdbDoesNotSee() throws Exception {
        target.ram.set(JAVA_BYTE, 0x100, (byte) 0x55);
        assertEquals("OK", ask("Z0,10000100,1"));
        assertEquals((byte) 0xCC, target.ram.get(JAVA_BYTE, 0x100));
        assertEquals("55", ask("m10000100,1"));
        assertEquals("OK", ask("M10000100,1:90"));
        assertEquals((byte) 0xCC, target.ram.get(JAVA_BYTE, 0x100));
        assertEquals("90", ask("m10000100,1"));
        assertEquals("OK", ask("z0,10000100,1"));
        assertEquals((byte) 0x90, target.ram.get(JAVA_BYTE, 0x100));
        assertEquals("E14", ask("Z0,0,1"));
    }

    @Test
    void hardwareBreakpointsFillTheDebugRegisters() throws Exception {
        assertEquals("OK", ask("Z1,201430,1"));
        assertEquals("OK", ask("Z2,10000040,4"));
        assertEquals("E28", ask("Z2,10000041,4"), "unaligned");
        assertEquals("", ask("Z3,10000040,4"), "x86 has no read-only watchpoint");
        assertEquals("OK", ask("Z4,10000048,8"));
        assertEquals("OK", ask("Z1,201440,1"));
        assertEquals("E28", ask("Z1,201450,1"), "four slots");
        resume("c");
        long[] dr = target.debugRegisters[1];
        assertEquals(0x201430, dr[0]);
        assertEquals(0x10000040L, dr[1]);
        assertEquals(0x10000048L, dr[2]);
        assertEquals(0x201440, dr[3]);
        // L0-L3; slot 1 write (01) of 4 bytes (11); slot 2 access (11) of 8 bytes (10).
        assertEquals(0x55L | 0b1101L << 20 | 0b1011L << 24, dr[7]);
        assertEquals(KvmVcpu.GUESTDBG_ENABLE | KvmVcpu.GUESTDBG_USE_HW_BP, target.control[0]);
    }

    @Test
    void dataWatchpointsAreRefusedWhereKvmDoesNotFireThem() throws Exception {
        target.watchpoints = false;
        assertEquals("E28", ask("Z2,10000040,4"));
        assertEquals("E28", ask("Z4,10000040,4"));
        assertEquals("OK", ask("Z1,201430,1"));
    }

    @Test
    void continueStopInterruptAndExit() throws Exception {
        ask("qSupported:swbreak+");
        resume("c");
        assertEquals(List.of(-1), target.resumed);
        // No reply while running: the g waits for the stop.
        session.post(new GdbSession.FromClient(new Frame.Packet("g".getBytes(StandardCharsets.US_ASCII))));
        assertEquals("+", sent.poll(5, TimeUnit.SECONDS));
        session.post(new GdbSession.Stopped(new Stop(1, Stop.Cause.SOFTWARE_BREAKPOINT, 0x201430)));
        assertEquals("T05thread:2;swbreak:;", next());
        assertEquals(X86Registers.G_BYTES * 2, next().length()); // the deferred g, answered after the stop
        assertEquals("QC2", ask("qC"));
        resume("vCont;s:2;c");
        assertEquals(1, target.resumed.getLast());
        assertEquals(KvmVcpu.GUESTDBG_ENABLE | KvmVcpu.GUESTDBG_SINGLESTEP | KvmVcpu.GUESTDBG_BLOCKIRQ,
                target.control[1]);
        assertEquals(0, target.control[0]);
        session.post(new GdbSession.Stopped(new Stop(1, Stop.Cause.STEP, 0)));
        assertEquals("T05thread:2;", next());
        resume("c");
        session.post(new GdbSession.FromClient(new Frame.Interrupt()));
        assertEquals("T02thread:2;", next());
        // A stop that raced the interrupt is dropped.
        session.post(new GdbSession.Stopped(new Stop(0, Stop.Cause.HARDWARE_BREAKPOINT, 0)));
        assertEquals("OK", ask("Hg1"));
        resume("c");
        session.post(new GdbSession.Exited(0));
        assertEquals("W00", next());
        thread.join(5000);
        assertTrue(session.exitSent());
    }

    @Test
    void detachRemovesBreakpointsAndLetsTheVmRun() throws Exception {
        target.ram.set(JAVA_BYTE, 0x100, (byte) 0x55);
        assertEquals("OK", ask("Z0,10000100,1"));
        assertEquals("OK", ask("D"));
        thread.join(5000);
        assertEquals((byte) 0x55, target.ram.get(JAVA_BYTE, 0x100));
        assertEquals(-1, target.resumed.getLast());
        assertEquals(0, target.control[0]);
    }

    @Test
    void noAckModeStopsTheAcks() throws Exception {
        session.post(new GdbSession.FromClient(new Frame.Packet("QStartNoAckMode".getBytes(StandardCharsets.US_ASCII))));
        assertEquals("+", sent.poll(5, TimeUnit.SECONDS));
        assertEquals("OK", next());
        session.post(new GdbSession.FromClient(new Frame.Packet("?".getBytes(StandardCharsets.US_ASCII))));
        assertEquals("T05thread:1;", next());
        session.post(new GdbSession.FromClient(new Frame.BadChecksum()));
        session.post(new GdbSession.FromClient(new Frame.Packet("qC".getBytes(StandardCharsets.US_ASCII))));
        assertEquals("QC1", next(), "no '-' in no-ack mode");
    }

    @Test
    void aBadChecksumIsNackedAndANackResends() throws Exception {
        session.post(new GdbSession.FromClient(new Frame.BadChecksum()));
        assertEquals("-", sent.poll(5, TimeUnit.SECONDS));
        assertEquals("QC1", ask("qC"));
        session.post(new GdbSession.FromClient(new Frame.Ack(false)));
        assertEquals("QC1", next());
    }

    @Test
    void malformedPacketsGetErrorsAndTheSessionGoesOn() throws Exception {
        for (String p : List.of("m", "mzz,1", "m1,", "m,", "m10000000", "M1", "M10000000,2:abc", "M10000000,4:ab",
                "Mq,1:00", "X1", "X10000000,5:ab", "G", "G12", "P", "P10", "P10=12", "Pzz=00", "p",
                "pffffffffffffffffff", "Z", "Z0", "Z0,1", "Z9,1,1", "Z0,zz,1", "z1,1,ffffff", "H", "Hx1", "Hg999",
                "Hgz", "vCont;", "vCont;x", "vCont;s:9", "vCont;Szz", "qXfer:features:read:target.xml",
                "qXfer:features:read:target.xml:zz,1", "qXfer:features:read:target.xml:1", "qThreadExtraInfo,99",
                "czz", "Czz", "S1;zz")) {
            String reply = ask(p);
            assertTrue(reply.startsWith("E") || reply.isEmpty(), p + " got '" + reply + "'");
        }
        assertEquals("T05thread:1;", ask("?"), "still serving");
        assertTrue(target.resumed.isEmpty(), "no malformed packet resumed the VM");
    }

    @Test
    void randomPacketsNeverEscapeTheDispatcher() throws Exception {
        Random random = new Random(4);
        String heads = "gGpPmMXZzHTqQ?";
        for (int i = 0; i < 3000; i++) {
            StringBuilder p = new StringBuilder().append(heads.charAt(random.nextInt(heads.length())));
            int n = random.nextInt(40);
            for (int j = 0; j < n; j++) {
                p.append("0123456789abcdef,:;=xZ-".charAt(random.nextInt(23)));
            }
            if (p.toString().equals("QStartNoAckMode")) {
                continue;
            }
            assertNotNull(ask(p.toString()), p.toString());
        }
        assertEquals("T05thread:1;", ask("?"));
    }
}
