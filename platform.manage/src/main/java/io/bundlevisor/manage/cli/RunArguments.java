package io.bundlevisor.manage.cli;

import io.bundlevisor.core.partition.MachineConfig;

/**
 * What {@code bundlevisor run} (and {@code vm:run}) asked for, checked: the machine, and whether a guest reset reboots
 * it ({@code --no-reboot} says no).
 */
public record RunArguments(MachineConfig config, boolean reboot) {
}
