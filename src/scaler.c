/* scaler: see scaler.h. */
#include "scaler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/*
 * Why a worker above desired is not a retirement candidate.  Only counts
 * and the extremes go into the hold message; it has to stay one line.
 */
struct tally {
	int	 launching;
	int	 busy;		/* idle_since_ms < 0 */
	int	 young;		/* idle, but not for idle_timeout yet */
	int64_t	 young_max_ms;	/* longest idle among the young */
	int	 gpu_busy;	/* idle long enough, GPU at gpu_idle_util+ */
	int	 gpu_min_util;	/* lowest utilization among those */
};

static void buf_append(char *buf, size_t size, const char *fmt, ...)
    PRINTF(3, 4);

static void
buf_append(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
}

static int
nonneg(int v)
{
	return v < 0 ? 0 : v;
}

/* Workers that count as capacity: launching or running, not retiring. */
static int
capacity_of(const struct scaler_input *in)
{
	size_t i;
	int n = 0;

	for (i = 0; i < in->nworkers; i++) {
		if (in->workers[i].state == SCALER_W_LAUNCHING ||
		    in->workers[i].state == SCALER_W_RUNNING)
			n++;
	}
	return n;
}

/*
 * Workers the tasks need at `threads` per worker.  `no-worker` tasks count
 * only when our workers offer GPUs: such tasks wait for a resource (GPU)
 * that no current worker has, and a CPU-only worker would not run them.
 * Sums in 64 bits so absurd scheduler counts cannot overflow.
 */
static int
need_for_tasks(const struct scaler_input *in)
{
	int64_t tasks, need;

	tasks = (int64_t)nonneg(in->queued) + nonneg(in->processing);
	if (in->gpus > 0)
		tasks += nonneg(in->no_worker);
	need = (tasks + in->threads - 1) / in->threads;
	return need > 0x7fffffff ? 0x7fffffff : (int)need;
}

/*
 * Clamps to [min, max]; where min > max (a pool smaller than min) min
 * wins, because the design never goes below min.
 */
static int
clamp_desired(int v, int min, int max)
{
	if (v > max)
		v = max;
	if (v < min)
		v = min;
	return v;
}

/*
 * A candidate is running, idle for idle_timeout, and, where its GPU
 * utilization is known, strictly under gpu_idle_util percent (so with
 * gpu_idle_util 0 only workers whose utilization is unknown qualify).
 * Non-candidates are counted in t for the hold message.
 */
static bool
is_candidate(const struct scaler_input *in, const struct scaler_worker *w,
    struct tally *t)
{
	int64_t idle;

	switch (w->state) {
	case SCALER_W_LAUNCHING:
		t->launching++;
		return false;
	case SCALER_W_RUNNING:
		break;
	default:
		return false;
	}
	if (w->idle_since_ms < 0) {
		t->busy++;
		return false;
	}
	idle = in->now_ms - w->idle_since_ms;
	if (idle < in->idle_timeout_ms) {
		if (t->young == 0 || idle > t->young_max_ms)
			t->young_max_ms = idle;
		t->young++;
		return false;
	}
	if (w->gpu_util >= 0 && w->gpu_util >= in->gpu_idle_util) {
		if (t->gpu_busy == 0 || w->gpu_util < t->gpu_min_util)
			t->gpu_min_util = w->gpu_util;
		t->gpu_busy++;
		return false;
	}
	return true;
}

/* Least data first, then the longest idle, then the lowest id. */
static int
cmp_retire(const void *a, const void *b)
{
	const struct scaler_worker *x = *(const struct scaler_worker *const *)a;
	const struct scaler_worker *y = *(const struct scaler_worker *const *)b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? -1 : 1;
	if (x->idle_since_ms != y->idle_since_ms)
		return x->idle_since_ms < y->idle_since_ms ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

/* Appends ", " between parts after the "N above desired kept: " head. */
static void
hold_part(char *buf, size_t size, bool *first)
{
	if (!*first)
		buf_append(buf, size, ", ");
	*first = false;
}

/*
 * One line saying why `kept` workers above desired stay: the counts of
 * workers that are not candidates, and the scale-down delay if it blocks.
 */
static void
hold_explain(const struct scaler_input *in, int kept, const struct tally *t,
    bool delayed, bool peak, char *buf, size_t size)
{
	char a[32], b[32];
	bool first = true;

	snprintf(buf, size, "%d above desired kept: ", kept);
	if (peak) {
		hold_part(buf, size, &first);
		buf_append(buf, size, "demand was %d %s ago (within %s, %s)",
		    in->recent_peak,
		    fmt_duration(in->now_ms - in->recent_peak_ms, a, sizeof(a)),
		    in->peak_window_ms == in->idle_timeout_ms ?
		    "idle_timeout" : "idle_timeout + scale_down_delay",
		    fmt_duration(in->peak_window_ms, b, sizeof(b)));
	}
	if (t->launching > 0) {
		hold_part(buf, size, &first);
		buf_append(buf, size, "%d launching", t->launching);
	}
	if (t->busy > 0) {
		hold_part(buf, size, &first);
		buf_append(buf, size, "%d busy", t->busy);
	}
	if (t->young > 0) {
		hold_part(buf, size, &first);
		buf_append(buf, size, "%d idle %s %s of %s", t->young,
		    t->young == 1 ? "only" : "at most",
		    fmt_duration(t->young_max_ms, a, sizeof(a)),
		    fmt_duration(in->idle_timeout_ms, b, sizeof(b)));
	}
	if (t->gpu_busy > 0) {
		hold_part(buf, size, &first);
		buf_append(buf, size, "%d GPU busy %s%d%% (idle < %d%%)",
		    t->gpu_busy, t->gpu_busy == 1 ? "" : ">= ",
		    t->gpu_min_util, in->gpu_idle_util);
	}
	if (delayed) {
		hold_part(buf, size, &first);
		buf_append(buf, size, "within scale_down_delay (%s of %s)",
		    fmt_duration(in->now_ms - in->last_scale_up_ms, a,
		    sizeof(a)),
		    fmt_duration(in->scale_down_delay_ms, b, sizeof(b)));
	}
}

/* How many of ncand candidates go: the running workers above floor.
 * Launching workers are capacity, but do not stand in for running ones:
 * retiring down to floor counting them could leave none registered (the
 * backend's trim takes the launching excess). */
static int
retire_count(int running, int floor, size_t ncand)
{
	int n = running - floor;

	if (n < 0)
		n = 0;
	return (size_t)n > ncand ? (int)ncand : n;
}

/*
 * Picks the workers to retire when capacity is above desired.  The scale-
 * down delay is checked first: right after a scale up the queue often
 * looks empty for a moment while new workers pick up tasks, and retiring
 * then would flap.
 */
static void
decide_down(const struct scaler_input *in, int capacity,
    struct scaler_decision *out)
{
	const struct scaler_worker **cand;
	struct tally t;
	size_t i, ncand = 0;
	int excess, lowest, nretire, running;
	bool delayed, peak = false;

	memset(&t, 0, sizeof(t));
	excess = capacity - out->desired;
	lowest = out->desired > in->min ? out->desired : in->min;
	/* a burst of a periodic load is due again: keep what it used */
	if (in->recent_peak > lowest) {
		lowest = in->recent_peak;
		peak = true;
	}
	delayed = in->last_scale_up_ms >= 0 &&
	    in->now_ms - in->last_scale_up_ms < in->scale_down_delay_ms;

	cand = xcalloc(in->nworkers, sizeof(*cand));
	for (i = 0; i < in->nworkers; i++) {
		if (is_candidate(in, &in->workers[i], &t))
			cand[ncand++] = &in->workers[i];
	}
	running = capacity - t.launching;
	nretire = delayed ? 0 : retire_count(running, lowest, ncand);
	/* said only where the peak kept a worker that would have gone */
	if (peak) {
		int floor = out->desired > in->min ? out->desired : in->min;
		int without = delayed ? 0 : retire_count(running, floor,
		    ncand);

		peak = without > nretire;
	}
	if (nretire > 0) {
		qsort(cand, ncand, sizeof(*cand), cmp_retire);
		out->retire = xcalloc((size_t)nretire, sizeof(*out->retire));
		for (i = 0; i < (size_t)nretire; i++)
			out->retire[i] = cand[i]->id;
		out->nretire = (size_t)nretire;
	}
	if (nretire < excess)
		hold_explain(in, excess - nretire, &t, delayed, peak,
		    out->hold, sizeof(out->hold));
	free(cand);
}

void
scaler_decide(const struct scaler_input *in, struct scaler_decision *out)
{
	int capacity, free_slots, want;

	ASSERT(in != NULL && out != NULL);
	ASSERT(in->threads >= 1);
	ASSERT(in->nworkers == 0 || in->workers != NULL);

	memset(out, 0, sizeof(*out));
	capacity = capacity_of(in);

	if (!in->observed) {
		/*
		 * Stale numbers must not move the cluster: hold what runs
		 * (within max), launch only up to min, retire nothing.
		 * demand reads as the capacity held.
		 */
		out->demand = capacity;
		out->desired = clamp_desired(capacity, in->min, in->max);
		snprintf(out->reason, sizeof(out->reason),
		    "scheduler not observed");
		if (capacity > out->desired)
			snprintf(out->hold, sizeof(out->hold),
			    "%d above desired kept: scheduler not observed",
			    capacity - out->desired);
	} else {
		/* Dask counts unrunnable tasks in its target since 2024:
		 * on a CPU-only instance with no_worker tasks, which a CPU
		 * worker would not run either, the tasks it can run are the
		 * whole demand */
		out->demand = need_for_tasks(in);
		if (in->adaptive_target > out->demand && !(in->gpus == 0 &&
		    in->no_worker > 0))
			out->demand = in->adaptive_target;
		out->desired = clamp_desired(out->demand, in->min, in->max);
		snprintf(out->reason, sizeof(out->reason),
		    "queued=%d processing=%d no_worker=%d target=%d%s",
		    in->queued, in->processing, in->no_worker,
		    in->adaptive_target,
		    in->gpus == 0 && in->no_worker > 0 ?
		    " (no_worker tasks need resources this instance's"
		    " workers lack)" : "");
	}

	want = out->desired - capacity;
	if (want > 0) {
		free_slots = nonneg(in->free_slots);
		out->launch = want < free_slots ? want : free_slots;
		out->pending = want - out->launch;
	} else if (want < 0 && in->observed) {
		decide_down(in, capacity, out);
	}
}

void
scaler_decision_free(struct scaler_decision *d)
{
	if (d == NULL)
		return;
	free(d->retire);
	d->retire = NULL;
	d->nretire = 0;
}


static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int64_t
scaler_auto_idle_ms(const int64_t *start_ms, size_t n)
{
	int64_t v[SCALER_START_COSTS], t;
	size_t i, k = 0;

	for (i = 0; i < n && k < SCALER_START_COSTS; i++)
		if (start_ms[i] >= 0)
			v[k++] = start_ms[i];
	if (k == 0)
		return SCALER_AUTO_IDLE_NONE_MS;
	qsort(v, k, sizeof(v[0]), cmp_i64);
	/* the middle one, or halfway between the two (without overflow) */
	t = k % 2 == 1 ? v[k / 2] :
	    v[k / 2 - 1] + (v[k / 2] - v[k / 2 - 1]) / 2;
	if (t > SCALER_AUTO_IDLE_MAX_MS / SCALER_AUTO_IDLE_FACTOR)
		return SCALER_AUTO_IDLE_MAX_MS;
	t *= SCALER_AUTO_IDLE_FACTOR;
	return t < SCALER_AUTO_IDLE_MIN_MS ? SCALER_AUTO_IDLE_MIN_MS : t;
}
