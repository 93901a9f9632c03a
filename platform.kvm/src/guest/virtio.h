/*
 * A virtio 1.x driver for the test guests: virtio-mmio devices found through the DSDT (virtio_mmio.c), the modern
 * (version 2) MMIO transport of virtio 1.x section 4.2 with the initialization of section 3.1 (virtio_mmio.c), and
 * split virtqueues of section 2.7 in static memory (virtqueue.c). Everything is polled unless a guest routes the
 * device's interrupt (virtio_irq_enable); nothing allocates. One CPU drives one queue; different queues of a device
 * may be driven by different CPUs at once.
 */
#ifndef VIRTIO_H
#define VIRTIO_H

#include "kit.h"

/* Table 4.1 "MMIO Device Register Layout" (virtio 1.x 4.2.2; the same offsets as linux/virtio_mmio.h). */
#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_VENDOR_ID 0x00c
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK 0x064
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LOW 0x080
#define REG_QUEUE_DESC_HIGH 0x084
#define REG_QUEUE_DRIVER_LOW 0x090
#define REG_QUEUE_DRIVER_HIGH 0x094
#define REG_QUEUE_DEVICE_LOW 0x0a0
#define REG_QUEUE_DEVICE_HIGH 0x0a4
#define REG_CONFIG_GENERATION 0x0fc
#define REG_CONFIG 0x100

/* ---- virtio_mmio.c: discovery ----------------------------------------------------------------------------------- */

#define VIRTIO_MMIO_MAX_SLOTS 8

/* A virtio-mmio window as the DSDT announces it: Device with _HID "LNRO0005" and a _CRS of Memory32Fixed plus an
 * Extended Interrupt descriptor (ACPI 6.5, 6.4.3.4 and 6.4.3.6). */
struct virtio_mmio_slot {
    uint64_t base;
    uint32_t size;
    uint32_t gsi;
    bool level;      /* the interrupt descriptor's Level (not Edge) trigger */
    bool active_low; /* and its ActiveLow polarity */
};

/* Fills slots (up to max) in DSDT order; returns how many were found. Prints a line for a malformed entry. */
unsigned virtio_mmio_discover(struct virtio_mmio_slot *slots, unsigned max);

/* ---- virtio_mmio.c: the transport ------------------------------------------------------------------------------ */

/* Device status bits (section 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

/* Reserved feature bits (section 6). */
#define VIRTIO_F_INDIRECT_DESC (1ull << 28)
#define VIRTIO_F_EVENT_IDX (1ull << 29)
#define VIRTIO_F_VERSION_1 (1ull << 32)

/* InterruptStatus bits (4.2.2): a used buffer, a configuration change. */
#define VIRTIO_INT_VRING 1u
#define VIRTIO_INT_CONFIG 2u

#define VIRTIO_MAX_QUEUES 8

struct virtq;

struct virtio_dev {
    struct virtio_mmio_slot slot;
    uint32_t device_id;
    uint64_t offered;    /* DeviceFeatures */
    uint64_t features;   /* what was negotiated */
    bool irq_mode;       /* completions are awaited by interrupt (virtio_irq_enable) */
    uint8_t vector;
    volatile uint64_t irqs;           /* interrupts taken with a non-zero InterruptStatus */
    volatile uint64_t spurious_irqs;  /* interrupts taken with InterruptStatus 0 */
    volatile uint64_t config_changes; /* InterruptStatus bit 1 seen */
    struct virtq *queues[VIRTIO_MAX_QUEUES];
};

/*
 * Section 3.1.1 up to FEATURES_OK: checks the magic value, version 2 and (unless want_id is 0) the device ID,
 * resets the device, sets ACKNOWLEDGE and DRIVER, reads DeviceFeatures, accepts VERSION_1 plus the bits of wanted
 * the device offers, and checks that FEATURES_OK stuck. Returns NULL, or why it failed (the device is then left
 * with FAILED set where it got that far). The caller reads the config, sets up queues and calls virtio_driver_ok.
 */
const char *virtio_init(struct virtio_dev *dev, const struct virtio_mmio_slot *slot, uint32_t want_id,
                        uint64_t wanted);
/* Writes 0 to Status and waits (up to about a second) until it reads 0 (4.2.3.1); false if it never did. */
bool virtio_reset(struct virtio_dev *dev);
/* Sets DRIVER_OK (3.1.1 step 8); returns NULL or why the device refused (NEEDS_RESET or FAILED set). */
const char *virtio_driver_ok(struct virtio_dev *dev);
/* Sets FAILED (3.1.1: "the driver ... can't proceed"). */
void virtio_fail(struct virtio_dev *dev);
uint32_t virtio_status(const struct virtio_dev *dev);
/* Whether the device asks to be reset (DEVICE_NEEDS_RESET, 2.1.2); one MMIO read. */
bool virtio_needs_reset(const struct virtio_dev *dev);

/* Config space (4.2.2.2: fields are read with accesses of their own width, 64-bit ones as two 32-bit halves). */
uint32_t virtio_config_generation(const struct virtio_dev *dev);
uint8_t virtio_config8(const struct virtio_dev *dev, unsigned offset);
uint16_t virtio_config16(const struct virtio_dev *dev, unsigned offset);
uint32_t virtio_config32(const struct virtio_dev *dev, unsigned offset);
/* A 64-bit field read under ConfigGeneration so that the halves belong together (2.4.1). */
uint64_t virtio_config64(const struct virtio_dev *dev, unsigned offset);

/*
 * Sets up queue index (4.2.3.2) with q's memory: size is the largest power of two no larger than QueueNumMax and
 * VIRTQ_MAX_SIZE (or max_size, if smaller and non-zero). Returns NULL or why not (no such queue, already live).
 */
const char *virtio_queue_setup(struct virtio_dev *dev, struct virtq *q, unsigned index, unsigned max_size);

/* Notifies the device of new buffers in queue index (4.2.3.3): one write of QueueNotify. */
void virtio_notify(const struct virtio_dev *dev, unsigned index);
/* Whether queue index reads back as ready (QueueReady, 4.2.2): false after a device-side reset of its queues. */
bool virtio_queue_ready(struct virtio_dev *dev, unsigned index);

/*
 * Interrupts: routes the device's GSI through the I/O APIC to vector on this CPU (trigger and polarity as the DSDT
 * says), installs the handler (reads InterruptStatus, writes InterruptACK, counts, EOI) and asks every set-up queue
 * for used-buffer interrupts; the caller needs idt_init and lapic_enable first. virtio_irq_disable masks the pin
 * and suppresses the interrupts again (polling).
 */
void virtio_irq_enable(struct virtio_dev *dev, uint8_t vector);
void virtio_irq_disable(struct virtio_dev *dev);

/* ---- virtqueue.c: split virtqueues (section 2.7) ------------------------------------------------------------- */

#define VIRTQ_MAX_SIZE 256

/* 2.7.5: a descriptor. */
struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u

/* 2.7.6 and 2.7.8: the avail ring's and the used ring's flags. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY 1u

/*
 * A split virtqueue with its three parts inline (2.7 table "Virtqueue Part Alignment": descriptor table 16, driver
 * area 2, device area 4). The driver area is flags, idx, ring[size], used_event and the device area flags, idx,
 * {id, len} ring[size], avail_event, so the event fields move with the negotiated size.
 */
struct virtq {
    struct virtq_desc desc[VIRTQ_MAX_SIZE] __attribute__((aligned(16)));
    uint16_t avail[2 + VIRTQ_MAX_SIZE + 1] __attribute__((aligned(4)));
    uint32_t used[1 + 2 * VIRTQ_MAX_SIZE + 1] __attribute__((aligned(4)));
    /* The driver's state. */
    struct virtio_dev *dev;
    uint16_t index;
    uint16_t size;
    bool event_idx;
    bool interrupts;        /* ask the device for used-buffer interrupts */
    uint16_t free_head;     /* the free descriptors, linked through next */
    uint16_t num_free;
    uint16_t avail_idx;     /* the driver's next avail index (published by virtq_kick) */
    uint16_t kicked_idx;    /* avail idx when virtq_kick last decided whether to notify */
    uint16_t last_used;     /* the next used entry to consume */
    uint16_t chain_len[VIRTQ_MAX_SIZE]; /* descriptors of the chain whose head is i; 0 if none in flight */
    void *cookie[VIRTQ_MAX_SIZE];
    /* Counters. */
    uint64_t notifies, kicks, completions;
};

/* Empties the rings and links every descriptor free; for virtio_queue_setup and after a device reset. */
void virtq_init(struct virtq *q, struct virtio_dev *dev, uint16_t index, uint16_t size);

/*
 * The buffers of a chain are given as descriptors of which only addr, len and the WRITE flag count (device-readable
 * ones first, 2.7.4.2). virtq_add copies n of them into the ring as one direct chain: returns the head, or -1 if
 * fewer than n descriptors are free. cookie comes back from virtq_get_used. Not yet visible to the device:
 * virtq_kick publishes.
 */
int virtq_add(struct virtq *q, const struct virtq_desc *bufs, unsigned n, void *cookie);
/* The same through one ring descriptor pointing at table, which holds the n buffers and becomes their indirect
 * table in place (2.7.5.3; needs VIRTIO_F_INDIRECT_DESC); the caller keeps it until the chain is used. */
int virtq_add_indirect(struct virtq *q, struct virtq_desc *table, unsigned n, void *cookie);

/* Publishes the avail index and notifies the device unless it said it does not need it (avail_event with
 * EVENT_IDX, 2.7.10; else VIRTQ_USED_F_NO_NOTIFY). */
void virtq_kick(struct virtq *q);

/* Whether the device has used a buffer the driver did not consume yet (plain memory reads, no MMIO). */
bool virtq_has_used(const struct virtq *q);

/*
 * Consumes one used buffer: 1 with *cookie and *len (bytes the device wrote) filled in, 0 if there is none, -1 if
 * the device put a bad head in the used ring (not a chain in flight) — a broken device.
 */
int virtq_get_used(struct virtq *q, void **cookie, uint32_t *len);

/* Asks for used-buffer interrupts (used_event = the next entry, or avail flags) or for none (2.7.7, 2.7.10). */
void virtq_set_interrupts(struct virtq *q, bool on);

/* Waits until the queue has a used buffer: spins on the used index, or in interrupt mode sleeps in HLT between
 * interrupts (then some periodic interrupt, such as the LAPIC timer, must wake it for the time-out to count).
 * Returns true when there is one, false after timeout_us or as soon as the device asks to be reset (Status is read
 * about every millisecond while polling; time_init first). */
bool virtq_wait(struct virtq *q, uint64_t timeout_us);

#endif
