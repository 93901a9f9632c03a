package io.bundlevisor.api.internal;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.bundlevisor.api.internal.ApiTypes.BootSource;
import io.bundlevisor.api.internal.ApiTypes.Drive;
import io.bundlevisor.api.internal.ApiTypes.FullVmConfiguration;
import io.bundlevisor.api.internal.ApiTypes.MachineConfiguration;
import io.bundlevisor.api.internal.ApiTypes.NetworkInterface;
import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.manage.VmAction;
import io.bundlevisor.manage.VmManager;
import io.bundlevisor.manage.VmSummary;

/**
 * One microVM as Firecracker's API builds it: configured piece by piece before boot ({@code /boot-source},
 * {@code /machine-config}, {@code /drives/ID}, {@code /network-interfaces/ID}), started by {@code InstanceStart}
 * through the management layer's {@link VmManager}, then paused and resumed. Every refusal is one line.
 */
final class Microvm {

    /** Firecracker's defaults: 1 vCPU, 128 MiB. */
    static final MachineConfiguration DEFAULT_MACHINE = new MachineConfiguration(1, 128, false, false, null, null);
    /** Firecracker allows 1 to 32 vCPUs. */
    static final int MAX_VCPUS = 32;

    private final String id;
    private final VmManager vms;
    private final Console console;
    private BootSource boot;
    private MachineConfiguration machine = DEFAULT_MACHINE;
    private final Map<String, Drive> drives = new LinkedHashMap<>();
    private final Map<String, NetworkInterface> nets = new LinkedHashMap<>();
    private boolean started;
    /** The VM's name in the platform: the id, or the snapshot's machine's name after a load. */
    private String vmName;

    Microvm(String id, VmManager vms, Console console) {
        this.id = id;
        this.vms = vms;
        this.console = console;
    }

    String id() {
        return id;
    }

    /** {@code Not started}, {@code Running} or {@code Paused}. */
    synchronized String state() {
        if (!started) {
            return "Not started";
        }
        return vms.get(vmName).map(VmSummary::started).orElse(false) ? "Running" : "Paused";
    }

    synchronized void putBootSource(BootSource b) throws ApiException {
        preBoot("boot source");
        if (b.kernelImagePath() == null || b.kernelImagePath().isEmpty()) {
            throw new ApiException("kernel_image_path is required");
        }
        requireFile("kernel_image_path", b.kernelImagePath());
        if (b.initrdPath() != null) {
            requireFile("initrd_path", b.initrdPath());
        }
        boot = b;
    }

    synchronized void putMachineConfig(MachineConfiguration m) throws ApiException {
        preBoot("machine configuration");
        if (m.vcpuCount() == null || m.memSizeMib() == null) {
            throw new ApiException("vcpu_count and mem_size_mib are required");
        }
        if (m.vcpuCount() < 1 || m.vcpuCount() > MAX_VCPUS) {
            throw new ApiException("vcpu_count must be 1.." + MAX_VCPUS + ", not " + m.vcpuCount());
        }
        if (Boolean.TRUE.equals(m.smt())) {
            throw new ApiException("smt is not supported: every vCPU is a core of its own");
        }
        if (Boolean.TRUE.equals(m.trackDirtyPages())) {
            throw new ApiException("track_dirty_pages is not supported (no diff snapshots)");
        }
        if (m.cpuTemplate() != null && !m.cpuTemplate().equals("None")) {
            throw new ApiException("cpu_template " + m.cpuTemplate() + " is not supported, only None");
        }
        if (m.hugePages() != null && !m.hugePages().equals("None")) {
            throw new ApiException("huge_pages " + m.hugePages() + " is not supported, only None");
        }
        long bytes = (long) m.memSizeMib() << 20;
        if (m.memSizeMib() < MachineConfig.MIN_MEMORY >> 20 || bytes > MachineConfig.MAX_MEMORY
                || bytes % (2L << 20) != 0) {
            throw new ApiException("mem_size_mib must be " + (MachineConfig.MIN_MEMORY >> 20) + ".."
                    + (MachineConfig.MAX_MEMORY >> 20) + " and even (RAM comes in 2 MiB pieces), not "
                    + m.memSizeMib());
        }
        machine = new MachineConfiguration(m.vcpuCount(), m.memSizeMib(), false, false, null, null);
    }

    synchronized MachineConfiguration machineConfig() {
        return machine;
    }

    synchronized void putDrive(String pathId, Drive d) throws ApiException {
        preBoot("drive " + pathId);
        if (d.driveId() == null || !d.driveId().equals(pathId)) {
            throw new ApiException("drive_id must be the path's id, " + pathId);
        }
        if (d.isRootDevice() == null) {
            throw new ApiException("is_root_device is required");
        }
        if (d.socket() != null) {
            throw new ApiException("socket: vhost-user drives are not supported here (serve one with bundlevisor "
                    + "serve instead)");
        }
        if (d.pathOnHost() == null || d.pathOnHost().isEmpty()) {
            throw new ApiException("path_on_host is required");
        }
        requireFile("path_on_host", d.pathOnHost());
        if (d.rateLimiter() != null) {
            throw new ApiException("rate_limiter is not supported");
        }
        if (d.partuuid() != null) {
            throw new ApiException("partuuid is not supported: the root device is /dev/vda");
        }
        if (d.cacheType() != null && !d.cacheType().equals("Unsafe") && !d.cacheType().equals("Writeback")) {
            throw new ApiException("cache_type must be Unsafe or Writeback, not " + d.cacheType());
        }
        if (d.ioEngine() != null && !d.ioEngine().equals("Sync") && !d.ioEngine().equals("Async")) {
            throw new ApiException("io_engine must be Sync or Async, not " + d.ioEngine());
        }
        if (d.isRootDevice() && drives.values().stream()
                .anyMatch(x -> x.isRootDevice() && !x.driveId().equals(pathId))) {
            throw new ApiException("a root device is configured already");
        }
        drives.put(pathId, d);
    }

    synchronized void putNetworkInterface(String pathId, NetworkInterface n) throws ApiException {
        preBoot("network interface " + pathId);
        if (n.ifaceId() == null || !n.ifaceId().equals(pathId)) {
            throw new ApiException("iface_id must be the path's id, " + pathId);
        }
        if (n.hostDevName() == null || n.hostDevName().isEmpty()) {
            throw new ApiException("host_dev_name is required");
        }
        if (n.rxRateLimiter() != null || n.txRateLimiter() != null) {
            throw new ApiException("rx_rate_limiter and tx_rate_limiter are not supported");
        }
        nets.put(pathId, n);
    }

    /** {@code InstanceStart}: the VM made from the configuration, and started. */
    synchronized void start() throws ApiException {
        preBoot("InstanceStart");
        if (boot == null) {
            throw new ApiException("cannot start: no boot source (PUT /boot-source first)");
        }
        try {
            vmName = vms.run(config()).name();
            started = true;
        } catch (IllegalArgumentException | PartitionException e) {
            throw new ApiException("cannot start: " + e.getMessage());
        }
    }

    /** The machine the configuration describes: the root drive first (as /dev/vda), then the others in order. */
    MachineConfig config() {
        MachineConfig c = MachineConfig.of(id, machine.vcpuCount(), (long) machine.memSizeMib() << 20,
                Path.of(boot.kernelImagePath())).withConsole(console);
        List<DeviceSpec> devices = new ArrayList<>();
        // Without boot_args, ours (console=ttyS0 panic=-1) rather than Firecracker's, which turns the serial off.
        StringBuilder cmdline = new StringBuilder(boot.bootArgs() != null ? boot.bootArgs() : c.cmdline());
        for (Drive d : orderedDrives()) {
            devices.add(new DeviceSpec("virtio-blk", blkOptions(d)));
            if (d.isRootDevice()) {
                cmdline.append(" root=/dev/vda ").append(Boolean.TRUE.equals(d.isReadOnly()) ? "ro" : "rw");
            }
        }
        for (NetworkInterface n : nets.values()) {
            devices.add(new DeviceSpec("virtio-net", "tap=" + n.hostDevName()
                    + (n.guestMac() != null ? ",mac=" + n.guestMac() : "")));
        }
        c = c.withCmdline(cmdline.toString().strip());
        if (boot.initrdPath() != null) {
            c = c.withInitrd(Path.of(boot.initrdPath()));
        }
        for (DeviceSpec d : devices) {
            c = c.withDevice(d);
        }
        return c;
    }

    /** The drives in the guest's order: the root drive first (as /dev/vda), then the others as configured. */
    private List<Drive> orderedDrives() {
        List<Drive> ordered = new ArrayList<>(drives.values());
        ordered.sort((a, b) -> Boolean.compare(b.isRootDevice(), a.isRootDevice()));
        return ordered;
    }

    /** A drive as a virtio-blk's options, in the shared option syntax (a comma in the path is written ",,"). */
    private static String blkOptions(Drive d) {
        return "path=" + d.pathOnHost().replace(",", ",,") + (Boolean.TRUE.equals(d.isReadOnly()) ? ",ro" : "")
                + ",serial=" + d.driveId();
    }

    /**
     * {@code PATCH /drives/{id}} of a started microVM: a new {@code path_on_host} swaps the running disk's image (the
     * guest sees the new capacity after a config-change interrupt), as Firecracker does and Kata Containers uses to
     * fill a placeholder drive. Before the start, Firecracker refuses it too ({@code PUT} the drive instead).
     */
    synchronized void patchDrive(String pathId, ApiTypes.PartialDrive d) throws ApiException {
        if (d.driveId() == null || !d.driveId().equals(pathId)) {
            throw new ApiException("drive_id must be the path's id, " + pathId);
        }
        if (d.rateLimiter() != null) {
            throw new ApiException("rate_limiter is not supported");
        }
        if (!started) {
            throw new ApiException("PATCH /drives is for a started microVM: PUT /drives/" + pathId + " before it");
        }
        Drive was = drives.get(pathId);
        if (was == null) {
            throw new ApiException("no drive " + pathId);
        }
        if (d.pathOnHost() == null) {
            return; // nothing to change
        }
        if (d.pathOnHost().isEmpty()) {
            throw new ApiException("path_on_host must not be empty");
        }
        requireFile("path_on_host", d.pathOnHost());
        Drive now = new Drive(was.driveId(), d.pathOnHost(), was.isRootDevice(), was.isReadOnly(), was.partuuid(),
                was.cacheType(), was.ioEngine(), was.rateLimiter(), was.socket());
        String device = vmName + "/virtio-blk" + orderedDrives().indexOf(was);
        try {
            vms.updateDevice(vmName, device, blkOptions(now));
        } catch (PartitionException e) {
            throw new ApiException(e.getMessage());
        }
        drives.put(pathId, now);
    }

    /** {@code PATCH /vm}: {@code Paused} or {@code Resumed}. */
    synchronized void setState(String state) throws ApiException {
        if (!started) {
            throw new ApiException("the microVM is not started");
        }
        VmAction action = switch (state == null ? "" : state) {
            case "Paused" -> VmAction.PAUSE;
            case "Resumed" -> VmAction.RESUME;
            default -> throw new ApiException("state must be Paused or Resumed, not " + state);
        };
        try {
            vms.apply(vmName, action);
        } catch (PartitionException e) {
            throw new ApiException(e.getMessage());
        }
    }

    /** {@code PUT /snapshot/create}: a Full snapshot of the paused microVM (as Firecracker requires). */
    synchronized void snapshot(ApiTypes.SnapshotCreate s) throws ApiException {
        if (!started) {
            throw new ApiException("the microVM is not started");
        }
        if (s.snapshotType() != null && !s.snapshotType().equals("Full")) {
            throw new ApiException("snapshot_type " + s.snapshotType() + " is not supported, only Full");
        }
        if (!state().equals("Paused")) {
            throw new ApiException("the microVM must be paused (PATCH /vm Paused) to be snapshotted");
        }
        Path state = file("snapshot_path", s.snapshotPath());
        Path memory = file("mem_file_path", s.memFilePath());
        try {
            vms.snapshot(vmName, state, memory);
        } catch (PartitionException e) {
            throw new ApiException(e.getMessage());
        }
    }

    /** {@code PUT /snapshot/load}: the microVM a snapshot describes, before anything else is configured. */
    synchronized void load(ApiTypes.SnapshotLoad l) throws ApiException {
        if (started || boot != null || !drives.isEmpty() || !nets.isEmpty() || machine != DEFAULT_MACHINE) {
            throw new ApiException("a snapshot loads into a microVM with nothing configured yet");
        }
        if (Boolean.TRUE.equals(l.enableDiffSnapshots()) || Boolean.TRUE.equals(l.trackDirtyPages())) {
            throw new ApiException("diff snapshots are not supported");
        }
        if (l.networkOverrides() != null && !l.networkOverrides().isEmpty()) {
            throw new ApiException("network_overrides is not supported");
        }
        if (l.memFilePath() != null && l.memBackend() != null) {
            throw new ApiException("give mem_file_path or mem_backend, not both");
        }
        String memory = l.memFilePath();
        if (l.memBackend() != null) {
            if (!"File".equals(l.memBackend().backendType())) {
                throw new ApiException("mem_backend " + l.memBackend().backendType() + " is not supported, only File");
            }
            memory = l.memBackend().backendPath();
        }
        Path state = existing("snapshot_path", l.snapshotPath());
        Path mem = existing(l.memBackend() != null ? "backend_path" : "mem_file_path", memory);
        try {
            vmName = vms.restore(state, mem, console, Boolean.TRUE.equals(l.resumeVm())).name();
            started = true;
        } catch (PartitionException e) {
            throw new ApiException(e.getMessage());
        }
    }

    private static Path file(String field, String path) throws ApiException {
        if (path == null || path.isEmpty() || path.indexOf('\0') >= 0) {
            throw new ApiException(field + " is required");
        }
        Path p = Path.of(path).toAbsolutePath();
        if (p.getParent() == null || !Files.isDirectory(p.getParent()) || Files.isDirectory(p)) {
            throw new ApiException(field + " " + path + ": not a file in an existing folder");
        }
        return p;
    }

    private static Path existing(String field, String path) throws ApiException {
        if (path == null || path.isEmpty() || path.indexOf('\0') >= 0) {
            throw new ApiException(field + " is required");
        }
        if (!Files.isRegularFile(Path.of(path))) {
            throw new ApiException(field + " " + path + ": no such file");
        }
        return Path.of(path);
    }

    synchronized FullVmConfiguration fullConfig() {
        return new FullVmConfiguration(boot, machine, List.copyOf(drives.values()), List.copyOf(nets.values()));
    }

    synchronized Optional<String> vmName() {
        return started ? Optional.of(vmName) : Optional.empty();
    }

    private void preBoot(String what) throws ApiException {
        if (started) {
            throw new ApiException("the " + what + " cannot be changed after the microVM started");
        }
    }

    /** A readable file: a kernel or initrd a regular one, a drive also a block device; never a folder. */
    private static void requireFile(String field, String path) throws ApiException {
        if (path.indexOf('\0') >= 0 || !Files.exists(Path.of(path))) {
            throw new ApiException(field + " " + path + ": no such file");
        }
        if (Files.isDirectory(Path.of(path))) {
            throw new ApiException(field + " " + path + ": is a directory, not a file");
        }
        if (!field.equals("path_on_host") && !Files.isRegularFile(Path.of(path))) {
            throw new ApiException(field + " " + path + ": not a regular file (a device, a FIFO or a socket)");
        }
        if (!Files.isReadable(Path.of(path))) {
            throw new ApiException(field + " " + path + ": not readable");
        }
    }
}
