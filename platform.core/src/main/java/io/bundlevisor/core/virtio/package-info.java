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
 */
@Export
@Version("1.3.0")
package io.bundlevisor.core.virtio;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
