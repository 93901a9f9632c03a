/*
 * The blk test guest (blk.c, with one file per larger mode): drives the first virtio-blk device of the DSDT (or
 * blk.slot=N) in the mode blk.mode= names, prints lines the host test checks, and powers off. A failure prints
 * "BLK-FAIL <reason>" and powers off too.
 */
#ifndef BLK_H
#define BLK_H

#include "virtio_blk.h"

/* Long enough for our software-nested KVM (about 10 us a VM exit) and a host under load. */
#define BLK_TIMEOUT_US 30000000ull
#define BLK_DMA_BYTES (4u << 20)

extern struct blk_dev blk;
extern struct blk_queue blk_queues[2];
/* Data buffers, page aligned; each mode carves what it needs. */
extern uint8_t blk_dma[BLK_DMA_BYTES];

/* Prints "BLK-FAIL <reason>" (and the result's name, for the second), powers off and halts. */
__attribute__((noreturn)) void blk_fail(const char *reason);
__attribute__((noreturn)) void blk_fail_result(const char *what, int result);
/* Powers off and halts (after a mode's last line). */
__attribute__((noreturn)) void blk_finish(void);
/* user_call for the request loops: a blk_fail at CPL 3 comes back here and is reported at CPL 0. */
uint64_t blk_user_call(uint64_t (*fn)(uint64_t), uint64_t arg);

/* Requests of per sectors each over sectors sectors from sector, as many in flight as the queue takes; returns
 * the first status that was not OK (or a BLK_E_ error), else VIRTIO_BLK_S_OK. */
int blk_batch(struct blk_queue *q, uint32_t type, uint64_t sector, uint8_t *buf, uint32_t sectors, uint32_t per);

/* n random 4 KiB reads over the whole disk on q, depth in flight (depth <= BLK_SLOTS), into 4 KiB buffers at
 * buffers + slot * 4 KiB; every status checked (blk_fail), the data not (blk_bench.c). */
void blk_random_reads(struct blk_queue *q, uint64_t n, unsigned depth, uint64_t *rng, uint8_t *buffers);

/* A small xorshift64 generator (Marsaglia, "Xorshift RNGs", 2003); the state must not be 0. */
uint64_t xorshift64(uint64_t *state);

void mode_mq(void);
void mode_mqbench(void);
void mode_hot(void);
void mode_bench(void);
void mode_faults(void);
void mode_enospc(void);
void mode_journal(void);

#endif
