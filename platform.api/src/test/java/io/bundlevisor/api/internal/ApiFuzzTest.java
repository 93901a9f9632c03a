package io.bundlevisor.api.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.Set;

import io.bundlevisor.core.partition.Console;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The API's request handling under random and mutated input: from the bodies of Firecracker's getting-started sequence,
 * bytes flipped, inserted, deleted, truncated and spliced, plus random paths and methods. Properties for every input:
 * the answer is 200, 204 or 400 (never an escaped exception or a 500), a 400 carries Firecracker's error body, and no
 * input hangs the handler (2 s at most). A fixed seed makes a failure reproducible; {@code -Dapi.fuzz.inputs=N} runs longer.
 */
class ApiFuzzTest {

    @TempDir
    Path dir;

    private static final List<String> METHODS = List.of("GET", "PUT", "PATCH", "POST", "DELETE", "HEAD", "");
    private static final List<String> PATHS = List.of("/", "/boot-source", "/machine-config", "/drives/rootfs",
            "/drives/", "/drives/a/b", "/network-interfaces/eth0", "/actions", "/vm", "/vm/config", "/snapshot/load",
            "/balloon", "//", "/drives/%2e%2e", "/machine-config?x=1", "");

    @Test
    void randomAndMutatedRequestsAreAnsweredAndNeverCrashTheHandler() throws Exception {
        Path kernel = Files.writeString(dir.resolve("vmlinux"), "x");
        Path disk = Files.writeString(dir.resolve("disk"), "x");
        List<String> seeds = List.of(
                "{\"kernel_image_path\": \"" + kernel + "\", \"boot_args\": \"console=ttyS0 reboot=k panic=1\"}",
                "{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + disk + "\", \"is_root_device\": true, "
                        + "\"is_read_only\": false}",
                "{\"vcpu_count\": 2, \"mem_size_mib\": 1024, \"smt\": false}",
                "{\"iface_id\": \"eth0\", \"guest_mac\": \"AA:FC:00:00:00:01\", \"host_dev_name\": \"tap0\"}",
                "{\"action_type\": \"InstanceStart\"}", "{\"state\": \"Paused\"}", "", "[]", "null", "{}");
        int inputs = Integer.getInteger("api.fuzz.inputs", 20_000);
        Random random = new Random(0x5EED);
        Set<Integer> allowed = Set.of(200, 204, 400);
        long slowest = 0;
        ApiRoutesTest.Vms vms = new ApiRoutesTest.Vms();
        ApiRoutes api = new ApiRoutes(new Microvm("fuzz", vms, Console.none()), "0.1.0",
                ApiRoutesTest.metrics(vms));
        for (int i = 0; i < inputs; i++) {
            if (i % 500 == 0) {
                vms.ran.clear();
                api = new ApiRoutes(new Microvm("fuzz" + i, vms, Console.none()), "0.1.0",
                        ApiRoutesTest.metrics(vms));
            }
            String method = METHODS.get(random.nextInt(METHODS.size()));
            String path = random.nextInt(10) == 0 ? randomText(random, 12) : PATHS.get(random.nextInt(PATHS.size()));
            String body = mutate(random, seeds.get(random.nextInt(seeds.size())), seeds);
            long start = System.nanoTime();
            ApiRoutes.Reply r;
            try {
                r = api.handle(method, path, body);
            } catch (Throwable t) {
                fail("input " + i + " escaped: " + method + " " + path + " " + body, t);
                return;
            }
            slowest = Math.max(slowest, System.nanoTime() - start);
            assertTrue(allowed.contains(r.status()), i + ": " + method + " " + path + " " + body + " -> " + r);
            if (r.status() == 400) {
                assertTrue(r.json().startsWith("{\"fault_message\":\"") && r.json().endsWith("\"}"), r.json());
                assertEquals(-1, r.json().indexOf('\n'), "one line: " + r.json());
            }
        }
        // A hang guard, not a speed figure: no input may take the handler more than a couple of seconds.
        assertTrue(slowest < 2_000_000_000L, "slowest input took " + slowest / 1_000_000 + " ms");
    }

    private static String mutate(Random random, String seed, List<String> seeds) {
        byte[] b = seed.getBytes(StandardCharsets.UTF_8);
        int rounds = 1 + random.nextInt(4);
        for (int r = 0; r < rounds; r++) {
            switch (random.nextInt(7)) {
                case 0 -> { // flip a byte
                    if (b.length > 0) {
                        b[random.nextInt(b.length)] = (byte) random.nextInt(256);
                    }
                }
                case 1 -> { // truncate
                    b = java.util.Arrays.copyOf(b, b.length == 0 ? 0 : random.nextInt(b.length));
                }
                case 2 -> { // insert a JSON token
                    String[] tokens = {"{", "}", "[", "]", ",", ":", "\"", "null", "true", "1e999", "-1",
                        "\"\\u0000\"", "18446744073709551616", "\"../../etc/passwd\"", "{\"a\":" };
                    String t = tokens[random.nextInt(tokens.length)];
                    int at = b.length == 0 ? 0 : random.nextInt(b.length);
                    String s = new String(b, StandardCharsets.UTF_8);
                    s = s.substring(0, Math.min(at, s.length())) + t + s.substring(Math.min(at, s.length()));
                    b = s.getBytes(StandardCharsets.UTF_8);
                }
                case 3 -> { // splice another seed
                    String other = seeds.get(random.nextInt(seeds.size()));
                    String s = new String(b, StandardCharsets.UTF_8);
                    int cut = s.isEmpty() ? 0 : random.nextInt(s.length());
                    b = (s.substring(0, cut) + other.substring(other.isEmpty() ? 0 : random.nextInt(other.length())))
                            .getBytes(StandardCharsets.UTF_8);
                }
                case 4 -> { // deep nesting
                    int depth = random.nextInt(3000);
                    b = ("[".repeat(depth) + "]".repeat(depth)).getBytes(StandardCharsets.UTF_8);
                }
                case 5 -> b = randomText(random, random.nextInt(64)).getBytes(StandardCharsets.UTF_8);
                default -> { // duplicate a field
                    String s = new String(b, StandardCharsets.UTF_8);
                    if (s.startsWith("{") && s.length() > 2) {
                        b = ("{\"vcpu_count\": 1, " + s.substring(1)).getBytes(StandardCharsets.UTF_8);
                    }
                }
            }
        }
        return new String(b, StandardCharsets.UTF_8);
    }

    private static String randomText(Random random, int length) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < length; i++) {
            s.append((char) (random.nextInt(10) == 0 ? random.nextInt(0x3000) : 0x20 + random.nextInt(0x5F)));
        }
        return s.toString();
    }
}
