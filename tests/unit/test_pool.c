/*
 * test_pool: the allocation, entitlement and reclaim tables (one cmocka
 * test per row), the slot and reservation bookkeeping, and seeded random
 * properties of allocation and reclaim run as a tick simulation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pool.h"
#include "util.h"

#define MAXC	4

/* A claim: holder is its index; held, demand, max, owned, share. */
#define C(h, d, m, o, s)	{ .held = (h), .demand = (d), .max = (m), \
				  .owned = (o), .share = (s) }
/* The same with locked slots. */
#define CL(h, d, m, o, s, l)	{ .held = (h), .demand = (d), .max = (m), \
				  .owned = (o), .share = (s), .locked = (l) }

/* A row of pool_allocate (want: the grants) or of pool_entitle (want:
 * the entitlements). */
struct row {
	const char	*name;
	int		 nslots;
	size_t		 n;
	struct pool_claim c[MAXC];
	int		 want[MAXC];
};

static const struct row rows[] = {
	{ "single: demand", 8, 1, { C(0, 3, 8, 0, 1) }, { 3 } },
	{ "single: capped by max", 8, 1, { C(0, 10, 4, 0, 1) }, { 4 } },
	{ "single: capped by nslots", 8, 1, { C(0, 10, 16, 0, 1) }, { 8 } },
	{ "single: no demand", 8, 1, { C(0, 0, 8, 0, 1) }, { 0 } },
	{ "equal shares split evenly", 8, 2,
	    { C(0, 8, 8, 0, 1), C(0, 8, 8, 0, 1) }, { 4, 4 } },
	{ "odd slot goes to the lower index", 7, 2,
	    { C(0, 8, 8, 0, 1), C(0, 8, 8, 0, 1) }, { 4, 3 } },
	{ "weights 3:1", 8, 2,
	    { C(0, 8, 8, 0, 3), C(0, 8, 8, 0, 1) }, { 6, 2 } },
	{ "weights 1:3", 8, 2,
	    { C(0, 8, 8, 0, 1), C(0, 8, 8, 0, 3) }, { 2, 6 } },
	{ "weights 1:2:2", 10, 3,
	    { C(0, 10, 10, 0, 1), C(0, 10, 10, 0, 2), C(0, 10, 10, 0, 2) },
	    { 2, 4, 4 } },
	{ "owned first, share splits the rest", 8, 2,
	    { C(0, 8, 8, 4, 1), C(0, 8, 8, 0, 1) }, { 6, 2 } },
	{ "owned on top of an equal share", 10, 2,
	    { C(0, 10, 10, 0, 1), C(0, 10, 10, 6, 1) }, { 2, 8 } },
	{ "owned needs demand", 8, 2,
	    { C(0, 8, 8, 0, 1), C(0, 0, 8, 4, 1) }, { 8, 0 } },
	{ "owned above demand guarantees only demand", 8, 2,
	    { C(0, 8, 8, 0, 1), C(0, 2, 8, 6, 1) }, { 6, 2 } },
	{ "owned oversubscribed", 6, 2,
	    { C(0, 8, 8, 6, 1), C(0, 8, 8, 6, 1) }, { 3, 3 } },
	{ "demand below fair share leaves the rest", 8, 2,
	    { C(0, 2, 8, 0, 1), C(0, 8, 8, 0, 1) }, { 2, 6 } },
	{ "max caps, the other takes the rest", 8, 2,
	    { C(0, 8, 2, 0, 1), C(0, 8, 8, 0, 1) }, { 2, 6 } },
	{ "both capped: slots stay free", 8, 2,
	    { C(0, 8, 2, 0, 1), C(0, 8, 3, 0, 1) }, { 2, 3 } },
	{ "held slots are not taken away", 8, 2,
	    { C(6, 8, 8, 0, 1), C(0, 8, 8, 0, 1) }, { 6, 2 } },
	{ "held slots not taken even for owned", 8, 2,
	    { C(8, 8, 8, 0, 1), C(0, 4, 8, 4, 1) }, { 8, 0 } },
	{ "held counts in the fair split", 8, 2,
	    { C(1, 8, 8, 0, 1), C(1, 8, 8, 0, 1) }, { 4, 4 } },
	{ "demand below held: may release", 8, 2,
	    { C(5, 2, 8, 0, 1), C(0, 8, 8, 0, 1) }, { 2, 6 } },
	{ "max below held: may release", 8, 2,
	    { C(5, 8, 3, 0, 1), C(0, 8, 8, 0, 1) }, { 3, 5 } },
	{ "holdings above nslots: kept, none added", 4, 2,
	    { C(3, 3, 8, 0, 1), C(3, 8, 8, 0, 1) }, { 3, 3 } },
	{ "zero slots", 0, 2,
	    { C(0, 8, 8, 2, 1), C(0, 8, 8, 0, 1) }, { 0, 0 } },
	{ "share below 1 reads as 1", 8, 2,
	    { C(0, 8, 8, 0, 0), C(0, 8, 8, 0, 1) }, { 4, 4 } },
	{ "negative inputs read as 0", 8, 2,
	    { C(-1, -3, 8, -2, 1), C(0, 8, -1, 0, 1) }, { 0, 0 } },
};

/* Checks got[] (n of them) against r->want[]; returns their sum. */
static int
check_want(const struct row *r, const int *got)
{
	int sum = 0;
	size_t i;

	for (i = 0; i < r->n; i++) {
		assert_int_equal(got[i], r->want[i]);
		sum += got[i];
	}
	return sum;
}

static void
test_row(void **state)
{
	const struct row *r = *state;
	int grant[MAXC];
	int sum, held = 0;
	size_t i;

	memset(grant, 0x55, sizeof(grant));
	pool_allocate(r->nslots, r->c, r->n, grant);
	sum = check_want(r, grant);
	for (i = 0; i < r->n; i++)
		held += r->c[i].held > 0 ? r->c[i].held : 0;
	/* Sum of grants within nslots whenever the holdings fit. */
	if (held <= r->nslots)
		assert_true(sum <= r->nslots);
}

/* Entitlement: held plays no part. */
static const struct row erows[] = {
	{ "ent: owned only", 8, 2,
	    { C(0, 3, 8, 3, 1), C(0, 5, 8, 5, 1) }, { 3, 5 } },
	{ "ent: shares 1:1:2", 8, 3,
	    { C(0, 8, 8, 0, 1), C(0, 8, 8, 0, 1), C(0, 8, 8, 0, 2) },
	    { 2, 2, 4 } },
	{ "ent: shares 1:1:2 of 16", 16, 3,
	    { C(0, 16, 16, 0, 1), C(0, 16, 16, 0, 1), C(0, 16, 16, 0, 2) },
	    { 4, 4, 8 } },
	{ "ent: owned, then shares split the rest", 8, 2,
	    { C(0, 8, 8, 4, 1), C(0, 8, 8, 0, 1) }, { 6, 2 } },
	{ "ent: max caps, the rest goes on", 8, 3,
	    { C(0, 8, 1, 0, 1), C(0, 8, 8, 0, 1), C(0, 8, 8, 0, 2) },
	    { 1, 3, 4 } },
	{ "ent: demand below owned", 8, 2,
	    { C(0, 1, 8, 4, 1), C(0, 8, 8, 0, 1) }, { 1, 7 } },
	{ "ent: held ignored", 4, 2,
	    { C(4, 4, 4, 0, 1), C(0, 4, 4, 2, 1) }, { 1, 3 } },
	{ "ent: owned above nslots cut fairly", 5, 2,
	    { C(0, 8, 8, 6, 1), C(0, 8, 8, 6, 1) }, { 3, 2 } },
	{ "ent: owned above nslots, shares weigh", 6, 2,
	    { C(0, 8, 8, 8, 1), C(0, 8, 8, 8, 2) }, { 2, 4 } },
	{ "ent: nobody wants", 4, 2,
	    { C(2, 0, 4, 2, 1), C(0, 0, 4, 0, 1) }, { 0, 0 } },
	{ "ent: zero slots", 0, 2,
	    { C(0, 8, 8, 2, 1), C(0, 8, 8, 0, 1) }, { 0, 0 } },
};

static void
test_erow(void **state)
{
	const struct row *r = *state;
	int ent[MAXC];

	memset(ent, 0x55, sizeof(ent));
	pool_entitle(r->nslots, r->c, r->n, ent);
	assert_true(check_want(r, ent) <= r->nslots);
}

#define MAXM	8
#define OWN	POOL_WHY_OWNED
#define SHR	POOL_WHY_SHARE
/* A move: donor, recipient, why. */
#define M(f, t, w)	{ .from = (f), .to = (t), .why = (w) }

struct rrow {
	const char	*name;
	int		 nslots;
	size_t		 n;
	struct pool_claim c[MAXC];
	size_t		 nmoves;
	struct pool_move m[MAXM];
};

static const struct rrow rrows[] = {
	{ "reclaim: owned from the one holding all", 4, 2,
	    { C(4, 4, 4, 0, 1), C(0, 2, 4, 2, 1) },
	    2, { M(0, 1, OWN), M(0, 1, OWN) } },
	{ "reclaim: share 1:1", 4, 2,
	    { C(4, 4, 4, 0, 1), C(0, 4, 4, 0, 1) },
	    2, { M(0, 1, SHR), M(0, 1, SHR) } },
	{ "reclaim: locked limits share moves", 4, 2,
	    { CL(4, 4, 4, 0, 1, 3), C(0, 4, 4, 0, 1) },
	    1, { M(0, 1, SHR) } },
	{ "reclaim: locked does not limit owned moves", 4, 2,
	    { CL(4, 4, 4, 0, 1, 4), C(0, 2, 4, 2, 1) },
	    2, { M(0, 1, OWN), M(0, 1, OWN) } },
	{ "reclaim: owned moves, locked stops the share part", 4, 2,
	    { CL(4, 4, 4, 0, 1, 4), C(0, 4, 4, 1, 1) },
	    1, { M(0, 1, OWN) } },
	{ "reclaim: owned deficits before share ones", 4, 3,
	    { C(4, 4, 4, 0, 1), C(0, 4, 4, 0, 1), C(0, 1, 4, 1, 1) },
	    2, { M(0, 2, OWN), M(0, 1, SHR) } },
	{ "reclaim: free slots cover the deficit", 4, 2,
	    { C(2, 4, 4, 0, 1), C(0, 4, 4, 0, 1) }, 0, { M(0, 0, OWN) } },
	{ "reclaim: free slots cover part", 4, 2,
	    { C(3, 4, 4, 0, 1), C(0, 4, 4, 0, 1) }, 1, { M(0, 1, SHR) } },
	{ "reclaim: free slots cover the owned part first", 4, 2,
	    { C(3, 4, 4, 0, 1), C(0, 4, 4, 1, 1) }, 1, { M(0, 1, SHR) } },
	/* idle workers kept for idle_timeout are above the holder's
	 * entitlement: they can be reclaimed */
	{ "reclaim: held beyond demand is reclaimable", 4, 2,
	    { C(4, 2, 4, 0, 1), C(0, 4, 4, 0, 1) }, 2,
	    { M(0, 1, SHR), M(0, 1, SHR) } },
	{ "reclaim: held without demand is reclaimable", 4, 2,
	    { C(2, 0, 4, 2, 1), C(2, 4, 4, 2, 1) }, 2,
	    { M(0, 1, SHR), M(0, 1, SHR) } },
	{ "reclaim: nobody above entitlement", 4, 2,
	    { C(2, 4, 4, 0, 1), C(2, 4, 4, 0, 1) }, 0, { M(0, 0, OWN) } },
	{ "reclaim: nobody short", 8, 2,
	    { C(6, 8, 8, 0, 1), C(2, 2, 8, 0, 1) }, 0, { M(0, 0, OWN) } },
	{ "reclaim: most above entitlement gives first", 8, 3,
	    { C(5, 8, 8, 0, 1), C(3, 8, 8, 0, 1), C(0, 8, 8, 0, 2) },
	    4, { M(0, 2, SHR), M(0, 2, SHR), M(1, 2, SHR), M(0, 2, SHR) } },
	{ "reclaim: equal surplus, larger ratio gives first", 8, 3,
	    { C(3, 8, 8, 0, 1), C(5, 8, 8, 0, 2), C(0, 8, 8, 0, 1) },
	    2, { M(0, 2, SHR), M(1, 2, SHR) } },
	{ "reclaim: largest deficit served first", 9, 3,
	    { C(7, 9, 9, 0, 1), C(2, 9, 9, 0, 1), C(0, 9, 9, 0, 1) },
	    4, { M(0, 2, SHR), M(0, 2, SHR), M(0, 1, SHR), M(0, 2, SHR) } },
	{ "reclaim: owned above nslots, moves to the fair cut", 4, 2,
	    { C(4, 4, 4, 4, 1), C(0, 4, 4, 4, 1) },
	    2, { M(0, 1, OWN), M(0, 1, OWN) } },
};

/*
 * pool_reclaim_for(), for each claim: the moves of the whole plan m[k]
 * that go to it, in order, and the entitlements pool_entitle() gives.
 */
static void
check_reclaim_for(int nslots, const struct pool_claim *c, size_t n,
    const struct pool_move *m, size_t k)
{
	struct pool_move mine[64];
	int ent[8], want[8];
	size_t me, i, j, got;

	assert_true(n <= ARRAY_LEN(ent) && k <= ARRAY_LEN(mine));
	pool_entitle(nslots, c, n, want);
	for (me = 0; me < n; me++) {
		got = pool_reclaim_for(nslots, c, n, me, mine,
		    ARRAY_LEN(mine), ent);
		for (i = 0, j = 0; i < k; i++) {
			if (m[i].to != me)
				continue;
			assert_true(j < got);
			assert_int_equal(mine[j].from, m[i].from);
			assert_int_equal(mine[j].to, me);
			assert_int_equal(mine[j].why, m[i].why);
			j++;
		}
		assert_int_equal(got, j);
		for (i = 0; i < n; i++)
			assert_int_equal(ent[i], want[i]);
		/* outmax bounds its own moves; NULL ent is fine */
		if (got > 1)
			assert_int_equal(pool_reclaim_for(nslots, c, n, me,
			    mine, 1, NULL), 1);
	}
}

static void
test_rrow(void **state)
{
	const struct rrow *r = *state;
	struct pool_move m[MAXM + 1];
	size_t i, k;

	k = pool_reclaim_plan(r->nslots, r->c, r->n, m, ARRAY_LEN(m));
	assert_int_equal(k, r->nmoves);
	for (i = 0; i < k; i++) {
		assert_int_equal(m[i].from, r->m[i].from);
		assert_int_equal(m[i].to, r->m[i].to);
		assert_int_equal(m[i].why, r->m[i].why);
	}
	/* outmax is respected, and the plan is a prefix of the full one */
	if (k > 1) {
		assert_int_equal(pool_reclaim_plan(r->nslots, r->c, r->n, m,
		    1), 1);
		assert_int_equal(m[0].from, r->m[0].from);
		assert_int_equal(m[0].to, r->m[0].to);
	}
	assert_int_equal(pool_reclaim_plan(r->nslots, r->c, r->n, NULL, 0),
	    0);
	check_reclaim_for(r->nslots, r->c, r->n, r->m, r->nmoves);
}

static void
test_allocate_none(void **state)
{
	(void)state;
	pool_allocate(8, NULL, 0, NULL);
	pool_entitle(8, NULL, 0, NULL);
	assert_int_equal(pool_reclaim_plan(8, NULL, 0, NULL, 0), 0);
}

static void
test_slots(void **state)
{
	struct pool *p;

	(void)state;
	p = pool_new("local", POOL_SIMULATED, 3, NULL);
	assert_string_equal(pool_name(p), "local");
	assert_int_equal(pool_kind(p), POOL_SIMULATED);
	assert_int_equal(pool_size(p), 3);
	assert_int_equal(pool_free_count(p), 3);
	assert_int_equal(pool_slot_gpu(p, 2), 2);

	assert_int_equal(pool_acquire(p, 7), 0);
	assert_int_equal(pool_acquire(p, 8), 1);
	assert_int_equal(pool_slot_holder(p, 0), 7);
	assert_int_equal(pool_slot_holder(p, 2), POOL_FREE);
	assert_int_equal(pool_held_by(p, 7), 1);
	assert_int_equal(pool_free_count(p), 1);

	pool_release(p, 0);
	assert_int_equal(pool_slot_holder(p, 0), POOL_FREE);
	assert_int_equal(pool_acquire(p, 8), 0);	/* lowest free */
	assert_int_equal(pool_held_by(p, 8), 2);
	assert_int_equal(pool_acquire(p, 9), 2);
	assert_int_equal(pool_acquire(p, 9), -1);	/* full */
	assert_int_equal(pool_free_count(p), 0);
	pool_release(p, 1);
	pool_release(p, 1);				/* already free */
	assert_int_equal(pool_free_count(p), 1);
	pool_free(p);
	pool_free(NULL);
}

static void
test_take(void **state)
{
	struct pool *p;

	(void)state;
	p = pool_new("gpus", POOL_GPU, 2, (const int[]){ 3, 1 });
	assert_int_equal(pool_slot_gpu(p, 0), 3);
	assert_int_equal(pool_slot_gpu(p, 1), 1);
	assert_int_equal(pool_take(p, 1, 4), 0);
	assert_int_equal(pool_take(p, 1, 4), 0);	/* again: same holder */
	assert_int_equal(pool_take(p, 1, 5), -1);	/* someone else's */
	assert_int_equal(pool_take(p, 2, 5), -1);	/* no such slot */
	assert_int_equal(pool_take(p, -1, 5), -1);
	assert_int_equal(pool_slot_holder(p, 1), 4);
	assert_int_equal(pool_acquire(p, 5), 0);
	assert_int_equal(pool_held_by(p, 4), 1);
	pool_free(p);
}

/* A reclaimed slot waits, once released, for the one it was reclaimed for. */
static void
test_reserve(void **state)
{
	struct pool *p;

	(void)state;
	p = pool_new("r", POOL_SIMULATED, 4, NULL);
	assert_int_equal(pool_slot_reserved(p, 0), POOL_FREE);
	assert_int_equal(pool_acquire(p, 1), 0);
	assert_int_equal(pool_acquire(p, 1), 1);
	pool_reserve(p, 1, 2);				/* being reclaimed */
	pool_reserve(p, 3, 2);				/* free */
	assert_int_equal(pool_slot_reserved(p, 1), 2);
	assert_int_equal(pool_slot_holder(p, 1), 1);
	assert_int_equal(pool_reserved_for(p, 2), 2);
	assert_int_equal(pool_free_count(p), 2);
	assert_int_equal(pool_available(p, 2), 2);
	assert_int_equal(pool_available(p, 3), 1);

	/* never another's reservation */
	assert_int_equal(pool_acquire(p, 3), 2);
	assert_int_equal(pool_acquire(p, 3), -1);
	assert_int_equal(pool_free_count(p), 1);
	assert_int_equal(pool_available(p, 3), 0);
	assert_int_equal(pool_available(p, 2), 1);

	/* own reservation; taking it clears it */
	assert_int_equal(pool_acquire(p, 2), 3);
	assert_int_equal(pool_slot_reserved(p, 3), POOL_FREE);
	assert_int_equal(pool_reserved_for(p, 2), 1);

	/* release keeps the reservation: not even the donor gets it back */
	pool_release(p, 1);
	assert_int_equal(pool_slot_reserved(p, 1), 2);
	assert_int_equal(pool_acquire(p, 1), -1);
	assert_int_equal(pool_available(p, 1), 0);
	assert_int_equal(pool_acquire(p, 2), 1);
	assert_int_equal(pool_reserved_for(p, 2), 0);

	/* own reservation before a lower unreserved slot */
	pool_release(p, 0);
	pool_release(p, 2);
	pool_reserve(p, 2, 4);
	assert_int_equal(pool_available(p, 4), 2);
	assert_int_equal(pool_acquire(p, 4), 2);
	assert_int_equal(pool_acquire(p, 4), 0);

	/* unreserve drops them all; POOL_FREE clears one */
	pool_release(p, 0);
	pool_release(p, 2);
	pool_reserve(p, 0, 5);
	pool_reserve(p, 2, 5);
	pool_reserve(p, 3, 5);				/* held by 2 */
	assert_int_equal(pool_reserved_for(p, 5), 3);
	assert_int_equal(pool_available(p, 6), 0);
	pool_reserve(p, 3, POOL_FREE);
	assert_int_equal(pool_reserved_for(p, 5), 2);
	pool_reserve(p, 2, 6);				/* replaces */
	assert_int_equal(pool_reserved_for(p, 5), 1);
	pool_unreserve(p, 5);
	assert_int_equal(pool_reserved_for(p, 5), 0);
	assert_int_equal(pool_slot_reserved(p, 0), POOL_FREE);
	assert_int_equal(pool_available(p, 7), 1);
	assert_int_equal(pool_acquire(p, 7), 0);

	/* take: clears a reservation for the taker, keeps another's */
	assert_int_equal(pool_take(p, 2, 7), 0);
	assert_int_equal(pool_slot_reserved(p, 2), 6);
	pool_release(p, 2);
	assert_int_equal(pool_take(p, 2, 6), 0);
	assert_int_equal(pool_slot_reserved(p, 2), POOL_FREE);
	pool_free(p);
}

static void
test_cpu_and_names(void **state)
{
	struct pool *p;

	(void)state;
	p = pool_new("cpu", POOL_CPU, 4, NULL);
	assert_int_equal(pool_slot_gpu(p, 3), -1);
	pool_free(p);
	p = pool_new("empty", POOL_GPU, 0, NULL);
	assert_int_equal(pool_size(p), 0);
	assert_int_equal(pool_free_count(p), 0);
	assert_int_equal(pool_acquire(p, 1), -1);
	pool_free(p);
	assert_string_equal(pool_kind_name(POOL_CPU), "cpu");
	assert_string_equal(pool_kind_name(POOL_GPU), "gpu");
	assert_string_equal(pool_kind_name(POOL_SIMULATED), "simulated");
}

/*
 * Properties over seeded random pools.  xorshift32 rather than rand(), so
 * that every libc runs the same cases.
 */
#define MAXP	5
#define NCASES	2000

static uint32_t
xs32(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* Uniform enough in [lo, hi]. */
static int
rnd(uint32_t *s, int lo, int hi)
{
	return lo + (int)(xs32(s) % (uint32_t)(hi - lo + 1));
}

static int
imin(int a, int b)
{
	return a < b ? a : b;
}

static int
cap_of(const struct pool_claim *c)
{
	return imin(c->demand, c->max);
}

static int
guar_of(const struct pool_claim *c)
{
	return imin(c->owned, cap_of(c));
}

/* 1-5 claims on 1-16 slots; sum(held) and sum(owned) within nslots. */
static size_t
random_case(uint32_t *s, int *nslots, struct pool_claim *c)
{
	int hleft, oleft;
	size_t i, n;

	*nslots = rnd(s, 1, 16);
	n = (size_t)rnd(s, 1, MAXP);
	hleft = oleft = *nslots;
	for (i = 0; i < n; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].holder = (int)i;
		c[i].demand = rnd(s, 0, *nslots + 2);
		c[i].max = rnd(s, 0, 3) == 0 ? rnd(s, 0, *nslots) : 16;
		c[i].owned = rnd(s, 0, 2) == 0 ? rnd(s, 0, oleft) : 0;
		c[i].share = rnd(s, 1, 4);
		c[i].held = rnd(s, 0, hleft);
		oleft -= c[i].owned;
		hleft -= c[i].held;
	}
	return n;
}

/* Allocation and entitlement of one case. */
static void
check_allocate_entitle(int nslots, const struct pool_claim *c, size_t n)
{
	int grant[MAXP], ent[MAXP];
	int gsum = 0, esum = 0, csum = 0, gusum = 0, nmore = 0;
	size_t i;

	pool_allocate(nslots, c, n, grant);
	pool_entitle(nslots, c, n, ent);
	for (i = 0; i < n; i++) {
		assert_true(grant[i] <= cap_of(&c[i]));
		assert_true(grant[i] >= imin(c[i].held, cap_of(&c[i])));
		assert_true(ent[i] >= guar_of(&c[i]));	/* owned honoured */
		assert_true(ent[i] <= cap_of(&c[i]));
		gsum += grant[i];
		esum += ent[i];
		csum += cap_of(&c[i]);
		gusum += guar_of(&c[i]);
		if (cap_of(&c[i]) > guar_of(&c[i]))
			nmore++;
	}
	assert_true(gsum <= nslots);
	assert_int_equal(esum, imin(nslots, csum));	/* work-conserving */
	/*
	 * No starvation: when what is left after the guarantees is enough
	 * for one slot each, every claim wanting more than its guarantee
	 * gets at least one slot beyond it (the first round of the fair
	 * share weighs everyone at 0).
	 */
	if (nslots - gusum >= nmore) {
		for (i = 0; i < n; i++) {
			if (cap_of(&c[i]) > guar_of(&c[i]))
				assert_true(ent[i] >= guar_of(&c[i]) + 1);
		}
	}
}

/*
 * One plan, checked against its rules: moves go from claims above their
 * entitlement to claims below it, never past it, owned moves first,
 * share moves within the unlocked slots; without locked slots the plan
 * reclaims exactly what the free slots leave uncovered.
 */
static size_t
check_plan(int nslots, const struct pool_claim *c, size_t n,
    struct pool_move *m, size_t mmax)
{
	int ent[MAXP], lvl[MAXP], got[MAXP], gave[MAXP];
	int deficit = 0, freeslots = nslots;
	bool anylocked = false, share = false;
	size_t i, k;

	pool_entitle(nslots, c, n, ent);
	for (i = 0; i < n; i++) {
		lvl[i] = c[i].held;
		freeslots -= lvl[i];
		if (lvl[i] < ent[i])
			deficit += ent[i] - lvl[i];
		got[i] = gave[i] = 0;
		if (c[i].locked > 0)
			anylocked = true;
	}
	k = pool_reclaim_plan(nslots, c, n, m, mmax);
	assert_true(k <= mmax);
	for (i = 0; i < k; i++) {
		assert_true(m[i].from < n && m[i].to < n);
		assert_true(m[i].from != m[i].to);
		if (m[i].why == POOL_WHY_SHARE)
			share = true;
		else
			assert_false(share);		/* owned first */
		gave[m[i].from]++;
		got[m[i].to]++;
		assert_int_equal(got[m[i].from], 0);	/* not both */
		assert_int_equal(gave[m[i].to], 0);
		assert_true(lvl[m[i].from] - gave[m[i].from] >=
		    ent[m[i].from]);
		assert_true(lvl[m[i].to] + got[m[i].to] <= ent[m[i].to]);
		if (m[i].why == POOL_WHY_SHARE)
			assert_true(gave[m[i].from] <=
			    lvl[m[i].from] - c[m[i].from].locked);
		if (m[i].why == POOL_WHY_OWNED)
			assert_true(lvl[m[i].to] + got[m[i].to] <=
			    guar_of(&c[m[i].to]));
	}
	assert_true((int)k <= (deficit > freeslots ? deficit - freeslots : 0));
	if (!anylocked && mmax >= (size_t)nslots)
		assert_int_equal(k, deficit > freeslots ?
		    deficit - freeslots : 0);
	return k;
}

/*
 * One controller tick: plan, hand over the moved slots, then allocate;
 * held becomes the grant.  Returns whether anything changed.
 */
static bool
tick(int nslots, struct pool_claim *c, size_t n)
{
	struct pool_move m[32];
	int grant[MAXP], sum = 0;
	bool changed;
	size_t i, k;

	k = check_plan(nslots, c, n, m, ARRAY_LEN(m));
	for (i = 0; i < k; i++) {
		c[m[i].from].held--;
		c[m[i].to].held++;
	}
	changed = k > 0;
	pool_allocate(nslots, c, n, grant);
	for (i = 0; i < n; i++) {
		if (grant[i] != c[i].held)
			changed = true;
		c[i].held = grant[i];
		c[i].locked = 0;
		sum += grant[i];
	}
	assert_true(sum <= nslots);			/* never over */
	return changed;
}

/* Ticks until nothing changes; returns how many ticks changed something. */
static int
settle(int nslots, struct pool_claim *c, size_t n)
{
	int t, ent[MAXP];
	size_t i;

	for (t = 0; t < nslots + 5; t++) {
		if (!tick(nslots, c, n))
			break;
	}
	assert_true(t < nslots + 5);
	pool_entitle(nslots, c, n, ent);
	for (i = 0; i < n; i++)
		assert_int_equal(c[i].held, ent[i]);
	assert_false(tick(nslots, c, n));		/* no flapping */
	return t;
}

static void
test_random_properties(void **state)
{
	struct pool_claim c[MAXP];
	struct pool_move m[8], all[64];
	uint32_t seed = 0x9e3779b9u;
	int nslots, t, worst = 0;
	size_t i, n, k, nm;

	(void)state;
	for (k = 0; k < NCASES; k++) {
		n = random_case(&seed, &nslots, c);
		check_allocate_entitle(nslots, c, n);
		check_plan(nslots, c, n, m, (size_t)rnd(&seed, 0, 8));
		for (i = 0; i < n; i++)
			c[i].locked = rnd(&seed, 0, c[i].held);
		nm = pool_reclaim_plan(nslots, c, n, all, ARRAY_LEN(all));
		check_reclaim_for(nslots, c, n, all, nm);
		tick(nslots, c, n);			/* locked: may stall */
		t = settle(nslots, c, n);
		if (t > worst)
			worst = t;
	}
	/* Moves and allocation together settle a pool in one tick. */
	assert_true(worst <= 1);
}

/* Shares 1:1:2 settle on 1:1:2 of the pool from any holdings. */
static void
test_random_shares_112(void **state)
{
	static const int size[] = { 16, 8 };
	struct pool_claim c[3];
	uint32_t seed = 12345;
	int left, k;
	size_t i, j;

	(void)state;
	for (j = 0; j < ARRAY_LEN(size); j++) {
		for (k = 0; k < 500; k++) {
			left = size[j];
			for (i = 0; i < 3; i++) {
				memset(&c[i], 0, sizeof(c[i]));
				c[i].demand = c[i].max = 16;
				c[i].share = i == 2 ? 2 : 1;
				c[i].held = rnd(&seed, 0, left);
				left -= c[i].held;
			}
			settle(size[j], c, 3);
			assert_true(abs(c[0].held - size[j] / 4) <= 1);
			assert_true(abs(c[1].held - size[j] / 4) <= 1);
			assert_true(abs(c[2].held - size[j] / 2) <= 1);
		}
	}
}

/*
 * The allocation as pool.h words it, one slot at a time: the claim below
 * its limit with the lowest weight/share, ties to the lower index; the
 * weight is the grant in the guarantee phase, what is beyond the
 * guarantee after.  pool.c hands out runs of slots; its grants must be
 * these, slot for slot.
 */
static int
imax(int a, int b)
{
	return a > b ? a : b;
}

/* cap_of and guar_of as pool.c reads them: negative inputs as 0. */
static int
cap0(const struct pool_claim *c)
{
	return imin(imax(c->demand, 0), imax(c->max, 0));
}

static int
guar0(const struct pool_claim *c)
{
	return imin(imax(c->owned, 0), cap0(c));
}

static void
one_at_a_time(int nslots, const struct pool_claim *c, size_t n,
    bool from_held, int *grant)
{
	long long wi, wb;
	size_t i, best;
	int phase, avail = nslots, lim;

	for (i = 0; i < n; i++) {
		grant[i] = from_held ? imin(imax(c[i].held, 0), cap0(&c[i])) :
		    0;
		avail -= grant[i];
	}
	for (phase = 0; phase < 2; phase++) {
		while (avail > 0) {
			best = n;
			wb = 0;
			for (i = 0; i < n; i++) {
				lim = phase == 0 ? guar0(&c[i]) :
				    cap0(&c[i]);
				if (grant[i] >= lim)
					continue;
				wi = phase == 0 ? grant[i] :
				    imax(grant[i] - guar0(&c[i]), 0);
				if (best == n || wi * imax(c[best].share, 1) <
				    wb * imax(c[i].share, 1)) {
					best = i;
					wb = wi;
				}
			}
			if (best == n)
				break;
			grant[best]++;
			avail--;
		}
	}
}

/* Seeded cases from 1 to 150 claims and up to 3,000 slots. */
static void
test_runs_are_one_at_a_time(void **state)
{
	struct pool_claim c[150];
	int want[150], got[150], nslots;
	uint32_t seed = 0x2545f491u;
	size_t i, n, k;

	(void)state;
	for (k = 0; k < 3000; k++) {
		bool big = k % 10 == 0;

		n = (size_t)rnd(&seed, 1, big ? 150 : 12);
		nslots = rnd(&seed, 0, big ? 3000 : 60);
		for (i = 0; i < n; i++) {
			memset(&c[i], 0, sizeof(c[i]));
			c[i].holder = (int)i;
			c[i].held = rnd(&seed, 0, 3) == 0 ? 0 :
			    rnd(&seed, 0, big ? 40 : 12);
			c[i].demand = rnd(&seed, -2, big ? 80 : 25);
			c[i].max = rnd(&seed, -1, big ? 70 : 20);
			c[i].owned = rnd(&seed, 0, 2) == 0 ? 0 :
			    rnd(&seed, -1, big ? 30 : 10);
			c[i].share = rnd(&seed, 0, 4) == 0 ?
			    rnd(&seed, -1, 1) : rnd(&seed, 1, 7);
		}
		one_at_a_time(nslots, c, n, true, want);
		pool_allocate(nslots, c, n, got);
		for (i = 0; i < n; i++)
			assert_int_equal(got[i], want[i]);
		one_at_a_time(nslots, c, n, false, want);
		pool_entitle(nslots, c, n, got);
		for (i = 0; i < n; i++)
			assert_int_equal(got[i], want[i]);
	}
}

/*
 * The kept counts, step by step: one row per operation on a pool of 4
 * slots, then holder 1's and holder 2's counts (held, claimed, reserved,
 * waiting, available) and what the pool has open (free, unreserved).
 */
enum cop { C_ACQ, C_TAKE, C_REL, C_RES, C_UNRES };

struct cnt {
	int	held, claimed, reserved, waiting, avail;
};

static void
test_counts_table(void **state)
{
	static const struct {
		const char	*name;
		enum cop	 op;
		int		 slot, holder;
		int		 ret;		/* acquire's slot, take's rc */
		struct cnt	 h[2];		/* holders 1 and 2 */
		int		 open;
	} steps[] = {
		{ "1 acquires", C_ACQ, 0, 1, 0,
		    { { 1, 1, 0, 0, 3 }, { 0, 0, 0, 0, 3 } }, 3 },
		{ "1 acquires again", C_ACQ, 0, 1, 1,
		    { { 2, 2, 0, 0, 2 }, { 0, 0, 0, 0, 2 } }, 2 },
		{ "1's slot reserved for 2", C_RES, 1, 2, 0,
		    { { 2, 1, 0, 0, 2 }, { 0, 1, 1, 0, 2 } }, 2 },
		{ "a free slot reserved for 2", C_RES, 3, 2, 0,
		    { { 2, 1, 0, 0, 1 }, { 0, 2, 2, 1, 2 } }, 1 },
		{ "1 released the reclaimed one", C_REL, 1, 0, 0,
		    { { 1, 1, 0, 0, 1 }, { 0, 2, 2, 2, 3 } }, 1 },
		{ "2 gets its lowest reserved", C_ACQ, 0, 2, 1,
		    { { 1, 1, 0, 0, 1 }, { 1, 2, 1, 1, 2 } }, 1 },
		{ "1 takes the open one", C_TAKE, 2, 1, 0,
		    { { 2, 2, 0, 0, 0 }, { 1, 2, 1, 1, 1 } }, 0 },
		{ "1 cannot take 2's", C_TAKE, 1, 1, -1,
		    { { 2, 2, 0, 0, 0 }, { 1, 2, 1, 1, 1 } }, 0 },
		{ "1 finds nothing", C_ACQ, 0, 1, -1,
		    { { 2, 2, 0, 0, 0 }, { 1, 2, 1, 1, 1 } }, 0 },
		{ "2's held slot reserved for 1", C_RES, 1, 1, 0,
		    { { 2, 3, 1, 0, 0 }, { 1, 1, 1, 1, 1 } }, 0 },
		{ "a reservation replaced", C_RES, 3, 1, 0,
		    { { 2, 4, 2, 1, 1 }, { 1, 0, 0, 0, 0 } }, 0 },
		{ "one cleared", C_RES, 1, POOL_FREE, 0,
		    { { 2, 3, 1, 1, 1 }, { 1, 1, 0, 0, 0 } }, 0 },
		{ "1 unreserves all", C_UNRES, 0, 1, 0,
		    { { 2, 2, 0, 0, 1 }, { 1, 1, 0, 0, 1 } }, 1 },
		{ "take keeps another's", C_RES, 0, 2, 0,
		    { { 2, 1, 0, 0, 1 }, { 1, 2, 1, 0, 1 } }, 1 },
		{ "its holder takes it again", C_TAKE, 0, 1, 0,
		    { { 2, 1, 0, 0, 1 }, { 1, 2, 1, 0, 1 } }, 1 },
		{ "released to its reservation", C_REL, 0, 0, 0,
		    { { 1, 1, 0, 0, 1 }, { 1, 2, 1, 1, 2 } }, 1 },
		{ "take of one's own clears it", C_TAKE, 0, 2, 0,
		    { { 1, 1, 0, 0, 1 }, { 2, 2, 0, 0, 1 } }, 1 },
		{ "a holder never seen", C_UNRES, 0, 9, 0,
		    { { 1, 1, 0, 0, 1 }, { 2, 2, 0, 0, 1 } }, 1 },
	};
	struct pool *p = pool_new("c", POOL_SIMULATED, 4, NULL);
	size_t i;
	int k, got;

	(void)state;
	for (i = 0; i < ARRAY_LEN(steps); i++) {
		got = 0;
		switch (steps[i].op) {
		case C_ACQ:
			got = pool_acquire(p, steps[i].holder);
			break;
		case C_TAKE:
			got = pool_take(p, steps[i].slot, steps[i].holder);
			break;
		case C_REL:
			pool_release(p, steps[i].slot);
			break;
		case C_RES:
			pool_reserve(p, steps[i].slot, steps[i].holder);
			break;
		case C_UNRES:
			pool_unreserve(p, steps[i].holder);
			break;
		}
		print_message("%s\n", steps[i].name);
		assert_int_equal(got, steps[i].ret);
		for (k = 0; k < 2; k++) {
			const struct cnt *w = &steps[i].h[k];

			assert_int_equal(pool_held_by(p, k + 1), w->held);
			assert_int_equal(pool_claimed_by(p, k + 1), w->claimed);
			assert_int_equal(pool_reserved_for(p, k + 1),
			    w->reserved);
			assert_int_equal(pool_waiting_for(p, k + 1),
			    w->waiting);
			assert_int_equal(pool_available(p, k + 1), w->avail);
		}
		assert_int_equal(pool_available(p, POOL_FREE), steps[i].open);
	}
	pool_free(p);
}

/* What pool_acquire() must pick, read slot by slot. */
static int
acquire_want(const struct pool *p, int holder)
{
	int i, pick = -1;

	for (i = 0; i < pool_size(p); i++) {
		if (pool_slot_holder(p, i) != POOL_FREE)
			continue;
		if (pool_slot_reserved(p, i) == holder)
			return i;
		if (pool_slot_reserved(p, i) == POOL_FREE && pick == -1)
			pick = i;
	}
	return pick;
}

#define BK_HOLDERS	40

/* Every count the pool keeps, against a recount of its slots. */
static void
check_counts(const struct pool *p, int nh)
{
	int free_n = 0, open_n = 0, slot, h, r, o;
	int held[BK_HOLDERS], claimed[BK_HOLDERS], res[BK_HOLDERS];
	int waiting[BK_HOLDERS];

	memset(held, 0, sizeof(held));
	memset(claimed, 0, sizeof(claimed));
	memset(res, 0, sizeof(res));
	memset(waiting, 0, sizeof(waiting));
	for (slot = 0; slot < pool_size(p); slot++) {
		o = pool_slot_holder(p, slot);
		r = pool_slot_reserved(p, slot);
		if (o == POOL_FREE)
			free_n++;
		else
			held[o]++;
		if (o == POOL_FREE && r == POOL_FREE)
			open_n++;
		if (r != POOL_FREE) {
			res[r]++;
			claimed[r]++;
			if (o == POOL_FREE)
				waiting[r]++;
		} else if (o != POOL_FREE)
			claimed[o]++;
	}
	assert_int_equal(pool_free_count(p), free_n);
	assert_int_equal(pool_held_by(p, POOL_FREE), free_n);
	assert_int_equal(pool_available(p, POOL_FREE), open_n);
	for (h = 0; h < nh; h++) {
		assert_int_equal(pool_held_by(p, h), held[h]);
		assert_int_equal(pool_claimed_by(p, h), claimed[h]);
		assert_int_equal(pool_reserved_for(p, h), res[h]);
		assert_int_equal(pool_waiting_for(p, h), waiting[h]);
		assert_int_equal(pool_available(p, h), open_n + waiting[h]);
	}
}

/*
 * The counts the pool keeps as it goes match its slots, read one by one,
 * through seeded random acquires, takes, releases and reservations, and
 * acquire picks what a reading of every slot would: on pools whose open
 * bitmap has one level (12, 64 slots), two (65, 300) and three (4,200),
 * with holders that first appear late (up to 39).
 */
static void
test_random_bookkeeping(void **state)
{
	static const struct {
		int	 n, holders, steps;
	} sizes[] = {
		{ 1, 3, 2000 }, { 12, 4, 20000 }, { 64, 6, 20000 },
		{ 65, 8, 20000 }, { 300, 20, 20000 },
		{ 4200, BK_HOLDERS, 20000 },
	};
	uint32_t seed = 0xdecafbadu;
	size_t z;
	int k, h, slot, nh, n;

	(void)state;
	for (z = 0; z < ARRAY_LEN(sizes); z++) {
		struct pool *p;

		n = sizes[z].n;
		p = pool_new("r", POOL_SIMULATED, n, NULL);
		for (k = 0; k < sizes[z].steps; k++) {
			/* more holders as it goes: the kept arrays grow */
			nh = 1 + (sizes[z].holders - 1) * k / sizes[z].steps;
			h = rnd(&seed, 0, nh - 1);
			slot = rnd(&seed, 0, n - 1);
			switch (rnd(&seed, 0, 6)) {
			case 0:
			case 1:
			case 2:
				slot = acquire_want(p, h);
				assert_int_equal(pool_acquire(p, h), slot);
				break;
			case 3:
				(void)pool_take(p, slot, h);
				break;
			case 4:
				pool_release(p, slot);
				break;
			case 5:
				if (pool_slot_holder(p, slot) != h)
					pool_reserve(p, slot, rnd(&seed, 0, 1) ?
					    h : POOL_FREE);
				break;
			default:
				if (rnd(&seed, 0, 3) == 0)
					pool_unreserve(p, h);
				else
					pool_release(p, slot);
				break;
			}
			if (n <= 300 || k % 97 == 0)
				check_counts(p, sizes[z].holders);
		}
		check_counts(p, sizes[z].holders);
		pool_free(p);
	}
}

#define TABLE(t, f)	{ (const void *)(t), ARRAY_LEN(t), sizeof((t)[0]), f }

/* pool_victim: one row per rule, each with the index it must pick. */
#define L(t)		{ .launching = true, .launched_ms = (t) }
#define R(t, b, by)	{ .launched_ms = (t), .busy = (b), .bytes = (by) }
#define TAKEN(t)	{ .launched_ms = (t), .taken = true }

static void
test_victim_table(void **state)
{
	static const struct {
		const char		*name;
		struct pool_candidate	 c[4];
		size_t			 n;
		bool			 share, holds;
		int			 want;
	} vrows[] = {
		{ "none", { R(0, 0, 0) }, 0, false, false, -1 },
		{ "launching first", { R(0, 0, 0), L(50), L(10) }, 3, false,
		    false, 1 },
		{ "idle before busy", { R(0, 3, 0), R(0, 0, 900) }, 2, false,
		    false, 1 },
		{ "fewest bytes", { R(0, 0, 900), R(0, 0, 100) }, 2, false,
		    false, 1 },
		{ "fewest busy at equal bytes", { R(0, 4, 100), R(0, 2, 100) },
		    2, false, false, 1 },
		{ "taken skipped", { TAKEN(0), R(0, 5, 900) }, 2, false, false,
		    1 },
		{ "last running keeps the data", { R(0, 0, 10), L(0) }, 2,
		    false, true, 1 },
		{ "last running, nothing held", { R(0, 0, 10) }, 1, false,
		    false, 0 },
		{ "last running, data held", { R(0, 0, 10) }, 1, false, true,
		    -1 },
		/* now 1000, scale_down_delay 500: launched at 600 is young */
		{ "share spares the young", { R(600, 0, 0), R(100, 2, 50) }, 2,
		    true, false, 1 },
		{ "owned takes the young", { R(600, 0, 0), R(100, 2, 50) }, 2,
		    false, false, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(vrows); i++) {
		int got = pool_victim(vrows[i].c, vrows[i].n, vrows[i].share,
		    vrows[i].holds, 500, 1000);

		if (got != vrows[i].want)
			fail_msg("%s: got %d, want %d", vrows[i].name, got,
			    vrows[i].want);
	}
}


int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_allocate_none),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_cpu_and_names),
		cmocka_unit_test(test_random_properties),
		cmocka_unit_test(test_random_shares_112),
		cmocka_unit_test(test_runs_are_one_at_a_time),
		cmocka_unit_test(test_counts_table),
		cmocka_unit_test(test_random_bookkeeping),
		cmocka_unit_test(test_victim_table),
	};
	/* Each row's first member is its name. */
	static const struct {
		const void	*rows;
		size_t		 n, size;
		CMUnitTestFunction f;
	} tables[] = {
		TABLE(rows, test_row),
		TABLE(erows, test_erow),
		TABLE(rrows, test_rrow),
	};
	struct CMUnitTest tests[ARRAY_LEN(rows) + ARRAY_LEN(erows) +
	    ARRAY_LEN(rrows) + ARRAY_LEN(fixed)];
	const char *row;
	size_t i, j, t = 0;

	for (j = 0; j < ARRAY_LEN(tables); j++) {
		for (i = 0; i < tables[j].n; i++) {
			row = (const char *)tables[j].rows + i * tables[j].size;
			memset(&tests[t], 0, sizeof(tests[t]));
			tests[t].name = *(const char *const *)(const void *)row;
			tests[t].test_func = tables[j].f;
			tests[t].initial_state = (void *)(uintptr_t)row;
			t++;
		}
	}
	for (i = 0; i < ARRAY_LEN(fixed); i++)
		tests[t++] = fixed[i];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
