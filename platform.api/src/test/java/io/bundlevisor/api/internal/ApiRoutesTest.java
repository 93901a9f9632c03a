package io.bundlevisor.api.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.DeviceInfo;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.EmulationPolicy;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.manage.VmAction;
import io.bundlevisor.manage.VmManager;
import io.bundlevisor.manage.VmSummary;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Firecracker's API routes on a microVM over a VmManager that records what it is asked. */
class ApiRoutesTest {

    @TempDir
    Path dir;

    /** Records the machine started and the actions; the VM is "started" until paused. */
    static final class Vms implements VmManager {
        final List<MachineConfig> ran = new ArrayList<>();
        final List<VmAction> actions = new ArrayList<>();
        boolean running;

        @Override
        public List<VmSummary> list() {
            return get("demo").stream().toList();
        }

        @Override
        public Optional<VmSummary> get(String name) {
            return ran.isEmpty() ? Optional.empty() : Optional.of(new VmSummary(name, 1, 64L << 20, running,
                    EmulationPolicy.HALT, 0, "", 0, ""));
        }

        @Override
        public VmSummary run(MachineConfig config) {
            ran.add(config);
            running = true;
            return get(config.name()).orElseThrow();
        }

        @Override
        public List<DeviceInfo> devices(String name) {
            return List.of();
        }

        final List<String> updates = new ArrayList<>();

        @Override
        public void updateDevice(String name, String device, String options) throws PartitionException {
            if (options.contains("refused")) {
                throw new PartitionException(device + ": the device refused");
            }
            updates.add(name + " " + device + " " + options);
        }

        final List<String> snapshots = new ArrayList<>();

        @Override
        public VmSummary snapshot(String name, Path state, Path memory) throws PartitionException {
            snapshots.add("snapshot " + name + " " + state.getFileName() + " " + memory.getFileName());
            return get(name).orElseThrow();
        }

        @Override
        public VmSummary restore(Path state, Path memory, Console console, boolean start) throws PartitionException {
            snapshots.add("restore " + state.getFileName() + " " + memory.getFileName() + " " + start);
            ran.add(MachineConfig.of("snap", 1, 32L << 20, Path.of("k")));
            running = start;
            return get("snap").orElseThrow();
        }

        @Override
        public VmSummary apply(String name, VmAction action) throws PartitionException {
            actions.add(action);
            running = action == VmAction.RESUME;
            return get(name).orElseThrow();
        }
    }

    /** The platform's counters over {@code vms} and no ring. */
    static Metrics metrics(VmManager vms) {
        return new Metrics(vms, new io.bundlevisor.core.ring.RingService() {
            @Override
            public boolean isAvailable() {
                return true;
            }

            @Override
            public Optional<String> unavailabilityCause() {
                return Optional.empty();
            }

            @Override
            public boolean confineWorkerThread() {
                return false;
            }

            @Override
            public boolean probe(io.bundlevisor.core.ring.Opcode opcode) {
                return false;
            }

            @Override
            public io.bundlevisor.core.ring.Ring create(String name, int entries) {
                throw new UnsupportedOperationException();
            }

            @Override
            public io.bundlevisor.core.ring.Ring create(String name, int entries,
                    io.bundlevisor.core.ring.CompletionHandler rawHandler) {
                throw new UnsupportedOperationException();
            }

            @Override
            public List<io.bundlevisor.core.ring.Ring> rings() {
                return List.of();
            }
        });
    }

    private final Vms vms = new Vms();
    private final ApiRoutes api = new ApiRoutes(new Microvm("demo", vms, Console.none()), "0.1.0", metrics(vms));

    private ApiRoutes.Reply call(String method, String path, String body) {
        return api.handle(method, path, body);
    }

    private void expectFault(String method, String path, String body, String message) {
        ApiRoutes.Reply r = call(method, path, body);
        assertEquals(400, r.status(), r.json());
        assertTrue(r.json().startsWith("{\"fault_message\":\""), r.json());
        assertTrue(r.json().contains(message), r.json());
    }

    @Test
    void theGettingStartedSequenceBootsTheConfiguredMachine() throws Exception {
        Path kernel = Files.writeString(dir.resolve("vmlinux"), "x");
        Path rootfs = Files.writeString(dir.resolve("root,fs.ext4"), "x");
        Path data = Files.writeString(dir.resolve("data.img"), "x");
        assertEquals(new ApiRoutes.Reply(200, "{\"app_name\":\"Bundlevisor\",\"id\":\"demo\",\"state\":\"Not started\","
                + "\"vmm_version\":\"0.1.0\"}"), call("GET", "/", ""));
        assertEquals("{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":false,\"track_dirty_pages\":false}",
                call("GET", "/machine-config", "").json(), "Firecracker's defaults");
        assertEquals(204, call("PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel
                + "\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off\"}").status());
        assertEquals(204, call("PUT", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"" + data
                + "\", \"is_root_device\": false, \"is_read_only\": true}").status());
        assertEquals(204, call("PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + rootfs
                + "\", \"is_root_device\": true, \"is_read_only\": false}").status());
        assertEquals(204, call("PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"guest_mac\": "
                + "\"AA:FC:00:00:00:01\", \"host_dev_name\": \"tap0\"}").status());
        assertEquals(204, call("PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 1024}").status());
        expectFault("PATCH", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"" + data + "\"}",
                "PATCH /drives is for a started microVM: PUT /drives/data before it");
        assertEquals(204, call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}").status());

        MachineConfig c = vms.ran.getFirst();
        assertEquals("demo", c.name());
        assertEquals(2, c.cpus());
        assertEquals(1L << 30, c.memoryBytes());
        assertEquals(kernel, c.kernel());
        assertEquals("console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw", c.cmdline());
        assertEquals(List.of(new DeviceSpec("virtio-blk", "path=" + rootfs.toString().replace(",", ",,")
                + ",serial=rootfs"), new DeviceSpec("virtio-blk", "path=" + data + ",ro,serial=data"),
                new DeviceSpec("virtio-net", "tap=tap0,mac=AA:FC:00:00:00:01")), c.devices(),
                "the root drive first (/dev/vda), then the others in configuration order");
        assertTrue(call("GET", "/", "").json().contains("\"state\":\"Running\""));
        assertEquals(204, call("PATCH", "/vm", "{\"state\": \"Paused\"}").status());
        assertTrue(call("GET", "/", "").json().contains("\"state\":\"Paused\""));
        assertEquals(204, call("PATCH", "/vm", "{\"state\": \"Resumed\"}").status());
        assertEquals(List.of(VmAction.PAUSE, VmAction.RESUME), vms.actions);
        // PATCH /drives: a new image under the running guest, on the device of the drive's place (root first).
        Path swapped = Files.writeString(dir.resolve("swapped.img"), "y");
        assertEquals(204, call("PATCH", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"" + swapped
                + "\"}").status());
        assertEquals(List.of("demo demo/virtio-blk1 path=" + swapped + ",ro,serial=data"), vms.updates);
        assertEquals(204, call("PATCH", "/drives/data", "{\"drive_id\": \"data\"}").status());
        assertEquals(1, vms.updates.size(), "nothing to change");
        expectFault("PATCH", "/drives/data", "{\"drive_id\": \"other\"}", "drive_id must be the path's id, data");
        expectFault("PATCH", "/drives/nope", "{\"drive_id\": \"nope\", \"path_on_host\": \"" + swapped + "\"}",
                "no drive nope");
        expectFault("PATCH", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"/nonexistent\"}",
                "path_on_host /nonexistent: no such file");
        expectFault("PATCH", "/drives/data", "{\"drive_id\": \"data\", \"is_read_only\": true}",
                "unknown field 'is_read_only'");
        Path refused = Files.writeString(dir.resolve("refused.img"), "z");
        expectFault("PATCH", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"" + refused + "\"}",
                "the device refused");
        String full = call("GET", "/vm/config", "").json();
        assertTrue(full.contains("\"path_on_host\":\"" + swapped + "\""), "GET /vm/config shows the new image: "
                + full);
        assertTrue(full.contains("\"boot-source\":{\"kernel_image_path\":\"" + kernel + "\""), full);
        assertTrue(full.contains("\"drives\":[{\"drive_id\":\"data\""), full);
        expectFault("PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel + "\"}",
                "the boot source cannot be changed after the microVM started");
        expectFault("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", "cannot be changed after");
    }

    @Test
    void countersAreServedAsOpenMetricsAndWrittenAsJsonLines() throws Exception {
        Path kernel = Files.writeString(dir.resolve("vmlinux"), "x");
        call("PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel + "\"}");
        call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
        ApiRoutes.Reply m = call("GET", "/bundlevisor/metrics", "");
        assertEquals(200, m.status());
        assertEquals("application/openmetrics-text; version=1.0.0; charset=utf-8", m.contentType());
        assertTrue(m.json().contains("# TYPE bundlevisor_vm_vcpus gauge\n"), m.json());
        assertTrue(m.json().contains("bundlevisor_vm_vcpus{vm=\"demo\"} 1\n"), m.json());
        assertTrue(m.json().contains("bundlevisor_vm_emulation_failures_total{vm=\"demo\"} 0\n"), m.json());
        assertTrue(m.json().endsWith("# EOF\n"), m.json());
        expectFault("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}", "the metrics are not configured");
        Path file = dir.resolve("metrics.json");
        assertEquals(204, call("PUT", "/metrics", "{\"metrics_path\": \"" + file + "\"}").status());
        assertEquals(204, call("PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}").status());
        List<String> lines = Files.readAllLines(file);
        assertEquals(2, lines.size(), "one line when configured, one on FlushMetrics");
        assertTrue(lines.get(1).matches("\\{\"utc_timestamp_ms\":\\d+,\"vm_vcpus\":\\[\\{\"vm\":\"demo\","
                + "\"value\":1}].*"), lines.get(1));
        expectFault("PUT", "/metrics", "{\"metrics_path\": \"" + file + "\"}", "configured already");
        expectFault("PUT", "/metrics", "{\"metrics_path\": \"/no/such/dir/m\"}", "configured already");
        api.close();
    }

    @Test
    void theLoggerWritesToItsFileAtItsLevel() throws Exception {
        Path log = dir.resolve("fc.log");
        assertEquals(204, call("PUT", "/logger", "{\"log_path\": \"" + log + "\", \"level\": \"warning\", "
                + "\"show_level\": true, \"show_log_origin\": true}").status());
        org.slf4j.Logger some = org.slf4j.LoggerFactory.getLogger("io.bundlevisor.test.Some");
        some.info("not at warning");
        some.warn("at warning");
        String lines = Files.readString(log);
        assertTrue(lines.contains(" WARN  io.bundlevisor.test.Some at warning"), lines);
        assertTrue(!lines.contains("not at warning"), lines);
        expectFault("PUT", "/logger", "{\"level\": \"Info\"}", "configured already");
        api.close();
        some.warn("after close");
        assertTrue(!Files.readString(log).contains("after close"));
        ApiRoutes other = new ApiRoutes(new Microvm("o", vms, Console.none()), "0.1.0", metrics(vms));
        ApiRoutes.Reply r = other.handle("PUT", "/logger", "{\"level\": \"Loud\"}");
        assertTrue(r.json().contains("level must be Error, Warning, Info, Debug, Trace or Off, not Loud"), r.json());
        ((ch.qos.logback.classic.LoggerContext) org.slf4j.LoggerFactory.getILoggerFactory())
                .getLogger("ROOT").setLevel(ch.qos.logback.classic.Level.WARN);
    }

    @Test
    void snapshotsAreCreatedPausedAndLoadedIntoAnEmptyMicrovm() throws Exception {
        Path kernel = Files.writeString(dir.resolve("vmlinux"), "x");
        String create = "{\"snapshot_path\": \"" + dir.resolve("vm.state") + "\", \"mem_file_path\": \""
                + dir.resolve("vm.mem") + "\", \"snapshot_type\": \"Full\"}";
        expectFault("PUT", "/snapshot/create", create, "the microVM is not started");
        call("PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel + "\"}");
        call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
        expectFault("PUT", "/snapshot/create", create, "must be paused");
        call("PATCH", "/vm", "{\"state\": \"Paused\"}");
        expectFault("PUT", "/snapshot/create", create.replace("Full", "Diff"), "snapshot_type Diff is not supported");
        assertEquals(204, call("PUT", "/snapshot/create", create).status());
        assertEquals(List.of("snapshot demo vm.state vm.mem"), vms.snapshots);
        expectFault("PUT", "/snapshot/load", "{\"snapshot_path\": \"x\"}", "nothing configured yet");

        Files.writeString(dir.resolve("vm.state"), "s");
        Files.writeString(dir.resolve("vm.mem"), "m");
        ApiRoutes fresh = new ApiRoutes(new Microvm("fresh", vms, Console.none()), "0.1.0", metrics(vms));
        ApiRoutes.Reply r = fresh.handle("PUT", "/snapshot/load", "{\"snapshot_path\": \"" + dir.resolve("vm.state")
                + "\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": \"/s\"}}");
        assertTrue(r.json().contains("mem_backend Uffd is not supported, only File"), r.json());
        assertEquals(204, fresh.handle("PUT", "/snapshot/load", "{\"snapshot_path\": \"" + dir.resolve("vm.state")
                + "\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"" + dir.resolve("vm.mem")
                + "\"}, \"resume_vm\": true}").status());
        assertEquals("restore vm.state vm.mem true", vms.snapshots.getLast());
        assertTrue(fresh.handle("GET", "/", "").json().contains("\"state\":\"Running\""));
    }

    @Test
    void everyBadRequestIsA400WithOneReason() throws Exception {
        Path kernel = Files.writeString(dir.resolve("k"), "x");
        expectFault("PUT", "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 64}",
                "'vcpu_count' must be an integer");
        expectFault("PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 64, \"foo\": 1}",
                "unknown field 'foo'");
        expectFault("PUT", "/machine-config", "{\"vcpu_count\": 33, \"mem_size_mib\": 64}", "vcpu_count must be 1..32");
        expectFault("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 65}", "mem_size_mib must be");
        expectFault("PUT", "/machine-config", "{\"vcpu_count\": 1}", "vcpu_count and mem_size_mib are required");
        expectFault("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"smt\": true}",
                "smt is not supported");
        expectFault("PUT", "/machine-config", "{\"vcpu_count\": 1", "malformed JSON");
        expectFault("PUT", "/machine-config", "[1, 2]", "must be a JSON object");
        expectFault("PUT", "/machine-config", "", "needs a JSON body");
        expectFault("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64} x", "malformed JSON");
        expectFault("PUT", "/boot-source", "{\"kernel_image_path\": \"" + dir.resolve("none") + "\"}",
                "kernel_image_path " + dir.resolve("none") + ": no such file");
        expectFault("PUT", "/boot-source", "{\"boot_args\": \"x\"}", "kernel_image_path is required");
        expectFault("PUT", "/drives/a", "{\"drive_id\": \"b\", \"path_on_host\": \"" + kernel
                + "\", \"is_root_device\": false}", "drive_id must be the path's id, a");
        expectFault("PUT", "/drives/a", "{\"drive_id\": \"a\", \"socket\": \"/s\", \"is_root_device\": false}",
                "vhost-user drives are not supported");
        expectFault("PUT", "/drives/a", "{\"drive_id\": \"a\", \"path_on_host\": \"" + kernel
                + "\", \"is_root_device\": false, \"rate_limiter\": {\"bandwidth\": {}}}", "rate_limiter is not supported");
        expectFault("PUT", "/drives/../../etc", "{}", "Invalid request method and/or path: PUT /drives/../../etc");
        expectFault("PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\"}", "host_dev_name is required");
        expectFault("PUT", "/vsock", "{}", "PUT /vsock is not supported by Bundlevisor");
        expectFault("DELETE", "/", "", "Invalid request method and/or path: DELETE /");
        expectFault("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", "no boot source");
        expectFault("PUT", "/actions", "{\"action_type\": \"Reboot\"}", "action_type must be InstanceStart");
        expectFault("PATCH", "/vm", "{\"state\": \"Paused\"}", "the microVM is not started");
        assertEquals(List.of(), vms.ran, "nothing started");
    }
}
