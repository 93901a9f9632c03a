/*
 * A virtio-blk client (virtio 1.x section 5.2) over virtio.h: the config space (5.2.4), requests of every type the
 * guests use (5.2.6), several in flight per queue and several queues (VIRTIO_BLK_F_MQ). Each queue belongs to one
 * CPU at a time; nothing allocates: the caller provides the queues' memory.
 */
#ifndef VIRTIO_BLK_H
#define VIRTIO_BLK_H

#include "virtio.h"

#define VIRTIO_ID_BLOCK 2

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX (1ull << 1)
#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_GEOMETRY (1ull << 4)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ull << 6)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)
#define VIRTIO_BLK_F_TOPOLOGY (1ull << 10)
#define VIRTIO_BLK_F_CONFIG_WCE (1ull << 11)
#define VIRTIO_BLK_F_MQ (1ull << 12)
#define VIRTIO_BLK_F_DISCARD (1ull << 13)
#define VIRTIO_BLK_F_WRITE_ZEROES (1ull << 14)

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_T_DISCARD 11u
#define VIRTIO_BLK_T_WRITE_ZEROES 13u

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20 /* GET_ID: up to 20 bytes, NUL-terminated only when shorter */
#define SECTOR_SIZE 512u

/* Driver limits: requests in flight per queue, and data segments of one request through an indirect table. */
#define BLK_SLOTS 32
#define BLK_MAX_SEGS 256
#define BLK_MAX_QUEUES VIRTIO_MAX_QUEUES

/* Errors of the calls below (negative; 0..2 are device status values). */
#define BLK_E_BUSY (-1)        /* no free slot or descriptors: reap first */
#define BLK_E_TOO_BIG (-2)     /* more segments than the device or this driver takes */
#define BLK_E_TIMEOUT (-3)     /* no completion in time */
#define BLK_E_NEEDS_RESET (-4) /* the device set DEVICE_NEEDS_RESET */
#define BLK_E_BROKEN (-5)      /* the device put a bad entry in the used ring */
#define BLK_E_USED_LEN (-6)    /* a request completed OK with a used length other than the bytes it must write */

/* How data goes into the ring: direct chains, one indirect table per request, or alternately (every other
 * request), to use both. Indirect only where VIRTIO_F_INDIRECT_DESC was negotiated. */
enum blk_desc_mode { BLK_DESC_DIRECT, BLK_DESC_INDIRECT, BLK_DESC_MIXED };

/* 5.2.6: the device-readable header of every request. */
struct virtio_blk_req_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

/* 5.2.6: the payload of DISCARD and WRITE_ZEROES, one per range. */
struct virtio_blk_discard_write_zeroes {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags; /* bit 0: unmap (WRITE_ZEROES only) */
};

struct blk_req {
    struct virtq_desc table[BLK_MAX_SEGS + 2] __attribute__((aligned(16))); /* indirect: header, data, status */
    struct virtio_blk_req_header header __attribute__((aligned(16)));
    volatile uint8_t status;
    bool busy;
    uint32_t expect_len; /* bytes a successful request writes: data the device fills, plus the status byte */
    uint32_t type;
};

struct blk_queue {
    struct virtq vq;
    struct blk_dev *blk;
    struct blk_req req[BLK_SLOTS];
    unsigned in_flight;
    unsigned submitted; /* for BLK_DESC_MIXED */
};

struct blk_dev {
    struct virtio_dev vdev;
    /* What blk_open was given, for blk_reopen. */
    struct virtio_mmio_slot slot;
    uint64_t wanted;
    struct blk_queue *queues;
    unsigned queues_wanted;
    unsigned max_queue_size;
    unsigned queue_count; /* queues running */
    enum blk_desc_mode desc_mode;
    /* The config (5.2.4), read under ConfigGeneration. */
    uint64_t capacity;   /* in 512-byte sectors, whatever blk_size says */
    uint32_t size_max;   /* 0: no limit offered */
    uint32_t seg_max;    /* 0: no limit offered */
    uint32_t blk_size;   /* 512 unless VIRTIO_BLK_F_BLK_SIZE */
    uint16_t num_queues; /* 1 unless VIRTIO_BLK_F_MQ */
    uint32_t max_discard_sectors, max_write_zeroes_sectors;
};

/*
 * Initializes the block device at slot: negotiates wanted (and VERSION_1), reads the config and sets up
 * min(queue_count, num_queues) queues in the caller's queues[] (each at most max_queue_size entries, 0: no
 * limit), then DRIVER_OK. Returns NULL or why not; b->queue_count says how many queues run.
 */
const char *blk_open(struct blk_dev *b, const struct virtio_mmio_slot *slot, uint64_t wanted,
                     struct blk_queue *queues, unsigned queue_count, unsigned max_queue_size);
/* Resets the device and does blk_open again with the same arguments (after DEVICE_NEEDS_RESET); every request
 * in flight is forgotten. */
const char *blk_reopen(struct blk_dev *b);

/* Whether a feature was negotiated. */
bool blk_has(const struct blk_dev *b, uint64_t feature);

/*
 * Queues one request without notifying: type, sector, and len data bytes at buf (device-writable for IN and
 * GET_ID, device-readable otherwise; none if len is 0). Returns the slot (>= 0) or BLK_E_BUSY / BLK_E_TOO_BIG.
 */
int blk_submit(struct blk_queue *q, uint32_t type, uint64_t sector, void *buf, uint32_t len);
/* The slot the next blk_submit will take (so that the caller can pick its buffer), or -1 if none is free. */
int blk_next_slot(const struct blk_queue *q);
/* Publishes what blk_submit queued and notifies the device if it wants it. */
void blk_kick(struct blk_queue *q);
/* Takes one completion: 1 with *slot and *status (0..2, or BLK_E_USED_LEN), 0 if none, BLK_E_BROKEN. */
int blk_reap(struct blk_queue *q, unsigned *slot, int *status);
/* Waits for one completion (virtq_wait) and takes it: 1, or BLK_E_TIMEOUT / BLK_E_NEEDS_RESET / BLK_E_BROKEN. */
int blk_wait_any(struct blk_queue *q, uint64_t timeout_us, unsigned *slot, int *status);

/* One request alone on the queue, waited for: the device status (0..2) or a negative BLK_E_ value. */
int blk_do(struct blk_queue *q, uint32_t type, uint64_t sector, void *buf, uint32_t len, uint64_t timeout_us);
/* GET_ID into id (21 bytes: the id and a NUL); the device status or a BLK_E_ value. */
int blk_get_id(struct blk_queue *q, char *id, uint64_t timeout_us);
/* The largest data length of one request the device takes (its seg_max and size_max), capped at want. */
uint32_t blk_max_request(const struct blk_queue *q, uint32_t want);

/* "OK", "IOERR", "UNSUPP" or the name of a BLK_E_ error. */
const char *blk_result_name(int result);

#endif
