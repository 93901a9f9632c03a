package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.Assume;
import org.junit.Test;

/**
 * {@code bundlevisor run --gdb PORT,wait} debugged by Debian's gdb in batch mode: the VM waits before its first
 * instruction, gdb attaches over 127.0.0.1, breaks at a symbol of the gdbtarget test guest, reads a variable,
 * steps, continues to the guest's power-off, and the run exits 0 with the guest's whole output.
 */
public class GdbIT {

    private static final Path GUEST = Path.of("..", "platform.kvm", "target", "guests", "gdbtarget.elf");
    private static final Path GDB = Path.of("/usr/bin/gdb");

    @Test(timeout = 240_000)
    public void gdbBreaksStepsReadsAndContinuesToPowerOff() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        assertTrue(GDB + " is missing: scripts/test-deps.sh installs Debian's gdb", Files.isExecutable(GDB));
        assertTrue(GUEST + " is built by platform.kvm's tests", Files.isRegularFile(GUEST));
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        List<String> command = new ArrayList<>(DistroJar.command("warn", List.of()));
        command.addAll(List.of("run", "--kernel", GUEST.toString(), "--memory", "64M", "--gdb", port + ",wait"));
        Process vm = new ProcessBuilder(command).redirectErrorStream(true).start();
        vm.getOutputStream().close();
        StringBuffer vmOutput = new StringBuffer();
        Thread pump = Thread.ofPlatform().daemon().start(() -> copy(vm.getInputStream(), vmOutput));
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (!vmOutput.toString().contains("gdb stub on 127.0.0.1:" + port)) {
                assertTrue("no gdb stub announced: " + vmOutput, System.nanoTime() < deadline && vm.isAlive());
                Thread.sleep(20);
            }
            assertTrue(vmOutput.toString(), vmOutput.toString().contains("(in gdb: target remote 127.0.0.1:" + port
                    + "); the VM waits for gdb"));
            Path script = Files.createTempFile(Path.of("target"), "gdb", ".script");
            Files.writeString(script, String.join("\n",
                    "set pagination off",
                    "set confirm off",
                    "target remote 127.0.0.1:" + port,
                    "break gdb_bump",
                    "continue",
                    "continue",
                    "continue",
                    "print gdb_counter",
                    "print/x $rip",
                    "stepi",
                    "print/x $rip",
                    "info registers rip eflags cs",
                    "delete",
                    "continue",
                    ""));
            Process gdb = new ProcessBuilder(GDB.toString(), "-batch", "-nx", "-x", script.toString(),
                    GUEST.toString()).redirectErrorStream(true).start();
            gdb.getOutputStream().close();
            StringBuffer gdbOutput = new StringBuffer();
            Thread gdbPump = Thread.ofPlatform().daemon().start(() -> copy(gdb.getInputStream(), gdbOutput));
            assertTrue("gdb did not finish: " + gdbOutput, gdb.waitFor(120, TimeUnit.SECONDS));
            gdbPump.join(5000);
            String out = gdbOutput.toString();
            assertEquals(out, 0, gdb.exitValue());
            assertTrue(out, out.contains("Breakpoint 1, gdb_bump (by=by@entry=3) at gdbtarget.c"));
            assertTrue("the variable after two calls (1 + 2)\n" + out, out.contains("$1 = 3"));
            assertTrue(out, out.contains("$2 = 0x201430"));
            assertTrue("one instruction further\n" + out, out.contains("$3 = 0x201436"));
            assertTrue(out, out.contains("exited normally]"));
            assertTrue("the VMM exits by itself\n" + vmOutput, vm.waitFor(60, TimeUnit.SECONDS));
            pump.join(5000);
            assertEquals(vmOutput.toString(), 0, vm.exitValue());
            assertTrue(vmOutput.toString(), vmOutput.toString().contains("gdbtarget: counter 15\n"));
            Files.delete(script);
        } finally {
            vm.destroyForcibly();
        }
    }

    private static void copy(InputStream in, StringBuffer into) {
        byte[] b = new byte[4096];
        try {
            for (int n; (n = in.read(b)) > 0;) {
                into.append(new String(b, 0, n, StandardCharsets.ISO_8859_1));
            }
        } catch (IOException e) {
            into.append("[output: ").append(e.getMessage()).append(']');
        }
    }
}
