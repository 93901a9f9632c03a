package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import io.bundlevisor.core.partition.GdbEndpoint;
import io.bundlevisor.core.partition.HaltReason;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Debian's gdb, in batch mode, against the gdbtarget guest through the partition's gdb stub on a Unix socket, the
 * VM waiting for it: a breakpoint at a symbol, reading a variable, stepping, a hardware breakpoint, continuing to
 * the power-off.
 */
class GdbGuestTest {

    static final Path GDB = Path.of("/usr/bin/gdb");

    @TempDir
    Path dir;

    @Test
    void gdbBreaksStepsReadsAndContinuesToPowerOff() throws Exception {
        GuestRun.kvm();
        assertTrue(Files.isExecutable(GDB), GDB + " is missing: scripts/test-deps.sh installs Debian's gdb");
        Path socket = dir.resolve("gdb.sock");
        Path script = dir.resolve("script.gdb");
        Files.writeString(script, String.join("\n",
                "set pagination off",
                "set confirm off",
                "target remote " + socket,
                "print/x $pc",
                "break gdb_bump",
                "continue",
                "print gdb_counter",
                "continue",
                "print gdb_counter",
                "stepi",
                "x/i $pc",
                "step",
                "print gdb_counter",
                "info threads",
                "delete",
                "hbreak gdb_bump",
                "continue",
                "print gdb_counter",
                "delete",
                "continue",
                ""));
        try (GuestRun run = GuestRun.create(GuestRun.config("gdbtarget", 1, 64L << 20)
                .withGdb(new GdbEndpoint(Optional.of(socket), 0, true)))) {
            run.partition.start();
            Thread.sleep(200);
            assertEquals("", run.output(), "the VM waits for gdb before its first instruction");
            Process gdb = new ProcessBuilder(List.of(GDB.toString(), "-batch", "-nx", "-x", script.toString(),
                    GuestRun.guest("gdbtarget").toString())).redirectErrorStream(true).start();
            gdb.getOutputStream().close();
            boolean ended = gdb.waitFor(120, TimeUnit.SECONDS);
            String out = new String(gdb.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!ended) {
                gdb.destroyForcibly();
            }
            System.out.println(out);
            assertTrue(ended, "gdb did not finish: " + out);
            HaltReason halt = run.awaitHalt();
            assertInstanceOf(HaltReason.PowerOff.class, halt, out);
            assertTrue(out.contains("Breakpoint 1, gdb_bump"), out);
            assertTrue(out.contains("$2 = 0"), out);
            assertTrue(out.contains("$3 = 1"), out);
            assertTrue(out.contains("<gdb_bump+6>"), "stepi moved one instruction: " + out);
            assertTrue(out.contains("Breakpoint 2, gdb_bump"), "the hardware breakpoint: " + out);
            assertTrue(out.contains("exited normally]"), out);
            assertEquals(0, gdb.exitValue(), out);
            assertTrue(run.output().contains("gdbtarget: counter 15"), run.output());
        }
    }

    @Test
    void softwareWatchpointStopsAtTheWrites() throws Exception {
        GuestRun.kvm();
        Path socket = dir.resolve("gdb.sock");
        try (GuestRun run = GuestRun.create(GuestRun.config("gdbtarget", 1, 64L << 20)
                .withGdb(new GdbEndpoint(Optional.of(socket), 0, true)))) {
            run.partition.start();
            // Software watchpoints (gdb single-steps and compares): a software KVM fires no data watchpoints.
            String out = gdb(socket, "break gdb_bump", "continue", "delete", "set can-use-hw-watchpoints 0",
                    "watch gdb_counter", "continue", "continue", "delete", "continue");
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), out);
            assertTrue(out.contains("Watchpoint 2: gdb_counter"), out);
            assertTrue(out.contains("Old value = 0\nNew value = 1"), out);
            assertTrue(out.contains("Old value = 1\nNew value = 3"), out);
            assertTrue(out.contains("exited normally]"), out);
        }
    }

    @Test
    void everyVpIsAThreadAndTheVmRunsOnAfterDetach() throws Exception {
        GuestRun.kvm();
        Path socket = dir.resolve("gdb.sock");
        try (GuestRun run = GuestRun.create(GuestRun.config("smp", 2, 64L << 20)
                .withGdb(new GdbEndpoint(Optional.of(socket), 0, true)))) {
            run.partition.start();
            String out = gdb(socket, "info threads", "thread 2", "print/x $cs", "detach");
            assertTrue(out.contains("Thread 1 (VP 0)") && out.contains("Thread 2 (VP 1)"), out);
            assertTrue(out.contains("$1 = 0x"), out);
            assertInstanceOf(HaltReason.PowerOff.class, run.awaitHalt(), out + run.output());
            assertTrue(run.output().contains("smp: 2 cpus up"), run.output());
        }
    }

    @Test
    void interruptStopsARunningGuestAndDetachLetsItRunOn() throws Exception {
        GuestRun.kvm();
        Path socket = dir.resolve("gdb.sock");
        try (GuestRun run = GuestRun.create(GuestRun.config("idle", 2, 64L << 20).withCmdline("idle.hz=200 idle.io=1")
                .withGdb(new GdbEndpoint(Optional.of(socket), 0, false)))) {
            run.partition.start();
            run.awaitOutput("idle: tick 2\n");
            try (SocketChannel gdb = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
                assertEquals("+$T05thread:1;#", exchange(gdb, "$?#3f"), "attaching stops the VM");
                int stopped = run.output().length();
                Thread.sleep(300);
                assertEquals(stopped, run.output().length(), "no VP runs while gdb holds the VM");
                assertEquals("+", exchange(gdb, "$c#63"));
                run.awaitOutput("idle: tick " + (ticks(run.output()) + 5) + "\n");
                assertEquals("$T02thread:1;#", exchange(gdb, "\u0003"), "Ctrl-C");
                assertEquals("+$OK#", exchange(gdb, "+$D#44"));
            }
            run.awaitOutput("idle: tick " + (ticks(run.output()) + 5) + "\n");
            assertTrue(run.partition.halt().isEmpty());
        }
    }

    /** The last tick number the idle guest printed. */
    private static int ticks(String output) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("idle: tick (\\d+)\n").matcher(output);
        int last = 0;
        while (m.find()) {
            last = Integer.parseInt(m.group(1));
        }
        return last;
    }

    /**
     * Sends {@code wire}, then reads the reply up to a frame's end (its two checksum digits dropped) or, with no
     * frame coming, the one acknowledgment byte.
     */
    private static String exchange(SocketChannel gdb, String wire) throws Exception {
        gdb.write(ByteBuffer.wrap(wire.getBytes(StandardCharsets.ISO_8859_1)));
        StringBuilder reply = new StringBuilder();
        ByteBuffer one = ByteBuffer.allocate(1);
        boolean expectFrame = !wire.equals("$c#63");
        while (true) {
            one.clear();
            if (gdb.read(one) < 0) {
                throw new AssertionError("the stub closed the connection after " + reply);
            }
            char c = (char) (one.get(0) & 0xFF);
            reply.append(c);
            if (!expectFrame && c == '+') {
                return reply.toString();
            }
            if (c == '#') {
                one.clear();
                gdb.read(one);
                one.clear();
                gdb.read(one);
                return reply.toString();
            }
        }
    }

    /** Runs gdb in batch mode: it connects to {@code socket}, runs {@code commands}, and its output is returned. */
    private String gdb(Path socket, String... commands) throws Exception {
        Path script = Files.createTempFile(dir, "gdb", ".script");
        List<String> lines = new java.util.ArrayList<>(List.of("set pagination off", "set confirm off",
                "target remote " + socket));
        lines.addAll(List.of(commands));
        Files.writeString(script, String.join("\n", lines) + "\n");
        Process gdb = new ProcessBuilder(List.of(GDB.toString(), "-batch", "-nx", "-x", script.toString(),
                GuestRun.guest("gdbtarget").toString())).redirectErrorStream(true).start();
        gdb.getOutputStream().close();
        boolean ended = gdb.waitFor(120, TimeUnit.SECONDS);
        String out = new String(gdb.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!ended) {
            gdb.destroyForcibly();
        }
        System.out.println(out);
        assertTrue(ended, "gdb did not finish: " + out);
        assertEquals(0, gdb.exitValue(), out);
        return out;
    }
}
