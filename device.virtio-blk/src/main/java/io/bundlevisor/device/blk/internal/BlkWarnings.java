package io.bundlevisor.device.blk.internal;

import io.bundlevisor.core.ring.Errno;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The guest is hostile and the host may fail: each kind of refused request and each host errno is logged once per
 * device, then only counted ({@link BlkCounters}), so a guest cannot flood the log. Worker thread only.
 */
final class BlkWarnings {

    private static final Logger LOG = LoggerFactory.getLogger(BlkWarnings.class);
    /** Errnos are below 4096 (include/linux/err.h, MAX_ERRNO); the slot past them collects short transfers. */
    private static final int SHORT = 4096;

    private final String device;
    private final boolean[] refusals = new boolean[BlkRefusal.values().length];
    private final boolean[] errnos = new boolean[SHORT + 1];

    BlkWarnings(String device) {
        this.device = device;
    }

    /** A request the guest got wrong. */
    void refused(BlkRefusal why) {
        if (!refusals[why.ordinal()]) {
            refusals[why.ordinal()] = true;
            LOG.warn("{}: refused {}; further ones are only counted", device, why.description());
        }
    }

    /**
     * The host failed a request: {@code result} is {@code -errno}, or a short count of {@code expected}; the guest
     * was answered {@code status}.
     */
    void failed(int type, int result, long expected, byte status) {
        int slot = result < 0 && result > -SHORT ? -result : SHORT;
        if (!errnos[slot]) {
            errnos[slot] = true;
            String what = result < 0 ? Errno.name(-result)
                    : "a short transfer (" + result + " of " + expected + " bytes)";
            LOG.warn("{}: the host failed a {} request with {}; the guest was answered {}; further ones are only "
                    + "counted", device, typeName(type), what, status == BlkSpec.S_UNSUPP ? "UNSUPP" : "IOERR");
        }
    }

    static String typeName(int type) {
        return switch (type) {
            case BlkSpec.T_IN -> "read";
            case BlkSpec.T_OUT -> "write";
            case BlkSpec.T_FLUSH -> "flush";
            case BlkSpec.T_DISCARD -> "discard";
            case BlkSpec.T_WRITE_ZEROES -> "write zeroes";
            default -> "type " + type;
        };
    }
}
