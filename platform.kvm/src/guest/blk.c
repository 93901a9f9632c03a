/*
 * The virtio-blk test guest. The kernel command line chooses:
 *   blk.mode=write|read|ro|range|mq|mqbench|hot|bench|faults|enospc|journal   what to do (see each mode; mq,
 *                    mqbench, hot, bench, faults/enospc and journal have their own files, blk_faults.c the two with
 *                    blk.span= and blk.bad=, blk_journal.c the crash-consistency journal with blk.seed= and blk.until=)
 *   blk.slot=N       the Nth virtio-mmio device of the DSDT (0)
 *   blk.irq=0|1      wait for completions by interrupt (1 for write, read, ro and range; 0 for the others)
 *   blk.desc=direct|indirect|mixed   descriptor chains (mixed: every other request through an indirect table)
 *   blk.eventidx=0, blk.indirect=0   do not negotiate VIRTIO_F_EVENT_IDX / VIRTIO_F_INDIRECT_DESC
 *   blk.qsize=N      cap the queue size (0: as large as the device and the driver allow)
 *   blk.cpl=3        bench: run the request loops at CPL 3 (blk_bench.c)
 *   blk.queues=1|2, blk.qd=, blk.n=, blk.warmup=   mqbench: one queue per vCPU at CPL 3 (blk_mqbench.c)
 * Every mode checks the magic value, version 2 and device ID 2 first (virtio_init).
 */
#include "blk.h"

#define PATTERN_FIRST 8
#define PATTERN_SECTORS 64
#define PATTERN_PER_REQUEST 8
#define TICK_VECTOR 0x40
#define VIRTIO_VECTOR 0x50
#define TICK_MS 10

struct blk_dev blk;
struct blk_queue blk_queues[2];
uint8_t blk_dma[BLK_DMA_BYTES] __attribute__((aligned(4096)));

static struct blk_queue *const q0 = &blk_queues[0];

void blk_finish(void) {
    poweroff();
    kprintf("BLK-FAIL poweroff did not stop the machine\n");
    halt_forever();
}

/* A failure at CPL 3 (blk.cpl=3) cannot reach the serial port: it is kept, and reported back at CPL 0. */
static struct {
    const char *what;
    int result;
    bool has_result;
} user_failure;

void blk_fail(const char *reason) {
    if (user_mode()) {
        user_failure.what = reason;
        user_failure.has_result = false;
        user_exit(USER_FAILED);
    }
    kprintf("BLK-FAIL %s\n", reason);
    blk_finish();
}

void blk_fail_result(const char *what, int result) {
    if (user_mode()) {
        user_failure.what = what;
        user_failure.result = result;
        user_failure.has_result = true;
        user_exit(USER_FAILED);
    }
    kprintf("BLK-FAIL %s: %s (%d)\n", what, blk_result_name(result), result);
    blk_finish();
}

uint64_t blk_user_call(uint64_t (*fn)(uint64_t), uint64_t arg) {
    uint64_t r = user_call(fn, arg);
    if (r == USER_FAILED) {
        if (user_failure.has_result) {
            blk_fail_result(user_failure.what, user_failure.result);
        }
        blk_fail(user_failure.what);
    }
    return r;
}

uint64_t xorshift64(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

int blk_batch(struct blk_queue *q, uint32_t type, uint64_t sector, uint8_t *buf, uint32_t sectors, uint32_t per) {
    uint32_t queued = 0;
    unsigned outstanding = 0;
    int result = VIRTIO_BLK_S_OK;
    while (queued < sectors || outstanding) {
        while (queued < sectors) {
            uint32_t n = sectors - queued < per ? sectors - queued : per;
            int slot = blk_submit(q, type, sector + queued, buf + (uint64_t)queued * SECTOR_SIZE, n * SECTOR_SIZE);
            if (slot == BLK_E_BUSY && outstanding) {
                break;
            }
            if (slot < 0) {
                return slot;
            }
            queued += n;
            outstanding++;
        }
        blk_kick(q);
        unsigned done;
        int status;
        int got = blk_wait_any(q, BLK_TIMEOUT_US, &done, &status);
        if (got < 0) {
            return got;
        }
        outstanding--;
        if (status != VIRTIO_BLK_S_OK && result == VIRTIO_BLK_S_OK) {
            result = status;
        }
    }
    return result;
}

/* Byte j of sector s in the write and read modes. */
static uint8_t pattern(uint64_t s, unsigned j) {
    return (uint8_t)((s * 31 + j * 7) & 0xFF);
}

static void fill_pattern(uint8_t *buf, uint64_t first, unsigned sectors) {
    for (unsigned i = 0; i < sectors; i++) {
        for (unsigned j = 0; j < SECTOR_SIZE; j++) {
            buf[i * SECTOR_SIZE + j] = pattern(first + i, j);
        }
    }
}

/* The GET_ID string with anything but printable ASCII (and space) shown as '?'. */
static void print_id(const char *id) {
    for (unsigned i = 0; i < VIRTIO_BLK_ID_BYTES && id[i]; i++) {
        char c = id[i];
        serial_putc(c > ' ' && c < 0x7F ? c : '?');
    }
}

static void require_capacity(uint64_t sectors) {
    if (blk.capacity < sectors) {
        kprintf("BLK-FAIL the disk has %lu sectors, the mode needs %lu\n", blk.capacity, sectors);
        blk_finish();
    }
}

static void mode_write(void) {
    char id[VIRTIO_BLK_ID_BYTES + 1];
    int r = blk_get_id(q0, id, BLK_TIMEOUT_US);
    if (r != VIRTIO_BLK_S_OK) {
        blk_fail_result("GET_ID", r);
    }
    kprintf("BLK-INFO capacity=%lu serial=", blk.capacity);
    print_id(id);
    kprintf(" queues=%u\n", blk.num_queues);
    require_capacity(PATTERN_FIRST + PATTERN_SECTORS);
    fill_pattern(blk_dma, PATTERN_FIRST, PATTERN_SECTORS);
    r = blk_batch(q0, VIRTIO_BLK_T_OUT, PATTERN_FIRST, blk_dma, PATTERN_SECTORS, PATTERN_PER_REQUEST);
    if (r != VIRTIO_BLK_S_OK) {
        blk_fail_result("OUT", r);
    }
    if (blk_has(&blk, VIRTIO_BLK_F_FLUSH)) {
        r = blk_do(q0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, BLK_TIMEOUT_US);
        if (r != VIRTIO_BLK_S_OK) {
            blk_fail_result("FLUSH", r);
        }
    } else {
        kprintf("BLK-NOTE no VIRTIO_BLK_F_FLUSH: no flush sent\n");
    }
    kprintf("BLK-WRITE-OK\n");
}

static void mode_read(void) {
    require_capacity(PATTERN_FIRST + PATTERN_SECTORS);
    memset(blk_dma, 0xEE, PATTERN_SECTORS * SECTOR_SIZE);
    int r = blk_batch(q0, VIRTIO_BLK_T_IN, PATTERN_FIRST, blk_dma, PATTERN_SECTORS, PATTERN_PER_REQUEST);
    if (r != VIRTIO_BLK_S_OK) {
        blk_fail_result("IN", r);
    }
    for (unsigned i = 0; i < PATTERN_SECTORS; i++) {
        for (unsigned j = 0; j < SECTOR_SIZE; j++) {
            uint8_t got = blk_dma[i * SECTOR_SIZE + j], want = pattern(PATTERN_FIRST + i, j);
            if (got != want) {
                kprintf("BLK-FAIL sector %u byte %u is 0x%x, not 0x%x\n", PATTERN_FIRST + i, j, got, want);
                blk_finish();
            }
        }
    }
    kprintf("BLK-READ-OK\n");
}

/* One request alone; fails the run unless its result is want. */
static void expect(const char *what, uint32_t type, uint64_t sector, void *buf, uint32_t len, int want) {
    int r = blk_do(q0, type, sector, buf, len, BLK_TIMEOUT_US);
    if (r != want) {
        kprintf("BLK-FAIL %s: %s (%d), expected %s\n", what, blk_result_name(r), r, blk_result_name(want));
        blk_finish();
    }
}

static void mode_ro(void) {
    kprintf("BLK-RO feature=%u\n", (blk.vdev.offered & VIRTIO_BLK_F_RO) ? 1u : 0u);
    require_capacity(PATTERN_FIRST + 1);
    /* 5.2.6.2: a driver must not write a read-only device; a hostile one does, and must get IOERR. */
    fill_pattern(blk_dma, PATTERN_FIRST, 1);
    expect("OUT on a read-only disk", VIRTIO_BLK_T_OUT, PATTERN_FIRST, blk_dma, SECTOR_SIZE, VIRTIO_BLK_S_IOERR);
    expect("IN on a read-only disk", VIRTIO_BLK_T_IN, 0, blk_dma, SECTOR_SIZE, VIRTIO_BLK_S_OK);
    kprintf("BLK-RO-OK\n");
}

static void mode_range(void) {
    require_capacity(2);
    uint64_t last = blk.capacity - 1;
    expect("IN of the last sector", VIRTIO_BLK_T_IN, last, blk_dma, SECTOR_SIZE, VIRTIO_BLK_S_OK);
    expect("IN across the end", VIRTIO_BLK_T_IN, last, blk_dma, 2 * SECTOR_SIZE, VIRTIO_BLK_S_IOERR);
    expect("IN at the capacity", VIRTIO_BLK_T_IN, blk.capacity, blk_dma, SECTOR_SIZE, VIRTIO_BLK_S_IOERR);
    expect("IN at sector 2^60", VIRTIO_BLK_T_IN, 1ull << 60, blk_dma, SECTOR_SIZE, VIRTIO_BLK_S_IOERR);
    /* sector + length wraps around 2^64: a device that adds before comparing lets this through. */
    expect("IN at sector 2^64-1", VIRTIO_BLK_T_IN, ~0ull, blk_dma, 2 * SECTOR_SIZE, VIRTIO_BLK_S_IOERR);
    expect("request type 99", 99, 0, NULL, 0, VIRTIO_BLK_S_UNSUPP);
    char id[VIRTIO_BLK_ID_BYTES + 1];
    expect("GET_ID", VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES, VIRTIO_BLK_S_OK);
    kprintf("BLK-RANGE-OK\n");
}

static void on_tick(struct interrupt_frame *frame) {
    (void)frame;
    lapic_eoi();
}

/* Completions by interrupt: the device's GSI to VIRTIO_VECTOR, and a LAPIC tick so that waits in HLT still see
 * their time-outs if no interrupt comes. */
static void use_interrupts(void) {
    idt_set_handler(TICK_VECTOR, on_tick);
    uint32_t per_ms = lapic_timer_calibrate(16);
    lapic_timer_periodic(TICK_VECTOR, per_ms * TICK_MS, 16);
    virtio_irq_enable(&blk.vdev, VIRTIO_VECTOR);
}

static uint64_t wanted_features(void) {
    uint64_t f = VIRTIO_BLK_F_SIZE_MAX | VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_GEOMETRY | VIRTIO_BLK_F_RO |
                 VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_TOPOLOGY | VIRTIO_BLK_F_MQ |
                 VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC;
    if (cmdline_number("blk.eventidx", 1) == 0) {
        f &= ~VIRTIO_F_EVENT_IDX;
    }
    if (cmdline_number("blk.indirect", 1) == 0) {
        f &= ~VIRTIO_F_INDIRECT_DESC;
    }
    return f;
}

static enum blk_desc_mode desc_mode(void) {
    char v[16];
    if (!cmdline_value("blk.desc", v, sizeof v) || strcmp(v, "mixed") == 0) {
        return BLK_DESC_MIXED;
    }
    if (strcmp(v, "direct") == 0) {
        return BLK_DESC_DIRECT;
    }
    if (strcmp(v, "indirect") == 0) {
        return BLK_DESC_INDIRECT;
    }
    blk_fail("blk.desc must be direct, indirect or mixed");
}

static const char *const desc_names[] = {"direct", "indirect", "mixed"};

int main(void) {
    char mode[16];
    if (!cmdline_value("blk.mode", mode, sizeof mode)) {
        blk_fail("no blk.mode= on the command line");
    }
    bool simple = strcmp(mode, "write") == 0 || strcmp(mode, "read") == 0 || strcmp(mode, "ro") == 0 ||
                  strcmp(mode, "range") == 0;
    bool mq = strcmp(mode, "mq") == 0, mqbench = strcmp(mode, "mqbench") == 0;
    if (!simple && !mq && !mqbench && strcmp(mode, "hot") != 0 && strcmp(mode, "bench") != 0 &&
        strcmp(mode, "faults") != 0 && strcmp(mode, "enospc") != 0 && strcmp(mode, "journal") != 0) {
        blk_fail("unknown blk.mode");
    }
    idt_init();
    lapic_enable();
    time_init();

    struct virtio_mmio_slot slots[VIRTIO_MMIO_MAX_SLOTS];
    unsigned found = virtio_mmio_discover(slots, VIRTIO_MMIO_MAX_SLOTS);
    uint64_t which = cmdline_number("blk.slot", 0);
    if (which >= found) {
        kprintf("BLK-FAIL no virtio-mmio device %lu in the DSDT (found %u)\n", which, found);
        blk_finish();
    }
    blk.desc_mode = desc_mode();
    unsigned queues = mq ? 2 : mqbench && cmdline_number("blk.queues", 1) == 2 ? 2 : 1;
    const char *why = blk_open(&blk, &slots[which], wanted_features(), blk_queues, queues,
                               (unsigned)cmdline_number("blk.qsize", 0));
    if (why) {
        blk_fail(why);
    }
    kprintf("BLK-FEATURES offered=0x%lx negotiated=0x%lx queue_size=%u seg_max=%u size_max=%u blk_size=%u "
            "desc=%s\n",
            blk.vdev.offered, blk.vdev.features, blk_queues[0].vq.size, blk.seg_max, blk.size_max, blk.blk_size,
            desc_names[blk.desc_mode]);
    bool irq = cmdline_number("blk.irq", simple ? 1 : 0) != 0 && !mq && !mqbench;
    if (irq) {
        use_interrupts();
    }

    if (strcmp(mode, "write") == 0) {
        mode_write();
    } else if (strcmp(mode, "read") == 0) {
        mode_read();
    } else if (strcmp(mode, "ro") == 0) {
        mode_ro();
    } else if (strcmp(mode, "range") == 0) {
        mode_range();
    } else if (mq) {
        mode_mq();
    } else if (mqbench) {
        mode_mqbench();
    } else if (strcmp(mode, "hot") == 0) {
        mode_hot();
    } else if (strcmp(mode, "faults") == 0) {
        mode_faults();
    } else if (strcmp(mode, "enospc") == 0) {
        mode_enospc();
    } else if (strcmp(mode, "journal") == 0) {
        mode_journal();
    } else {
        mode_bench();
    }
    if (irq) {
        kprintf("BLK-IRQ count=%lu spurious=%lu\n", blk.vdev.irqs, blk.vdev.spurious_irqs);
    }
    if (virtio_needs_reset(&blk.vdev)) {
        blk_fail("the device set DEVICE_NEEDS_RESET");
    }
    blk_finish();
}
