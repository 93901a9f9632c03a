package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.Assume;
import org.junit.Test;

/**
 * {@code bundlevisor --api-sock PATH}, as Firecracker: Firecracker's getting-started {@code curl --unix-socket}
 * sequence, replayed unchanged but for the paths (boot source, a root drive, machine configuration, InstanceStart),
 * boots the echo test guest with its console on the process's stdout; the instance reports Running, pauses and
 * resumes; a bad request is a 400 with Firecracker's error body; the process ends with its guest.
 */
public class FirecrackerApiIT {

    private static final Path ECHO = Path.of("..", "platform.kvm", "target", "guests", "echo.elf");

    @Test(timeout = 120_000)
    public void firecrackersGettingStartedSequenceBootsAGuest() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        Path dir = Files.createTempDirectory(Path.of("target"), "fc-api-").toAbsolutePath();
        Path socket = dir.resolve("firecracker.socket");
        Path rootfs = dir.resolve("rootfs.ext4");
        Files.write(rootfs, new byte[1 << 20]);
        List<String> command = new ArrayList<>(DistroJar.command("warn", List.of()));
        command.addAll(List.of("--api-sock", socket.toString(), "--id", "demo"));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        Screen console = new Screen(p.getInputStream());
        try (OutputStream keys = p.getOutputStream()) {
            ApiSocket.await(socket);
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
            assertEquals("200 {\"app_name\":\"Bundlevisor\",\"id\":\"demo\",\"state\":\"Not started\",\"vmm_version\":"
                    + "\"0.1.0\"}", ApiSocket.call(socket, "GET", "/", null));
            // Firecracker's getting started (docs/getting-started.md), its paths ours.
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + ECHO.toAbsolutePath()
                    + "\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off\"}"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \""
                    + rootfs + "\", \"is_root_device\": true, \"is_read_only\": false}"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 64}"));
            assertEquals("400 {\"fault_message\":\"unknown field 'vcpus'\"}",
                    ApiSocket.call(socket, "PUT", "/machine-config", "{\"vcpus\": 2, \"mem_size_mib\": 64}"));
            Path log = dir.resolve("firecracker.log");
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/logger", "{\"log_path\": \"" + log + "\", \"level\": "
                    + "\"Info\", \"show_level\": true, \"show_log_origin\": true}"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"));
            console.await("echo: ready");
            assertTrue(ApiSocket.call(socket, "GET", "/", null).contains("\"state\":\"Running\""));
            assertTrue(Files.readString(log), Files.readString(log).contains(" INFO  io.bundlevisor.kvm."));
            assertEquals("204 ", ApiSocket.call(socket, "PATCH", "/vm", "{\"state\": \"Paused\"}"));
            assertTrue(ApiSocket.call(socket, "GET", "/", null).contains("\"state\":\"Paused\""));
            assertEquals("204 ", ApiSocket.call(socket, "PATCH", "/vm", "{\"state\": \"Resumed\"}"));
            String metrics = ApiSocket.call(socket, "GET", "/bundlevisor/metrics", null);
            assertTrue(metrics, metrics.startsWith("200 # TYPE bundlevisor_vm_vcpus gauge"));
            assertTrue(metrics, metrics.contains("bundlevisor_vm_vcpus{vm=\"demo\"} 2\n"));
            assertTrue(metrics, metrics.contains("bundlevisor_device_bound{vm=\"demo\",device=\"demo/virtio-blk0\","
                    + "type=\"virtio-blk\"} 1\n"));
            assertTrue(metrics, metrics.endsWith("# EOF\n"));
            Path metricsFile = dir.resolve("metrics.json");
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/metrics", "{\"metrics_path\": \"" + metricsFile + "\"}"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}"));
            assertEquals(2, Files.readAllLines(metricsFile).size());
            String config = ApiSocket.call(socket, "GET", "/vm/config", null);
            assertTrue(config, config.contains("\"drives\":[{\"drive_id\":\"rootfs\",\"path_on_host\":\"" + rootfs));
            assertTrue(config, config.contains("\"machine-config\":{\"vcpu_count\":2,\"mem_size_mib\":64"));
            assertTrue(ApiSocket.call(socket, "PUT", "/snapshot/create", "{}").startsWith("400 {\"fault_message\":"));
            assertEquals("400 {\"fault_message\":\"a body needs a Content-Length\"}", ApiSocket.call(socket, "PATCH", "/vm",
                    "{\"state\": \"Paused\"}", "-H", "Transfer-Encoding: chunked"));
            // The guest powers off on 'q' (its console is our stdin): the process ends with it.
            keys.write('q');
            keys.flush();
            assertTrue("the process ends with its guest\n" + console.text(), p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(console.text(), 0, p.exitValue());
            assertTrue(console.text(), console.text().contains("echo: bye"));
            assertFalse("the socket goes with the process", Files.exists(socket));
        } finally {
            p.destroyForcibly();
            VhostUserQemuIT.delete(dir);
        }
    }

    /**
     * The Firecracker Go SDK's {@code Machine.Start} (v1.0.0, default handlers, no jailer), replayed request for
     * request: it execs {@code --api-sock S --id ID --no-seccomp}, polls {@code GET /machine-config} every 10 ms
     * until a 200 (for 3 s by default), then {@code PUT /logger}, {@code /metrics}, {@code /machine-config},
     * {@code GET /machine-config}, {@code PUT /boot-source}, {@code /drives/root_drive} and
     * {@code /actions InstanceStart}, each body ending with a newline and each answer exactly 204. Its
     * {@code Shutdown} (SendCtrlAltDel) is refused with a reason; its {@code StopVMM} (SIGTERM) ends the process
     * and the socket goes with it.
     */
    @Test(timeout = 120_000)
    public void theGoSdksStartSequenceBootsAGuest() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        Path dir = Files.createTempDirectory(Path.of("target"), "fc-sdk-").toAbsolutePath();
        Path socket = dir.resolve("firecracker.sock");
        Path rootfs = Files.write(dir.resolve("rootfs.ext4"), new byte[1 << 20]);
        Path log = Files.createFile(dir.resolve("fc.log"));          // CreateLogFiles: the SDK makes both first
        Path metricsFile = Files.createFile(dir.resolve("fc.metrics"));
        List<String> command = new ArrayList<>(DistroJar.command("warn", List.of()));
        command.addAll(List.of("--api-sock", socket.toString(), "--id", "sdk-vm-1", "--no-seccomp"));
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        Screen console = new Screen(p.getInputStream());
        try {
            String ready = "";
            while (!ready.startsWith("200 ") && System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(30)) {
                Thread.sleep(10);
                if (Files.exists(socket)) {
                    ready = ApiSocket.call(socket, "GET", "/machine-config", null);
                }
            }
            double readySeconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(ready + "\n" + console.text(), ready.startsWith("200 {\"vcpu_count\":1,\"mem_size_mib\":128"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/logger", "{\"level\":\"Debug\",\"log_path\":\"" + log
                    + "\",\"show_level\":true,\"show_log_origin\":false}\n"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/metrics", "{\"metrics_path\":\"" + metricsFile
                    + "\"}\n"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/machine-config", "{\"mem_size_mib\":64,\"vcpu_count\":2}\n"));
            assertTrue(ApiSocket.call(socket, "GET", "/machine-config", null)
                    .startsWith("200 {\"vcpu_count\":2,\"mem_size_mib\":64"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/boot-source", "{\"boot_args\":\"console=ttyS0 reboot=k "
                    + "panic=1 pci=off\",\"kernel_image_path\":\"" + ECHO.toAbsolutePath() + "\"}\n"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/drives/root_drive", "{\"drive_id\":\"root_drive\","
                    + "\"is_read_only\":false,\"is_root_device\":true,\"path_on_host\":\"" + rootfs + "\"}\n"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}\n"));
            console.await("echo: ready");
            assertTrue(Files.readString(log), Files.readString(log).contains("DEBUG"));
            // Shutdown: SendCtrlAltDel is refused with its reason; StopVMM's SIGTERM ends the process.
            assertTrue(ApiSocket.call(socket, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}\n")
                    .startsWith("400 {\"fault_message\":\"SendCtrlAltDel is not supported"));
            p.destroy();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertFalse("the socket goes with the process", Files.exists(socket));
            System.err.printf("FirecrackerApiIT: the Go SDK's readiness probe answered %.2f s after the exec (its "
                    + "default limit: 3 s)%n", readySeconds);
        } finally {
            p.destroyForcibly();
            VhostUserQemuIT.delete(dir);
        }
    }

    /**
     * A thousand clients at once on the API socket while the guest runs: half hold a request they never finish (slow
     * clients), the others send garbage or a truncated request and go. The API still answers a well-formed request at
     * once, the guest still echoes what it is sent, and it powers off normally.
     */
    @Test(timeout = 180_000)
    public void aThousandHostileClientsHarmNeitherTheApiNorTheGuest() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        Path dir = Files.createTempDirectory(Path.of("target"), "fc-flood-").toAbsolutePath();
        Path socket = dir.resolve("api.sock");
        List<String> command = new ArrayList<>(DistroJar.command("warn", List.of()));
        command.addAll(List.of("--api-sock", socket.toString()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        Screen console = new Screen(p.getInputStream());
        List<java.nio.channels.SocketChannel> held = new ArrayList<>();
        try (OutputStream keys = p.getOutputStream()) {
            ApiSocket.await(socket);
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \""
                    + ECHO.toAbsolutePath() + "\"}"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 32}"));
            assertEquals("204 ", ApiSocket.call(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"));
            console.await("echo: ready");
            java.net.UnixDomainSocketAddress address = java.net.UnixDomainSocketAddress.of(socket);
            byte[] slow = ("PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{")
                    .getBytes(StandardCharsets.US_ASCII);
            byte[][] rude = {"GARBAGE\r\n\r\n".getBytes(StandardCharsets.US_ASCII),
                "PUT /vm HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n".getBytes(StandardCharsets.US_ASCII),
                "GET / HTTP/1.1\r\nHost".getBytes(StandardCharsets.US_ASCII), new byte[] {0, 1, 2, (byte) 0xff}};
            for (int i = 0; i < 1000; i++) {
                java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open(address);
                if (i % 2 == 0) {
                    c.write(java.nio.ByteBuffer.wrap(slow));
                    held.add(c);
                } else {
                    c.write(java.nio.ByteBuffer.wrap(rude[i % rude.length]));
                    c.close();
                }
            }
            long start = System.nanoTime();
            assertTrue(ApiSocket.call(socket, "GET", "/", null).startsWith("200 {\"app_name\":\"Bundlevisor\""));
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertTrue("answered in " + millis + " ms beside 500 held connections", millis < 10_000);
            keys.write('a');
            keys.flush();
            console.await("echo: 61");
            for (java.nio.channels.SocketChannel c : held) {
                c.close();
            }
            held.clear();
            keys.write('q');
            keys.flush();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(console.text(), 0, p.exitValue());
        } finally {
            for (java.nio.channels.SocketChannel c : held) {
                c.close();
            }
            p.destroyForcibly();
            VhostUserQemuIT.delete(dir);
        }
    }

    /** {@code --no-api --config-file vm.json}: the microVM boots from the file, with no socket; it ends with its guest. */
    @Test(timeout = 120_000)
    public void aConfigFileBootsWithoutTheApi() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        Path dir = Files.createTempDirectory(Path.of("target"), "fc-config-").toAbsolutePath();
        Path config = Files.writeString(dir.resolve("vm.json"), "{\"boot-source\": {\"kernel_image_path\": \""
                + ECHO.toAbsolutePath() + "\", \"boot_args\": \"console=ttyS0\"}, \"machine-config\": "
                + "{\"vcpu_count\": 1, \"mem_size_mib\": 32}}");
        List<String> command = new ArrayList<>(DistroJar.command("warn", List.of()));
        command.addAll(List.of("--no-api", "--config-file", config.toString()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        Screen console = new Screen(p.getInputStream());
        try (OutputStream keys = p.getOutputStream()) {
            console.await("echo: ready");
            keys.write('q');
            keys.flush();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(console.text(), 0, p.exitValue());
        } finally {
            p.destroyForcibly();
        }
        Files.writeString(config, "{\"boot-source\": {\"kernel_image_path\": \"" + ECHO.toAbsolutePath()
                + "\"}, \"balloon\": {\"amount_mib\": 1}}");
        Process bad = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(bad.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(bad.waitFor(30, TimeUnit.SECONDS));
        assertEquals(out, 64, bad.exitValue());
        assertTrue(out, out.contains("bundlevisor: --config-file " + config + ": \"balloon\" is not supported"));
        VhostUserQemuIT.delete(dir);
    }
}
