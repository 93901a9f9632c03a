package io.bundlevisor.uring.internal;

import static java.lang.foreign.MemoryLayout.paddingLayout;
import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

import io.bundlevisor.uring.sys.HeaderLayouts;

/**
 * The io_uring structures of {@code include/uapi/linux/io_uring.h} (Linux 6.x) as FFM layouts, and every offset
 * this bundle uses as a named constant. Each constant is computed from the layout and asserted against the
 * header's value when the class loads, so a layout slip fails at once instead of corrupting memory.
 */
final class IoUringLayout {

    /** {@code struct io_sqring_offsets}: 40 bytes. */
    static final StructLayout SQRING_OFFSETS = structLayout(
            JAVA_INT.withName("head"), JAVA_INT.withName("tail"), JAVA_INT.withName("ring_mask"),
            JAVA_INT.withName("ring_entries"), JAVA_INT.withName("flags"), JAVA_INT.withName("dropped"),
            JAVA_INT.withName("array"), JAVA_INT.withName("resv1"), JAVA_LONG.withName("user_addr"));

    /** {@code struct io_cqring_offsets}: 40 bytes. */
    static final StructLayout CQRING_OFFSETS = structLayout(
            JAVA_INT.withName("head"), JAVA_INT.withName("tail"), JAVA_INT.withName("ring_mask"),
            JAVA_INT.withName("ring_entries"), JAVA_INT.withName("overflow"), JAVA_INT.withName("cqes"),
            JAVA_INT.withName("flags"), JAVA_INT.withName("resv1"), JAVA_LONG.withName("user_addr"));

    /** {@code struct io_uring_params}: 120 bytes, passed to io_uring_setup. */
    static final StructLayout PARAMS = structLayout(
            JAVA_INT.withName("sq_entries"), JAVA_INT.withName("cq_entries"), JAVA_INT.withName("flags"),
            JAVA_INT.withName("sq_thread_cpu"), JAVA_INT.withName("sq_thread_idle"), JAVA_INT.withName("features"),
            JAVA_INT.withName("wq_fd"), sequenceLayout(3, JAVA_INT).withName("resv"),
            SQRING_OFFSETS.withName("sq_off"), CQRING_OFFSETS.withName("cq_off"));

    /** {@code struct io_uring_sqe}: 64 bytes; unions named after the members this bundle writes. */
    static final StructLayout SQE = structLayout(
            JAVA_BYTE.withName("opcode"), JAVA_BYTE.withName("flags"), JAVA_SHORT.withName("ioprio"),
            JAVA_INT.withName("fd"), JAVA_LONG.withName("off"), JAVA_LONG.withName("addr"),
            JAVA_INT.withName("len"), JAVA_INT.withName("op_flags"), JAVA_LONG.withName("user_data"),
            JAVA_SHORT.withName("buf_index"), JAVA_SHORT.withName("personality"),
            JAVA_INT.withName("splice_fd_in"), JAVA_LONG.withName("addr3"), paddingLayout(8));

    /** {@code struct io_uring_cqe} without the CQE32 extension: 16 bytes. */
    static final StructLayout CQE = structLayout(
            JAVA_LONG.withName("user_data"), JAVA_INT.withName("res"), JAVA_INT.withName("flags"));

    /** {@code struct io_uring_probe} header; {@code struct io_uring_probe_op} entries (8 bytes) follow. */
    static final StructLayout PROBE = structLayout(
            JAVA_BYTE.withName("last_op"), JAVA_BYTE.withName("ops_len"), JAVA_SHORT.withName("resv"),
            sequenceLayout(3, JAVA_INT).withName("resv2"));
    static final StructLayout PROBE_OP = structLayout(
            JAVA_BYTE.withName("op"), JAVA_BYTE.withName("resv"), JAVA_SHORT.withName("flags"),
            JAVA_INT.withName("resv2"));

    static final long PARAMS_SQ_ENTRIES = offset(PARAMS, 0, "sq_entries");
    static final long PARAMS_CQ_ENTRIES = offset(PARAMS, 4, "cq_entries");
    static final long PARAMS_FLAGS = offset(PARAMS, 8, "flags");
    static final long PARAMS_FEATURES = offset(PARAMS, 20, "features");
    static final long PARAMS_SQ_OFF = offset(PARAMS, 40, "sq_off");
    static final long PARAMS_CQ_OFF = offset(PARAMS, 80, "cq_off");

    static final long SQOFF_HEAD = offset(SQRING_OFFSETS, 0, "head");
    static final long SQOFF_TAIL = offset(SQRING_OFFSETS, 4, "tail");
    static final long SQOFF_RING_MASK = offset(SQRING_OFFSETS, 8, "ring_mask");
    static final long SQOFF_RING_ENTRIES = offset(SQRING_OFFSETS, 12, "ring_entries");
    static final long SQOFF_FLAGS = offset(SQRING_OFFSETS, 16, "flags");
    static final long SQOFF_ARRAY = offset(SQRING_OFFSETS, 24, "array");

    static final long CQOFF_HEAD = offset(CQRING_OFFSETS, 0, "head");
    static final long CQOFF_TAIL = offset(CQRING_OFFSETS, 4, "tail");
    static final long CQOFF_RING_MASK = offset(CQRING_OFFSETS, 8, "ring_mask");
    static final long CQOFF_RING_ENTRIES = offset(CQRING_OFFSETS, 12, "ring_entries");
    static final long CQOFF_OVERFLOW = offset(CQRING_OFFSETS, 16, "overflow");
    static final long CQOFF_CQES = offset(CQRING_OFFSETS, 20, "cqes");

    static final long SQE_OPCODE = offset(SQE, 0, "opcode");
    static final long SQE_FLAGS = offset(SQE, 1, "flags");
    static final long SQE_IOPRIO = offset(SQE, 2, "ioprio");
    static final long SQE_FD = offset(SQE, 4, "fd");
    static final long SQE_OFF = offset(SQE, 8, "off");
    static final long SQE_ADDR = offset(SQE, 16, "addr");
    static final long SQE_LEN = offset(SQE, 24, "len");
    static final long SQE_OP_FLAGS = offset(SQE, 28, "op_flags");
    static final long SQE_USER_DATA = offset(SQE, 32, "user_data");
    static final long SQE_BUF_INDEX = offset(SQE, 40, "buf_index");
    static final long SQE_ADDR3 = offset(SQE, 48, "addr3");

    static final long CQE_USER_DATA = offset(CQE, 0, "user_data");
    static final long CQE_RES = offset(CQE, 8, "res");
    static final long CQE_FLAGS = offset(CQE, 12, "flags");

    static final long PROBE_OPS_LEN = offset(PROBE, 1, "ops_len");
    static final long PROBE_OP_FLAGS = offset(PROBE_OP, 2, "flags");

    static final long PARAMS_SIZE = size(PARAMS, 120);
    static final long SQE_SIZE = size(SQE, 64);
    static final long CQE_SIZE = size(CQE, 16);
    static final long PROBE_SIZE = size(PROBE, 16);
    static final long PROBE_OP_SIZE = size(PROBE_OP, 8);

    // io_uring_setup flags (IORING_SETUP_*)
    static final int SETUP_CLAMP = 1 << 4;
    static final int SETUP_SUBMIT_ALL = 1 << 7;
    // io_uring_params.features (IORING_FEAT_*)
    static final int FEAT_SINGLE_MMAP = 1;
    static final int FEAT_NODROP = 1 << 1;
    // mmap offsets (IORING_OFF_*)
    static final long OFF_SQ_RING = 0L;
    static final long OFF_CQ_RING = 0x8000000L;
    static final long OFF_SQES = 0x10000000L;
    // io_uring_enter flags
    static final int ENTER_GETEVENTS = 1;
    // io_uring_register opcodes (enum io_uring_register_op)
    static final int REGISTER_PROBE = 8;
    static final int REGISTER_IOWQ_AFF = 17;
    static final int REGISTER_IOWQ_MAX_WORKERS = 19;
    // struct io_uring_probe_op.flags
    static final int IO_URING_OP_SUPPORTED = 1;
    /** The kernel caps io_uring_setup at IORING_MAX_ENTRIES. */
    static final int MAX_ENTRIES = 32768;

    static {
        // IoUring packs SQE fields into 8-byte words assuming the little-endian order of x86_64 and aarch64.
        if (java.nio.ByteOrder.nativeOrder() != java.nio.ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("io_uring layouts here assume a little-endian host");
        }
        if (SQE_FD != SQE_OPCODE + 4 || SQE_OP_FLAGS != SQE_LEN + 4) {
            throw new ExceptionInInitializerError("SQE word packing does not match io_uring.h");
        }
    }

    private IoUringLayout() {
    }

    private static long offset(StructLayout layout, long headerValue, String field) {
        return HeaderLayouts.offset("io_uring.h", layout, headerValue, field);
    }

    private static long size(MemoryLayout layout, long headerSize) {
        return HeaderLayouts.size("io_uring.h", layout, headerSize);
    }
}
