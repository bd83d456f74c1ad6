/*
 * pool: the slots of one pool (one GPU each, or one CPU slot per core where
 * there are no GPUs) and who holds each, plus the pure allocation that
 * decides how many slots each instance may hold.  No I/O.
 *
 * Holders are small integers chosen by the caller (instance ids); -1 means
 * free.  A slot may also carry a reservation for one holder: a slot
 * reclaimed from one instance for another is reserved for the recipient,
 * so that once the donor releases it nobody else (the donor included)
 * acquires it.
 *
 * Every question below about slots is answered from counts kept as slots
 * change (per holder, and a bitmap of the open slots), not by reading
 * the slots: a tick of a controller with thousands of slots asks them
 * many times.  Only pool_acquire() of a reserved slot and
 * pool_unreserve() walk anything: the holder's own reservations.
 */
#ifndef EDASK_POOL_H
#define EDASK_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_FREE	(-1)

enum pool_kind {
	POOL_CPU,		/* no GPU: slot i is a CPU slot */
	POOL_GPU,		/* slot i is GPU gpu_index[i] (NVML) */
	POOL_SIMULATED,		/* --gpus N: slot i is simulated GPU i */
	POOL_SLURM,		/* slot i is one Slurm job's GPUs, which
				   Slurm chooses: no index here */
};

struct pool;

/* New pool of n slots; gpu_index may be NULL (slot i = index i). */
struct pool *pool_new(const char *name, enum pool_kind kind, int n,
    const int *gpu_index);
void pool_free(struct pool *p);				/* NULL: no-op */

const char *pool_name(const struct pool *p);		/* borrowed */
enum pool_kind pool_kind(const struct pool *p);
/* "cpu" "gpu" "simulated" "slurm" */
const char *pool_kind_name(enum pool_kind k);
int pool_size(const struct pool *p);
/* GPU index for CUDA_VISIBLE_DEVICES, or -1 for a CPU or Slurm slot. */
int pool_slot_gpu(const struct pool *p, int slot);
int pool_slot_holder(const struct pool *p, int slot);	/* POOL_FREE if free */
/* Free slots, reserved or not. */
int pool_free_count(const struct pool *p);
/* Free slots holder could acquire: unreserved or reserved for holder. */
int pool_available(const struct pool *p, int holder);
int pool_held_by(const struct pool *p, int holder);
/*
 * Slots that count for holder in the sharing: those reserved for it (free,
 * or held by the instance they are reclaimed from), and those it holds
 * that are reserved for no one.  A slot with a reservation counts for its
 * reservation's holder, any other held one for its holder.
 */
int pool_claimed_by(const struct pool *p, int holder);

/*
 * Takes a free slot for holder: the lowest one reserved for holder, else
 * the lowest unreserved one, never one reserved for someone else.  The
 * slot's reservation is cleared.  Returns the slot, or -1 if none.
 */
int pool_acquire(struct pool *p, int holder);
/*
 * Takes a given slot (re-adoption); 0, or -1 if held by someone else.
 * Clears the slot's reservation if it was for holder, else keeps it.
 */
int pool_take(struct pool *p, int slot, int holder);
/* Frees the slot; its reservation stays (a reclaimed slot waits). */
void pool_release(struct pool *p, int slot);

/*
 * Reserves a slot, free or held by someone else (being reclaimed), for
 * holder; replaces any earlier reservation of that slot.  holder
 * POOL_FREE clears it.  Reserving a slot for its own holder is a bug.
 */
void pool_reserve(struct pool *p, int slot, int holder);
void pool_unreserve(struct pool *p, int holder);	/* all of holder's */
/* Slots reserved for holder (free or held by others). */
int pool_reserved_for(const struct pool *p, int holder);
/* Of those, the free ones: reclaimed, released, waiting for holder. */
int pool_waiting_for(const struct pool *p, int holder);
int pool_slot_reserved(const struct pool *p, int slot); /* POOL_FREE: none */

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
	int	locked;		/* held slots share reclaims may not take */
};

void pool_allocate(int nslots, const struct pool_claim *claims, size_t n,
    int *grant);

/*
 * Entitlement: what each claim would get, in ent[i], if the pool were
 * divided from scratch (held ignored): min(demand, max, owned) first, then
 * the rest by weighted max-min fairness as in pool_allocate(), each capped
 * at min(demand, max).  The sum never exceeds nslots; if the guarantees
 * alone exceed nslots they are cut fairly (lowest ratio first).
 */
void pool_entitle(int nslots, const struct pool_claim *claims, size_t n,
    int *ent);

/*
 * Reclaim planning: the one-slot moves that bring claims below their
 * entitlement up to it by taking from claims above theirs, for what free
 * slots cannot cover.  The caller carries them out gracefully and reserves
 * each slot for its recipient.  Here held counts everything attributable
 * to a claim: slots held, reserved for it and in flight towards it, less
 * slots it is already giving away.  Held beyond min(demand, max) (idle
 * workers an instance keeps for its idle_timeout) is above entitlement
 * like any other, so it can be reclaimed at once by a claim that needs it.
 *
 *   - Free slots are assumed to go to the deficits first, in
 *     pool_allocate()'s order (owned deficits, then the fair order).
 *   - Each move serves the recipient with the largest owned deficit
 *     (POOL_WHY_OWNED), else the largest deficit below entitlement
 *     (POOL_WHY_SHARE); ties go to the lower index.
 *   - It takes from the donor most above its entitlement; ties go to the
 *     larger (held - guarantee) / share, then the higher index.  No donor
 *     goes below its entitlement (so never below its own guarantee unless
 *     the guarantees exceed nslots: then every deficit is an owned one),
 *     nor gives more than held - locked slots in all for share moves.
 *   - A claim is never both donor and recipient.
 *
 * Writes at most outmax moves to out (in order) and returns how many.
 */
enum pool_why {
	POOL_WHY_OWNED,		/* recipient is below its owned slots */
	POOL_WHY_SHARE,		/* recipient is below its fair share */
};

struct pool_move {		/* one slot */
	size_t		from;	/* claim index of the donor */
	size_t		to;	/* claim index of the recipient */
	enum pool_why	why;
};

size_t pool_reclaim_plan(int nslots, const struct pool_claim *claims,
    size_t n, struct pool_move *out, size_t outmax);
/*
 * The moves of that plan whose recipient is claim me, in order, at most
 * outmax of them; the plan is not carried on once me is at its
 * entitlement.  ent (n entries), when not NULL, gets the entitlements it
 * planned with, as pool_entitle() gives them.  For the instance that
 * waits: it carries out only its own moves.
 */
size_t pool_reclaim_for(int nslots, const struct pool_claim *claims,
    size_t n, size_t me, struct pool_move *out, size_t outmax, int *ent);

/*
 * The donor's worker a reclaim takes, among its candidates: a worker
 * launching or running, not reclaimed already, on a slot reserved for no
 * one.  Not the only running one while the donor holds results (their
 * data would have nowhere to go: Dask refuses the retirement, and the
 * grace would end with it lost).  For a share move, not one launched
 * within scale_down_delay_ms of now (the donor just wanted it).  Then a
 * launching one first (the newest: furthest from serving), else an idle
 * one first, then the fewest bytes, then the fewest busy tasks.  Returns
 * the index in c[], or -1 when none qualifies.  Pure: time comes in.
 */
struct pool_candidate {
	bool	 launching;	/* else running */
	bool	 taken;		/* reclaimed already, or its slot reserved */
	int64_t	 launched_ms;
	int	 busy;
	int64_t	 bytes;
};

int pool_victim(const struct pool_candidate *c, size_t n, bool share,
    bool holds_results, int64_t scale_down_delay_ms, int64_t now_ms);

#endif
