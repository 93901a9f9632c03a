package io.bundlevisor.core.ring;

import java.io.IOException;

/** An IO the kernel completed with an error: names the operation and the errno. */
public class RingIoException extends IOException {

    private static final long serialVersionUID = 1L;

    private final transient Opcode operation;
    private final int errno;

    public RingIoException(Opcode operation, int errno) {
        super("io_uring " + operation + " failed: " + Errno.name(errno));
        this.operation = operation;
        this.errno = errno;
    }

    /** The operation that failed. */
    public Opcode operation() {
        return operation;
    }

    /** The positive errno value the kernel reported. */
    public int errno() {
        return errno;
    }

    /**
     * Returns {@code result} when it is a success (non-negative), and throws the typed exception for a negative
     * CQE result.
     */
    public static int check(Opcode operation, int result) throws RingIoException {
        if (result < 0) {
            throw new RingIoException(operation, -result);
        }
        return result;
    }
}
