/*
 * blk.mode=faults and blk.mode=enospc, for the host-fault tests (device.virtio-blk's BlkHostFaultTest): the host
 * makes chosen requests fail (a FUSE file system that answers EIO for sector ranges, a full file system), and the
 * device must answer exactly those with VIRTIO_BLK_S_IOERR (5.2.6), the others OK, and keep running.
 *
 *   blk.span=N       sectors covered, from sector 0: N / 8 requests of 8 sectors (4 KiB), one at a time
 *   blk.bad=FIRST:COUNT[,FIRST:COUNT...]   (faults) the sector ranges the host fails; at most FAULT_MAX_RANGES
 *
 * faults: writes a pattern over the span, expecting IOERR exactly for the requests that overlap a bad range and OK
 * for the others; flushes (OK); reads every request back, IOERR again where bad, OK elsewhere with the data
 * checked. Prints "BLK-FAULTS ok=N ioerr=M", counting writes and reads together, then "BLK-FAULTS-OK".
 *
 * enospc: writes the span in order until the first IOERR (the host file system is full), then expects IOERR for
 * every later write; reads back every write acknowledged OK and checks its data (nothing acknowledged was lost);
 * flushes (OK). Prints "BLK-ENOSPC ok=N ioerr=M", counting the writes, then "BLK-ENOSPC-OK".
 *
 * A request whose status was wrong ends the run with "BLK-FAIL <type> request R (sectors S..E): <got>, expected
 * <want>", naming the first one. The pattern is one 64-bit word per 8 bytes (FAULT_WORD), so that filling and
 * checking 4 KiB costs the emulated guest little.
 */
#include "blk.h"

#define FAULT_REQ_SECTORS 8u
#define FAULT_REQ_BYTES (FAULT_REQ_SECTORS * SECTOR_SIZE)
#define FAULT_MAX_RANGES 8
#define FAULT_POISON 0xEEEEEEEEEEEEEEEEull /* what a read buffer holds before the device fills it */

/* Word w (0..63) of sector s; the host test checks the same in the image (little-endian). Never 0 or the poison. */
#define FAULT_WORD(s, w) ((uint64_t)(s) << 20 | (uint64_t)(w) << 8 | 0xB1u)

struct range {
    uint64_t first, count;
};

static struct range bad[FAULT_MAX_RANGES];
static unsigned bad_count;

/* A decimal number at *p, which then points past it; false if there is none or it overflows. */
static bool parse_number(const char **p, uint64_t *out) {
    const char *s = *p;
    uint64_t n = 0;
    if (*s < '0' || *s > '9') {
        return false;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (n > (UINT64_MAX - d) / 10) {
            return false;
        }
        n = n * 10 + d;
    }
    *p = s;
    *out = n;
    return true;
}

/* blk.bad=FIRST:COUNT[,FIRST:COUNT...] into bad[]. */
static void parse_bad(void) {
    char v[160];
    if (!cmdline_value("blk.bad", v, sizeof v)) {
        blk_fail("blk.mode=faults needs blk.bad=FIRST:COUNT[,FIRST:COUNT...] (at most 159 characters)");
    }
    const char *p = v;
    for (;;) {
        struct range r;
        if (bad_count == FAULT_MAX_RANGES || !parse_number(&p, &r.first) || *p++ != ':' ||
            !parse_number(&p, &r.count) || r.count == 0 || r.first + r.count < r.first) {
            blk_fail("blk.bad must be FIRST:COUNT[,FIRST:COUNT...], at most 8 ranges of at least one sector");
        }
        bad[bad_count++] = r;
        if (*p == '\0') {
            return;
        }
        if (*p++ != ',') {
            blk_fail("blk.bad must be FIRST:COUNT[,FIRST:COUNT...], at most 8 ranges of at least one sector");
        }
    }
}

static bool overlaps_bad(uint64_t first, uint64_t sectors) {
    for (unsigned i = 0; i < bad_count; i++) {
        if (first < bad[i].first + bad[i].count && bad[i].first < first + sectors) {
            return true;
        }
    }
    return false;
}

/* blk.span, checked: a positive multiple of 8 sectors within the disk. Returns the number of requests. */
static uint64_t span_requests(void) {
    uint64_t span = cmdline_number("blk.span", 0);
    if (span == 0 || span % FAULT_REQ_SECTORS != 0) {
        blk_fail("blk.span=N must be a positive multiple of 8 sectors");
    }
    if (span > blk.capacity) {
        kprintf("BLK-FAIL blk.span=%lu is past the disk's %lu sectors\n", span, blk.capacity);
        blk_finish();
    }
    return span / FAULT_REQ_SECTORS;
}

static uint64_t *request_buffer(void) {
    return (uint64_t *)(void *)blk_dma;
}

static void fill(uint64_t request) {
    uint64_t *words = request_buffer();
    uint64_t s = request * FAULT_REQ_SECTORS;
    for (unsigned i = 0; i < FAULT_REQ_SECTORS; i++) {
        for (unsigned w = 0; w < SECTOR_SIZE / 8; w++) {
            *words++ = FAULT_WORD(s + i, w);
        }
    }
}

static void poison(void) {
    uint64_t *words = request_buffer();
    for (unsigned i = 0; i < FAULT_REQ_BYTES / 8; i++) {
        words[i] = FAULT_POISON;
    }
}

static void check(uint64_t request) {
    const uint64_t *words = request_buffer();
    uint64_t s = request * FAULT_REQ_SECTORS;
    for (unsigned i = 0; i < FAULT_REQ_SECTORS; i++) {
        for (unsigned w = 0; w < SECTOR_SIZE / 8; w++) {
            uint64_t got = *words++, want = FAULT_WORD(s + i, w);
            if (got != want) {
                kprintf("BLK-FAIL request %lu read back other data: sector %lu word %u is 0x%lx, not 0x%lx\n",
                        request, s + i, w, got, want);
                blk_finish();
            }
        }
    }
}

/* Request r (sectors 8r .. 8r+7) of the given type; fails the run unless its status is want. */
static void expect_request(uint32_t type, uint64_t r, int want) {
    uint64_t sector = r * FAULT_REQ_SECTORS;
    int got = blk_do(&blk_queues[0], type, sector, blk_dma, FAULT_REQ_BYTES, BLK_TIMEOUT_US);
    if (got != want) {
        kprintf("BLK-FAIL %s request %lu (sectors %lu..%lu): %s (%d), expected %s\n",
                type == VIRTIO_BLK_T_OUT ? "OUT" : "IN", r, sector, sector + FAULT_REQ_SECTORS - 1,
                blk_result_name(got), got, blk_result_name(want));
        blk_finish();
    }
}

/* A request's status: OK or IOERR; anything else (a timeout, a reset, a bad used entry) fails the run. */
static int ok_or_ioerr(uint32_t type, uint64_t r) {
    uint64_t sector = r * FAULT_REQ_SECTORS;
    int got = blk_do(&blk_queues[0], type, sector, blk_dma, FAULT_REQ_BYTES, BLK_TIMEOUT_US);
    if (got != VIRTIO_BLK_S_OK && got != VIRTIO_BLK_S_IOERR) {
        kprintf("BLK-FAIL %s request %lu (sectors %lu..%lu): %s (%d), expected OK or IOERR\n",
                type == VIRTIO_BLK_T_OUT ? "OUT" : "IN", r, sector, sector + FAULT_REQ_SECTORS - 1,
                blk_result_name(got), got);
        blk_finish();
    }
    return got;
}

static void flush(void) {
    if (!blk_has(&blk, VIRTIO_BLK_F_FLUSH)) {
        blk_fail("no VIRTIO_BLK_F_FLUSH: the mode needs a flush");
    }
    int r = blk_do(&blk_queues[0], VIRTIO_BLK_T_FLUSH, 0, NULL, 0, BLK_TIMEOUT_US);
    if (r != VIRTIO_BLK_S_OK) {
        blk_fail_result("FLUSH", r);
    }
}

void mode_faults(void) {
    parse_bad();
    uint64_t requests = span_requests();
    uint64_t ok = 0, ioerr = 0;
    for (uint64_t r = 0; r < requests; r++) {
        bool is_bad = overlaps_bad(r * FAULT_REQ_SECTORS, FAULT_REQ_SECTORS);
        fill(r);
        expect_request(VIRTIO_BLK_T_OUT, r, is_bad ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
        if (is_bad) {
            ioerr++;
        } else {
            ok++;
        }
    }
    flush();
    for (uint64_t r = 0; r < requests; r++) {
        bool is_bad = overlaps_bad(r * FAULT_REQ_SECTORS, FAULT_REQ_SECTORS);
        poison();
        expect_request(VIRTIO_BLK_T_IN, r, is_bad ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
        if (is_bad) {
            ioerr++;
        } else {
            check(r);
            ok++;
        }
    }
    kprintf("BLK-FAULTS ok=%lu ioerr=%lu\n", ok, ioerr);
    kprintf("BLK-FAULTS-OK\n");
}

void mode_enospc(void) {
    uint64_t requests = span_requests();
    uint64_t ok = 0; /* the acknowledged writes: requests 0 .. ok-1 */
    uint64_t r = 0;
    while (r < requests) {
        fill(r);
        int status = ok_or_ioerr(VIRTIO_BLK_T_OUT, r);
        r++;
        if (status == VIRTIO_BLK_S_IOERR) {
            break;
        }
        ok++;
    }
    /* The host file system is full: nothing more fits. */
    for (; r < requests; r++) {
        fill(r);
        expect_request(VIRTIO_BLK_T_OUT, r, VIRTIO_BLK_S_IOERR);
    }
    uint64_t ioerr = requests - ok;
    for (uint64_t k = 0; k < ok; k++) {
        poison();
        expect_request(VIRTIO_BLK_T_IN, k, VIRTIO_BLK_S_OK);
        check(k);
    }
    flush();
    kprintf("BLK-ENOSPC ok=%lu ioerr=%lu\n", ok, ioerr);
    kprintf("BLK-ENOSPC-OK\n");
}
