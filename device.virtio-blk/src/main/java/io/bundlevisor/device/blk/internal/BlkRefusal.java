package io.bundlevisor.device.blk.internal;

/** Why a request chain was refused: the guest's mistakes, each logged once per device. */
enum BlkRefusal {
    NO_STATUS("a chain without a device-writable byte for the status (needs reset)"),
    SHORT_HEADER("a chain whose readable part is shorter than the 16-byte request header (needs reset)"),
    READ_ONLY("a write, discard or write zeroes on a read-only disk"),
    PARTIAL_SECTOR("a read or write of a length that is not a multiple of 512"),
    TOO_LONG("a request longer than the device's limits"),
    OUT_OF_RANGE("a request beyond the disk's capacity"),
    FLUSH_SHAPE("a flush with a non-zero sector or with data"),
    GET_ID_LENGTH("a GET_ID whose data is not 20 bytes"),
    SEGMENT_COUNT("a discard or write zeroes that is not exactly one 16-byte segment"),
    RESERVED_FLAGS("a discard or write zeroes with reserved flags set"),
    DISCARD_UNMAP("a discard with the unmap flag"),
    UNKNOWN_TYPE("a request of a type this device does not support"),
    BAD_HEAD("a chain whose head is beyond the queue size (needs reset)");

    private final String description;

    BlkRefusal(String description) {
        this.description = description;
    }

    String description() {
        return description;
    }
}
