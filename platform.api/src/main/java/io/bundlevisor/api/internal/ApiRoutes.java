package io.bundlevisor.api.internal;

import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.bundlevisor.api.internal.ApiTypes.BootSource;
import io.bundlevisor.api.internal.ApiTypes.Drive;
import io.bundlevisor.api.internal.ApiTypes.Fault;
import io.bundlevisor.api.internal.ApiTypes.InstanceActionInfo;
import io.bundlevisor.api.internal.ApiTypes.InstanceInfo;
import io.bundlevisor.api.internal.ApiTypes.MachineConfiguration;
import io.bundlevisor.api.internal.ApiTypes.NetworkInterface;
import io.bundlevisor.api.internal.ApiTypes.Vm;

/**
 * Firecracker's API routes over one {@link Microvm}, independent of the HTTP server: a method, a path and a body give
 * a status and a JSON body. 204 for a change made, 200 with the resource for a read, 400 with Firecracker's error body
 * ({@code {"fault_message": ...}}) for a refusal, naming the endpoint when it is one we do not serve.
 */
final class ApiRoutes {

    /** The answer to a request: a status, a body and its type. */
    record Reply(int status, String json, String contentType) {
        Reply(int status, String json) {
            this(status, json, "application/json");
        }

        static Reply noContent() {
            return new Reply(204, "");
        }

        static Reply ok(Object body) {
            return new Reply(200, Json.write(body));
        }

        static Reply fault(String message) {
            return new Reply(400, Json.write(new Fault(message)));
        }
    }

    /** Our own additions live under this prefix, apart from Firecracker's endpoints. */
    static final String PREFIX = "/bundlevisor";

    private static final Pattern DRIVE = Pattern.compile("/drives/([A-Za-z0-9_-]{1,64})");
    private static final Pattern NET = Pattern.compile("/network-interfaces/([A-Za-z0-9_-]{1,64})");
    /** Endpoints of Firecracker's API that we do not serve: refused by name. */
    private static final Set<String> UNSUPPORTED = Set.of("/balloon", "/balloon/statistics", "/balloon/hinting/start",
            "/balloon/hinting/status", "/balloon/hinting/stop", "/cpu-config", "/entropy", "/hotplug/memory", "/mmds",
            "/mmds/config", "/serial", "/version", "/vsock");

    private final Microvm vm;
    private final String version;
    private final Metrics metrics;
    private final MetricsFile metricsFile;
    private final ApiLogger logger = new ApiLogger();

    /**
     * Routes for {@code vm}; {@code version} is what {@code GET /} says as {@code vmm_version}; {@code metrics} the
     * platform's counters.
     */
    ApiRoutes(Microvm vm, String version, Metrics metrics) {
        this.vm = vm;
        this.version = version;
        this.metrics = metrics;
        this.metricsFile = new MetricsFile(metrics);
    }

    /** Stops what the routes started (the metrics file's periodic flush). */
    void close() {
        metricsFile.close();
        logger.close();
    }

    /** A request applied as {@link #handle} applies it, its refusal thrown (for the config file). */
    void apply(String method, String path, String body) throws ApiException {
        route(method, path, body);
    }

    Reply handle(String method, String path, String body) {
        try {
            return route(method, path, body);
        } catch (ApiException e) {
            return Reply.fault(e.getMessage());
        } catch (RuntimeException e) {
            return new Reply(500, Json.write(new Fault("internal error: " + e)));
        }
    }

    private Reply route(String method, String path, String body) throws ApiException {
        Matcher drive = DRIVE.matcher(path);
        Matcher net = NET.matcher(path);
        switch (method + " " + path) {
            case "GET /" -> {
                return Reply.ok(new InstanceInfo("Bundlevisor", vm.id(), vm.state(), version));
            }
            case "GET /machine-config" -> {
                return Reply.ok(vm.machineConfig());
            }
            case "GET /vm/config" -> {
                return Reply.ok(vm.fullConfig());
            }
            case "GET " + PREFIX + "/metrics" -> {
                return new Reply(200, metrics.openMetrics(), Metrics.OPENMETRICS_TYPE);
            }
            case "PUT /snapshot/create" -> {
                vm.snapshot(Json.read(body, ApiTypes.SnapshotCreate.class));
                return Reply.noContent();
            }
            case "PUT /snapshot/load" -> {
                vm.load(Json.read(body, ApiTypes.SnapshotLoad.class));
                return Reply.noContent();
            }
            case "PUT /logger" -> {
                logger.configure(Json.read(body, ApiTypes.LoggerConfig.class));
                return Reply.noContent();
            }
            case "PUT /metrics" -> {
                metricsFile.configure(Json.read(body, ApiTypes.MetricsConfig.class).metricsPath());
                return Reply.noContent();
            }
            case "PUT /boot-source" -> {
                vm.putBootSource(Json.read(body, BootSource.class));
                return Reply.noContent();
            }
            case "PUT /machine-config" -> {
                vm.putMachineConfig(Json.read(body, MachineConfiguration.class));
                return Reply.noContent();
            }
            case "PUT /actions" -> {
                InstanceActionInfo a = Json.read(body, InstanceActionInfo.class);
                switch (a.actionType() == null ? "" : a.actionType()) {
                    case "InstanceStart" -> vm.start();
                    case "SendCtrlAltDel" -> throw new ApiException("SendCtrlAltDel is not supported: the machine "
                            + "has no keyboard controller reset path a guest listens to (power the guest off from "
                            + "inside, or PATCH /vm Paused)");
                    case "FlushMetrics" -> metricsFile.flush();
                    default -> throw new ApiException("action_type must be InstanceStart, SendCtrlAltDel or "
                            + "FlushMetrics, not " + a.actionType());
                }
                return Reply.noContent();
            }
            case "PATCH /vm" -> {
                vm.setState(Json.read(body, Vm.class).state());
                return Reply.noContent();
            }
            default -> {
                if (method.equals("PUT") && drive.matches()) {
                    vm.putDrive(drive.group(1), Json.read(body, Drive.class));
                    return Reply.noContent();
                }
                if (method.equals("PUT") && net.matches()) {
                    vm.putNetworkInterface(net.group(1), Json.read(body, NetworkInterface.class));
                    return Reply.noContent();
                }
                if (method.equals("PATCH") && drive.matches()) {
                    vm.patchDrive(drive.group(1), Json.read(body, ApiTypes.PartialDrive.class));
                    return Reply.noContent();
                }
                if (method.equals("PATCH") && net.matches()) {
                    throw new ApiException("PATCH " + path + " is not supported: interfaces are fixed once the "
                            + "microVM started");
                }
                if (UNSUPPORTED.contains(path)) {
                    throw new ApiException(method + " " + path + " is not supported by Bundlevisor");
                }
                throw new ApiException("Invalid request method and/or path: " + method + " " + path);
            }
        }
    }
}
