package io.bundlevisor.uring.host;

import java.io.IOException;

import io.bundlevisor.core.ring.Errno;

/** A system call failed: names the operation and the errno. */
public class SyscallException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String operation;
    private final int errno;

    public SyscallException(String operation, int errno) {
        this(operation, errno, null);
    }

    public SyscallException(String operation, int errno, String detail) {
        super(operation + " failed: " + Errno.name(errno) + (detail == null ? "" : " (" + detail + ")"));
        this.operation = operation;
        this.errno = errno;
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
