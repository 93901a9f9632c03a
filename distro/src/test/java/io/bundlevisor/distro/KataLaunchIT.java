package io.bundlevisor.distro;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.junit.Assume;
import org.junit.Test;

/**
 * Linux launched the way Kata Containers launches Firecracker (research: Kata's {@code fc.go}): no subcommand,
 * {@code --api-sock P --config-file F}, the file holding the boot source, two vCPUs and the drives (a root disk,
 * then a small placeholder drive Kata patches later), and a command line with {@code acpi=off}. Such a guest reads
 * no ACPI table: it finds its second CPU and the I/O APIC in our MP table and its disks on the command line
 * ({@code virtio_mmio.device=} words the VMM appends), in configuration order (vda, vdb). While it runs, {@code GET /}
 * reports {@code Running} (Kata's check), and {@code PATCH /drives/drive_0} puts the container's image in place of
 * the placeholder: the guest sees the new capacity (a config-change interrupt) and reads the new image.
 */
public class KataLaunchIT {

    private static final Duration BOOT = Duration.ofSeconds(150);
    private static final long ROOT_SECTORS = 16 * 2048;     // 16 MiB
    private static final long PLACEHOLDER_SECTORS = 8;      // 4 KiB
    private static final long CONTAINER_SECTORS = 4096;     // 2 MiB
    private static final String CONTAINER_MARK = "KATA-CONTAINER-IMAGE";

    @Test(timeout = 400_000)
    public void kataConfigFileLaunchWithAcpiOffFindsBothCpusAndTheDrivesInOrder() throws Exception {
        Assume.assumeTrue("/dev/kvm missing", Files.exists(Path.of("/dev/kvm")));
        Path dir = Files.createTempDirectory(Path.of("target"), "kata-").toAbsolutePath();
        Path socket = dir.resolve("firecracker.socket");
        Path root = dir.resolve("root.img");
        Path placeholder = dir.resolve("placeholder.img");
        try (var f = new java.io.RandomAccessFile(root.toFile(), "rw")) {
            f.setLength(ROOT_SECTORS * 512);
        }
        Files.write(placeholder, new byte[(int) (PLACEHOLDER_SECTORS * 512)]);
        Path container = dir.resolve("container.img");
        byte[] image = new byte[(int) (CONTAINER_SECTORS * 512)];
        byte[] mark = CONTAINER_MARK.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        System.arraycopy(mark, 0, image, 0, mark.length);
        Files.write(container, image);
        // After its checks the guest waits for the placeholder to grow, then reads the new image's first block
        // (O_DIRECT: its page cache holds the placeholder's).
        String test = "bv-blk-test check vda " + ROOT_SECTORS + " rootfs && bv-blk-test check vdb "
                + PLACEHOLDER_SECTORS + " drive_0 && bv-blk-test percpu vda 4664 && echo KATA-$((6*7))-WAITING"
                + " && while [ $(cat /sys/block/vdb/size) = " + PLACEHOLDER_SECTORS + " ]; do sleep 1; done"
                + " && bv-blk-test check vdb " + CONTAINER_SECTORS + " drive_0"
                + " && dd if=/dev/vdb bs=4096 count=1 iflag=direct status=none | head -c " + mark.length + " && echo";
        Path config = dir.resolve("vm.json");
        Files.writeString(config, """
                {
                  "boot-source": {"kernel_image_path": "%s", "initrd_path": "%s",
                                  "boot_args": "%s acpi=off bv.test=\\"%s\\""},
                  "drives": [
                    {"drive_id": "rootfs", "path_on_host": "%s", "is_root_device": false, "is_read_only": false},
                    {"drive_id": "drive_0", "path_on_host": "%s", "is_root_device": false, "is_read_only": false}
                  ],
                  "machine-config": {"vcpu_count": 2, "mem_size_mib": 256}
                }
                """.formatted(LinuxGuest.kernel().toAbsolutePath(), LinuxGuest.initrd().toAbsolutePath(),
                LinuxGuest.cmdline(), test, root, placeholder));
        List<String> command = new ArrayList<>(DistroJar.command("warn", List.of()));
        command.addAll(List.of("--api-sock", socket.toString(), "--config-file", config.toString()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        QemuGuest.Console console = new QemuGuest.Console("kata", p, null);
        try {
            ApiSocket.await(socket);
            // Kata asks GET / until the state is Running, for at most 10 s from the process's start.
            String state = "";
            for (long deadline = System.nanoTime() + 10_000_000_000L; System.nanoTime() < deadline
                    && !state.contains("\"state\":\"Running\""); Thread.sleep(50)) {
                state = ApiSocket.call(socket, "GET", "/", null);
            }
            assertTrue(state + "\n" + console.text(), state.contains("\"state\":\"Running\""));
            console.await(Pattern.compile("KATA-42-WAITING|BUNDLEVISOR-TEST-END"), BOOT);
            assertEquals("204 ", ApiSocket.call(socket, "PATCH", "/drives/drive_0", "{\"drive_id\": \"drive_0\", "
                    + "\"path_on_host\": \"" + container + "\"}"));
            assertTrue(ApiSocket.call(socket, "GET", "/vm/config", null).contains(container.toString()));
            console.await(Pattern.compile("BUNDLEVISOR-TEST-END rc=\\d+"), Duration.ofSeconds(60));
            String out = console.text();
            for (String ok : List.of("check size=" + ROOT_SECTORS + " serial=rootfs",
                    "check size=" + PLACEHOLDER_SECTORS + " serial=drive_0", "percpu cpus=2 seed=4664",
                    "check size=" + CONTAINER_SECTORS + " serial=drive_0")) {
                assertTrue("BV-OK " + ok + "\n" + out, out.contains("BV-OK " + ok));
            }
            assertTrue("the kernel read our MP table\n" + out,
                    out.contains("Intel MultiProcessor Specification v1.4"));
            assertTrue("and no ACPI\n" + out, !out.contains("ACPI: RSDP"));
            assertTrue("the guest read the container's image\n" + out, out.contains(CONTAINER_MARK + "\n"));
            assertTrue(out, out.contains("BUNDLEVISOR-TEST-END rc=0"));
            // Without ACPI the guest cannot power the machine off (as on Firecracker): its poweroff halts it, and
            // Kata ends the VMM process itself.
            p.destroy();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            VhostUserQemuIT.assertImage(root, 4664, 0, 2 * 64);
        } finally {
            p.destroyForcibly();
            VhostUserQemuIT.delete(dir);
        }
    }
}
