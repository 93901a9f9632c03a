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
    static final int GET_CONFIG = 24;
    static final int SET_CONFIG = 25;
    static final int RESET_DEVICE = 34;
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
    /** vhost_vring_addr.flags bit 0 (VHOST_VRING_F_LOG): log used-ring writes; we offer no logging. */
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

    /** VHOST_USER_F_PROTOCOL_FEATURES, a virtio feature bit of this transport ("Feature bits"). */
    static final long F_PROTOCOL_FEATURES = 1L << 30;

    // "Protocol features".
    static final long PF_MQ = 1L << 0;
    static final long PF_REPLY_ACK = 1L << 3;
    static final long PF_CONFIG = 1L << 9;
    static final long PF_RESET_DEVICE = 1L << 13;
    static final long PF_DEVICE_STATE = 1L << 19;

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
            case GET_CONFIG -> "GET_CONFIG";
            case SET_CONFIG -> "SET_CONFIG";
            case RESET_DEVICE -> "RESET_DEVICE";
            case SET_DEVICE_STATE_FD -> "SET_DEVICE_STATE_FD";
            case CHECK_DEVICE_STATE -> "CHECK_DEVICE_STATE";
            default -> "request " + request;
        };
    }
}
