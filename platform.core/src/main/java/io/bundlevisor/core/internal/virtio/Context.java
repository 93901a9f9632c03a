package io.bundlevisor.core.internal.virtio;

import io.bundlevisor.core.virtio.DeviceContext;
import io.bundlevisor.core.virtio.DeviceResources;

/** What a device is created with, for a machine's window ({@link Binding}) or a backend ({@link BackendBinding}). */
record Context(String machineName, int index, int vpCount, String options, String name, boolean backend,
        DeviceResources resources) implements DeviceContext {
}
