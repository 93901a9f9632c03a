package io.bundlevisor.core.ring;

/**
 * The io_uring operations the platform issues. Codes are {@code enum io_uring_op} in
 * {@code include/uapi/linux/io_uring.h}; whether the running kernel supports one is
 * {@link RingService#probe(Opcode)}.
 */
public enum Opcode {
    NOP(0),
    READV(1),
    WRITEV(2),
    FSYNC(3),
    POLL_ADD(6),
    POLL_REMOVE(7),
    /** A timer (since 1.2): completes with {@code -ETIME} when it expires. */
    TIMEOUT(11),
    ASYNC_CANCEL(14),
    FALLOCATE(17),
    READ(22),
    WRITE(23);

    private final int code;

    Opcode(int code) {
        this.code = code;
    }

    /** The kernel's opcode number ({@code IORING_OP_*}). */
    public int code() {
        return code;
    }
}
