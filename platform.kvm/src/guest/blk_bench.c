/*
 * blk.mode=bench: the host times the spans between the markers, after blk.warmup= (0) unmeasured random reads with
 * 32 in flight (a JIT-compiled VMM's steady state is the figure; its start-up is measured on its own).
 *   BENCH-BEGIN qd1 .. BENCH-END qd1 n=N      N (blk.n=, 20000) random 4 KiB reads, one at a time
 *   BENCH-BEGIN qd32 .. BENCH-END qd32 n=N    the same with 32 in flight
 *   BENCH-BEGIN seq .. BENCH-END seq bytes=B  sequential reads of up to 1 MiB (as the device's seg_max and size_max
 *                                             allow) over the whole disk or blk.seqmb= MiB, blk.seqqd= (4) in flight
 * Completions are polled from the used ring (no MMIO in the loop; EVENT_IDX keeps the device from interrupting)
 * unless blk.irq=1. Every status is checked; the data is not. With blk.cpl=3 the request loops run at CPL 3
 * (user_call), where a software KVM runs them natively instead of emulating each instruction; the notifications
 * are then MMIO stores from user mode; a failure there is reported once back at CPL 0.
 */
#include "blk.h"

#define BLOCK 4096u
#define SECTORS_PER_BLOCK (BLOCK / SECTOR_SIZE)
#define DEPTH 32
#define SEQ_REQUEST (1u << 20)
#define SEQ_MAX_DEPTH (BLK_DMA_BYTES / SEQ_REQUEST)

_Static_assert(DEPTH <= BLK_SLOTS, "the queue driver keeps BLK_SLOTS requests in flight");
_Static_assert(DEPTH * BLOCK <= BLK_DMA_BYTES, "a 4 KiB buffer per request in flight");

static void check(const char *what, int status) {
    if (status != VIRTIO_BLK_S_OK) {
        blk_fail_result(what, status);
    }
}

/* Takes one completion (waiting for it), checking its status. */
static void complete_one(struct blk_queue *q, const char *what) {
    unsigned slot;
    int status;
    int got = blk_wait_any(q, BLK_TIMEOUT_US, &slot, &status);
    check(what, got < 0 ? got : status);
}

void blk_random_reads(struct blk_queue *q, uint64_t n, unsigned depth, uint64_t *rng, uint8_t *buffers) {
    uint64_t blocks = blk.capacity / SECTORS_PER_BLOCK, submitted = 0, completed = 0;
    while (completed < n) {
        while (submitted < n && q->in_flight < depth) {
            int slot = blk_next_slot(q); /* below depth: in_flight < depth leaves one of the first depth free */
            uint64_t sector = xorshift64(rng) % blocks * SECTORS_PER_BLOCK;
            int r = blk_submit(q, VIRTIO_BLK_T_IN, sector, buffers + (uint64_t)slot * BLOCK, BLOCK);
            if (r == BLK_E_BUSY && q->in_flight) {
                break;
            }
            check("random IN", r < 0 ? r : VIRTIO_BLK_S_OK);
            submitted++;
        }
        blk_kick(q);
        complete_one(q, "random IN");
        completed++;
    }
}

static uint64_t sequential_reads(struct blk_queue *q, uint64_t sectors, unsigned depth) {
    uint32_t per = blk_max_request(q, SEQ_REQUEST);
    if (per < SECTOR_SIZE) {
        blk_fail("the device takes no request of a sector");
    }
    uint64_t next = 0, bytes = 0;
    while (next < sectors || q->in_flight) {
        while (next < sectors && q->in_flight < depth) {
            int slot = blk_next_slot(q);
            uint64_t left = (sectors - next) * SECTOR_SIZE;
            uint32_t len = left < per ? (uint32_t)left : per;
            int r = blk_submit(q, VIRTIO_BLK_T_IN, next, blk_dma + (uint64_t)slot * SEQ_REQUEST, len);
            if (r == BLK_E_BUSY && q->in_flight) {
                break;
            }
            check("sequential IN", r < 0 ? r : VIRTIO_BLK_S_OK);
            next += len / SECTOR_SIZE;
            bytes += len;
        }
        blk_kick(q);
        complete_one(q, "sequential IN");
    }
    return bytes;
}

/* The loops' arguments, for user_call's single argument. */
static struct {
    struct blk_queue *q;
    uint64_t n, sectors, *rng;
    unsigned depth;
} job;

static uint64_t random_job(uint64_t unused) {
    (void)unused;
    blk_random_reads(job.q, job.n, job.depth, job.rng, blk_dma);
    return 0;
}

static uint64_t sequential_job(uint64_t unused) {
    (void)unused;
    return sequential_reads(job.q, job.sectors, job.depth);
}

static uint64_t run_job(uint64_t (*fn)(uint64_t), bool user) {
    return user ? blk_user_call(fn, 0) : fn(0);
}

void mode_bench(void) {
    struct blk_queue *q = &blk_queues[0];
    if (blk.capacity < SECTORS_PER_BLOCK) {
        blk_fail("the disk is smaller than 4 KiB");
    }
    uint64_t n = cmdline_number("blk.n", 20000);
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ blk.capacity;
    bool user = cmdline_number("blk.cpl", 0) == 3;
    if (user) {
        user_init();
        (void)tsc_us(); /* calibrated against the PIT here: port IO faults at CPL 3 on kvm_pvm */
    }
    job.q = q;
    job.rng = &rng;

    unsigned depth = DEPTH < q->vq.size ? DEPTH : q->vq.size;
    job.n = cmdline_number("blk.warmup", 0);
    job.depth = depth;
    if (job.n) {
        run_job(random_job, user);
    }
    job.n = n;

    kprintf("BENCH-BEGIN qd1\n");
    job.depth = 1;
    run_job(random_job, user);
    kprintf("BENCH-END qd1 n=%lu\n", n);

    job.depth = depth;
    kprintf("BENCH-BEGIN qd32\n");
    run_job(random_job, user);
    kprintf("BENCH-END qd32 n=%lu\n", n);

    uint64_t sectors = blk.capacity, mb = cmdline_number("blk.seqmb", 0);
    if (mb && mb * (SEQ_REQUEST / SECTOR_SIZE) < sectors) {
        sectors = mb * (SEQ_REQUEST / SECTOR_SIZE);
    }
    uint64_t seq_depth = cmdline_number("blk.seqqd", 4);
    if (seq_depth < 1 || seq_depth > SEQ_MAX_DEPTH) {
        seq_depth = SEQ_MAX_DEPTH;
    }
    kprintf("BENCH-BEGIN seq\n");
    job.sectors = sectors;
    job.depth = (unsigned)seq_depth;
    uint64_t bytes = run_job(sequential_job, user);
    kprintf("BENCH-END seq bytes=%lu\n", bytes);
    kprintf("BENCH-STATS kicks=%lu notifies=%lu completions=%lu irqs=%lu queue_size=%u request=%u\n", q->vq.kicks,
            q->vq.notifies, q->vq.completions, blk.vdev.irqs, q->vq.size, blk_max_request(q, SEQ_REQUEST));
}
