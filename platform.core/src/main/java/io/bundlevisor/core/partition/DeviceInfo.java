package io.bundlevisor.core.partition;

import java.util.List;
import java.util.Objects;

/**
 * What a partition's device shows to its operator at one instant (since 1.4): read-only, so management code (the
 * shell, an API, tests) can list devices without reaching the binding that controls them.
 *
 * @param name             {@code machine/type+index}
 * @param type             the declared device type
 * @param binding          {@link Binding#BOUND} while a device bundle serves it, {@link Binding#HANDOVER} while it
 *                         waits between two bundles, {@link Binding#UNBOUND} otherwise
 * @param handoverMillis   how long it has waited between two bundles, or -1
 * @param status           the device status register as the driver sees it (virtio 1.2 section 2.1)
 * @param completedChains  chains completed into the used rings since the device was attached
 * @param completedPerQueue the same per queue, indexed by queue (empty before a device was bound)
 * @param inFlight         chains handed to the device and not yet completed
 * @param needsResets      times the device was marked DEVICE_NEEDS_RESET
 */
public record DeviceInfo(String name, String type, Binding binding, long handoverMillis, int status,
        long completedChains, List<Long> completedPerQueue, int inFlight, long needsResets) {

    /** Whether a device bundle serves the device. */
    public enum Binding { BOUND, HANDOVER, UNBOUND }

    public DeviceInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(binding, "binding");
        completedPerQueue = List.copyOf(completedPerQueue);
    }
}
