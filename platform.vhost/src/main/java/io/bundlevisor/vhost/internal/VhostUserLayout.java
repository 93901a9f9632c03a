package io.bundlevisor.vhost.internal;

/**
 * The vhost-user wire format (QEMU docs/interop/vhost-user.rst): every message is a 12-byte header (request, flags,
 * payload size; little endian) and a payload; descriptors travel as SCM_RIGHTS ancillary data with the message.
 * Offsets below are into the payload.
 */
final class VhostUserLayout {

    private VhostUserLayout() {
    }

    // "Message format": u32 request, u32 flags, u32 size.
    static final int HEADER_SIZE = 12;
    static final int HEADER_REQUEST = 0;
    static final int HEADER_FLAGS = 4;
    static final int HEADER_SIZE_FIELD = 8;
    /** flags bits 0-1: the protocol version, 0x1. */
    static final int FLAG_VERSION_MASK = 0x3;
    static final int FLAG_VERSION = 0x1;
    /** flags bit 2: this is a reply. */
    static final int FLAG_REPLY = 0x4;
    /** flags bit 3: the front-end wants an acknowledgement (REPLY_ACK). */
    static final int FLAG_NEED_REPLY = 0x8;
    /** The largest payload we take: a full memory table (8 + 8 * 32) or a config access (12 + 256) fit easily. */
    static final int MAX_PAYLOAD = 4096;

    // "Front-end message types".
    static final int GET_FEATURES = 1;
    static final int SET_FEATURES = 2;
    static final int SET_OWNER = 3;
    static final int RESET_OWNER = 4;
    static final int SET_MEM_TABLE = 5;
    static final int SET_LOG_BASE = 6;
    static final int SET_LOG_FD = 7;
    static final int SET_VRING_NUM = 8;
    static final int SET_VRING_ADDR = 9;
    static final int SET_VRING_BASE = 10;
    static final int GET_VRING_BASE = 11;
    static final int SET_VRING_KICK = 12;
    static final int SET_VRING_CALL = 13;
    static final int SET_VRING_ERR = 14;
    static final int GET_PROTOCOL_FEATURES = 15;
    static final int SET_PROTOCOL_FEATURES = 16;
    static final int GET_QUEUE_NUM = 17;
    static final int SET_VRING_ENABLE = 18;
    /** VHOST_USER_SET_BACKEND_REQ_FD (SET_SLAVE_REQ_FD in QEMU 7.2's copy of the spec). */
    static final int SET_BACKEND_REQ_FD = 21;
    static final int GET_CONFIG = 24;
    static final int SET_CONFIG = 25;
    static final int GET_INFLIGHT_FD = 31;
    static final int SET_INFLIGHT_FD = 32;
    static final int RESET_DEVICE = 34;
    static final int GET_MAX_MEM_SLOTS = 36;
    static final int ADD_MEM_REG = 37;
    static final int REM_MEM_REG = 38;
    static final int SET_DEVICE_STATE_FD = 42;
    static final int CHECK_DEVICE_STATE = 43;

    // "A single 64-bit integer" (u64 payloads).
    static final int U64_SIZE = 8;

    // "A vring state description": u32 index, u32 num.
    static final int STATE_SIZE = 8;
    static final int STATE_INDEX = 0;
    static final int STATE_NUM = 4;

    // "A vring address description": u32 index, u32 flags, u64 descriptor, u64 used, u64 available, u64 log.
    static final int ADDR_SIZE = 40;
    static final int ADDR_INDEX = 0;
    static final int ADDR_FLAGS = 4;
    static final int ADDR_DESC = 8;
    static final int ADDR_USED = 16;
    static final int ADDR_AVAIL = 24;
    static final int ADDR_LOG = 32;
    /** vhost_vring_addr.flags bit 0 (VHOST_VRING_F_LOG): log used-ring writes at log_guest_addr ("Migration"). */
    static final int ADDR_F_LOG = 0x1;

    // "Memory regions description": u32 nregions, u32 padding, then nregions x {u64 guest address, u64 size,
    // u64 user address, u64 mmap offset}.
    static final int MEM_HEADER_SIZE = 8;
    static final int MEM_NREGIONS = 0;
    static final int REGION_SIZE = 32;
    static final int REGION_GUEST_ADDR = 0;
    static final int REGION_MEMORY_SIZE = 8;
    static final int REGION_USER_ADDR = 16;
    static final int REGION_MMAP_OFFSET = 24;
    /** VHOST_MEMORY_BASELINE_NREGIONS: the most regions SET_MEM_TABLE carries without CONFIGURE_MEM_SLOTS. */
    static final int MAX_REGIONS = 8;

    // "Single memory region description" (ADD_MEM_REG, REM_MEM_REG): u64 padding, then one region as above.
    static final int MEM_REG_SIZE = 8 + REGION_SIZE;
    static final int MEM_REG_REGION = 8;
    /**
     * Our answer to GET_MAX_MEM_SLOTS: the most regions mapped at once. QEMU caps it at its own limit (512 on x86)
     * and, for a front-end with memory hot-plug, offers the guest no more DIMM slots than this.
     */
    static final int MAX_MEM_SLOTS = 32;

    // "Vring descriptor index for kick/call/err": u64, bits 0-7 the index, bit 8 set when no descriptor is passed.
    static final long VRING_INDEX_MASK = 0xFF;
    static final long VRING_NOFD = 0x100;

    // "Virtio device config space": u32 offset, u32 size, u32 flags, then size bytes.
    static final int CONFIG_HEADER_SIZE = 12;
    static final int CONFIG_OFFSET = 0;
    static final int CONFIG_SIZE = 4;
    static final int CONFIG_FLAGS = 8;
    /** VHOST_USER_MAX_CONFIG_SIZE. */
    static final int MAX_CONFIG_SIZE = 256;

    // "Device state transfer parameters": u32 direction (0 save, 1 load), u32 phase (0 stopped).
    static final int TRANSFER_SIZE = 8;
    static final int TRANSFER_DIRECTION = 0;
    static final int TRANSFER_PHASE = 4;
    static final int DIRECTION_SAVE = 0;
    static final int DIRECTION_LOAD = 1;
    static final int PHASE_STOPPED = 0;
    /** The SET_DEVICE_STATE_FD reply's bit 8: the back-end uses the front-end's descriptor, returns none. */
    static final long TRANSFER_REPLY_NOFD = 0x100;

    // "Inflight description": u64 mmap size, u64 mmap offset, u16 num queues, u16 queue size. QEMU sends and
    // expects the size of its C struct, padded to 24 bytes.
    static final int INFLIGHT_SIZE = 24;
    static final int INFLIGHT_MMAP_SIZE = 0;
    static final int INFLIGHT_MMAP_OFFSET = 8;
    static final int INFLIGHT_NUM_QUEUES = 16;
    static final int INFLIGHT_QUEUE_SIZE = 18;

    // "Inflight I/O tracking", split virtqueue: one QueueRegionSplit a queue {u64 features, u16 version, u16 desc_num,
    // u16 last_batch_head, u16 used_idx, DescStateSplit desc[desc_num]}; DescStateSplit is {u8 inflight,
    // u8 padding[5], u16 next, u64 counter}. The regions follow each other, each 64-byte aligned (our choice).
    static final int REGION_FEATURES = 0;
    static final int REGION_VERSION = 8;
    static final int REGION_DESC_NUM = 10;
    static final int REGION_LAST_BATCH_HEAD = 12;
    static final int REGION_USED_IDX = 14;
    static final int REGION_DESCS = 16;
    static final int DESC_STATE_SIZE = 16;
    static final int DESC_STATE_INFLIGHT = 0;
    static final int DESC_STATE_NEXT = 6;
    static final int DESC_STATE_COUNTER = 8;
    /** The region format's version; 0 marks a buffer nobody has set up yet. */
    static final int REGION_FORMAT_VERSION = 1;
    static final int REGION_ALIGN = 64;
    /** The largest split queue (virtio 2.7: 32768). */
    static final int MAX_QUEUE_SIZE = 32768;

    /** Bytes of one queue's region for queues of {@code queueSize}, padded to {@link #REGION_ALIGN}. */
    static long inflightRegionBytes(int queueSize) {
        long bytes = REGION_DESCS + (long) DESC_STATE_SIZE * queueSize;
        return (bytes + REGION_ALIGN - 1) & -REGION_ALIGN;
    }

    /** VHOST_F_LOG_ALL (linux/vhost.h, bit 26): the front-end asks for dirty-page logging ("Migration"). */
    static final long F_LOG_ALL = 1L << 26;

    // SET_LOG_BASE with LOG_SHMFD: struct VhostUserLog {u64 mmap_size; u64 mmap_offset}.
    static final int LOG_SIZE = 16;
    static final int LOG_MMAP_SIZE = 0;
    static final int LOG_MMAP_OFFSET = 8;

    /** VHOST_USER_F_PROTOCOL_FEATURES, a virtio feature bit of this transport ("Feature bits"). */
    static final long F_PROTOCOL_FEATURES = 1L << 30;

    // "Protocol features".
    static final long PF_MQ = 1L << 0;
    /** VHOST_USER_PROTOCOL_F_LOG_SHMFD: the dirty-page log is a memfd given with SET_LOG_BASE. */
    static final long PF_LOG_SHMFD = 1L << 1;
    static final long PF_REPLY_ACK = 1L << 3;
    /** VHOST_USER_PROTOCOL_F_BACKEND_REQ (SLAVE_REQ in QEMU 7.2): the back-end's request channel. */
    static final long PF_BACKEND_REQ = 1L << 5;
    static final long PF_CONFIG = 1L << 9;
    static final long PF_INFLIGHT_SHMFD = 1L << 12;
    static final long PF_RESET_DEVICE = 1L << 13;
    static final long PF_CONFIGURE_MEM_SLOTS = 1L << 15;
    static final long PF_DEVICE_STATE = 1L << 19;

    // "Back-end message types": requests the back-end sends on its channel (SET_BACKEND_REQ_FD), the front-end
    // answering with a u64 (0 success) when the back-end set NEED_REPLY and REPLY_ACK was negotiated.
    static final int BACKEND_CONFIG_CHANGE_MSG = 2;

    /** The names of the requests, for messages. */
    static String name(int request) {
        return switch (request) {
            case GET_FEATURES -> "GET_FEATURES";
            case SET_FEATURES -> "SET_FEATURES";
            case SET_OWNER -> "SET_OWNER";
            case RESET_OWNER -> "RESET_OWNER";
            case SET_MEM_TABLE -> "SET_MEM_TABLE";
            case SET_LOG_BASE -> "SET_LOG_BASE";
            case SET_LOG_FD -> "SET_LOG_FD";
            case SET_VRING_NUM -> "SET_VRING_NUM";
            case SET_VRING_ADDR -> "SET_VRING_ADDR";
            case SET_VRING_BASE -> "SET_VRING_BASE";
            case GET_VRING_BASE -> "GET_VRING_BASE";
            case SET_VRING_KICK -> "SET_VRING_KICK";
            case SET_VRING_CALL -> "SET_VRING_CALL";
            case SET_VRING_ERR -> "SET_VRING_ERR";
            case GET_PROTOCOL_FEATURES -> "GET_PROTOCOL_FEATURES";
            case SET_PROTOCOL_FEATURES -> "SET_PROTOCOL_FEATURES";
            case GET_QUEUE_NUM -> "GET_QUEUE_NUM";
            case SET_VRING_ENABLE -> "SET_VRING_ENABLE";
            case SET_BACKEND_REQ_FD -> "SET_BACKEND_REQ_FD";
            case GET_CONFIG -> "GET_CONFIG";
            case GET_INFLIGHT_FD -> "GET_INFLIGHT_FD";
            case SET_INFLIGHT_FD -> "SET_INFLIGHT_FD";
            case SET_CONFIG -> "SET_CONFIG";
            case RESET_DEVICE -> "RESET_DEVICE";
            case GET_MAX_MEM_SLOTS -> "GET_MAX_MEM_SLOTS";
            case ADD_MEM_REG -> "ADD_MEM_REG";
            case REM_MEM_REG -> "REM_MEM_REG";
            case SET_DEVICE_STATE_FD -> "SET_DEVICE_STATE_FD";
            case CHECK_DEVICE_STATE -> "CHECK_DEVICE_STATE";
            default -> "request " + request;
        };
    }
}
