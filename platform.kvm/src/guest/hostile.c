/*
 * The hostile virtio-blk driver (issue 16 section 4): a test guest that abuses its virtio-blk device the way a broken
 * or malicious driver could, forever, so that the host can check that a good VM next to it keeps its IO, that the
 * hostile device ends in DEVICE_NEEDS_RESET (virtio 1.2 section 2.1.2) and that the platform stays responsive with
 * bounded memory (HostileNeighbourTest, bench/neighbour-bench.sh).
 *
 * It finds the device (hostile.slot=N of the DSDT, 0), negotiates VERSION_1, INDIRECT_DESC and EVENT_IDX, sets up
 * queue 0 and sets DRIVER_OK; then it runs rounds of four phases of hostile.ms= milliseconds each (250):
 *   notify   QueueNotify storms: queue 0 (the ioeventfd path, no exit to the VMM's process) with a valid request
 *            now and then so the device finds work, and queue indices the device lacks (MMIO exits)
 *   race     valid chains made available and notified, then rewritten at once while the device may be reading
 *            them (addresses, lengths, flags, next), with avail.idx flipped back and forth and far ahead
 *   maximal  a direct chain as long as the queue, an indirect table of the device's largest queue size (both
 *            valid: seg_max is 254), an indirect table one entry longer, a descriptor that is its own next (a loop),
 *            an INDIRECT descriptor with NEXT, and buffers of 4 GiB - 1 bytes
 *   config   config space read and written at every offset with every width (8 included) and beyond its end,
 *            InterruptACK writes, writes to read-only and undefined registers, control registers written 8 and 16
 *            bits wide, QueueSel beyond the queues, Status writes that clear bits, DriverFeatures after FEATURES_OK
 * Each phase ends with "HOSTILE round=R phase=P ops=N status=0xS needs_reset=0|1 seen=K resets=M": the status read
 * then, K the times so far the driver found DEVICE_NEEDS_RESET set, M its resets so far. The maximal phase adds
 * "HOSTILE maximal valid=V ok=K": of the valid maximal chains posted so far, those completed with status OK (one
 * posted to a device that was about to need a reset is not).
 *
 * It goes on abusing a device that needs a reset. With hostile.reset=1 (the default) it also resets the device and
 * sets it up again at the start of each phase, and in the race and maximal phases whenever the device asks for it (a
 * hostile driver may reset as often as it likes; "HOSTILE-RESET n=N" every 16th time); hostile.reset=0 never resets.
 * hostile.rounds=N powers off after N rounds (0, the default: never). hostile.mode=spin is the benchmarks' control:
 * the device is set up and never touched again, and the only phase, "spin", burns the vCPU (a neighbour that costs
 * its share of the host's CPUs and nothing else).
 *
 * The guest must survive its own abuse: every address it puts in a descriptor (but the indirect tables' own) is in its
 * scratch region, which the device may write at will, beyond RAM, straddling RAM's end, or wrapping 2^64, with
 * lengths that keep a buffer in RAM inside the region; the headers name small sectors, so that whatever the device
 * reads back from this disk into the region and later walks as an indirect table is, as descriptors, read-only or
 * outside RAM. Nothing the device writes lands in the kit's own memory.
 */
#include "kit.h"
#include "virtio.h"
#include "virtio_blk.h"

/* The register offsets (Table 4.1) are virtio.h's. */
#define CONFIG_PROBE 0x100 /* config bytes probed: virtio-blk's config (5.2.4) and well beyond its end */

/* The scratch region: its first half holds each head's request buffers (a slot of 4 KiB) and what scribbled
 * descriptors point at (at most a slot's length from a first-half address); its second half the request headers.
 * Whatever a descriptor's fields become, a buffer in guest RAM stays inside it. */
#define SCRATCH_BYTES (8u << 20)
#define SCRATCH_SLOT 4096u
#define SECTORS 32768u         /* the sectors headers name: the first 16 MiB */
#define MAX_TABLE (VIRTQ_MAX_SIZE + 1)
#define WAIT_US 200000

static struct virtio_mmio_slot slot;
static struct virtio_dev dev;
static struct virtq vq;
/* Where the device reads and writes data: nothing else of this guest's lives here. */
static uint8_t scratch[SCRATCH_BYTES] __attribute__((aligned(4096)));
static struct virtio_blk_req_header *const headers =
    (struct virtio_blk_req_header *)(scratch + SCRATCH_BYTES / 2);
static struct virtq_desc table[MAX_TABLE] __attribute__((aligned(16)));

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t ram_top;
static uint64_t phase_ms;
static bool resets_allowed;
static uint64_t resets;
static uint64_t needs_seen; /* times the device was found asking for a reset */
static uint64_t maximal_valid, maximal_ok; /* valid maximal chains posted, and completed with status OK */
static uint16_t avail_next; /* the driver's avail index, kept by this file, not by virtqueue.c */
static uint64_t deadline;

/* xorshift64 (Marsaglia, "Xorshift RNGs", 2003), as blk.c's. */
static uint64_t next_random(void) {
    uint64_t x = rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng = x;
}

static void reg_write(unsigned reg, uint32_t value) {
    mmio_write32(dev.slot.base + reg, value);
}

static uint32_t reg_read(unsigned reg) {
    return mmio_read32(dev.slot.base + reg);
}

static bool expired(void) {
    return tsc_us() >= deadline;
}

static volatile struct virtq_desc *desc(unsigned i) {
    return (volatile struct virtq_desc *)&vq.desc[i & (vq.size - 1)];
}

/* 2.7.6: avail.idx, published with a release store after the entries it covers. */
static void publish(uint16_t idx) {
    __atomic_store_n(&vq.avail[1], idx, __ATOMIC_RELEASE);
}

static void offer(uint16_t head) {
    ((volatile uint16_t *)vq.avail)[2 + (avail_next & (vq.size - 1))] = head;
    avail_next++;
    publish(avail_next);
}

static uint16_t used_idx(void) {
    return __atomic_load_n((volatile uint16_t *)((uint8_t *)vq.used + 2), __ATOMIC_ACQUIRE);
}

/* Resets the device and sets it up again (3.1.1, 4.2.3.2); says so if it could not. */
static void setup(void) {
    const char *why = virtio_init(&dev, &slot, VIRTIO_ID_BLOCK, VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX);
    if (!why) {
        why = virtio_queue_setup(&dev, &vq, 0, 0);
    }
    if (!why) {
        why = virtio_driver_ok(&dev);
    }
    avail_next = 0;
    if (why) {
        kprintf("HOSTILE setup failed: %s (status 0x%x)\n", why, virtio_status(&dev));
    }
}

/* With hostile.reset=1: a device that needs a reset (or never got DRIVER_OK) is reset and set up again. */
static void recover(bool always) {
    if (!resets_allowed) {
        return;
    }
    uint32_t s = virtio_status(&dev);
    if (s & VIRTIO_STATUS_NEEDS_RESET) {
        needs_seen++;
    }
    if (!always && !(s & VIRTIO_STATUS_NEEDS_RESET) && (s & VIRTIO_STATUS_DRIVER_OK)) {
        return;
    }
    setup();
    if (++resets % 16 == 0) {
        kprintf("HOSTILE-RESET n=%lu\n", resets);
    }
}

/* A valid virtio-blk IN request of one sector in descriptors head..head+2 (mod the queue size), 5.2.6. */
static uint16_t valid_request(uint16_t head) {
    unsigned i = head & (vq.size - 1);
    struct virtio_blk_req_header *h = &headers[i];
    h->type = VIRTIO_BLK_T_IN;
    h->reserved = 0;
    h->sector = next_random() % SECTORS;
    uint8_t *buf = scratch + (uint64_t)i * SCRATCH_SLOT;
    volatile struct virtq_desc *d0 = desc(i), *d1 = desc(i + 1), *d2 = desc(i + 2);
    d0->addr = (uint64_t)(uintptr_t)h;
    d0->len = sizeof *h;
    d0->flags = VIRTQ_DESC_F_NEXT;
    d0->next = (uint16_t)((i + 1) & (vq.size - 1));
    d1->addr = (uint64_t)(uintptr_t)buf;
    d1->len = SECTOR_SIZE;
    d1->flags = VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE;
    d1->next = (uint16_t)((i + 2) & (vq.size - 1));
    d2->addr = (uint64_t)(uintptr_t)(buf + SCRATCH_SLOT - 1);
    d2->len = 1;
    d2->flags = VIRTQ_DESC_F_WRITE;
    d2->next = 0;
    return (uint16_t)i;
}

/* An address a scribbled descriptor may hold: in the scratch region, beyond RAM, across its end, or wrapping. */
static uint64_t hostile_addr(void) {
    uint64_t r = next_random();
    switch (r % 6) {
    case 0:
    case 1:
        return (uint64_t)(uintptr_t)scratch + (r >> 8) % (SCRATCH_BYTES / 2);
    case 2:
        return ram_top - 256;
    case 3:
        return ram_top + (r >> 8) % (1ull << 30);
    case 4:
        return 1ull << 40;
    default:
        return ~0ull - 2048;
    }
}

/* A length a scribbled descriptor may hold: 0, within a slot, or 2 GiB and more (from the scratch region, beyond
 * the end of a test guest's RAM of up to 2 GiB: the tests give it 64 MiB). */
static uint32_t hostile_len(void) {
    uint64_t r = next_random();
    switch (r % 4) {
    case 0:
        return 0;
    case 1:
        return (uint32_t)((r >> 8) % SCRATCH_SLOT);
    case 2:
        return 0xFFFFFFFFu;
    default:
        return (uint32_t)(r >> 32) | 0x80000000u;
    }
}

/* Rewrites one field of descriptor i with something hostile. */
static void scribble(unsigned i) {
    volatile struct virtq_desc *d = desc(i);
    uint64_t r = next_random();
    switch (r % 4) {
    case 0:
        d->addr = hostile_addr();
        break;
    case 1:
        d->len = hostile_len();
        break;
    case 2:
        d->flags = (uint16_t)(d->flags ^ (1u << ((r >> 8) % 3))); /* NEXT, WRITE or INDIRECT */
        break;
    default:
        d->next = (uint16_t)(r >> 16);
        break;
    }
}

/* ---- the phases: each returns the abusive operations it did ------------------------------------------------------ */

static uint64_t phase_notify(void) {
    static const uint32_t bogus[] = {1, 7, 64, 0xFFFF, 0x10000, 0xFFFFFFFFu};
    uint64_t ops = 0;
    uint16_t seen = used_idx();
    bool waiting = false;
    while (!expired()) {
        if (!waiting || used_idx() != seen) {
            seen = used_idx();
            offer(valid_request((uint16_t)(avail_next * 3u)));
            waiting = true;
        }
        for (unsigned k = 0; k < 64; k++) {
            virtio_notify(&dev, 0);
        }
        for (unsigned k = 0; k < sizeof bogus / sizeof bogus[0]; k++) {
            virtio_notify(&dev, bogus[k]);
        }
        ops += 64 + sizeof bogus / sizeof bogus[0];
    }
    return ops;
}

static uint64_t phase_race(void) {
    uint64_t ops = 0;
    while (!expired()) {
        recover(false);
        uint16_t head = valid_request((uint16_t)(next_random() % vq.size));
        offer(head);
        virtio_notify(&dev, 0);
        /* The device may be walking the chain now: rewrite it under its feet, and tell it again. */
        for (unsigned k = 0; k < 4; k++) {
            scribble(head + next_random() % 3);
        }
        virtio_notify(&dev, 0);
        ops += 6;
        switch (next_random() % 4) {
        case 0: /* avail.idx back and forth */
            publish((uint16_t)(avail_next - 1));
            virtio_notify(&dev, 0);
            publish(avail_next);
            virtio_notify(&dev, 0);
            break;
        case 1: /* avail.idx further ahead than the queue is long */
            publish((uint16_t)(avail_next + vq.size + 1 + next_random() % 1000));
            virtio_notify(&dev, 0);
            publish(avail_next);
            break;
        case 2: /* the avail ring entry itself: a head beyond the queue, or another chain's */
            ((volatile uint16_t *)vq.avail)[2 + ((avail_next - 1) & (vq.size - 1))] = (uint16_t)next_random();
            virtio_notify(&dev, 0);
            break;
        default: /* the same head once more, perhaps still in flight */
            offer(head);
            virtio_notify(&dev, 0);
            break;
        }
        ops += 2;
    }
    return ops;
}

/* hostile.mode=spin: a neighbour that only burns its CPU (the device set up, never used), for comparison. */
static uint64_t phase_spin(void) {
    uint64_t ops = 0;
    while (!expired()) {
        for (unsigned k = 0; k < 1000; k++) {
            cpu_relax();
        }
        ops++;
    }
    return ops;
}

/* Waits (briefly) for the device to use what it was given; false if it did not. */
static bool await_used(uint16_t want) {
    uint64_t until = tsc_us() + WAIT_US;
    while (used_idx() != want) {
        if (tsc_us() > until || virtio_needs_reset(&dev)) {
            return false;
        }
        cpu_relax();
    }
    return true;
}

/* Fills t[0..n) as one IN request over header h: header, n - 2 sectors of data, status. */
static void long_request(volatile struct virtq_desc *t, unsigned n, struct virtio_blk_req_header *h) {
    h->type = VIRTIO_BLK_T_IN;
    h->reserved = 0;
    h->sector = next_random() % (SECTORS - VIRTQ_MAX_SIZE);
    for (unsigned k = 0; k < n; k++) {
        if (k == 0) {
            t[k].addr = (uint64_t)(uintptr_t)h;
            t[k].len = sizeof *h;
            t[k].flags = VIRTQ_DESC_F_NEXT;
        } else {
            t[k].addr = (uint64_t)(uintptr_t)(scratch + (k == n - 1 ? SCRATCH_BYTES - 1 : (uint64_t)k * SECTOR_SIZE));
            t[k].len = k == n - 1 ? 1 : SECTOR_SIZE;
            t[k].flags = (uint16_t)(VIRTQ_DESC_F_WRITE | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        }
        t[k].next = (uint16_t)(k + 1);
    }
}

/* The status byte of the long requests (5.2.6: the last byte of the chain, device-writable). */
static volatile uint8_t *const status_byte = scratch + SCRATCH_BYTES - 1;

/* Counts a valid maximal chain, and whether the device completed it with VIRTIO_BLK_S_OK. */
static void count_valid(bool used) {
    maximal_valid++;
    if (used && *status_byte == VIRTIO_BLK_S_OK) {
        maximal_ok++;
    }
}

static void one_indirect(unsigned entries, uint32_t len_override) {
    volatile struct virtq_desc *d = desc(0);
    long_request(table, entries, &headers[1]);
    if (len_override) {
        table[1].len = len_override;
    }
    d->addr = (uint64_t)(uintptr_t)table;
    d->len = entries * (uint32_t)sizeof table[0];
    d->flags = VIRTQ_DESC_F_INDIRECT;
    d->next = 0;
    offer(0);
    virtio_notify(&dev, 0);
}

static uint64_t phase_maximal(void) {
    uint64_t ops = 0;
    while (!expired()) {
        /* A direct chain of every descriptor of the queue: valid (2.7.5.3.1 bounds it by the queue size). */
        recover(false);
        long_request((volatile struct virtq_desc *)vq.desc, vq.size, &headers[0]);
        uint16_t before = used_idx();
        *status_byte = 0xFF;
        offer(0);
        virtio_notify(&dev, 0);
        count_valid(await_used((uint16_t)(before + 1)));
        /* An indirect table of the device's largest queue size: valid too. Then one entry longer. */
        before = used_idx();
        *status_byte = 0xFF;
        one_indirect(VIRTQ_MAX_SIZE, 0);
        count_valid(await_used((uint16_t)(before + 1)));
        one_indirect(MAX_TABLE, 0);
        ops += 3;
        /* A descriptor that is its own next: a loop the device must not follow forever. */
        recover(false);
        volatile struct virtq_desc *d = desc(0);
        d->addr = (uint64_t)(uintptr_t)scratch;
        d->len = SECTOR_SIZE;
        d->flags = VIRTQ_DESC_F_NEXT;
        d->next = 0;
        offer(0);
        virtio_notify(&dev, 0);
        /* INDIRECT with NEXT, and a 4 GiB - 1 byte buffer, each on a fresh device. */
        recover(false);
        d->addr = (uint64_t)(uintptr_t)table;
        d->len = 16 * sizeof table[0];
        d->flags = VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT;
        offer(0);
        virtio_notify(&dev, 0);
        recover(false);
        one_indirect(3, 0xFFFFFFFFu);
        ops += 3;
    }
    return ops;
}

static uint64_t phase_config(void) {
    static const unsigned read_only[] = {REG_MAGIC, REG_VERSION, REG_DEVICE_ID, REG_VENDOR_ID, REG_DEVICE_FEATURES,
                                         REG_QUEUE_NUM_MAX, REG_INTERRUPT_STATUS, REG_CONFIG_GENERATION};
    uint64_t ops = 0;
    uint64_t base = dev.slot.base;
    while (!expired()) {
        for (unsigned off = 0; off < CONFIG_PROBE; off += 4) {
            uint64_t a = base + REG_CONFIG + off;
            uint32_t v = (uint32_t)next_random();
            (void)mmio_read8(a + 1);
            (void)mmio_read16(a + 2);
            (void)mmio_read32(a);
            (void)*(volatile uint64_t *)(uintptr_t)a;
            *(volatile uint8_t *)(uintptr_t)(a + 3) = (uint8_t)v;
            *(volatile uint16_t *)(uintptr_t)(a + 2) = (uint16_t)v;
            mmio_write32(a, v);
            *(volatile uint64_t *)(uintptr_t)a = (uint64_t)v << 32 | v;
            reg_write(REG_INTERRUPT_ACK, v);
            ops += 9;
        }
        for (unsigned k = 0; k < sizeof read_only / sizeof read_only[0]; k++) {
            reg_write(read_only[k], (uint32_t)next_random());
        }
        /* Every undefined word of the register block (those between the registers the table names). */
        for (unsigned off = 0; off < REG_CONFIG; off += 4) {
            uint32_t r = (uint32_t)next_random();
            if (off >= 0xb0 && off < REG_CONFIG_GENERATION) {
                reg_write(off, r);
                (void)reg_read(off);
                ops += 2;
            }
        }
        /* Control registers at the wrong widths and offsets (4.2.2.2: 32 bits, aligned). */
        *(volatile uint8_t *)(uintptr_t)(base + REG_STATUS) = 0xFF;
        *(volatile uint16_t *)(uintptr_t)(base + REG_QUEUE_SEL) = 0xFFFF;
        mmio_write32(base + REG_QUEUE_NUM + 2, 0xFFFFFFFFu);
        (void)mmio_read8(base + REG_STATUS + 1);
        /* Queue registers of a queue the device lacks, and of a live queue (ignored after DRIVER_OK). */
        reg_write(REG_QUEUE_SEL, 0xFFFFFFFFu);
        reg_write(REG_QUEUE_NUM, 0xFFFFFFFFu);
        reg_write(REG_QUEUE_READY, 1);
        reg_write(REG_QUEUE_SEL, 0);
        reg_write(REG_QUEUE_NUM, 3);
        reg_write(REG_QUEUE_DESC_LOW, 0xFFFFF000u);
        (void)reg_read(REG_QUEUE_READY);
        /* Status writes that clear bits without a reset, that set NEEDS_RESET, and features after FEATURES_OK. */
        reg_write(REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
        reg_write(REG_STATUS, reg_read(REG_STATUS) | VIRTIO_STATUS_NEEDS_RESET);
        reg_write(REG_DRIVER_FEATURES_SEL, 7);
        reg_write(REG_DRIVER_FEATURES, 0xFFFFFFFFu);
        reg_write(REG_DRIVER_FEATURES_SEL, 1);
        reg_write(REG_DRIVER_FEATURES, 0xFFFFFFFFu);
        (void)reg_read(REG_INTERRUPT_STATUS);
        ops += 21 + sizeof read_only / sizeof read_only[0];
    }
    return ops;
}

struct phase {
    const char *name;
    uint64_t (*run)(void);
};

static const struct phase abuse[] = {
    {"notify", phase_notify},
    {"race", phase_race},
    {"maximal", phase_maximal},
    {"config", phase_config},
};

static const struct phase spin[] = {{"spin", phase_spin}};

/* The first byte beyond the highest RAM range of the e820 table. */
static uint64_t find_ram_top(void) {
    uint64_t top = 0;
    for (unsigned i = 0; i < e820_count(); i++) {
        const struct e820_entry *e = e820_entry(i);
        if (e->type == E820_RAM && e->addr + e->size > top) {
            top = e->addr + e->size;
        }
    }
    return top;
}

int main(void) {
    idt_init();
    lapic_enable();
    time_init();
    ram_top = find_ram_top();
    phase_ms = cmdline_number("hostile.ms", 250);
    resets_allowed = cmdline_number("hostile.reset", 1) != 0;
    uint64_t rounds = cmdline_number("hostile.rounds", 0);
    char mode[8];
    bool spinning = cmdline_value("hostile.mode", mode, sizeof mode) && strcmp(mode, "spin") == 0;
    const struct phase *phases = spinning ? spin : abuse;
    unsigned count = spinning ? 1 : sizeof abuse / sizeof abuse[0];
    rng ^= rdtsc() | 1;

    struct virtio_mmio_slot slots[VIRTIO_MMIO_MAX_SLOTS];
    unsigned found = virtio_mmio_discover(slots, VIRTIO_MMIO_MAX_SLOTS);
    uint64_t which = cmdline_number("hostile.slot", 0);
    if (which >= found) {
        kprintf("HOSTILE-FAIL no virtio-mmio device %lu in the DSDT (found %u)\n", which, found);
        poweroff();
        halt_forever();
    }
    slot = slots[which];
    setup();
    kprintf("HOSTILE-READY mode=%s features=0x%lx queue_size=%u ram_top=0x%lx ms=%lu reset=%u\n",
            spinning ? "spin" : "abuse", dev.features, vq.size, ram_top, phase_ms, resets_allowed ? 1u : 0u);

    for (uint64_t round = 1; rounds == 0 || round <= rounds; round++) {
        for (unsigned p = 0; p < count; p++) {
            if (!spinning) {
                recover(true);
            }
            deadline = tsc_us() + phase_ms * 1000;
            uint64_t ops = phases[p].run();
            uint32_t s = virtio_status(&dev);
            if (s & VIRTIO_STATUS_NEEDS_RESET) {
                needs_seen++;
            }
            kprintf("HOSTILE round=%lu phase=%s ops=%lu status=0x%x needs_reset=%u seen=%lu resets=%lu\n", round,
                    phases[p].name, ops, s, (s & VIRTIO_STATUS_NEEDS_RESET) ? 1u : 0u, needs_seen, resets);
            if (phases[p].run == phase_maximal) {
                kprintf("HOSTILE maximal valid=%lu ok=%lu\n", maximal_valid, maximal_ok);
            }
        }
    }
    kprintf("HOSTILE-DONE rounds=%lu resets=%lu\n", rounds, resets);
    poweroff();
    halt_forever();
}
