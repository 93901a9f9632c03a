package io.bundlevisor.core.ring;

/**
 * io_uring cannot be used on this host (disabled by sysctl, filtered by seccomp, too old a kernel); the message
 * is {@link RingService#unavailabilityCause()}.
 */
public class RingUnavailableException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    public RingUnavailableException(String cause) {
        super(cause);
    }
}
