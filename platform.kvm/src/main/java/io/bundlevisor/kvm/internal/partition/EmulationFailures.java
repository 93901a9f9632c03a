package io.bundlevisor.kvm.internal.partition;

import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicLong;

import io.bundlevisor.core.partition.EmulationPolicy;
import io.bundlevisor.kvm.internal.KvmHost;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A partition's handling of instructions KVM could not emulate: the policy in force ({@link EmulationPolicy#AUTO}
 * resolved against the host), how many were handled, and the log of the first few (VP, RIP, bytes, outcome). Then
 * only the count grows: a guest can make these as often as it likes. Logged at INFO: the VM goes on (a failure the
 * policy cannot handle is the halt reason). Thread-safe: every VP reports here.
 */
final class EmulationFailures {

    private static final Logger LOG = LoggerFactory.getLogger(EmulationFailures.class);
    /** How many handled failures are logged, per partition. */
    static final int LOGGED = 8;

    private final String vm;
    private final EmulationPolicy policy;
    private final AtomicLong handled = new AtomicLong();

    EmulationFailures(String vm, EmulationPolicy requested, KvmHost host) {
        this.vm = vm;
        this.policy = resolve(requested, host);
    }

    /** {@code requested}, with AUTO made INJECT on a software KVM and HALT on hardware virtualization. */
    static EmulationPolicy resolve(EmulationPolicy requested, KvmHost host) {
        if (requested != EmulationPolicy.AUTO) {
            return requested;
        }
        return host.software() ? EmulationPolicy.INJECT : EmulationPolicy.HALT;
    }

    /** HALT or INJECT. */
    EmulationPolicy policy() {
        return policy;
    }

    boolean injects() {
        return policy == EmulationPolicy.INJECT;
    }

    /** Failures handled by the inject policy since the partition was created. */
    long handled() {
        return handled.get();
    }

    /** Counts one handled failure; logs it while fewer than {@link #LOGGED} were. */
    void handled(int vp, long rip, byte[] bytes, EmulatedOutcome outcome) {
        long n = handled.incrementAndGet();
        if (n <= LOGGED) {
            LOG.info("{}: VP {} at rip 0x{}: KVM could not emulate {} ({}){}", vm, vp, Long.toHexString(rip),
                    HexFormat.ofDelimiter(" ").formatHex(bytes), outcome.what(),
                    n == LOGGED ? "; further ones are only counted (vm:list)" : "");
        }
    }
}
