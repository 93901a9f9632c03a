/*
 * blk.mode=hot, for the hot-unplug test: writes record k to sector HOT_FIRST + k % HOT_SECTORS and reads it back,
 * forever, until the device has gone away and come back blk.resets=R times (1) and 128 more writes were
 * acknowledged; then reads every acknowledged record back. A write counts as acknowledged when its OUT completed
 * with status OK; one in flight when the device went may or may not have landed, so it is written again (same
 * record) once the device is back, and only the latest acknowledged record of each sector is checked.
 *
 * "Gone" is DEVICE_NEEDS_RESET (2.1.2), checked before each record and while waiting. Then the driver resets and
 * re-initializes until that works (while the device is absent, DeviceFeatures lacks VERSION_1), every 5 ms.
 * Prints "BLK-HOT acked=N" every 64 acknowledged writes, "BLK-HOT gone", "BLK-HOT back resets=R" and at the end
 * "BLK-HOT-OK acked=N".
 *
 * blk.acked=N goes on until N writes were acknowledged. blk.strict=1 is for a device handed over between bundles
 * under the guest: the device must never go, so DEVICE_NEEDS_RESET, an error status, a timeout, a driver status
 * without DRIVER_OK or a queue no longer ready (a reset the driver did not ask for) each end the test with BLK-FAIL.
 */
#include "blk.h"

#define HOT_FIRST 1000
#define HOT_SECTORS 512
#define HOT_AFTER_BACK 128
#define PRINT_EVERY 64
#define RETRY_US 5000
#define STATUS_GRACE_US 2000000 /* after an error status, how long to wait for DEVICE_NEEDS_RESET */

static uint64_t acked_record[HOT_SECTORS]; /* record k + 1 of the latest acknowledged write, 0 for none */
static uint64_t resets;
static bool strict;

/* Record k: its number and complement, then bytes that depend on k and the position. */
static void fill_record(uint8_t *p, uint64_t k) {
    uint64_t not_k = ~k;
    memcpy(p, &k, sizeof k);
    memcpy(p + 8, &not_k, sizeof not_k);
    for (unsigned j = 16; j < SECTOR_SIZE; j++) {
        p[j] = (uint8_t)((k * 0x9E37u + (k >> 8) * 131 + j * 13) & 0xFF);
    }
}

/* Waits until the device sets DEVICE_NEEDS_RESET; false if it does not within timeout_us. */
static bool await_needs_reset(uint64_t timeout_us) {
    uint64_t start = tsc_us();
    while (!virtio_needs_reset(&blk.vdev)) {
        if (tsc_us() - start > timeout_us) {
            return false;
        }
        pit_delay_us(1000);
    }
    return true;
}

/* The device is gone: reset and re-initialize until it is back. */
static void gone(void) {
    if (strict) {
        kprintf("BLK-FAIL the device set DEVICE_NEEDS_RESET (status 0x%x) under blk.strict\n",
                virtio_status(&blk.vdev));
        blk_finish();
    }
    kprintf("BLK-HOT gone\n");
    const char *last = NULL;
    for (;;) {
        const char *why = blk_reopen(&blk);
        if (!why) {
            break;
        }
        if (why != last) {
            kprintf("BLK-HOT absent: %s\n", why);
            last = why;
        }
        pit_delay_us(RETRY_US);
    }
    resets++;
    kprintf("BLK-HOT back resets=%lu\n", resets);
}

/* One request; true if it completed OK, false if the device went away (gone() has brought it back). */
static bool request(const char *what, uint32_t type, uint64_t sector, uint8_t *buf) {
    int r = blk_do(&blk_queues[0], type, sector, buf, SECTOR_SIZE, BLK_TIMEOUT_US);
    if (r == VIRTIO_BLK_S_OK) {
        return true;
    }
    if (strict) {
        blk_fail_result(what, r);
    }
    if (r == BLK_E_NEEDS_RESET || (r != BLK_E_TIMEOUT && await_needs_reset(STATUS_GRACE_US))) {
        gone();
        return false;
    }
    blk_fail_result(what, r);
}

static void check_all(uint64_t acked) {
    uint8_t *want = blk_dma, *got = blk_dma + 4096;
    for (unsigned s = 0; s < HOT_SECTORS;) {
        if (!acked_record[s]) {
            s++;
            continue;
        }
        if (!request("final IN", VIRTIO_BLK_T_IN, HOT_FIRST + s, got)) {
            continue; /* the device went and came back: read this sector again */
        }
        uint64_t k = acked_record[s] - 1;
        fill_record(want, k);
        if (memcmp(want, got, SECTOR_SIZE) != 0) {
            uint64_t found;
            memcpy(&found, got, sizeof found);
            if (found == k) {
                kprintf("BLK-FAIL sector %u holds a damaged copy of the acknowledged record %lu\n", HOT_FIRST + s, k);
            } else {
                kprintf("BLK-FAIL sector %u holds record %lu, not the acknowledged record %lu\n", HOT_FIRST + s,
                        found, k);
            }
            blk_finish();
        }
        s++;
    }
    kprintf("BLK-HOT-OK acked=%lu\n", acked);
}

void mode_hot(void) {
    if (blk.capacity < HOT_FIRST + HOT_SECTORS) {
        kprintf("BLK-FAIL the disk has %lu sectors, hot needs %u\n", blk.capacity, HOT_FIRST + HOT_SECTORS);
        blk_finish();
    }
    uint64_t wanted_resets = cmdline_number("blk.resets", 1);
    uint64_t wanted_acked = cmdline_number("blk.acked", 0);
    strict = cmdline_number("blk.strict", 0) != 0;
    if (strict) {
        wanted_resets = 0;
    }
    uint8_t *out = blk_dma, *in = blk_dma + 4096;
    uint64_t k = 0, acked = 0, since_back = 0;
    while (resets < wanted_resets || since_back < HOT_AFTER_BACK || acked < wanted_acked) {
        if (virtio_needs_reset(&blk.vdev)) {
            gone();
            since_back = 0;
            continue;
        }
        unsigned s = (unsigned)(k % HOT_SECTORS);
        fill_record(out, k);
        if (!request("OUT", VIRTIO_BLK_T_OUT, HOT_FIRST + s, out)) {
            since_back = 0;
            continue; /* write record k again */
        }
        acked_record[s] = k + 1;
        acked++;
        since_back++;
        if (acked % PRINT_EVERY == 0) {
            if (strict && ((virtio_status(&blk.vdev) & VIRTIO_STATUS_DRIVER_OK) == 0
                           || !virtio_queue_ready(&blk.vdev, 0))) {
                kprintf("BLK-FAIL the device reset itself: status 0x%x, queue 0 %s\n", virtio_status(&blk.vdev),
                        virtio_queue_ready(&blk.vdev, 0) ? "ready" : "not ready");
                blk_finish();
            }
            kprintf("BLK-HOT acked=%lu\n", acked);
        }
        if (!request("IN", VIRTIO_BLK_T_IN, HOT_FIRST + s, in)) {
            since_back = 0;
            continue;
        }
        if (memcmp(in, out, SECTOR_SIZE) != 0) {
            kprintf("BLK-FAIL record %lu read back other data\n", k);
            blk_finish();
        }
        k++;
    }
    check_all(acked);
}
