/*
 * blk.mode=mqbench: random 4 KiB reads on blk.queues= (1 or 2) queues at once, vCPU k driving queue k at CPL 3, to
 * show whether a device's queues on several VMM worker threads scale (bench/mq-bench.sh). At CPL 3 a software KVM
 * (kvm_pvm) runs the request loop natively; at CPL 0 each guest instruction is emulated and the guest, not the
 * device, is the limit (user.c). The AP takes its own TSS and stacks (user_init on that CPU).
 *   blk.n=N        measured reads per queue (20000)
 *   blk.qd=D       reads in flight per queue (32; at most BLK_SLOTS and the queue's size)
 *   blk.warmup=W   unmeasured reads per queue first (0), before the vCPUs meet at a start line
 * Each vCPU times its own span with the TSC (port IO, hence the PIT, faults at CPL 3 on kvm_pvm); vCPU 0 prints
 *   BLK-MQBENCH queues=Q qd=D n=N span_us=S iops=I overlap_us=O   all queues' reads over the span from the first
 *                                                                  start to the last end, and how long all ran
 *   BLK-MQBENCH-QUEUE q=K completions=C span_us=S iops=I           per queue, over its own span
 *   BLK-MQBENCH-OK
 */
#include "blk.h"

#define BLOCK 4096u
#define DEFAULT_DEPTH 32
#define MAX_QUEUES 2
#define QUEUE_BUFFERS (BLK_SLOTS * BLOCK) /* each queue's own 4 KiB buffers in blk_dma */

_Static_assert(MAX_QUEUES * QUEUE_BUFFERS <= BLK_DMA_BYTES, "a 4 KiB buffer per slot and queue");

static struct {
    uint64_t n, warmup;
    unsigned depth, queues;
} cfg;

/* Written by vCPU k for queue k (at CPL 3), read by vCPU 0 once both are done. */
static struct queue_run {
    uint64_t rng, start_us, end_us, completions;
    bool done;
} runs[MAX_QUEUES];

static uint32_t at_start_line;

/* Queue k's reads at CPL 3: the warm-up, the start line (every queue's vCPU there), the measured reads. */
static uint64_t queue_job(uint64_t k) {
    struct blk_queue *q = &blk_queues[k];
    struct queue_run *run = &runs[k];
    uint8_t *buffers = blk_dma + k * QUEUE_BUFFERS;
    if (cfg.warmup) {
        blk_random_reads(q, cfg.warmup, cfg.depth, &run->rng, buffers);
    }
    __atomic_fetch_add(&at_start_line, 1, __ATOMIC_ACQ_REL);
    uint64_t waiting = tsc_us();
    while (__atomic_load_n(&at_start_line, __ATOMIC_ACQUIRE) < cfg.queues) {
        if (tsc_us() - waiting > BLK_TIMEOUT_US) {
            blk_fail("the other vCPU never reached the start line");
        }
        cpu_relax();
    }
    uint64_t before = q->vq.completions;
    run->start_us = tsc_us();
    blk_random_reads(q, cfg.n, cfg.depth, &run->rng, buffers);
    run->end_us = tsc_us();
    run->completions = q->vq.completions - before;
    return 0;
}

static void ap_work(unsigned index) {
    if (index != 0) {
        return; /* only the first AP has a queue */
    }
    user_init();
    blk_user_call(queue_job, 1);
    __atomic_store_n(&runs[1].done, true, __ATOMIC_RELEASE);
}

static uint64_t per_second(uint64_t count, uint64_t us) {
    return us ? count * 1000000 / us : 0;
}

void mode_mqbench(void) {
    cfg.queues = (unsigned)cmdline_number("blk.queues", 1);
    if (cfg.queues < 1 || cfg.queues > MAX_QUEUES) {
        blk_fail("blk.queues must be 1 or 2");
    }
    if (blk.queue_count < cfg.queues) {
        kprintf("BLK-FAIL mqbench with %u queues; the device has %u (MQ %s)\n", cfg.queues, blk.num_queues,
                blk_has(&blk, VIRTIO_BLK_F_MQ) ? "negotiated" : "not offered");
        blk_finish();
    }
    if (blk.capacity < BLOCK / SECTOR_SIZE) {
        blk_fail("the disk is smaller than 4 KiB");
    }
    cfg.n = cmdline_number("blk.n", 20000);
    cfg.warmup = cmdline_number("blk.warmup", 0);
    uint64_t depth = cmdline_number("blk.qd", DEFAULT_DEPTH);
    for (unsigned k = 0; k < cfg.queues; k++) {
        if (depth > blk_queues[k].vq.size) {
            depth = blk_queues[k].vq.size;
        }
        runs[k].rng = 0x9E3779B97F4A7C15ull ^ blk.capacity ^ (uint64_t)(k + 1) << 32;
    }
    if (depth < 1 || depth > BLK_SLOTS) {
        blk_fail("blk.qd must be 1..32");
    }
    cfg.depth = (unsigned)depth;
    user_init(); /* before the AP's: it sets up what both share */
    (void)tsc_us(); /* calibrated against the PIT here: port IO faults at CPL 3 on kvm_pvm */
    if (cfg.queues > 1) {
        smp_set_ap_work(ap_work);
        if (smp_start_aps() < 2) {
            blk_fail("mqbench with 2 queues needs 2 vCPUs");
        }
    }
    blk_user_call(queue_job, 0);
    uint64_t mine = tsc_us();
    for (unsigned k = 1; k < cfg.queues; k++) {
        while (!__atomic_load_n(&runs[k].done, __ATOMIC_ACQUIRE)) {
            if (tsc_us() - mine > 2 * BLK_TIMEOUT_US) {
                blk_fail("vCPU 1 did not finish its queue");
            }
            cpu_relax();
        }
    }
    uint64_t first = runs[0].start_us, last = runs[0].end_us, latest_start = first, earliest_end = last, total = 0;
    for (unsigned k = 0; k < cfg.queues; k++) {
        first = runs[k].start_us < first ? runs[k].start_us : first;
        last = runs[k].end_us > last ? runs[k].end_us : last;
        latest_start = runs[k].start_us > latest_start ? runs[k].start_us : latest_start;
        earliest_end = runs[k].end_us < earliest_end ? runs[k].end_us : earliest_end;
        total += runs[k].completions;
    }
    uint64_t span = last - first, overlap = earliest_end > latest_start ? earliest_end - latest_start : 0;
    kprintf("BLK-MQBENCH queues=%u qd=%u n=%lu span_us=%lu iops=%lu overlap_us=%lu\n", cfg.queues, cfg.depth, cfg.n,
            span, per_second(total, span), overlap);
    for (unsigned k = 0; k < cfg.queues; k++) {
        uint64_t own = runs[k].end_us - runs[k].start_us;
        kprintf("BLK-MQBENCH-QUEUE q=%u completions=%lu span_us=%lu iops=%lu\n", k, runs[k].completions, own,
                per_second(runs[k].completions, own));
    }
    kprintf("BLK-MQBENCH-OK\n");
}
