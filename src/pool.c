/* pool: see pool.h. */
#include "pool.h"

#include <stdlib.h>

#include "util.h"

struct pool {
	char		*name;
	enum pool_kind	 kind;
	int		 n;
	int		*gpu;		/* n entries: NVML / simulated index */
	int		*holder;	/* n entries: POOL_FREE or a holder */
};

struct pool *
pool_new(const char *name, enum pool_kind kind, int n, const int *gpu_index)
{
	struct pool *p;
	int i;

	ASSERT(name != NULL);
	ASSERT(n >= 0);
	p = xcalloc(1, sizeof(*p));
	p->name = xstrdup(name);
	p->kind = kind;
	p->n = n;
	p->gpu = xcalloc((size_t)n, sizeof(*p->gpu));
	p->holder = xcalloc((size_t)n, sizeof(*p->holder));
	for (i = 0; i < n; i++) {
		p->gpu[i] = gpu_index != NULL ? gpu_index[i] : i;
		p->holder[i] = POOL_FREE;
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
	return p->kind == POOL_CPU ? -1 : p->gpu[slot];
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
	return pool_held_by(p, POOL_FREE);
}

int
pool_held_by(const struct pool *p, int holder)
{
	int i, c = 0;

	for (i = 0; i < p->n; i++) {
		if (p->holder[i] == holder)
			c++;
	}
	return c;
}

int
pool_acquire(struct pool *p, int holder)
{
	int i;

	ASSERT(holder >= 0);
	for (i = 0; i < p->n; i++) {
		if (p->holder[i] == POOL_FREE) {
			p->holder[i] = holder;
			return i;
		}
	}
	return -1;
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
	p->holder[slot] = holder;
	return 0;
}

void
pool_release(struct pool *p, int slot)
{
	ASSERT(slot >= 0 && slot < p->n);
	p->holder[slot] = POOL_FREE;
}

static int
nonneg(int v)
{
	return v < 0 ? 0 : v;
}

/* Working copy of one claim during pool_allocate(). */
struct alloc {
	int	cap;		/* min(demand, max) */
	int	guar;		/* min(cap, owned) */
	int	share;
};

/*
 * Hands out up to *avail slots one at a time, each to the claim below its
 * limit (guar in the guarantee phase, cap after) with the lowest
 * weight/share ratio; ties go to the lower index.  In the guarantee phase
 * the weight is the whole grant; afterwards it is only what was granted
 * beyond the guarantee, because share weighs "the rest" (DESIGN §4): an
 * instance's owned slots must not count against its share of the rest.
 */
static void
fill(const struct alloc *a, size_t n, bool guarantee, int *grant,
    int *avail)
{
	long long wi, wb;
	size_t i, best;
	int limit;

	while (*avail > 0) {
		best = n;
		wb = 0;
		for (i = 0; i < n; i++) {
			limit = guarantee ? a[i].guar : a[i].cap;
			if (grant[i] >= limit)
				continue;
			wi = guarantee ? grant[i] : grant[i] - a[i].guar;
			if (wi < 0)
				wi = 0;
			/* wi/share[i] < wb/share[best], without division */
			if (best == n ||
			    wi * a[best].share < wb * a[i].share) {
				best = i;
				wb = wi;
			}
		}
		if (best == n)
			return;
		grant[best]++;
		(*avail)--;
	}
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
	a = xcalloc(n, sizeof(*a));
	for (i = 0; i < n; i++) {
		a[i].cap = nonneg(claims[i].demand);
		if (a[i].cap > nonneg(claims[i].max))
			a[i].cap = nonneg(claims[i].max);
		a[i].guar = nonneg(claims[i].owned);
		if (a[i].guar > a[i].cap)
			a[i].guar = a[i].cap;
		a[i].share = claims[i].share < 1 ? 1 : claims[i].share;
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
