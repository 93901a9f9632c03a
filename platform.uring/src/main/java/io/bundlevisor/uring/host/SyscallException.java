package io.bundlevisor.uring.host;

import java.io.IOException;

import io.bundlevisor.core.ring.Errno;
import io.bundlevisor.uring.sys.SyscallFilter;

/** A system call failed: names the operation and the errno. */
public class SyscallException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String operation;
    private final int errno;

    public SyscallException(String operation, int errno) {
        this(operation, errno, null);
    }

    public SyscallException(String operation, int errno, String detail) {
        super(message(operation, errno, detail));
        this.operation = operation;
        this.errno = errno;
    }

    /** On a thread confined by {@link SyscallFilter}, an EPERM says so (and is logged there, once per call). */
    private static String message(String operation, int errno, String detail) {
        String why = detail;
        if (errno == Errno.EPERM) {
            String filter = SyscallFilter.refused(operation).orElse(null);
            why = filter == null ? detail : detail == null ? filter : detail + "; " + filter;
        }
        return operation + " failed: " + Errno.name(errno) + (why == null ? "" : " (" + why + ")");
    }

    /** The call that failed, e.g. {@code "io_uring_setup"} or {@code "open /tmp/disk.img"}. */
    public String operation() {
        return operation;
    }

    /** The positive errno value. */
    public int errno() {
        return errno;
    }
}
