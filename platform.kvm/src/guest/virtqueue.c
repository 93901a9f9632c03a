/*
 * Split virtqueues (virtio 1.x section 2.7): the driver side of the descriptor table, the available ring and the
 * used ring, with free descriptors linked through their next fields, direct chains and indirect tables (2.7.5.3),
 * and notification/interrupt suppression with or without VIRTIO_F_EVENT_IDX (2.7.7, 2.7.10).
 *
 * Memory ordering (2.7.13, x86 TSO): descriptors and ring entries are written before avail->idx with a release
 * store; reading avail_event or the used flags after publishing needs a full fence (a store then a load); the used
 * index is read with an acquire load before the entries it covers. Ring fields the device writes are read through
 * volatile pointers.
 */
#include "virtio.h"

/* 2.7.10: "vring_need_event": an event is due when event_idx lies in [old, new), modulo 2^16. */
static bool need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) {
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* The driver area: flags, idx, ring[size], used_event (2.7.6). */
static volatile uint16_t *avail_flags(struct virtq *q) {
    return &q->avail[0];
}

static volatile uint16_t *avail_idx(struct virtq *q) {
    return &q->avail[1];
}

static volatile uint16_t *used_event(struct virtq *q) {
    return &q->avail[2 + q->size];
}

/* The device area: flags, idx, {le32 id; le32 len} ring[size], avail_event (2.7.8). */
static volatile const uint16_t *used_flags(const struct virtq *q) {
    return (volatile const uint16_t *)(const void *)q->used;
}

static volatile const uint16_t *used_idx(const struct virtq *q) {
    return (volatile const uint16_t *)(const void *)((const uint8_t *)q->used + 2);
}

static volatile const uint32_t *used_elem(const struct virtq *q, uint16_t slot) {
    return &q->used[1 + 2 * (unsigned)slot];
}

static volatile const uint16_t *avail_event(const struct virtq *q) {
    return (volatile const uint16_t *)(const void *)&q->used[1 + 2 * (unsigned)q->size];
}

void virtq_init(struct virtq *q, struct virtio_dev *dev, uint16_t index, uint16_t size) {
    memset(q->desc, 0, sizeof q->desc);
    memset(q->avail, 0, sizeof q->avail);
    memset(q->used, 0, sizeof q->used);
    memset(q->chain_len, 0, sizeof q->chain_len);
    memset(q->cookie, 0, sizeof q->cookie);
    q->dev = dev;
    q->index = index;
    q->size = size;
    q->event_idx = dev && (dev->features & VIRTIO_F_EVENT_IDX);
    for (uint16_t i = 0; i < size; i++) {
        q->desc[i].next = (uint16_t)(i + 1);
    }
    q->free_head = 0;
    q->num_free = size;
    q->avail_idx = 0;
    q->kicked_idx = 0;
    q->last_used = 0;
    q->notifies = q->kicks = q->completions = 0;
    virtq_set_interrupts(q, false);
}

/* Puts head in the next avail ring slot; the index is published by virtq_kick. */
static int make_available(struct virtq *q, uint16_t head, uint16_t n, void *cookie) {
    q->chain_len[head] = n;
    q->cookie[head] = cookie;
    q->avail[2 + (q->avail_idx & (q->size - 1))] = head;
    q->avail_idx++;
    return head;
}

int virtq_add(struct virtq *q, const struct virtq_desc *bufs, unsigned n, void *cookie) {
    /* 2.7.4.2: no chain longer than the queue; here also none longer than the free descriptors. */
    if (n == 0 || n > q->num_free) {
        return -1;
    }
    uint16_t head = q->free_head, i = head;
    for (unsigned k = 0; k < n; k++) {
        struct virtq_desc *d = &q->desc[i];
        d->addr = bufs[k].addr;
        d->len = bufs[k].len;
        d->flags = (uint16_t)((bufs[k].flags & VIRTQ_DESC_F_WRITE) | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        /* The free list already links the descriptors in the order taken, so next needs no change. */
        i = d->next;
    }
    q->free_head = i;
    q->num_free = (uint16_t)(q->num_free - n);
    return make_available(q, head, (uint16_t)n, cookie);
}

int virtq_add_indirect(struct virtq *q, struct virtq_desc *table, unsigned n, void *cookie) {
    /* 2.7.5.3.1: the table counts toward the chain length, which the queue size bounds. */
    if (n == 0 || n > q->size || q->num_free == 0) {
        return -1;
    }
    for (unsigned k = 0; k < n; k++) {
        table[k].flags = (uint16_t)((table[k].flags & VIRTQ_DESC_F_WRITE) | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        table[k].next = (uint16_t)(k + 1);
    }
    uint16_t head = q->free_head;
    struct virtq_desc *d = &q->desc[head];
    q->free_head = d->next;
    q->num_free--;
    /* INDIRECT alone: never with NEXT, and the device ignores WRITE here (2.7.5.3.1, 2.7.5.3.2). */
    d->addr = (uint64_t)(uintptr_t)table;
    d->len = (uint32_t)(n * sizeof *table);
    d->flags = VIRTQ_DESC_F_INDIRECT;
    return make_available(q, head, 1, cookie);
}

void virtq_kick(struct virtq *q) {
    uint16_t old = q->kicked_idx, new_idx = q->avail_idx;
    if (old == new_idx) {
        return;
    }
    /* 2.7.13.2-3: the ring entries are visible before the index that covers them. */
    __atomic_store_n(avail_idx(q), new_idx, __ATOMIC_RELEASE);
    q->kicked_idx = new_idx;
    q->kicks++;
    /* 2.7.13.4: the index is visible before the driver reads whether the device wants a notification. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    bool notify;
    if (q->event_idx) {
        notify = need_event(*avail_event(q), new_idx, old);
    } else {
        notify = !(*used_flags(q) & VIRTQ_USED_F_NO_NOTIFY);
    }
    if (notify) {
        q->notifies++;
        virtio_notify(q->dev, q->index);
    }
}

bool virtq_has_used(const struct virtq *q) {
    return __atomic_load_n(used_idx(q), __ATOMIC_ACQUIRE) != q->last_used;
}

/* Returns the descriptors of the chain at head to the free list. */
static void free_chain(struct virtq *q, uint16_t head) {
    uint16_t n = q->chain_len[head], last = head;
    for (uint16_t k = 1; k < n; k++) {
        last = q->desc[last].next;
    }
    q->desc[last].next = q->free_head;
    q->free_head = head;
    q->num_free = (uint16_t)(q->num_free + n);
    q->chain_len[head] = 0;
    q->cookie[head] = NULL;
}

/* Where the device should interrupt next: at the next used entry, or (polling) half the index space away, which
 * the in-flight chains (at most the queue size) cannot reach before the next update. */
static void arm_used_event(struct virtq *q) {
    *used_event(q) = q->interrupts ? q->last_used : (uint16_t)(q->last_used + 0x8000);
}

int virtq_get_used(struct virtq *q, void **cookie, uint32_t *len) {
    uint16_t idx = __atomic_load_n(used_idx(q), __ATOMIC_ACQUIRE);
    if (idx == q->last_used) {
        return 0;
    }
    if ((uint16_t)(idx - q->last_used) > q->size) {
        return -1; /* more used entries than the queue holds */
    }
    volatile const uint32_t *e = used_elem(q, (uint16_t)(q->last_used & (q->size - 1)));
    uint32_t id = e[0], written = e[1];
    if (id >= q->size || q->chain_len[id] == 0) {
        return -1; /* not the head of a chain in flight */
    }
    q->last_used++;
    *cookie = q->cookie[id];
    *len = written;
    free_chain(q, (uint16_t)id);
    q->completions++;
    if (q->event_idx) {
        arm_used_event(q);
    }
    return 1;
}

void virtq_set_interrupts(struct virtq *q, bool on) {
    q->interrupts = on;
    if (q->event_idx) {
        /* 2.7.7.1: with EVENT_IDX the avail flags stay 0 and used_event alone says when to interrupt. */
        *avail_flags(q) = 0;
        arm_used_event(q);
    } else {
        *avail_flags(q) = on ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT;
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

#define STATUS_CHECK_US 1000
#define SPINS_PER_CLOCK_READ 256

bool virtq_wait(struct virtq *q, uint64_t timeout_us) {
    if (virtq_has_used(q)) {
        return true;
    }
    uint64_t start = tsc_us(), next_check = start + STATUS_CHECK_US;
    bool sleep = q->dev->irq_mode && q->interrupts;
    for (;;) {
        if (sleep) {
            /* used_event was armed when the last entry was consumed; the fence orders that store before the
             * index read, so an entry the device added before seeing it is found here instead of being slept
             * through. STI's shadow keeps the interrupt from slipping in between the check and HLT. */
            cli();
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            if (virtq_has_used(q)) {
                return true;
            }
            sti_hlt();
            cli();
        } else {
            for (unsigned i = 0; i < SPINS_PER_CLOCK_READ; i++) {
                if (virtq_has_used(q)) {
                    return true;
                }
                cpu_relax();
            }
        }
        if (virtq_has_used(q)) {
            return true;
        }
        uint64_t now = tsc_us();
        if (now - start >= timeout_us) {
            return false;
        }
        if (now >= next_check) {
            next_check = now + STATUS_CHECK_US;
            if (virtio_needs_reset(q->dev)) {
                return false;
            }
        }
    }
}
