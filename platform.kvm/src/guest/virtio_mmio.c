/*
 * The virtio-mmio transport, version 2 (virtio 1.x section 4.2): finding the windows in the DSDT, the device
 * initialization of section 3.1.1, queue set-up (4.2.3.2), notifications (4.2.3.3) and interrupts (4.2.3.4) through
 * the I/O APIC. Registers are read and written 32 bits wide and aligned (4.2.2.2); config space with accesses of
 * each field's own width.
 */
#include "virtio.h"

#define MAGIC 0x74726976u /* "virt", little-endian */
#define MODERN_VERSION 2
#define RESET_TIMEOUT_US 1000000

/* The _HID of a virtio-mmio device (the Linux virtio-mmio ACPI binding) and the resource descriptors of its _CRS
 * (ACPI 6.5, 6.4.3.4 Memory32Fixed: tag 0x86, length 9; 6.4.3.6 Extended Interrupt: tag 0x89, length 6 for one
 * interrupt). */
#define VIRTIO_MMIO_HID "LNRO0005"
#define HID_LEN 8
#define MEMORY32_FIXED_LEN 12
#define EXT_INTERRUPT_LEN 9
#define EXT_INT_EDGE 0x02
#define EXT_INT_ACTIVE_LOW 0x04
#define DSDT_MAX_LEN (1u << 20)
#define FOUR_GIB (1ull << 32)

static uint32_t le32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The first offset in [from, to) where the n bytes of s start, or to. */
static uint32_t find_bytes(const uint8_t *t, uint32_t from, uint32_t to, const void *s, uint32_t n) {
    for (uint32_t i = from; i + n <= to; i++) {
        if (memcmp(t + i, s, n) == 0) {
            return i;
        }
    }
    return to;
}

/* A string constant "LNRO0005" in AML: StringPrefix 0x0D, the characters, NUL (ACPI 6.5, 20.2.3). */
static uint32_t find_hid(const uint8_t *t, uint32_t from, uint32_t len) {
    for (uint32_t i = find_bytes(t, from, len, VIRTIO_MMIO_HID, HID_LEN); i < len;
         i = find_bytes(t, i + 1, len, VIRTIO_MMIO_HID, HID_LEN)) {
        if (i > 0 && t[i - 1] == 0x0D && i + HID_LEN < len && t[i + HID_LEN] == 0) {
            return i;
        }
    }
    return len;
}

/* Reads the window and the interrupt from the descriptors after a device's _HID and before the next one's. */
static bool parse_device(const uint8_t *t, uint32_t from, uint32_t to, struct virtio_mmio_slot *slot) {
    static const uint8_t mem_tag[3] = {0x86, 0x09, 0x00};
    static const uint8_t int_tag[3] = {0x89, 0x06, 0x00};
    uint32_t m = find_bytes(t, from, to, mem_tag, sizeof mem_tag);
    if (m + MEMORY32_FIXED_LEN > to) {
        return false;
    }
    uint32_t x = find_bytes(t, m + MEMORY32_FIXED_LEN, to, int_tag, sizeof int_tag);
    if (x + EXT_INTERRUPT_LEN > to || t[x + 4] != 1) { /* exactly one interrupt in the table */
        return false;
    }
    slot->base = le32_at(t + m + 4);
    slot->size = le32_at(t + m + 8);
    uint8_t flags = t[x + 3];
    slot->level = !(flags & EXT_INT_EDGE);
    slot->active_low = flags & EXT_INT_ACTIVE_LOW;
    slot->gsi = le32_at(t + x + 5);
    return slot->base != 0 && slot->size >= REG_CONFIG;
}

unsigned virtio_mmio_discover(struct virtio_mmio_slot *slots, unsigned max) {
    const struct acpi_info *a = acpi_init();
    if (!a->dsdt || a->dsdt + 36 > FOUR_GIB) {
        return 0;
    }
    const uint8_t *t = (const uint8_t *)(uintptr_t)a->dsdt;
    uint32_t len = le32_at(t + 4);
    if (memcmp(t, "DSDT", 4) != 0 || len < 36 || len > DSDT_MAX_LEN || a->dsdt + len > FOUR_GIB) {
        kprintf("virtio: no usable DSDT at 0x%lx\n", a->dsdt);
        return 0;
    }
    unsigned n = 0;
    for (uint32_t at = find_hid(t, 36, len); at < len && n < max;) {
        uint32_t next = find_hid(t, at + HID_LEN, len);
        if (parse_device(t, at + HID_LEN, next, &slots[n])) {
            n++;
        } else {
            kprintf("virtio: the " VIRTIO_MMIO_HID " device at DSDT offset %u has no usable _CRS\n", at);
        }
        at = next;
    }
    return n;
}

/* ---- registers ---------------------------------------------------------------------------------------------- */

static uint32_t reg_read(const struct virtio_dev *dev, unsigned reg) {
    return mmio_read32(dev->slot.base + reg);
}

static void reg_write(const struct virtio_dev *dev, unsigned reg, uint32_t value) {
    mmio_write32(dev->slot.base + reg, value);
}

uint32_t virtio_status(const struct virtio_dev *dev) {
    return reg_read(dev, REG_STATUS);
}

bool virtio_needs_reset(const struct virtio_dev *dev) {
    return reg_read(dev, REG_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static void add_status(const struct virtio_dev *dev, uint32_t bits) {
    reg_write(dev, REG_STATUS, reg_read(dev, REG_STATUS) | bits);
}

void virtio_fail(struct virtio_dev *dev) {
    add_status(dev, VIRTIO_STATUS_FAILED);
}

bool virtio_reset(struct virtio_dev *dev) {
    time_init();
    /* 4.2.3.1: writing 0 resets; "the driver ... SHOULD read Status until it returns 0" (4.2.2.1). */
    reg_write(dev, REG_STATUS, 0);
    uint64_t deadline = tsc_us() + RESET_TIMEOUT_US;
    while (reg_read(dev, REG_STATUS) != 0) {
        if (tsc_us() > deadline) {
            return false;
        }
        pit_delay_us(100);
    }
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        dev->queues[i] = NULL;
    }
    return true;
}

const char *virtio_init(struct virtio_dev *dev, const struct virtio_mmio_slot *slot, uint32_t want_id,
                        uint64_t wanted) {
    dev->slot = *slot;
    dev->offered = 0;
    dev->features = 0;
    if (reg_read(dev, REG_MAGIC) != MAGIC) {
        return "bad magic value";
    }
    if (reg_read(dev, REG_VERSION) != MODERN_VERSION) {
        return "not a version 2 (modern) virtio-mmio device";
    }
    /* 4.2.3.1.1: a device ID of 0 is a placeholder the driver must ignore. */
    dev->device_id = reg_read(dev, REG_DEVICE_ID);
    if (dev->device_id == 0) {
        return "no device (device ID 0)";
    }
    if (want_id && dev->device_id != want_id) {
        return "unexpected device ID";
    }
    if (!virtio_reset(dev)) {
        return "Status did not read 0 after a reset";
    }
    /* 3.1.1 steps 2-4: ACKNOWLEDGE, DRIVER, then the device's features, 32 bits per DeviceFeaturesSel value. */
    add_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
    add_status(dev, VIRTIO_STATUS_DRIVER);
    reg_write(dev, REG_DEVICE_FEATURES_SEL, 0);
    uint64_t low = reg_read(dev, REG_DEVICE_FEATURES);
    reg_write(dev, REG_DEVICE_FEATURES_SEL, 1);
    uint64_t high = reg_read(dev, REG_DEVICE_FEATURES);
    dev->offered = high << 32 | low;
    /* 6.1: a modern device offers VERSION_1; without it there is no (modern) device to drive. */
    if (!(dev->offered & VIRTIO_F_VERSION_1)) {
        virtio_fail(dev);
        return "VERSION_1 not offered";
    }
    dev->features = dev->offered & (wanted | VIRTIO_F_VERSION_1);
    reg_write(dev, REG_DRIVER_FEATURES_SEL, 0);
    reg_write(dev, REG_DRIVER_FEATURES, (uint32_t)dev->features);
    reg_write(dev, REG_DRIVER_FEATURES_SEL, 1);
    reg_write(dev, REG_DRIVER_FEATURES, (uint32_t)(dev->features >> 32));
    /* Steps 5-6: FEATURES_OK, then read it back: the device clears it if it cannot work with these features. */
    add_status(dev, VIRTIO_STATUS_FEATURES_OK);
    if (!(reg_read(dev, REG_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
        virtio_fail(dev);
        return "FEATURES_OK did not stick";
    }
    return NULL;
}

const char *virtio_driver_ok(struct virtio_dev *dev) {
    add_status(dev, VIRTIO_STATUS_DRIVER_OK);
    uint32_t s = reg_read(dev, REG_STATUS);
    if (s & VIRTIO_STATUS_NEEDS_RESET) {
        return "the device needs a reset after DRIVER_OK";
    }
    if (!(s & VIRTIO_STATUS_DRIVER_OK)) {
        return "DRIVER_OK did not stick";
    }
    return NULL;
}

/* ---- config space ---------------------------------------------------------------------------------------------- */

uint32_t virtio_config_generation(const struct virtio_dev *dev) {
    return reg_read(dev, REG_CONFIG_GENERATION);
}

uint8_t virtio_config8(const struct virtio_dev *dev, unsigned offset) {
    return mmio_read8(dev->slot.base + REG_CONFIG + offset);
}

uint16_t virtio_config16(const struct virtio_dev *dev, unsigned offset) {
    return mmio_read16(dev->slot.base + REG_CONFIG + offset);
}

uint32_t virtio_config32(const struct virtio_dev *dev, unsigned offset) {
    return mmio_read32(dev->slot.base + REG_CONFIG + offset);
}

uint64_t virtio_config64(const struct virtio_dev *dev, unsigned offset) {
    for (;;) {
        uint32_t before = virtio_config_generation(dev);
        uint64_t low = virtio_config32(dev, offset);
        uint64_t high = virtio_config32(dev, offset + 4);
        if (virtio_config_generation(dev) == before) {
            return high << 32 | low;
        }
    }
}

/* ---- queues ------------------------------------------------------------------------------------------------- */

static void write64(const struct virtio_dev *dev, unsigned low_reg, uint64_t value) {
    reg_write(dev, low_reg, (uint32_t)value);
    reg_write(dev, low_reg + 4, (uint32_t)(value >> 32));
}

const char *virtio_queue_setup(struct virtio_dev *dev, struct virtq *q, unsigned index, unsigned max_size) {
    if (index >= VIRTIO_MAX_QUEUES) {
        return "queue index beyond VIRTIO_MAX_QUEUES";
    }
    /* 4.2.3.2 steps 1-3: select the queue, check it is not in use and how large it may be (0: no such queue). */
    reg_write(dev, REG_QUEUE_SEL, index);
    if (reg_read(dev, REG_QUEUE_READY) != 0) {
        return "queue already ready";
    }
    uint32_t num_max = reg_read(dev, REG_QUEUE_NUM_MAX);
    if (num_max == 0) {
        return "queue not available (QueueNumMax 0)";
    }
    uint32_t limit = VIRTQ_MAX_SIZE;
    if (max_size && max_size < limit) {
        limit = max_size;
    }
    if (num_max < limit) {
        limit = num_max;
    }
    uint16_t size = 1;
    while ((uint32_t)size * 2 <= limit) {
        size = (uint16_t)(size * 2);
    }
    /* Steps 4-6: the memory (zeroed), its size, and the three guest-physical addresses (identity mapped). */
    virtq_init(q, dev, (uint16_t)index, size);
    reg_write(dev, REG_QUEUE_NUM, size);
    write64(dev, REG_QUEUE_DESC_LOW, (uint64_t)(uintptr_t)q->desc);
    write64(dev, REG_QUEUE_DRIVER_LOW, (uint64_t)(uintptr_t)q->avail);
    write64(dev, REG_QUEUE_DEVICE_LOW, (uint64_t)(uintptr_t)q->used);
    /* Step 7. */
    reg_write(dev, REG_QUEUE_READY, 1);
    if (reg_read(dev, REG_QUEUE_READY) != 1) {
        return "QueueReady did not stick";
    }
    dev->queues[index] = q;
    virtq_set_interrupts(q, dev->irq_mode);
    return NULL;
}

void virtio_notify(const struct virtio_dev *dev, unsigned index) {
    reg_write(dev, REG_QUEUE_NOTIFY, index);
}

/* ---- interrupts -------------------------------------------------------------------------------------------- */

static struct virtio_dev *by_vector[256];

/* 4.2.3.4: read InterruptStatus, acknowledge those bits (which lets the level-triggered line fall), then EOI. */
static void on_interrupt(struct interrupt_frame *frame) {
    struct virtio_dev *dev = by_vector[frame->vector & 0xFF];
    if (dev) {
        uint32_t isr = reg_read(dev, REG_INTERRUPT_STATUS);
        if (isr) {
            reg_write(dev, REG_INTERRUPT_ACK, isr);
            dev->irqs++;
            if (isr & VIRTIO_INT_CONFIG) {
                dev->config_changes++;
            }
        } else {
            dev->spurious_irqs++;
        }
    }
    lapic_eoi();
}

static unsigned ioapic_pin(const struct virtio_dev *dev) {
    return dev->slot.gsi - acpi_init()->ioapic_gsi_base;
}

void virtio_irq_enable(struct virtio_dev *dev, uint8_t vector) {
    unsigned pin = ioapic_pin(dev);
    if (pin >= ioapic_pins()) {
        kprintf("virtio: GSI %u is beyond the I/O APIC's pins; staying with polling\n", dev->slot.gsi);
        return;
    }
    dev->vector = vector;
    by_vector[vector] = dev;
    idt_set_handler(vector, on_interrupt);
    dev->irq_mode = true;
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        if (dev->queues[i]) {
            virtq_set_interrupts(dev->queues[i], true);
        }
    }
    ioapic_route(pin, vector, lapic_id(), dev->slot.active_low, dev->slot.level, false);
}

void virtio_irq_disable(struct virtio_dev *dev) {
    if (!dev->irq_mode) {
        return;
    }
    ioapic_mask(ioapic_pin(dev), true);
    dev->irq_mode = false;
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        if (dev->queues[i]) {
            virtq_set_interrupts(dev->queues[i], false);
        }
    }
}

bool virtio_queue_ready(struct virtio_dev *dev, unsigned index) {
    reg_write(dev, REG_QUEUE_SEL, index);
    return reg_read(dev, REG_QUEUE_READY) == 1;
}
