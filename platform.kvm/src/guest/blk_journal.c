/*
 * blk.mode=journal, for the crash-consistency test (distro CrashConsistencyIT, bench/crash-bench.sh): the host
 * SIGKILLs the whole platform at a random moment and then reads the image (bench/java/JournalCheck.java).
 *
 * Record k (k = 1, 2, ...) is one 4 KiB request to slot k % JOURNAL_SLOTS, at sector JOURNAL_FIRST + 8 * slot:
 * 512 little-endian 64-bit words, JOURNAL_MAGIC, k, a checksum, ~k, then JOURNAL_WORD(k, i) for i = 4..511. The
 * checksum is FNV-1a taken over whole words (every word but the checksum's own, in order).
 *
 * Forever (or until blk.until=N is flushed, then "BLK-JOURNAL-OK flushed=K" and power off): a batch of 1..8
 * records (xorshift64 seeded from the TSC, or blk.seed=N), all submitted at once, each completed OK; then
 * VIRTIO_BLK_T_FLUSH, and only once the flush completed OK, "BLK-FLUSHED K" with K the batch's last record.
 * Virtio 1.2 5.2.6.2: a write is volatile when submitted, and the sectors it covers are undefined in the backing
 * storage until it is stable; it is stable once it completed and a FLUSH sent after its completion completed. So
 * whatever the moment of the kill, every record up to the last flushed one is stable, and at most one batch of
 * slots (the batch after it) is undefined; the checker allows exactly that.
 *
 * On start it reads every slot and finds M, the highest intact record. The batch a kill interrupted may have left
 * records below M missing or torn (they were never flushed); the journal writes those again, so that every slot of
 * (M - JOURNAL_SLOTS, M] holds its record, flushes (always: what it read may be that batch, landed but never
 * flushed), prints "BLK-JOURNAL-START max=M rewrote=N seed=S" (M is then flushed too) and goes on with M + 1. More
 * than one batch of such records means that flushed records were lost: BLK-FAIL.
 */
#include "blk.h"

#define JOURNAL_FIRST 8u
#define JOURNAL_SLOTS 256u
#define JOURNAL_RECORD 4096u
#define JOURNAL_WORDS (JOURNAL_RECORD / 8)
#define JOURNAL_SECTORS (JOURNAL_RECORD / SECTOR_SIZE)
#define JOURNAL_BATCH_MAX 8u
#define JOURNAL_MAGIC 0x4C4E52554F4A5642ull /* "BVJOURNL" in little-endian order */
/* Word i (4..511) of record k. */
#define JOURNAL_WORD(k, i) ((uint64_t)(k) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(i) * 0xBF58476D1CE4E5B9ull)
#define FNV_OFFSET 0xCBF29CE484222325ull
#define FNV_PRIME 0x100000001B3ull

_Static_assert(JOURNAL_BATCH_MAX <= BLK_SLOTS, "a batch is in flight at once");
_Static_assert(JOURNAL_BATCH_MAX < JOURNAL_SLOTS, "a batch never writes one slot twice");
_Static_assert(JOURNAL_SLOTS * JOURNAL_RECORD + JOURNAL_BATCH_MAX * JOURNAL_RECORD <= BLK_DMA_BYTES,
               "the whole journal and a batch fit the DMA buffers");

static uint64_t checksum(const uint64_t *w) {
    uint64_t h = FNV_OFFSET;
    for (unsigned i = 0; i < JOURNAL_WORDS; i++) {
        if (i != 2) {
            h = (h ^ w[i]) * FNV_PRIME;
        }
    }
    return h;
}

static void fill_record(uint64_t *w, uint64_t k) {
    w[0] = JOURNAL_MAGIC;
    w[1] = k;
    w[3] = ~k;
    for (unsigned i = 4; i < JOURNAL_WORDS; i++) {
        w[i] = JOURNAL_WORD(k, i);
    }
    w[2] = checksum(w);
}

/* The record slot s holds if it is intact (magic, number, checksum, payload, in its own slot), else 0. */
static uint64_t intact(const uint64_t *w, unsigned s) {
    uint64_t k = w[1];
    if (w[0] != JOURNAL_MAGIC || k == 0 || w[3] != ~k || k % JOURNAL_SLOTS != s || w[2] != checksum(w)) {
        return 0;
    }
    for (unsigned i = 4; i < JOURNAL_WORDS; i++) {
        if (w[i] != JOURNAL_WORD(k, i)) {
            return 0;
        }
    }
    return k;
}

static uint64_t slot_sector(uint64_t k) {
    return JOURNAL_FIRST + (k % JOURNAL_SLOTS) * JOURNAL_SECTORS;
}

static void flush(void) {
    int r = blk_do(&blk_queues[0], VIRTIO_BLK_T_FLUSH, 0, NULL, 0, BLK_TIMEOUT_US);
    if (r != VIRTIO_BLK_S_OK) {
        blk_fail_result("FLUSH", r);
    }
}

/* Writes the n records list[0..n-1] from the buffers at buf (one 4 KiB buffer each), all in flight at once, and
 * waits until every one completed OK. */
static void write_records(const uint64_t *list, unsigned n, uint8_t *buf) {
    struct blk_queue *q = &blk_queues[0];
    for (unsigned i = 0; i < n; i++) {
        int slot = blk_submit(q, VIRTIO_BLK_T_OUT, slot_sector(list[i]), buf + i * JOURNAL_RECORD, JOURNAL_RECORD);
        if (slot < 0) {
            blk_fail_result("OUT submit", slot);
        }
    }
    blk_kick(q);
    for (unsigned i = 0; i < n; i++) {
        unsigned done;
        int status;
        int got = blk_wait_any(q, BLK_TIMEOUT_US, &done, &status);
        if (got < 0) {
            blk_fail_result("OUT", got);
        }
        if (status != VIRTIO_BLK_S_OK) {
            blk_fail_result("OUT", status);
        }
    }
}

/* Reads the journal, writes again what an interrupted batch left missing below the highest intact record, and
 * flushes; returns that record (0 on a blank journal). */
static uint64_t recover(uint64_t seed) {
    uint8_t *slots = blk_dma, *rewrite = blk_dma + JOURNAL_SLOTS * JOURNAL_RECORD;
    int r = blk_batch(&blk_queues[0], VIRTIO_BLK_T_IN, JOURNAL_FIRST, slots, JOURNAL_SLOTS * JOURNAL_SECTORS,
                      JOURNAL_SECTORS);
    if (r != VIRTIO_BLK_S_OK) {
        blk_fail_result("IN of the journal", r);
    }
    static uint64_t found[JOURNAL_SLOTS];
    uint64_t max = 0;
    for (unsigned s = 0; s < JOURNAL_SLOTS; s++) {
        found[s] = intact((const uint64_t *)(void *)(slots + s * JOURNAL_RECORD), s);
        if (found[s] > max) {
            max = found[s];
        }
    }
    uint64_t missing[JOURNAL_BATCH_MAX];
    unsigned n = 0;
    for (uint64_t k = max >= JOURNAL_SLOTS ? max - JOURNAL_SLOTS + 1 : 1; k <= max; k++) {
        if (found[k % JOURNAL_SLOTS] == k) {
            continue;
        }
        if (n == JOURNAL_BATCH_MAX) {
            kprintf("BLK-FAIL the journal lacks more than %u records below its highest, %lu: more than the one "
                    "batch a crash may leave unflushed (the first: %lu)\n", JOURNAL_BATCH_MAX, max, missing[0]);
            blk_finish();
        }
        fill_record((uint64_t *)(void *)(rewrite + n * JOURNAL_RECORD), k);
        missing[n++] = k;
    }
    if (n) {
        write_records(missing, n, rewrite);
    }
    /* Even with nothing rewritten: the records read may be an unflushed batch of the killed run, and the line below
     * says that every record up to max is stable. */
    flush();
    kprintf("BLK-JOURNAL-START max=%lu rewrote=%u seed=%lu\n", max, n, seed);
    return max;
}

void mode_journal(void) {
    uint64_t need = JOURNAL_FIRST + JOURNAL_SLOTS * JOURNAL_SECTORS;
    if (blk.capacity < need) {
        kprintf("BLK-FAIL the disk has %lu sectors, journal needs %lu\n", blk.capacity, need);
        blk_finish();
    }
    if (!blk_has(&blk, VIRTIO_BLK_F_FLUSH)) {
        blk_fail("no VIRTIO_BLK_F_FLUSH: the journal needs a flush");
    }
    uint64_t seed = cmdline_number("blk.seed", 0);
    if (seed == 0) {
        seed = rdtsc() | 1;
    }
    uint64_t until = cmdline_number("blk.until", 0);
    uint64_t rng = seed;
    uint64_t k = recover(seed);
    uint8_t *buf = blk_dma;
    uint64_t list[JOURNAL_BATCH_MAX];
    while (until == 0 || k < until) {
        unsigned n = 1 + (unsigned)(xorshift64(&rng) % JOURNAL_BATCH_MAX);
        for (unsigned i = 0; i < n; i++) {
            list[i] = k + 1 + i;
            fill_record((uint64_t *)(void *)(buf + i * JOURNAL_RECORD), list[i]);
        }
        write_records(list, n, buf);
        flush();
        k += n;
        kprintf("BLK-FLUSHED %lu\n", k);
    }
    kprintf("BLK-JOURNAL-OK flushed=%lu\n", k);
}
