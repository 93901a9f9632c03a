/*
 * The virtio-blk client (virtio 1.x section 5.2): device initialization with the config space of 5.2.4 read under
 * ConfigGeneration, and requests (5.2.6) as header, data segments and status byte, in direct chains or one
 * indirect table per request.
 */
#include "virtio_blk.h"

/* struct virtio_blk_config (5.2.4). */
#define CFG_CAPACITY 0               /* le64 */
#define CFG_SIZE_MAX 8               /* le32, VIRTIO_BLK_F_SIZE_MAX */
#define CFG_SEG_MAX 12               /* le32, VIRTIO_BLK_F_SEG_MAX */
#define CFG_BLK_SIZE 20              /* le32, VIRTIO_BLK_F_BLK_SIZE */
#define CFG_NUM_QUEUES 34            /* le16, VIRTIO_BLK_F_MQ */
#define CFG_MAX_DISCARD_SECTORS 36   /* le32, VIRTIO_BLK_F_DISCARD */
#define CFG_MAX_WRITE_ZEROES_SECTORS 48 /* le32, VIRTIO_BLK_F_WRITE_ZEROES */

#define STATUS_UNSET 0xFF /* what the status byte holds until the device writes it */

bool blk_has(const struct blk_dev *b, uint64_t feature) {
    return (b->vdev.features & feature) == feature;
}

/* 2.4.1: read every field, and again if ConfigGeneration changed meanwhile. Fields of features not negotiated
 * keep their defaults. */
static void read_config(struct blk_dev *b) {
    const struct virtio_dev *d = &b->vdev;
    uint32_t before;
    do {
        before = virtio_config_generation(d);
        b->capacity = (uint64_t)virtio_config32(d, CFG_CAPACITY + 4) << 32 | virtio_config32(d, CFG_CAPACITY);
        b->size_max = blk_has(b, VIRTIO_BLK_F_SIZE_MAX) ? virtio_config32(d, CFG_SIZE_MAX) : 0;
        b->seg_max = blk_has(b, VIRTIO_BLK_F_SEG_MAX) ? virtio_config32(d, CFG_SEG_MAX) : 0;
        b->blk_size = blk_has(b, VIRTIO_BLK_F_BLK_SIZE) ? virtio_config32(d, CFG_BLK_SIZE) : SECTOR_SIZE;
        b->num_queues = blk_has(b, VIRTIO_BLK_F_MQ) ? virtio_config16(d, CFG_NUM_QUEUES) : 1;
        b->max_discard_sectors = blk_has(b, VIRTIO_BLK_F_DISCARD) ? virtio_config32(d, CFG_MAX_DISCARD_SECTORS) : 0;
        b->max_write_zeroes_sectors =
            blk_has(b, VIRTIO_BLK_F_WRITE_ZEROES) ? virtio_config32(d, CFG_MAX_WRITE_ZEROES_SECTORS) : 0;
    } while (virtio_config_generation(d) != before);
}

static void reset_queue(struct blk_queue *q, struct blk_dev *b) {
    q->blk = b;
    q->in_flight = 0;
    q->submitted = 0;
    for (unsigned i = 0; i < BLK_SLOTS; i++) {
        q->req[i].busy = false;
    }
}

/* 3.1.1 for a block device: features, config, queues, DRIVER_OK. */
static const char *setup(struct blk_dev *b) {
    b->queue_count = 0;
    const char *why = virtio_init(&b->vdev, &b->slot, VIRTIO_ID_BLOCK, b->wanted);
    if (why) {
        return why;
    }
    read_config(b);
    unsigned n = b->queues_wanted;
    if (n > b->num_queues) {
        n = b->num_queues;
    }
    if (n > BLK_MAX_QUEUES) {
        n = BLK_MAX_QUEUES;
    }
    if (n == 0) {
        virtio_fail(&b->vdev);
        return "no queues (num_queues 0)";
    }
    for (unsigned i = 0; i < n; i++) {
        reset_queue(&b->queues[i], b);
        why = virtio_queue_setup(&b->vdev, &b->queues[i].vq, i, b->max_queue_size);
        if (why) {
            virtio_fail(&b->vdev);
            return why;
        }
        if (b->queues[i].vq.size < 3) {
            virtio_fail(&b->vdev);
            return "queue too small for a request (under 3 entries)";
        }
    }
    why = virtio_driver_ok(&b->vdev);
    if (why) {
        return why;
    }
    b->queue_count = n;
    return NULL;
}

const char *blk_open(struct blk_dev *b, const struct virtio_mmio_slot *slot, uint64_t wanted,
                     struct blk_queue *queues, unsigned queue_count, unsigned max_queue_size) {
    b->slot = *slot;
    b->wanted = wanted;
    b->queues = queues;
    b->queues_wanted = queue_count;
    b->max_queue_size = max_queue_size;
    return setup(b);
}

const char *blk_reopen(struct blk_dev *b) {
    return setup(b);
}

static bool device_writes_data(uint32_t type) {
    return type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
}

/* Segments for len bytes: pieces of at most size_max (one piece if the device set no limit). */
static uint32_t segment_size(const struct blk_dev *b, uint32_t len) {
    return b->size_max ? b->size_max : len;
}

int blk_next_slot(const struct blk_queue *q) {
    for (unsigned i = 0; i < BLK_SLOTS; i++) {
        if (!q->req[i].busy) {
            return (int)i;
        }
    }
    return -1;
}

int blk_submit(struct blk_queue *q, uint32_t type, uint64_t sector, void *buf, uint32_t len) {
    struct blk_dev *b = q->blk;
    int free_slot = blk_next_slot(q);
    if (free_slot < 0) {
        return BLK_E_BUSY;
    }
    unsigned slot = (unsigned)free_slot;
    uint32_t seg = segment_size(b, len);
    uint32_t nseg = len ? (len + seg - 1) / seg : 0;
    if ((b->seg_max && nseg > b->seg_max) || nseg > BLK_MAX_SEGS || nseg + 2 > q->vq.size) {
        return BLK_E_TOO_BIG;
    }
    unsigned n = nseg + 2;
    bool can_indirect = blk_has(b, VIRTIO_F_INDIRECT_DESC);
    bool indirect = can_indirect && (b->desc_mode == BLK_DESC_INDIRECT ||
                                     (b->desc_mode == BLK_DESC_MIXED && (q->submitted & 1)));
    if (!indirect && n > q->vq.num_free) {
        if (!can_indirect || n <= q->vq.size / 2) {
            return BLK_E_BUSY; /* wait for descriptors to come back */
        }
        indirect = true; /* a chain this long would starve the ring */
    }

    struct blk_req *r = &q->req[slot];
    r->header.type = type;
    r->header.reserved = 0;
    r->header.sector = sector;
    r->status = STATUS_UNSET;
    r->type = type;
    bool writes = device_writes_data(type);
    r->expect_len = (writes ? len : 0) + 1;
    /* 5.2.6: the header (device-readable), the data, the status byte (device-writable). */
    struct virtq_desc *t = r->table;
    t[0] = (struct virtq_desc){.addr = (uint64_t)(uintptr_t)&r->header, .len = sizeof r->header};
    uint8_t *p = buf;
    for (uint32_t k = 0, left = len; k < nseg; k++) {
        uint32_t piece = left < seg ? left : seg;
        t[1 + k] = (struct virtq_desc){.addr = (uint64_t)(uintptr_t)p, .len = piece,
                                       .flags = writes ? VIRTQ_DESC_F_WRITE : 0};
        p += piece;
        left -= piece;
    }
    t[n - 1] = (struct virtq_desc){.addr = (uint64_t)(uintptr_t)&r->status, .len = 1, .flags = VIRTQ_DESC_F_WRITE};

    int head = indirect ? virtq_add_indirect(&q->vq, t, n, r) : virtq_add(&q->vq, t, n, r);
    if (head < 0) {
        return BLK_E_BUSY;
    }
    r->busy = true;
    q->in_flight++;
    q->submitted++;
    return (int)slot;
}

void blk_kick(struct blk_queue *q) {
    virtq_kick(&q->vq);
}

int blk_reap(struct blk_queue *q, unsigned *slot, int *status) {
    void *cookie;
    uint32_t len;
    int got = virtq_get_used(&q->vq, &cookie, &len);
    if (got <= 0) {
        return got < 0 ? BLK_E_BROKEN : 0;
    }
    struct blk_req *r = cookie;
    if (r < q->req || r >= q->req + BLK_SLOTS || !r->busy) {
        return BLK_E_BROKEN;
    }
    r->busy = false;
    q->in_flight--;
    *slot = (unsigned)(r - q->req);
    int s = r->status;
    /* 2.7.8: len is the bytes written into the chain; a completed IN wrote all its data and the status byte. */
    bool checked = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT || r->type == VIRTIO_BLK_T_FLUSH;
    if (s == VIRTIO_BLK_S_OK && checked && len != r->expect_len) {
        s = BLK_E_USED_LEN;
    }
    *status = s;
    return 1;
}

int blk_wait_any(struct blk_queue *q, uint64_t timeout_us, unsigned *slot, int *status) {
    for (;;) {
        int got = blk_reap(q, slot, status);
        if (got != 0) {
            return got;
        }
        if (!virtq_wait(&q->vq, timeout_us)) {
            got = blk_reap(q, slot, status); /* one may have come in with the reset */
            if (got != 0) {
                return got;
            }
            return virtio_needs_reset(&q->blk->vdev) ? BLK_E_NEEDS_RESET : BLK_E_TIMEOUT;
        }
    }
}

int blk_do(struct blk_queue *q, uint32_t type, uint64_t sector, void *buf, uint32_t len, uint64_t timeout_us) {
    int slot = blk_submit(q, type, sector, buf, len);
    if (slot < 0) {
        return slot;
    }
    blk_kick(q);
    for (;;) {
        unsigned done;
        int status;
        int got = blk_wait_any(q, timeout_us, &done, &status);
        if (got < 0) {
            return got;
        }
        if (done == (unsigned)slot) {
            return status;
        }
    }
}

int blk_get_id(struct blk_queue *q, char *id, uint64_t timeout_us) {
    memset(id, 0, VIRTIO_BLK_ID_BYTES + 1);
    int status = blk_do(q, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES, timeout_us);
    id[VIRTIO_BLK_ID_BYTES] = '\0';
    return status;
}

uint32_t blk_max_request(const struct blk_queue *q, uint32_t want) {
    const struct blk_dev *b = q->blk;
    uint32_t segs = q->vq.size - 2u;
    if (segs > BLK_MAX_SEGS) {
        segs = BLK_MAX_SEGS;
    }
    if (b->seg_max && b->seg_max < segs) {
        segs = b->seg_max;
    }
    uint64_t most = b->size_max ? (uint64_t)segs * b->size_max : want;
    if (most > want) {
        most = want;
    }
    return (uint32_t)(most & ~(uint64_t)(SECTOR_SIZE - 1));
}

const char *blk_result_name(int result) {
    switch (result) {
    case VIRTIO_BLK_S_OK: return "OK";
    case VIRTIO_BLK_S_IOERR: return "IOERR";
    case VIRTIO_BLK_S_UNSUPP: return "UNSUPP";
    case STATUS_UNSET: return "status-not-written";
    case BLK_E_BUSY: return "busy";
    case BLK_E_TOO_BIG: return "too-big";
    case BLK_E_TIMEOUT: return "timeout";
    case BLK_E_NEEDS_RESET: return "device-needs-reset";
    case BLK_E_BROKEN: return "bad-used-entry";
    case BLK_E_USED_LEN: return "wrong-used-len";
    default: return "bad-status";
    }
}
