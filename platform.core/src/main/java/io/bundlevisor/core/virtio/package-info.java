/**
 * Virtio devices on the shared io_uring virtio worker.
 *
 * <p>A device bundle registers a {@link io.bundlevisor.core.virtio.VirtioDeviceFactory} whiteboard service with a
 * {@code device.type} property. For each device a machine declares of that type, the platform creates a
 * {@link io.bundlevisor.core.virtio.VirtioDevice} and runs it behind a virtio-mmio transport (virtio 1.x section
 * 4.2) on a worker thread with its own io_uring: the platform owns the status state machine, feature negotiation,
 * the config generation, the split virtqueues (section 2.7) and their validation, notifications and interrupts;
 * the device supplies its features, config space and queue count, and turns each descriptor chain into an IO
 * ({@link io.bundlevisor.core.virtio.VirtioDevice#handleDesc}) and each IO's completion into bytes written
 * ({@link io.bundlevisor.core.virtio.VirtioDevice#completeDesc}).
 *
 * <p>The same devices can be served to another VMM through a backend transport such as vhost-user
 * ({@link io.bundlevisor.core.virtio.VirtioService#serve}, {@link io.bundlevisor.core.virtio.VirtioBackend}): device
 * bundles do not change.
 *
 * <p><b>Handing a device over</b> (since 1.4). When a device bundle is updated (or stopped and started) while a
 * guest runs, the platform does not reset the guest's device: it hands it over from the old bundle's device to a new
 * one made by the next factory of the type, and the guest only sees its IO pause. The steps and what a device author
 * must keep:
 * <ol>
 * <li><em>Quiesce.</em> The worker stops taking chains and calls {@link io.bundlevisor.core.virtio.VirtioDevice#quiesce};
 * the IO in flight completes into the used rings (an acknowledged write is never lost) and held chains go back to
 * the driver unused. Quiesced means: no IO in flight, no chain held, nothing that waits.</li>
 * <li><em>Save.</em> {@link io.bundlevisor.core.virtio.VirtioDevice#saveState} captures everything the guest could
 * observe beyond the queues (for a network device: MAC, queue pairs in use, receive modes); the stream carries the
 * device's type and version. Then {@link io.bundlevisor.core.virtio.VirtioDevice#handOver} keeps the host resources
 * that must not lapse ({@link io.bundlevisor.core.virtio.DeviceResources}), and the device is closed.</li>
 * <li><em>The gap.</em> The transport, the queues and their notifiers stay: a notification that comes meanwhile is
 * served when the new device starts. The config space reads as it was.</li>
 * <li><em>Take over.</em> The next factory creates a device from the same options (taking what was kept, through
 * {@link io.bundlevisor.core.virtio.DeviceContext#resources}); the platform checks that it has the same device id,
 * queues and queue size, offers every feature the driver uses, restores the state and presents the same config
 * space; then it is activated with the features and queues already negotiated, and the worker goes on.</li>
 * </ol>
 * Whatever is refused (a state version the new bundle does not know, a feature it does not offer, another config
 * space), and a gap longer than the grace period (Config Admin PID {@code io.bundlevisor.virtio}, property
 * {@code handover.grace.seconds}, 30 by default, 0 turns handovers off), ends in the path a device without a
 * successor takes: one log line naming the reason, and DEVICE_NEEDS_RESET for the driver.
 */
@Export
@Version("1.7.0")
package io.bundlevisor.core.virtio;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
