package io.bundlevisor.api.internal;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * The request and response bodies of Firecracker's API that we serve, as its OpenAPI description
 * ({@code src/firecracker/swagger/firecracker.yaml}, 1.x) defines them: field names in snake_case, unknown fields
 * refused. Optional fields are null when absent.
 */
final class ApiTypes {

    private ApiTypes() {
    }

    /** {@code BootSource}: {@code kernel_image_path} required. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record BootSource(String kernelImagePath, String bootArgs, String initrdPath) {
    }

    /** {@code MachineConfiguration}: {@code vcpu_count} and {@code mem_size_mib} required. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record MachineConfiguration(Integer vcpuCount, Integer memSizeMib, Boolean smt, Boolean trackDirtyPages,
            String cpuTemplate, String hugePages) {
    }

    /** {@code Drive}: {@code drive_id} and {@code is_root_device} required. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Drive(String driveId, String pathOnHost, Boolean isRootDevice, Boolean isReadOnly, String partuuid,
            String cacheType, String ioEngine, Map<String, Object> rateLimiter, String socket) {
    }

    /** {@code PartialDrive}: {@code drive_id} required; a new {@code path_on_host} swaps the running disk's image. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record PartialDrive(String driveId, String pathOnHost, Map<String, Object> rateLimiter) {
    }

    /** {@code NetworkInterface}: {@code iface_id} and {@code host_dev_name} required. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record NetworkInterface(String ifaceId, String hostDevName, String guestMac, Map<String, Object> rxRateLimiter,
            Map<String, Object> txRateLimiter) {
    }

    /** {@code InstanceActionInfo}: {@code FlushMetrics}, {@code InstanceStart} or {@code SendCtrlAltDel}. */
    record InstanceActionInfo(String actionType) {
    }

    /** {@code Vm}: {@code Paused} or {@code Resumed}. */
    record Vm(String state) {
    }

    /** {@code InstanceInfo}. */
    record InstanceInfo(String appName, String id, String state, String vmmVersion) {
    }

    /** {@code FullVmConfiguration}, the parts we serve. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record FullVmConfiguration(@JsonProperty("boot-source") BootSource bootSource,
            @JsonProperty("machine-config") MachineConfiguration machineConfig, List<Drive> drives,
            @JsonProperty("network-interfaces") List<NetworkInterface> networkInterfaces) {
    }

    /**
     * Firecracker's {@code --config-file}: the sections of {@code FullVmConfiguration}; those we do not serve are
     * accepted by name only to be refused with a reason.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record ConfigFile(@JsonProperty("boot-source") BootSource bootSource,
            @JsonProperty("machine-config") MachineConfiguration machineConfig, List<Drive> drives,
            @JsonProperty("network-interfaces") List<NetworkInterface> networkInterfaces, Object balloon,
            @JsonProperty("cpu-config") Object cpuConfig, LoggerConfig logger, MetricsConfig metrics,
            @JsonProperty("mmds-config") Object mmdsConfig, Object vsock, Object entropy, Object pmem,
            @JsonProperty("memory-hotplug") Object memoryHotplug) {
    }

    /** {@code SnapshotCreateParams}: {@code snapshot_path} and {@code mem_file_path} required; only Full. */
    record SnapshotCreate(String snapshotPath, String memFilePath, String snapshotType) {
    }

    /** {@code MemoryBackend}: a File (Uffd is not served). */
    record MemoryBackend(String backendType, String backendPath) {
    }

    /** {@code SnapshotLoadParams}. */
    record SnapshotLoad(String snapshotPath, String memFilePath, MemoryBackend memBackend, Boolean resumeVm,
            Boolean enableDiffSnapshots, Boolean trackDirtyPages, List<Map<String, Object>> networkOverrides) {
    }

    /** {@code Logger}. */
    record LoggerConfig(String level, String logPath, Boolean showLevel, Boolean showLogOrigin, String module) {
    }

    /** {@code Metrics}: {@code metrics_path} required. */
    record MetricsConfig(String metricsPath) {
    }

    /** {@code Error}. */
    record Fault(String faultMessage) {
    }
}
