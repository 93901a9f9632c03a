package io.bundlevisor.manage.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Timeout;

import io.bundlevisor.manage.cli.Cli;

/**
 * Coverage-guided fuzzing (Jazzer) of the command line: the launcher's parser and every option converter behind it
 * (sizes, counts, --disk/--net/--device option lists, names, paths), fed argument lists made of the real commands and
 * options with values the input chooses, and raw strings. With the unit tests only the committed seeds run
 * (LaunchFuzzTestInputs); {@code scripts/fuzz.sh} fuzzes for longer.
 *
 * <p>What must hold for every input: {@link Launch#decide} returns (never throws); it either goes on with the
 * platform or answers 0 (help, version, completion) or 64 (a usage error); a usage error is one line beginning
 * {@code bundlevisor: }, perhaps followed by the line that points at --help, and nothing it prints to a person
 * carries a control character the user did not see coming (an escape sequence in an argument must not reach the
 * terminal raw).
 */
class LaunchFuzzTest {

    private static final String[] WORDS = {"run", "serve", "help", "completion", "--help", "-h", "--version", "-V",
        "--kernel", "--initrd", "--cmdline", "--cpus", "--memory", "--console", "--name", "--no-reboot",
        "--on-emulation-failure", "--disk", "--net", "--device", "-v", "--verbose", "--log-level", "--log-file",
        "--restore", "--socket", "--api-sock", "--config-file", "--no-api", "--id", "--no-seccomp", "--deploy", "="};
    private static final String[] VALUES = {"512M", "1.5G", "2GiB", "0", "2", "-1", "99999999999", "x.img",
        "path=x.img,readonly=on", "x.img,ro", "tap=tap0,mac=02:00:00:00:00:01", "virtio-blk,path=x.img", "stdio",
        "file:/dev/null", "socket:/tmp/c.sock", "none", "debug", "io.bundlevisor=info", "web1", "/dev/null", "/",
        "pause", "shutdown", ",", "=,=", "a,,b"};

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyCommandLineIsLaunchedOrAnsweredInOneLine(FuzzedDataProvider data) {
        List<String> args = new ArrayList<>();
        int count = data.consumeInt(0, 12);
        for (int i = 0; i < count; i++) {
            String word = switch (data.consumeInt(0, 3)) {
                case 0 -> data.pickValue(WORDS);
                case 1 -> data.pickValue(VALUES);
                case 2 -> data.pickValue(WORDS) + "=" + (data.consumeBoolean() ? data.pickValue(VALUES)
                        : data.consumeString(40));
                default -> data.consumeString(60);
            };
            args.add(word);
        }
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        Launch.Decision d = Launch.decide(args.toArray(String[]::new), new PrintWriter(out, true),
                new PrintWriter(err, true), 2);
        String said = err.toString();
        if (d.exitStatus().isEmpty()) {
            return; // the platform starts with these properties
        }
        int status = d.exitStatus().getAsInt();
        assertTrue(status == 0 || status == Cli.USAGE_ERROR, () -> "exit " + status + " for " + args);
        if (status == 0) {
            assertEquals("", said, () -> "an answer with a complaint for " + args);
            return;
        }
        List<String> lines = said.lines().toList();
        assertTrue(lines.size() == 1 || lines.size() == 2 && lines.get(1).startsWith("Try 'bundlevisor "),
                () -> "a usage error of " + lines.size() + " lines for " + args + ":\n" + said);
        assertTrue(lines.getFirst().startsWith("bundlevisor: "), said);
        for (String line : lines) {
            assertFalse(line.chars().anyMatch(c -> c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)),
                    () -> "a control character reaches the terminal for " + args + ": " + line.chars()
                            .mapToObj(c -> c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) ? String.format(
                                    "\\u%04x", c) : Character.toString(c)).reduce("", String::concat));
        }
    }
}
