package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.Assume;
import org.junit.Test;

/**
 * The console of {@code bundlevisor run} in real pseudo terminals, with the echo test guest (it prints each byte it
 * receives on COM1 in hex, and powers off on 'q'): on a terminal every key, Ctrl-C included, reaches the guest,
 * Ctrl-A h lists the escapes, Ctrl-A x quits (exit status 3) with the terminal as it was; {@code --console pty} gives
 * a pseudo terminal a person attaches to.
 */
public class ConsoleIT {

    private static final Path ECHO = Path.of("..", "platform.kvm", "target", "guests", "echo.elf");

    /**
     * util-linux {@code script} runs the launcher in a pseudo terminal (cooked, as a login shell leaves it) whose
     * master it connects to our pipes; after the run, {@code stty -a} shows the terminal's settings.
     */
    @Test(timeout = 120_000)
    public void onATerminalKeysGoToTheGuestAndCtrlAXQuitsWithTheTerminalRestored() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        assertTrue(ECHO + " is built by platform.kvm's tests", Files.isRegularFile(ECHO));
        String java = ProcessHandle.current().info().command().orElse("java");
        String run = java + " --sun-misc-unsafe-memory-access=allow -jar " + Path.of("target", "bundlevisor.jar")
                + " run --kernel " + ECHO + " --memory 32M";
        ProcessBuilder b = new ProcessBuilder("script", "-qfec", "stty -a; " + run + "; echo \"exit=$?\"; stty -a",
                "/dev/null").redirectErrorStream(true);
        b.environment().put("SHELL", "/bin/sh"); // script's sh, the same here as where SHELL is unset (see ShellIT)
        Process p = b.start();
        Screen screen = new Screen(p.getInputStream());
        try (OutputStream keys = p.getOutputStream()) {
            String before = screen.await("echo: ready");
            assertTrue(before, Pattern.compile("(^|\\s)icanon\\s").matcher(before).find());
            keys.write("ab\u0003".getBytes(StandardCharsets.ISO_8859_1));
            keys.flush();
            screen.await("echo: 3");
            String typed = screen.text().substring(screen.text().indexOf("echo: ready"));
            assertTrue(typed, typed.contains("echo: 61") && typed.contains("echo: 62"));
            assertFalse("raw: the terminal echoes nothing itself\n" + typed, typed.contains("ab"));
            keys.write("\u0001h".getBytes(StandardCharsets.ISO_8859_1));
            keys.flush();
            screen.await("C-a x    exit");
            keys.write("\u0001x".getBytes(StandardCharsets.ISO_8859_1));
            keys.flush();
            String end = screen.await("exit=3");
            assertTrue(end, end.contains("bundlevisor: vm: quit from the console (Ctrl-A x)"));
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!screen.text().substring(screen.text().indexOf("exit=3")).contains("echoke")
                    && System.nanoTime() < deadline) {
                Thread.sleep(20); // stty's last line, read by the screen's thread
            }
            String after = screen.text().substring(screen.text().indexOf("exit=3"));
            for (String mode : List.of("icanon", "echo", "isig", "opost", "icrnl")) {
                assertTrue("the terminal is cooked again (" + mode + ")\n" + after,
                        Pattern.compile("(^|\\s)" + mode + "(\\s|$)", Pattern.MULTILINE).matcher(after).find());
            }
            assertFalse("Ctrl-C did not reach the VMM as a signal\n" + screen.text(),
                    screen.text().contains("exit=130"));
        } finally {
            p.destroyForcibly();
        }
    }

    /** {@code --console pty}: the path is printed; a person on it types, the guest echoes and powers off. */
    @Test(timeout = 120_000)
    public void aPtyConsoleIsAPseudoTerminalAPersonAttachesTo() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        List<String> command = new ArrayList<>(DistroJar.command("warn", List.of()));
        command.addAll(List.of("run", "--kernel", ECHO.toString(), "--memory", "32M", "--console", "pty"));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            p.getOutputStream().close();
            Screen screen = new Screen(p.getInputStream());
            String line = screen.await(")");
            Matcher m = Pattern.compile("bundlevisor: vm: console on (/dev/pts/\\d+) \\(e\\.g\\. screen").matcher(line);
            assertTrue(line, m.find());
            try (InputStream in = new FileInputStream(m.group(1)); OutputStream out = new FileOutputStream(m.group(1))) {
                Screen tty = new Screen(in);
                out.write("z".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                tty.await("echo: 7a");
                out.write("q".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                tty.await("echo: bye");
                assertTrue(p.waitFor(30, TimeUnit.SECONDS));
                assertEquals(screen.text(), 0, p.exitValue());
            }
        } finally {
            p.destroyForcibly();
        }
    }
}
