package io.bundlevisor.manage.cli;

import java.nio.file.Path;

import io.bundlevisor.core.partition.DeviceSpec;

/** What {@code bundlevisor serve} asked for, checked: the socket and the one device to serve on it. */
public record ServeArguments(Path socket, DeviceSpec device) {
}
