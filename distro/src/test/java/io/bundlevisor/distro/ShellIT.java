package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.Assume;
import org.junit.Test;

/**
 * The platform's shell driven through a real terminal (util-linux {@code script} gives it a pseudo terminal of 120 by
 * 40): line editing and history (Up), Tab completion of commands and of VM names, Ctrl-C interrupting only the
 * running command, log lines kept off the prompt and read with {@code log:display}, Ctrl-D stopping the platform.
 */
public class ShellIT {

    private static final Path ECHO = Path.of("..", "platform.kvm", "target", "guests", "echo.elf");
    /** Up, as an xterm sends it in the keypad-transmit mode JLine turns on. */
    private static final String UP = "\u001bOA";

    @Test(timeout = 180_000)
    public void theShellEditsCompletesInterruptsAndKeepsLogsOffThePrompt() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        String java = ProcessHandle.current().info().command().orElse("java");
        String shell = java + " --sun-misc-unsafe-memory-access=allow -jar "
                + Path.of("target", "bundlevisor.jar").toAbsolutePath() + " shell --log-level io.bundlevisor=info";
        // The shell replaces script's sh (exec): Ctrl-C while a command runs reaches the foreground process group as
        // SIGINT, and a waiting dash (script runs $SHELL, /bin/sh where it is unset) would die of it, taking any
        // later line of its own with it. script -e answers the platform's own exit status.
        ProcessBuilder b = new ProcessBuilder("script", "-qfec", "stty cols 120 rows 40; exec " + shell, "/dev/null")
                .redirectErrorStream(true)
                .directory(Files.createDirectories(Path.of("target", "shell-it")).toFile()); // web1.console.log

        b.environment().put("TERM", "xterm");
        b.environment().put("SHELL", "/bin/sh"); // the same sh here as on a machine whose SHELL is unset
        Process p = b.start();
        Screen screen = new Screen(p.getInputStream());
        try (OutputStream keys = p.getOutputStream()) {
            screen.await("g! ");
            type(keys, "vm:run web1 --kernel " + ECHO.toAbsolutePath() + " --memory 32M\r");
            screen.await("started web1 (1 VPs, 32 MiB)");
            // Tab completes a command, then a VM's name (its candidates come from vm:names).
            type(keys, "vm:clo\t");
            type(keys, "w\t\r");
            screen.await("closed web1");
            // History: Up brings the last line back.
            type(keys, UP + "\r");
            screen.await("no VM named web1");
            // Ctrl-C interrupts the running command, not the platform.
            type(keys, "sleep 100000\r");
            Thread.sleep(1000);
            type(keys, "\u0003");
            type(keys, "echo still-here\r");
            screen.await("still-here");
            String shown = screen.text();
            assertFalse("INFO lines stay off the terminal\n" + shown, shown.contains(" INFO "));
            type(keys, "log:display 50\r");
            screen.await("INFO  [FelixStartLevel] io.bundlevisor.kvm.internal.partition.PartitionServiceComponent - "
                    + "partition service active");
            type(keys, "log:get\r");
            screen.await("io.bundlevisor info");
            type(keys, "\u0004");
            screen.await("gosh: stopping framework");
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                throw new AssertionError("the shell did not stop on Ctrl-D:\n" + screen.text() + Screen.threadDumps());
            }
            // bnd's launcher answers STOPPED (117) for a framework stopped in order; the bundlevisor script maps it to 0
            assertEquals(screen.text(), 117, p.exitValue());
        } finally {
            p.destroyForcibly();
        }
    }

    private static void type(OutputStream keys, String text) throws Exception {
        keys.write(text.getBytes(StandardCharsets.UTF_8));
        keys.flush();
        Thread.sleep(300); // as a person types: JLine redraws between keys
    }
}
