package io.bundlevisor.api.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import org.junit.jupiter.api.Timeout;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.MachineConfig;

/**
 * Coverage-guided fuzzing (Jazzer) of Firecracker's {@code --config-file} as {@link ConfigFile#boot} reads it: a
 * configuration file is untrusted input. Each input is either raw bytes or a configuration built from fuzzed values
 * (a real kernel and disk or fuzzed paths, any vCPU count, memory, boot arguments, drive and interface ids and
 * options, unknown and unsupported sections). What must hold: the file starts one microVM whose machine is in range
 * (1 to 32 vCPUs, memory > 0, the kernel a file that exists, boot arguments printable) or is refused with an
 * {@link ApiException} of one printable line, and nothing else is thrown. Inputs that name the logger or metrics
 * sections are passed over: those open files where the input says, which a fuzzer must not do to its host
 * (ApiFuzzTest and ConfigFileTest cover them).
 */
class ConfigFileFuzzTest {

    private static final ApiRoutesTest.Vms VMS = new ApiRoutesTest.Vms();
    private static Path dir;
    private static Path kernel;
    private static Path disk;

    private static synchronized void files() throws Exception {
        if (dir == null) {
            dir = Files.createTempDirectory("config-fuzz");
            dir.toFile().deleteOnExit();
            kernel = Files.writeString(dir.resolve("vmlinux"), "x");
            disk = Files.writeString(dir.resolve("root.ext4"), "x");
        }
    }

    @FuzzTest(maxDuration = "60s")
    @Timeout(10) // per input: Jazzer hands it to libFuzzer (-timeout) when fuzzing
    void anyFileStartsOneMicrovmInRangeOrIsRefusedInOnePrintableLine(FuzzedDataProvider data) throws Exception {
        files();
        String json = data.consumeBoolean() ? built(data) : data.consumeRemainingAsString();
        if (json.contains("log") || json.contains("metrics")) {
            return;
        }
        Path file = dir.resolve("vm.json");
        Files.writeString(file, json, StandardCharsets.UTF_8);
        VMS.ran.clear();
        ApiRoutes routes = new ApiRoutes(new Microvm("fuzz", VMS, Console.none()), "0.1.0",
                ApiRoutesTest.metrics(VMS));
        try {
            ConfigFile.boot(file, routes);
            assertEquals(1, VMS.ran.size(), "a file that was accepted starts its microVM once");
            MachineConfig c = VMS.ran.getFirst();
            assertTrue(c.cpus() >= 1 && c.cpus() <= 32, "vCPUs: " + c.cpus());
            assertTrue(c.memoryBytes() > 0, "memory: " + c.memoryBytes());
            assertTrue(Files.isRegularFile(c.kernel()), "kernel: " + c.kernel());
            assertTrue(c.cmdline().chars().allMatch(ch -> ch >= 0x20 && ch < 0x7F), "boot args: " + c.cmdline());
        } catch (ApiException e) {
            String m = e.getMessage();
            assertTrue(m != null && !m.isEmpty() && m.chars().allMatch(ch -> ch >= 0x20 && ch < 0x7F),
                    "not one printable line: " + m);
            assertEquals(0, VMS.ran.size(), "a refused file started a microVM");
        } finally {
            routes.close();
        }
    }

    /** A configuration of Firecracker's shape with fuzzed values; strings are JSON-quoted but otherwise free. */
    private static String built(FuzzedDataProvider data) {
        StringBuilder b = new StringBuilder("{");
        if (data.consumeBoolean()) {
            b.append("\"boot-source\": {\"kernel_image_path\": ")
                    .append(quote(data.consumeBoolean() ? kernel.toString() : data.consumeString(40)));
            if (data.consumeBoolean()) {
                b.append(", \"boot_args\": ").append(quote(data.consumeString(80)));
            }
            if (data.consumeBoolean()) {
                b.append(", \"initrd_path\": ").append(quote(data.consumeBoolean() ? disk.toString()
                        : data.consumeString(40)));
            }
            b.append("},");
        }
        if (data.consumeBoolean()) {
            b.append("\"machine-config\": {\"vcpu_count\": ").append(data.consumeInt(-2, 300))
                    .append(", \"mem_size_mib\": ").append(data.consumeBoolean() ? data.consumeLong()
                            : data.consumeInt(0, 4096));
            if (data.consumeBoolean()) {
                b.append(", \"smt\": ").append(data.consumeBoolean());
            }
            b.append("},");
        }
        int drives = data.consumeInt(0, 3);
        b.append("\"drives\": [");
        for (int i = 0; i < drives; i++) {
            b.append(i == 0 ? "" : ",").append("{\"drive_id\": ").append(quote(data.consumeString(12)))
                    .append(", \"path_on_host\": ").append(quote(data.consumeBoolean() ? disk.toString()
                            : data.consumeString(40)))
                    .append(", \"is_root_device\": ").append(data.consumeBoolean())
                    .append(", \"is_read_only\": ").append(data.consumeBoolean()).append("}");
        }
        b.append("],");
        int nics = data.consumeInt(0, 2);
        b.append("\"network-interfaces\": [");
        for (int i = 0; i < nics; i++) {
            b.append(i == 0 ? "" : ",").append("{\"iface_id\": ").append(quote(data.consumeString(12)))
                    .append(", \"host_dev_name\": ").append(quote(data.consumeString(20)));
            if (data.consumeBoolean()) {
                b.append(", \"guest_mac\": ").append(quote(data.consumeString(20)));
            }
            b.append("}");
        }
        b.append("]");
        if (data.consumeBoolean()) {
            b.append(", ").append(quote(data.consumeString(12))).append(": ").append(data.consumeInt());
        }
        return b.append(data.consumeRemainingAsString()).append("}").toString();
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.chars().forEach(c -> b.append(c == '"' || c == '\\' || c < 0x20 ? String.format("\\u%04x", c)
                : Character.toString(c)));
        return b.append('"').toString();
    }
}
