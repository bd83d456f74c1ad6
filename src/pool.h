/*
 * pool: the slots of one pool (one GPU each, or one CPU slot per core where
 * there are no GPUs) and who holds each, plus the pure allocation that
 * decides how many slots each instance may hold.  No I/O.
 *
 * Holders are small integers chosen by the caller (instance ids); -1 means
 * free.
 */
#ifndef EDASK_POOL_H
#define EDASK_POOL_H

#include <stdbool.h>
#include <stddef.h>

#define POOL_FREE	(-1)

enum pool_kind {
	POOL_CPU,		/* no GPU: slot i is a CPU slot */
	POOL_GPU,		/* slot i is GPU gpu_index[i] (NVML) */
	POOL_SIMULATED,		/* --gpus N: slot i is simulated GPU i */
};

struct pool;

/* New pool of n slots; gpu_index may be NULL (slot i = index i). */
struct pool *pool_new(const char *name, enum pool_kind kind, int n,
    const int *gpu_index);
void pool_free(struct pool *p);				/* NULL: no-op */

const char *pool_name(const struct pool *p);		/* borrowed */
enum pool_kind pool_kind(const struct pool *p);
const char *pool_kind_name(enum pool_kind k);		/* "cpu" "gpu" "simulated" */
int pool_size(const struct pool *p);
/* GPU index for CUDA_VISIBLE_DEVICES, or -1 for a CPU slot. */
int pool_slot_gpu(const struct pool *p, int slot);
int pool_slot_holder(const struct pool *p, int slot);	/* POOL_FREE if free */
int pool_free_count(const struct pool *p);
int pool_held_by(const struct pool *p, int holder);

/* Takes the lowest free slot for holder; returns it, or -1 if none. */
int pool_acquire(struct pool *p, int holder);
/* Takes a given slot (re-adoption); 0, or -1 if held by someone else. */
int pool_take(struct pool *p, int slot, int holder);
void pool_release(struct pool *p, int slot);

/*
 * Allocation across the instances of one pool.  Each claim says what an
 * instance holds and wants; pool_allocate() writes to grant[i] how many
 * slots claim i may hold in total after this tick:
 *   1. each claim gets min(demand, owned) first (guaranteed slots),
 *   2. the remaining slots go to unmet demand by weighted max-min fairness
 *      (weight = share), one slot at a time to the claim with the lowest
 *      held/share ratio; ties go to the lower index,
 *   3. no claim gets more than max, nor more than its demand — but never
 *      less than it holds when slots are not short (allocation does not
 *      take slots away; reclaim is a separate, explicit step).
 * The sum of grants never exceeds nslots.
 */
struct pool_claim {
	int	holder;
	int	held;		/* slots held now (launching included) */
	int	demand;		/* desired workers */
	int	max;
	int	owned;
	int	share;		/* >= 1 */
};

void pool_allocate(int nslots, const struct pool_claim *claims, size_t n,
    int *grant);

#endif
