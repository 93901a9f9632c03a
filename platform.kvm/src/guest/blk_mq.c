/*
 * blk.mode=mq: two vCPUs drive two queues of one device at once (VIRTIO_BLK_F_MQ, virtio 1.x 5.2.6.1: a request
 * may go to any queue). vCPU 0 writes and reads back its 256-sector region through queue 0 while vCPU 1 does the
 * same with its own region through queue 1; only vCPU 0 prints. Prints "BLK-MQ-OK".
 */
#include "blk.h"

#define REGION_FIRST 2048
#define REGION_SECTORS 256
#define PER_REQUEST 8 /* 4 KiB requests: 32 of them, all in flight at once */
#define REGION_BYTES (REGION_SECTORS * SECTOR_SIZE)
#define MISMATCH 1000

static volatile int ap_result;
static volatile bool ap_done;
static volatile uint64_t ap_start_us, ap_end_us;

/* Byte j of sector s written through queue q. */
static uint8_t mq_pattern(unsigned q, uint64_t s, unsigned j) {
    return (uint8_t)((s * 29 + j * 3 + q * 101) & 0xFF);
}

/* Writes and reads back queue q's region with its own buffers; returns 0, a status, a BLK_E_ error or MISMATCH.
 * Runs on either vCPU: no output, small stack. */
static int region_test(unsigned q) {
    uint64_t first = REGION_FIRST + (uint64_t)q * REGION_SECTORS;
    uint8_t *out = blk_dma + (uint64_t)q * 2 * REGION_BYTES, *in = out + REGION_BYTES;
    for (unsigned i = 0; i < REGION_SECTORS; i++) {
        for (unsigned j = 0; j < SECTOR_SIZE; j++) {
            out[i * SECTOR_SIZE + j] = mq_pattern(q, first + i, j);
        }
    }
    memset(in, 0, REGION_BYTES);
    int r = blk_batch(&blk_queues[q], VIRTIO_BLK_T_OUT, first, out, REGION_SECTORS, PER_REQUEST);
    if (r == VIRTIO_BLK_S_OK) {
        r = blk_batch(&blk_queues[q], VIRTIO_BLK_T_IN, first, in, REGION_SECTORS, PER_REQUEST);
    }
    if (r == VIRTIO_BLK_S_OK && memcmp(in, out, REGION_BYTES) != 0) {
        r = MISMATCH;
    }
    return r;
}

static void ap_work(unsigned index) {
    if (index != 0) {
        return; /* only the first AP has a queue */
    }
    ap_start_us = tsc_us();
    ap_result = region_test(1);
    ap_end_us = tsc_us();
    __atomic_store_n(&ap_done, true, __ATOMIC_RELEASE);
}

static void report(unsigned q, int r) {
    if (r == MISMATCH) {
        kprintf("BLK-FAIL queue %u read back other data than it wrote\n", q);
        blk_finish();
    }
    if (r != VIRTIO_BLK_S_OK) {
        kprintf("BLK-FAIL queue %u: %s (%d)\n", q, blk_result_name(r), r);
        blk_finish();
    }
}

void mode_mq(void) {
    if (blk.queue_count < 2) {
        kprintf("BLK-FAIL mq needs 2 queues; the device has %u (MQ %s)\n", blk.num_queues,
                blk_has(&blk, VIRTIO_BLK_F_MQ) ? "negotiated" : "not offered");
        blk_finish();
    }
    if (blk.capacity < REGION_FIRST + 2 * REGION_SECTORS) {
        kprintf("BLK-FAIL the disk has %lu sectors, mq needs %u\n", blk.capacity, REGION_FIRST + 2 * REGION_SECTORS);
        blk_finish();
    }
    smp_set_ap_work(ap_work);
    unsigned cpus = smp_start_aps();
    if (cpus < 2) {
        blk_fail("mq needs 2 vCPUs");
    }
    uint64_t start = tsc_us();
    int mine = region_test(0);
    uint64_t end = tsc_us();
    while (!__atomic_load_n(&ap_done, __ATOMIC_ACQUIRE)) {
        if (tsc_us() - end > 2 * BLK_TIMEOUT_US) {
            blk_fail("vCPU 1 did not finish its queue");
        }
        cpu_relax();
    }
    report(0, mine);
    report(1, ap_result);
    /* Both spans of work overlap unless one vCPU finished before the other began. */
    bool overlap = ap_start_us < end && start < ap_end_us;
    kprintf("BLK-MQ q0 completions=%lu q1 completions=%lu overlap=%u\n", blk_queues[0].vq.completions,
            blk_queues[1].vq.completions, overlap ? 1u : 0u);
    kprintf("BLK-MQ-OK\n");
}
