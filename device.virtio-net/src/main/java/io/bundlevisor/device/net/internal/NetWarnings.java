package io.bundlevisor.device.net.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.ring.Errno;

/**
 * The guest is hostile and the host may fail: each kind of refusal and each host errno is logged once per device,
 * then only counted ({@link NetCounters}), so neither a guest nor a busy network can flood the log. Worker thread.
 */
final class NetWarnings {

    private static final Logger LOG = LoggerFactory.getLogger(NetWarnings.class);
    private static final int MAX_ERRNO = 4096;

    private final String device;
    private final boolean[] refusals = new boolean[NetRefusal.values().length];
    private final boolean[] txErrnos = new boolean[MAX_ERRNO];
    private final boolean[] rxErrnos = new boolean[MAX_ERRNO];

    NetWarnings(String device) {
        this.device = device;
    }

    void refused(NetRefusal why, int queue) {
        if (!refusals[why.ordinal()]) {
            refusals[why.ordinal()] = true;
            LOG.warn("{}: queue {}: refused {}; further ones are only counted", device, queue, why.description());
        }
    }

    /** The tap refused an IO with {@code -result}. */
    void failed(boolean transmit, int queue, int result) {
        boolean[] seen = transmit ? txErrnos : rxErrnos;
        int errno = Math.clamp(-result, 0, MAX_ERRNO - 1);
        if (!seen[errno]) {
            seen[errno] = true;
            LOG.warn("{}: queue {}: the tap failed a {} with {}; further ones are only counted", device, queue,
                    transmit ? "write" : "read", Errno.name(errno));
        }
    }
}
