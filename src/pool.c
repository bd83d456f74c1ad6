/* pool: see pool.h. */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* What the pool keeps for each holder, indexed by holder. */
struct pool_count {
	int	held;		/* slots it holds */
	int	away;		/* of those, reserved for another holder */
	int	res;		/* slots reserved for it */
	int	res_free;	/* of those, free */
	int	res_head;	/* first slot of its reservation list, -1 */
};

/* Levels of the open-slot bitmap: 64^6 covers any int slot number. */
#define OPEN_LEVELS	6

struct pool {
	char		*name;
	enum pool_kind	 kind;
	int		 n;
	int		*gpu;		/* n entries: NVML / simulated index */
	int		*holder;	/* n entries: POOL_FREE or a holder */
	int		*reserved;	/* n entries: POOL_FREE or a holder */
	/*
	 * Kept as the columns change (slot_out, slot_in), so that what
	 * every tick asks costs nothing on a pool of thousands of slots:
	 */
	int		 nfree;		/* slots whose holder is POOL_FREE */
	int		 nreserved;	/* slots with a reservation */
	int		 nfree_res;	/* free slots with a reservation */
	struct pool_count *by;		/* nby entries, by holder */
	int		 nby;
	/* each holder's reserved slots, a doubly linked list */
	int		*res_next;	/* n entries, -1 ends */
	int		*res_prev;	/* n entries, -1 starts */
	/* open slots (free, reserved for no one) as a bitmap of
	 * OPEN_LEVELS at most: a bit of level l + 1 is set when word i of
	 * level l is not 0, so the lowest one is found in a few words */
	uint64_t	*open;
	int		 open_at[OPEN_LEVELS];	/* first word of each level */
	int		 nlevels;
};

/* Sets bit i of the open bitmap, and the bits above it that were not. */
static void
open_set(struct pool *p, int i)
{
	uint64_t *w;
	int l;

	for (l = 0; l < p->nlevels; l++) {
		w = &p->open[p->open_at[l] + i / 64];
		if (*w != 0) {
			*w |= (uint64_t)1 << (i % 64);
			return;
		}
		*w = (uint64_t)1 << (i % 64);
		i /= 64;
	}
}

/* Clears bit i of the open bitmap, and the bits above it left empty. */
static void
open_clear(struct pool *p, int i)
{
	uint64_t *w;
	int l;

	for (l = 0; l < p->nlevels; l++) {
		w = &p->open[p->open_at[l] + i / 64];
		*w &= ~((uint64_t)1 << (i % 64));
		if (*w != 0)
			return;
		i /= 64;
	}
}

/* The lowest open slot, or -1. */
static int
open_lowest(const struct pool *p)
{
	uint64_t w;
	int l, i = 0;

	if (p->nlevels == 0 || p->open[p->open_at[p->nlevels - 1]] == 0)
		return -1;
	for (l = p->nlevels; l-- > 0; ) {
		w = p->open[p->open_at[l] + i];
		i = i * 64 + __builtin_ctzll(w);
	}
	return i;
}

/* holder's counts, the array grown to hold them. */
static struct pool_count *
count_for(struct pool *p, int holder)
{
	int i, n;

	ASSERT(holder >= 0);
	if (holder >= p->nby) {
		n = holder + 1 > 2 * p->nby ? holder + 1 : 2 * p->nby;
		p->by = xrealloc(p->by, (size_t)n * sizeof(*p->by));
		for (i = p->nby; i < n; i++) {
			memset(&p->by[i], 0, sizeof(p->by[i]));
			p->by[i].res_head = -1;
		}
		p->nby = n;
	}
	return &p->by[holder];
}

/* holder's counts to read; NULL when it never held nor was reserved. */
static const struct pool_count *
count_of(const struct pool *p, int holder)
{
	return holder >= 0 && holder < p->nby ? &p->by[holder] : NULL;
}

/*
 * Every change of a slot's holder or reservation goes between these two:
 * slot_out takes the slot out of the counts, the reservation lists and
 * the bitmap as it is, slot_in puts it back as it has become.
 */
static void
slot_out(struct pool *p, int s)
{
	int h = p->holder[s], r = p->reserved[s];
	struct pool_count *rc;

	if (h == POOL_FREE)
		p->nfree--;
	else {
		p->by[h].held--;
		if (r != POOL_FREE)
			p->by[h].away--;
	}
	if (r == POOL_FREE) {
		if (h == POOL_FREE)
			open_clear(p, s);
		return;
	}
	rc = &p->by[r];
	p->nreserved--;
	rc->res--;
	if (h == POOL_FREE) {
		p->nfree_res--;
		rc->res_free--;
	}
	if (p->res_prev[s] != -1)
		p->res_next[p->res_prev[s]] = p->res_next[s];
	else
		rc->res_head = p->res_next[s];
	if (p->res_next[s] != -1)
		p->res_prev[p->res_next[s]] = p->res_prev[s];
}

static void
slot_in(struct pool *p, int s)
{
	int h = p->holder[s], r = p->reserved[s];
	struct pool_count *rc;

	if (h == POOL_FREE)
		p->nfree++;
	else {
		count_for(p, h)->held++;
		if (r != POOL_FREE)
			p->by[h].away++;
	}
	if (r == POOL_FREE) {
		if (h == POOL_FREE)
			open_set(p, s);
		return;
	}
	rc = count_for(p, r);
	p->nreserved++;
	rc->res++;
	if (h == POOL_FREE) {
		p->nfree_res++;
		rc->res_free++;
	}
	p->res_prev[s] = -1;
	p->res_next[s] = rc->res_head;
	if (rc->res_head != -1)
		p->res_prev[rc->res_head] = s;
	rc->res_head = s;
}

/* Sets slot s's holder and reservation, and what is kept of them. */
static void
slot_set(struct pool *p, int s, int holder, int reserved)
{
	slot_out(p, s);
	p->holder[s] = holder;
	p->reserved[s] = reserved;
	slot_in(p, s);
}

struct pool *
pool_new(const char *name, enum pool_kind kind, int n, const int *gpu_index)
{
	struct pool *p;
	int i, l, words, total = 0;

	ASSERT(name != NULL);
	ASSERT(n >= 0);
	p = xcalloc(1, sizeof(*p));
	p->name = xstrdup(name);
	p->kind = kind;
	p->n = n;
	p->gpu = xcalloc((size_t)n, sizeof(*p->gpu));
	p->holder = xcalloc((size_t)n, sizeof(*p->holder));
	p->reserved = xcalloc((size_t)n, sizeof(*p->reserved));
	p->res_next = xcalloc((size_t)n, sizeof(*p->res_next));
	p->res_prev = xcalloc((size_t)n, sizeof(*p->res_prev));
	for (words = n, l = 0; words > 1 || (l == 0 && n > 0); l++) {
		ASSERT(l < OPEN_LEVELS);
		words = (words + 63) / 64;
		p->open_at[l] = total;
		total += words;
	}
	p->nlevels = l;
	p->open = xcalloc((size_t)total + 1, sizeof(*p->open));
	p->nfree = n;
	for (i = 0; i < n; i++) {
		p->gpu[i] = gpu_index != NULL ? gpu_index[i] : i;
		p->holder[i] = POOL_FREE;
		p->reserved[i] = POOL_FREE;
		p->res_next[i] = p->res_prev[i] = -1;
		open_set(p, i);
	}
	return p;
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	free(p->name);
	free(p->gpu);
	free(p->holder);
	free(p->reserved);
	free(p->by);
	free(p->res_next);
	free(p->res_prev);
	free(p->open);
	free(p);
}

const char *
pool_name(const struct pool *p)
{
	return p->name;
}

enum pool_kind
pool_kind(const struct pool *p)
{
	return p->kind;
}

const char *
pool_kind_name(enum pool_kind k)
{
	switch (k) {
	case POOL_CPU:
		return "cpu";
	case POOL_GPU:
		return "gpu";
	case POOL_SIMULATED:
		return "simulated";
	case POOL_SLURM:
		return "slurm";
	}
	return "unknown";
}

int
pool_size(const struct pool *p)
{
	return p->n;
}

int
pool_slot_gpu(const struct pool *p, int slot)
{
	ASSERT(slot >= 0 && slot < p->n);
	return p->kind == POOL_CPU || p->kind == POOL_SLURM ? -1 :
	    p->gpu[slot];
}

int
pool_slot_holder(const struct pool *p, int slot)
{
	ASSERT(slot >= 0 && slot < p->n);
	return p->holder[slot];
}

int
pool_free_count(const struct pool *p)
{
	return p->nfree;
}

int
pool_available(const struct pool *p, int holder)
{
	const struct pool_count *c = count_of(p, holder);

	return p->nfree - p->nfree_res + (c != NULL ? c->res_free : 0);
}

int
pool_held_by(const struct pool *p, int holder)
{
	const struct pool_count *c = count_of(p, holder);

	if (holder == POOL_FREE)
		return p->nfree;
	return c != NULL ? c->held : 0;
}

int
pool_claimed_by(const struct pool *p, int holder)
{
	const struct pool_count *c = count_of(p, holder);

	ASSERT(holder >= 0);
	return c != NULL ? c->res + c->held - c->away : 0;
}

/*
 * A slot reserved for holder was reclaimed for it, so it goes first (the
 * lowest of its list); otherwise the lowest open one, from the bitmap.
 */
int
pool_acquire(struct pool *p, int holder)
{
	const struct pool_count *c = count_of(p, holder);
	int s, pick = -1;

	ASSERT(holder >= 0);
	if (c != NULL && c->res_free > 0) {
		for (s = c->res_head; s != -1; s = p->res_next[s])
			if (p->holder[s] == POOL_FREE && (pick == -1 ||
			    s < pick))
				pick = s;
	} else
		pick = open_lowest(p);
	if (pick != -1)
		slot_set(p, pick, holder, POOL_FREE);
	return pick;
}

/*
 * The slot number comes from saved state on re-adoption, so an unknown
 * slot is an error to report, not an invariant.  Taking a slot one
 * already holds succeeds.
 */
int
pool_take(struct pool *p, int slot, int holder)
{
	ASSERT(holder >= 0);
	if (slot < 0 || slot >= p->n)
		return -1;
	if (p->holder[slot] != POOL_FREE && p->holder[slot] != holder)
		return -1;
	slot_set(p, slot, holder, p->reserved[slot] == holder ? POOL_FREE :
	    p->reserved[slot]);
	return 0;
}

void
pool_release(struct pool *p, int slot)
{
	ASSERT(slot >= 0 && slot < p->n);
	slot_set(p, slot, POOL_FREE, p->reserved[slot]);
}

void
pool_reserve(struct pool *p, int slot, int holder)
{
	ASSERT(slot >= 0 && slot < p->n);
	ASSERT(holder >= 0 || holder == POOL_FREE);
	ASSERT(holder == POOL_FREE || p->holder[slot] != holder);
	slot_set(p, slot, p->holder[slot], holder);
}

/* Walks holder's list, not the pool. */
void
pool_unreserve(struct pool *p, int holder)
{
	const struct pool_count *c;
	int s;

	ASSERT(holder >= 0);
	while ((c = count_of(p, holder)) != NULL && (s = c->res_head) != -1)
		slot_set(p, s, p->holder[s], POOL_FREE);
}

int
pool_reserved_for(const struct pool *p, int holder)
{
	const struct pool_count *c = count_of(p, holder);

	ASSERT(holder >= 0);
	return c != NULL ? c->res : 0;
}

int
pool_waiting_for(const struct pool *p, int holder)
{
	const struct pool_count *c = count_of(p, holder);

	ASSERT(holder >= 0);
	return c != NULL ? c->res_free : 0;
}

int
pool_slot_reserved(const struct pool *p, int slot)
{
	ASSERT(slot >= 0 && slot < p->n);
	return p->reserved[slot];
}

static int
nonneg(int v)
{
	return v < 0 ? 0 : v;
}

/* Working copy of one claim during allocation. */
struct alloc {
	int	cap;		/* min(demand, max) */
	int	guar;		/* min(cap, owned) */
	int	share;
};

/* New array of n working copies; negative inputs read as 0, share as 1. */
static struct alloc *
alloc_new(const struct pool_claim *claims, size_t n)
{
	struct alloc *a;
	size_t i;

	a = xcalloc(n, sizeof(*a));
	for (i = 0; i < n; i++) {
		a[i].cap = nonneg(claims[i].demand);
		if (a[i].cap > nonneg(claims[i].max))
			a[i].cap = nonneg(claims[i].max);
		a[i].guar = nonneg(claims[i].owned);
		if (a[i].guar > a[i].cap)
			a[i].guar = a[i].cap;
		a[i].share = claims[i].share < 1 ? 1 : claims[i].share;
	}
	return a;
}

/* The working state of one fill(): claims below their limit, in a heap
 * ordered as fill() hands slots out. */
struct fillq {
	const struct alloc *a;
	const int	*grant;
	bool		 guarantee;
	size_t		*h;		/* claim indices */
	size_t		 n;
};

/* Claim i's weight: its whole grant in the guarantee phase, else what it
 * has beyond its guarantee. */
static long long
fill_weight(const struct fillq *q, size_t i)
{
	long long w = q->guarantee ? q->grant[i] :
	    q->grant[i] - q->a[i].guar;

	return w < 0 ? 0 : w;
}

/* Claim i gets the next slot before claim j: the lower weight/share
 * (compared without division), then the lower index. */
static bool
fill_before(const struct fillq *q, size_t i, size_t j)
{
	long long l = fill_weight(q, i) * q->a[j].share;
	long long r = fill_weight(q, j) * q->a[i].share;

	return l < r || (l == r && i < j);
}

static void
fill_down(struct fillq *q, size_t k)
{
	size_t c, t;

	for (;;) {
		c = 2 * k + 1;
		if (c >= q->n)
			return;
		if (c + 1 < q->n && fill_before(q, q->h[c + 1], q->h[c]))
			c++;
		if (!fill_before(q, q->h[c], q->h[k]))
			return;
		t = q->h[k];
		q->h[k] = q->h[c];
		q->h[c] = t;
		k = c;
	}
}

/*
 * How many slots in a row top claim b takes before claim j (the next in
 * line) would come first: while b's weight w stays at most
 * m = (w_j * share_b - (b < j ? 0 : 1)) / share_j.
 */
static long long
fill_run(const struct fillq *q, size_t b, size_t j)
{
	long long m, raw;

	m = fill_weight(q, j) * q->a[b].share - (b < j ? 0 : 1);
	m = m < 0 ? -1 : m / q->a[j].share;
	raw = q->guarantee ? q->grant[b] : q->grant[b] - q->a[b].guar;
	return m - raw + 1 > 1 ? m - raw + 1 : 1;
}

/*
 * The slots claim i takes, of those still below its limit, whose weight
 * would be under level * share (level >= 1): its weight is raw + t for
 * its t-th slot (raw: below 0 beyond the guarantee while the grant is
 * short of it, and the weight 0 then).
 */
static long long
fill_below(const struct fillq *q, size_t i, long long level)
{
	long long raw = q->guarantee ? q->grant[i] :
	    q->grant[i] - q->a[i].guar;
	long long rem = (q->guarantee ? q->a[i].guar : q->a[i].cap) -
	    q->grant[i];
	long long k = level * q->a[i].share - raw;

	if (k > rem)
		k = rem;
	return k < 0 ? 0 : k;
}

/*
 * Hands out up to *avail slots, each to the claim below its limit (guar
 * in the guarantee phase, cap after) with the lowest weight/share ratio;
 * ties go to the lower index.  In the guarantee phase the weight is the
 * whole grant; afterwards it is only what was granted beyond the
 * guarantee, because share weighs "the rest" (docs/design.md §4): an
 * instance's owned slots must not count against its share of the rest.
 *
 * That order, one slot at a time, is what the grants are.  When every
 * limit fits in *avail, the order does not matter.  Else the slots of
 * weight/share under the highest whole level that *avail covers come
 * first whatever the order, and are given at once (fill_below); the rest
 * is walked in runs: the first claim in line takes slots until the next
 * one would come first (fill_run), and a heap keeps the line.  So a pool
 * of thousands of slots costs about its claims, not slots times claims.
 */
static void
fill(const struct alloc *a, size_t n, bool guarantee, int *grant,
    int *avail)
{
	struct fillq q;
	long long want = 0, run, lo, hi, mid, got;
	size_t i, b, j;
	int limit;

	for (i = 0; i < n; i++) {
		limit = guarantee ? a[i].guar : a[i].cap;
		if (grant[i] < limit)
			want += limit - grant[i];
	}
	if (want <= *avail) {
		for (i = 0; i < n; i++) {
			limit = guarantee ? a[i].guar : a[i].cap;
			if (grant[i] < limit)
				grant[i] = limit;
		}
		*avail -= (int)want;
		return;
	}
	q.a = a;
	q.grant = grant;
	q.guarantee = guarantee;
	/* the highest level whose slots below fit: a weight never passes
	 * its limit, so hi = limit + 1 is over every claim's */
	lo = 0;
	hi = 1;
	for (i = 0; i < n; i++)
		if ((guarantee ? a[i].guar : a[i].cap) + 1 > hi)
			hi = (guarantee ? a[i].guar : a[i].cap) + 1;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		for (i = 0, got = 0; i < n && got <= *avail; i++)
			got += fill_below(&q, i, mid);
		if (got <= *avail)
			lo = mid;
		else
			hi = mid;
	}
	if (lo > 0) {
		for (i = 0; i < n; i++) {
			got = fill_below(&q, i, lo);
			grant[i] += (int)got;
			*avail -= (int)got;
		}
	}
	q.h = xcalloc(n + 1, sizeof(*q.h));
	q.n = 0;
	for (i = 0; i < n; i++)
		if (grant[i] < (guarantee ? a[i].guar : a[i].cap))
			q.h[q.n++] = i;
	for (i = q.n / 2; i-- > 0; )
		fill_down(&q, i);
	while (*avail > 0 && q.n > 0) {
		b = q.h[0];
		limit = guarantee ? a[b].guar : a[b].cap;
		run = limit - grant[b];
		if (run > *avail)
			run = *avail;
		if (q.n > 1) {
			j = q.n > 2 && fill_before(&q, q.h[2], q.h[1]) ?
			    q.h[2] : q.h[1];
			if (fill_run(&q, b, j) < run)
				run = fill_run(&q, b, j);
		}
		grant[b] += (int)run;
		*avail -= (int)run;
		if (grant[b] >= limit)
			q.h[0] = q.h[--q.n];
		fill_down(&q, 0);
	}
	free(q.h);
}

/*
 * Every claim starts from what it holds, cut to its demand and max: the
 * allocation never takes slots away from a claim that still wants them
 * (reclaim is a separate, explicit step), but a claim that wants fewer
 * than it holds is granted only its demand, so it may release.  What is
 * left of nslots goes first to the guarantees (owned), then to unmet
 * demand by weighted max-min fairness.  If the holdings alone already
 * exceed nslots (which a consistent pool cannot show), nothing is added
 * and the grants are those cut holdings.
 */
void
pool_allocate(int nslots, const struct pool_claim *claims, size_t n,
    int *grant)
{
	struct alloc *a;
	int avail, used = 0;
	size_t i;

	ASSERT(n == 0 || (claims != NULL && grant != NULL));
	a = alloc_new(claims, n);
	for (i = 0; i < n; i++) {
		grant[i] = nonneg(claims[i].held);
		if (grant[i] > a[i].cap)
			grant[i] = a[i].cap;
		used += grant[i];
	}
	avail = nslots - used;
	fill(a, n, true, grant, &avail);
	fill(a, n, false, grant, &avail);
	free(a);
}

/* Division from scratch: the guarantees, then the rest (fill() bounds both). */
static void
entitle(int nslots, const struct alloc *a, size_t n, int *ent)
{
	int avail = nslots;
	size_t i;

	for (i = 0; i < n; i++)
		ent[i] = 0;
	fill(a, n, true, ent, &avail);
	fill(a, n, false, ent, &avail);
}

void
pool_entitle(int nslots, const struct pool_claim *claims, size_t n, int *ent)
{
	struct alloc *a;

	ASSERT(n == 0 || (claims != NULL && ent != NULL));
	a = alloc_new(claims, n);
	entitle(nslots, a, n, ent);
	free(a);
}

/*
 * The recipient of the next move: the largest owned deficit, else the
 * largest deficit below entitlement; ties go to the lower index.  Returns
 * n if nobody is short.
 */
static size_t
reclaim_to(const struct alloc *r, size_t n, const int *lvl,
    enum pool_why *why)
{
	size_t i, best = n;
	int d, db = 0;

	for (i = 0; i < n; i++) {
		d = r[i].guar - lvl[i];
		if (d > db) {
			best = i;
			db = d;
		}
	}
	if (best != n) {
		*why = POOL_WHY_OWNED;
		return best;
	}
	for (i = 0; i < n; i++) {
		d = r[i].cap - lvl[i];
		if (d > db) {
			best = i;
			db = d;
		}
	}
	*why = POOL_WHY_SHARE;
	return best;
}

/*
 * The donor of the next move: the claim most above its entitlement; ties
 * go to the larger (held - guarantee) / share, then the higher index.  A
 * share move may not cut into the donor's locked slots.  Returns n if
 * nobody can give.
 */
static size_t
reclaim_from(const struct alloc *a, const int *ent, size_t n,
    const int *lvl, const int *unlocked, const int *given,
    enum pool_why why)
{
	long long wi, wb = 0;
	size_t i, best = n;
	int s, sb = 0;

	for (i = 0; i < n; i++) {
		s = lvl[i] - ent[i];
		if (s <= 0)
			continue;
		if (why == POOL_WHY_SHARE && given[i] >= unlocked[i])
			continue;
		wi = lvl[i] - a[i].guar;
		/* wi/share[i] >= wb/share[best], without division */
		if (best == n || s > sb || (s == sb &&
		    wi * a[best].share >= wb * a[i].share)) {
			best = i;
			sb = s;
			wb = wi;
		}
	}
	return best;
}

/*
 * lvl[i] is each claim's working level: what it holds (not cut to its
 * cap: idle slots kept past demand are reclaimable), plus what free slots
 * and earlier moves bring it,
 * less what it gave.  Free slots are handed out first by fill() itself,
 * with every limit cut to the entitlement, so that they go where
 * pool_allocate() will put them and never to a claim at or above its
 * entitlement; only the deficits left after that are reclaimed.  Since
 * recipients never pass their entitlement and donors never go below it,
 * no claim is both.
 *
 * With me < n, only the moves to claim me are written (outmax bounds
 * those), and the plan ends once me is at its entitlement: me only ever
 * receives, so no later move is its.  ent, when not NULL, gets the
 * entitlements (n entries).
 */
static size_t
reclaim_plan(int nslots, const struct pool_claim *claims, size_t n,
    size_t me, struct pool_move *out, size_t outmax, int *ent_out)
{
	struct alloc *a, *r;
	enum pool_why why;
	int *ent, *lvl, *unlocked, *given;
	int avail = nslots;
	size_t i, to, from, nout = 0;

	ASSERT(n == 0 || claims != NULL);
	ASSERT(outmax == 0 || out != NULL);
	a = alloc_new(claims, n);
	r = alloc_new(claims, n);
	ent = xcalloc(n, sizeof(*ent));
	lvl = xcalloc(n, sizeof(*lvl));
	unlocked = xcalloc(n, sizeof(*unlocked));
	given = xcalloc(n, sizeof(*given));
	entitle(nslots, a, n, ent);
	for (i = 0; i < n; i++) {
		lvl[i] = nonneg(claims[i].held);
		unlocked[i] = nonneg(lvl[i] - nonneg(claims[i].locked));
		avail -= lvl[i];
		r[i].cap = ent[i];
		if (r[i].guar > ent[i])
			r[i].guar = ent[i];
	}
	fill(r, n, true, lvl, &avail);
	fill(r, n, false, lvl, &avail);

	while (nout < outmax && (me >= n || lvl[me] < r[me].cap)) {
		to = reclaim_to(r, n, lvl, &why);
		if (to == n)
			break;
		from = reclaim_from(a, ent, n, lvl, unlocked, given, why);
		if (from == n)
			break;
		/*
		 * Entitlements cover the guarantees unless these exceed
		 * nslots, and then the share phase hands out nothing, so
		 * every deficit is an owned one: share moves never cut
		 * into a donor's guarantee.
		 */
		ASSERT(from != to);
		ASSERT(why == POOL_WHY_OWNED || lvl[from] > a[from].guar);
		if (me >= n || to == me) {
			out[nout].from = from;
			out[nout].to = to;
			out[nout].why = why;
			nout++;
		}
		lvl[from]--;
		given[from]++;
		lvl[to]++;
	}
	if (ent_out != NULL)
		for (i = 0; i < n; i++)
			ent_out[i] = ent[i];
	free(a);
	free(r);
	free(ent);
	free(lvl);
	free(unlocked);
	free(given);
	return nout;
}

size_t
pool_reclaim_plan(int nslots, const struct pool_claim *claims, size_t n,
    struct pool_move *out, size_t outmax)
{
	return reclaim_plan(nslots, claims, n, n, out, outmax, NULL);
}

size_t
pool_reclaim_for(int nslots, const struct pool_claim *claims, size_t n,
    size_t me, struct pool_move *out, size_t outmax, int *ent)
{
	ASSERT(me < n);
	return reclaim_plan(nslots, claims, n, me, out, outmax, ent);
}

int
pool_victim(const struct pool_candidate *c, size_t n, bool share,
    bool holds_results, int64_t scale_down_delay_ms, int64_t now_ms)
{
	size_t i, serving = 0;
	int best = -1;

	for (i = 0; i < n; i++)
		if (!c[i].launching)
			serving++;
	for (i = 0; i < n; i++) {
		const struct pool_candidate *w = &c[i], *b;

		if (w->taken)
			continue;
		if (!w->launching && serving <= 1 && holds_results)
			continue;
		if (share && now_ms - w->launched_ms < scale_down_delay_ms)
			continue;
		if (best < 0) {
			best = (int)i;
			continue;
		}
		b = &c[best];
		if (w->launching != b->launching) {
			if (w->launching)
				best = (int)i;
			continue;
		}
		if (w->launching) {
			if (w->launched_ms > b->launched_ms)
				best = (int)i;
			continue;
		}
		if ((w->busy > 0) != (b->busy > 0)) {
			if (w->busy == 0)
				best = (int)i;
			continue;
		}
		if (w->bytes < b->bytes ||
		    (w->bytes == b->bytes && w->busy < b->busy))
			best = (int)i;
	}
	return best;
}
