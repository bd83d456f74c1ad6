/*
 * test_scaler: one table of ticks, each with its expected decision.  Every
 * row runs as its own cmocka test so a failure names the row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "scaler.h"
#include "util.h"

#define MAXW	8
#define NOW	100000		/* ms; every row is observed at t = 100s */

/* Workers: running idle since t (ms), launching, busy, retiring. */
#define RUN(i, t, b, u)	{ .id = (i), .state = SCALER_W_RUNNING,		\
			  .idle_since_ms = (t), .bytes = (b),		\
			  .gpu_util = (u) }
#define IDLE(i, b)	RUN(i, 0, b, -1)	/* idle for 100s */
#define BUSY(i)		RUN(i, -1, 0, -1)
#define LAUNCHING(i)	{ .id = (i), .state = SCALER_W_LAUNCHING,	\
			  .idle_since_ms = -1, .gpu_util = -1 }
#define RETIRING(i)	{ .id = (i), .state = SCALER_W_RETIRING,	\
			  .idle_since_ms = 0, .gpu_util = -1 }

/* The reason's note when no_worker tasks are left out of the demand. */
#define LACKS	" (no_worker tasks need resources this instance's workers lack)"

struct row {
	const char	*name;
	/* input; zero means the default noted in row_input() */
	int		 min, max, threads, gpus;
	bool		 unobserved;
	int		 target, queued, processing, no_worker;
	int		 free_slots;
	int64_t		 last_up;	/* ms; 0: never */
	int		 peak;		/* recent_peak */
	int64_t		 peak_at;	/* ms */
	size_t		 nw;
	struct scaler_worker w[MAXW];
	/* expected */
	int		 demand, desired, launch, pending;
	size_t		 nretire;
	int		 retire[MAXW];
	const char	*reason;	/* exact, or NULL: not checked */
	const char	*hold;		/* exact, or NULL: "" */
};

static const struct row rows[] = {
	{
		.name = "at min, nothing queued",
		.min = 1, .nw = 1, .w = { BUSY(1) },
		.demand = 0, .desired = 1,
		.reason = "queued=0 processing=0 no_worker=0 target=0",
	}, {
		.name = "burst clamped by max",
		.queued = 120, .processing = 4, .free_slots = 16,
		.demand = 124, .desired = 8, .launch = 8,
		.reason = "queued=120 processing=4 no_worker=0 target=0",
	}, {
		.name = "burst clamped by free slots",
		.queued = 120, .free_slots = 3,
		.demand = 120, .desired = 8, .launch = 3, .pending = 5,
	}, {
		.name = "burst with no free slot",
		.queued = 5, .free_slots = 0,
		.demand = 5, .desired = 5, .launch = 0, .pending = 5,
	}, {
		.name = "negative free slots read as none",
		.queued = 2, .free_slots = -1,
		.demand = 2, .desired = 2, .launch = 0, .pending = 2,
	}, {
		.name = "threads per worker, rounded up",
		.threads = 4, .queued = 7, .processing = 2, .free_slots = 8,
		.demand = 3, .desired = 3, .launch = 3,
	}, {
		.name = "launching workers count as capacity",
		.queued = 4, .free_slots = 8,
		.nw = 3, .w = { LAUNCHING(1), LAUNCHING(2), BUSY(3) },
		.demand = 4, .desired = 4, .launch = 1,
	}, {
		.name = "retiring workers are not capacity",
		.queued = 2, .free_slots = 8,
		.nw = 2, .w = { RETIRING(1), BUSY(2) },
		.demand = 2, .desired = 2, .launch = 1,
	}, {
		.name = "no_worker tasks count with GPU workers",
		.gpus = 1, .no_worker = 3, .free_slots = 8,
		.demand = 3, .desired = 3, .launch = 3,
		.reason = "queued=0 processing=0 no_worker=3 target=0",
	}, {
		.name = "no_worker tasks ignored for CPU-only workers",
		.gpus = -1, .no_worker = 3, .queued = 1, .free_slots = 8,
		.demand = 1, .desired = 1, .launch = 1,
		.reason = "queued=1 processing=0 no_worker=3 target=0" LACKS,
	}, {
		/* Dask since 2024 counts unrunnable tasks in its target */
		.name = "CPU-only: a target that counts no_worker tasks is "
		    "capped by the tasks it can run",
		.min = 1, .gpus = -1, .no_worker = 12, .target = 2,
		.free_slots = 8, .nw = 1, .w = { BUSY(1) },
		.demand = 0, .desired = 1, .launch = 0,
		.reason = "queued=0 processing=0 no_worker=12 target=2" LACKS,
	}, {
		.name = "CPU-only with no_worker tasks: the target still counts "
		    "up to the runnable tasks",
		.gpus = -1, .no_worker = 12, .queued = 6, .target = 9,
		.free_slots = 8, .nw = 1, .w = { BUSY(1) },
		.demand = 6, .desired = 6, .launch = 5,
	}, {
		.name = "adaptive target dominates",
		.target = 6, .queued = 2, .free_slots = 8,
		.demand = 6, .desired = 6, .launch = 6,
		.reason = "queued=2 processing=0 no_worker=0 target=6",
	}, {
		.name = "adaptive target clamped by max",
		.max = 4, .target = 9, .free_slots = 8,
		.demand = 9, .desired = 4, .launch = 4,
	}, {
		.name = "min above max: min wins",
		.min = 3, .max = 2, .free_slots = 8,
		.demand = 0, .desired = 3, .launch = 3,
	}, {
		.name = "idle timeout not reached (one)",
		.nw = 1, .w = { RUN(1, NOW - 12000, 0, -1) },
		.demand = 0, .desired = 0,
		.hold = "1 above desired kept: 1 idle only 12s of 30s",
	}, {
		.name = "idle timeout not reached (several)",
		.nw = 2, .w = { RUN(1, NOW - 20000, 0, -1),
		    RUN(2, NOW - 10000, 0, -1) },
		.demand = 0, .desired = 0,
		.hold = "2 above desired kept: 2 idle at most 20s of 30s",
	}, {
		.name = "idle exactly idle_timeout is a candidate",
		.nw = 1, .w = { RUN(1, NOW - 30000, 0, -1) },
		.demand = 0, .desired = 0, .nretire = 1, .retire = { 1 },
	}, {
		.name = "scale_down_delay blocks retire",
		.last_up = NOW - 4000,
		.nw = 1, .w = { IDLE(1, 0) },
		.demand = 0, .desired = 0,
		.hold = "1 above desired kept: within scale_down_delay"
		    " (4s of 10s)",
	}, {
		.name = "scale_down_delay with a busy worker",
		.last_up = NOW - 4500,
		.nw = 2, .w = { IDLE(1, 0), BUSY(2) },
		.demand = 0, .desired = 0,
		.hold = "2 above desired kept: 1 busy, within"
		    " scale_down_delay (4.5s of 10s)",
	}, {
		.name = "scale_down_delay elapsed",
		.last_up = NOW - 10000,
		.nw = 1, .w = { IDLE(1, 0) },
		.demand = 0, .desired = 0, .nretire = 1, .retire = { 1 },
	}, {
		.name = "least data first, then longest idle",
		.queued = 1,
		.nw = 4, .w = { RUN(1, 0, 300, -1), RUN(2, 50000, 100, -1),
		    RUN(3, 0, 200, -1), RUN(4, 40000, 100, -1) },
		.demand = 1, .desired = 1, .nretire = 3,
		.retire = { 4, 2, 3 },
	}, {
		.name = "full tie goes to the lower id",
		.nw = 3, .w = { IDLE(7, 0), IDLE(3, 0), IDLE(5, 0) },
		.demand = 0, .desired = 0, .nretire = 3,
		.retire = { 3, 5, 7 },
	}, {
		.name = "never below min",
		.min = 2,
		.nw = 4, .w = { IDLE(1, 40), IDLE(2, 10), IDLE(3, 30),
		    IDLE(4, 20) },
		.demand = 0, .desired = 2, .nretire = 2, .retire = { 2, 4 },
	}, {
		.name = "at min, idle workers stay",
		.min = 2,
		.nw = 2, .w = { IDLE(1, 0), IDLE(2, 0) },
		.demand = 0, .desired = 2,
	}, {
		.name = "busy worker never retired",
		.nw = 3, .w = { BUSY(1), IDLE(2, 500), IDLE(3, 0) },
		.demand = 0, .desired = 0, .nretire = 2, .retire = { 3, 2 },
		.hold = "1 above desired kept: 1 busy",
	}, {
		.name = "launching worker never retired",
		.nw = 2, .w = { LAUNCHING(1), IDLE(2, 0) },
		.demand = 0, .desired = 0, .nretire = 1, .retire = { 2 },
		.hold = "1 above desired kept: 1 launching",
	}, {
		/* four idle running jobs and a fifth pending in Slurm: the
		 * running ones must not all go while the pending one stands
		 * in for them (its trim is the backend's); the old code
		 * retired all four */
		.name = "launching workers do not stand in for running ones",
		.min = 1,
		.nw = 5, .w = { IDLE(1, 40), IDLE(2, 30), IDLE(3, 20),
		    IDLE(4, 10), LAUNCHING(5) },
		.demand = 0, .desired = 1, .nretire = 3, .retire = { 4, 3, 2 },
		.hold = "1 above desired kept: 1 launching",
	}, {
		.name = "retiring worker not retired again",
		.nw = 2, .w = { RETIRING(1), IDLE(2, 0) },
		.demand = 0, .desired = 0, .nretire = 1, .retire = { 2 },
	}, {
		.name = "GPU utilization above threshold blocks retire",
		.nw = 1, .w = { RUN(1, 0, 0, 40) },
		.demand = 0, .desired = 0,
		.hold = "1 above desired kept: 1 GPU busy 40% (idle < 5%)",
	}, {
		.name = "GPU utilization: under threshold or unknown retire",
		.nw = 4, .w = { RUN(1, 0, 0, 40), RUN(2, 0, 10, 3),
		    RUN(3, 0, 0, -1), RUN(4, 0, 0, 5) },
		.demand = 0, .desired = 0, .nretire = 2, .retire = { 3, 2 },
		.hold = "2 above desired kept: 2 GPU busy >= 5% (idle < 5%)",
	}, {
		.name = "every reason at once",
		.queued = 1,
		.nw = 5, .w = { BUSY(1), RUN(2, NOW - 12000, 0, -1),
		    IDLE(3, 9), IDLE(4, 8), LAUNCHING(5) },
		.demand = 1, .desired = 1, .nretire = 2, .retire = { 4, 3 },
		.hold = "2 above desired kept: 1 launching, 1 busy, 1 idle"
		    " only 12s of 30s",
	}, {
		/* a periodic load between two bursts: the workers it used
		 * stay (without the peak, both retire and come back) */
		.name = "recent peak keeps the workers of a periodic load",
		.peak = 3, .peak_at = NOW - 4000,
		.nw = 3, .w = { IDLE(1, 0), IDLE(2, 0), BUSY(3) },
		.demand = 0, .desired = 0,
		.hold = "3 above desired kept: demand was 3 4s ago (within"
		    " idle_timeout + scale_down_delay, 40s), 1 busy",
	}, {
		.name = "recent peak below capacity: the rest retire",
		.peak = 1, .peak_at = NOW - 4000,
		.nw = 3, .w = { IDLE(1, 5), IDLE(2, 0), BUSY(3) },
		.demand = 0, .desired = 0, .nretire = 2, .retire = { 2, 1 },
		.hold = "1 above desired kept: 1 busy",
	}, {
		.name = "recent peak under min: min holds",
		.min = 2, .peak = 1, .peak_at = NOW - 1000,
		.nw = 3, .w = { IDLE(1, 0), IDLE(2, 0), IDLE(3, 0) },
		.demand = 0, .desired = 2, .nretire = 1, .retire = { 1 },
	}, {
		.name = "unobserved: stale demand launches nothing",
		.min = 1, .unobserved = true, .queued = 100, .target = 8,
		.free_slots = 8,
		.nw = 3, .w = { IDLE(1, 0), IDLE(2, 0), BUSY(3) },
		.demand = 3, .desired = 3,
		.reason = "scheduler not observed",
	}, {
		.name = "unobserved: still launches up to min",
		.min = 2, .unobserved = true, .free_slots = 8,
		.demand = 0, .desired = 2, .launch = 2,
		.reason = "scheduler not observed",
	}, {
		.name = "unobserved: above max, nothing retired",
		.max = 2, .unobserved = true,
		.nw = 3, .w = { IDLE(1, 0), IDLE(2, 0), IDLE(3, 0) },
		.demand = 3, .desired = 2,
		.reason = "scheduler not observed",
		.hold = "1 above desired kept: scheduler not observed",
	},
};

/* Defaults: max 8, threads 1, gpus 1 (gpus -1 in a row means 0). */
static void
row_input(const struct row *r, struct scaler_input *in)
{
	memset(in, 0, sizeof(*in));
	in->now_ms = NOW;
	in->min = r->min;
	in->max = r->max != 0 ? r->max : 8;
	in->threads = r->threads != 0 ? r->threads : 1;
	in->gpus = r->gpus == 0 ? 1 : r->gpus < 0 ? 0 : r->gpus;
	in->idle_timeout_ms = 30000;
	in->scale_down_delay_ms = 10000;
	in->peak_window_ms = 40000;
	in->gpu_idle_util = 5;
	in->observed = !r->unobserved;
	in->adaptive_target = r->target;
	in->queued = r->queued;
	in->processing = r->processing;
	in->no_worker = r->no_worker;
	in->free_slots = r->free_slots;
	in->last_scale_up_ms = r->last_up != 0 ? r->last_up : -1;
	in->recent_peak = r->peak;
	in->recent_peak_ms = r->peak_at;
	in->nworkers = r->nw;
	in->workers = r->w;
}

static void
test_row(void **state)
{
	const struct row *r = *state;
	struct scaler_input in;
	struct scaler_decision d;
	size_t i;

	row_input(r, &in);
	scaler_decide(&in, &d);
	assert_int_equal(d.demand, r->demand);
	assert_int_equal(d.desired, r->desired);
	assert_int_equal(d.launch, r->launch);
	assert_int_equal(d.pending, r->pending);
	assert_int_equal(d.nretire, r->nretire);
	if (r->nretire == 0)
		assert_null(d.retire);
	for (i = 0; i < r->nretire; i++)
		assert_int_equal(d.retire[i], r->retire[i]);
	if (r->reason != NULL)
		assert_string_equal(d.reason, r->reason);
	assert_string_equal(d.hold, r->hold != NULL ? r->hold : "");
	scaler_decision_free(&d);
	assert_null(d.retire);
	assert_int_equal(d.nretire, 0);
}

/* Many workers: the hold line still counts, never lists. */
static void
test_hold_bounded(void **state)
{
	struct scaler_worker w[200];
	struct scaler_input in;
	struct scaler_decision d;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(w); i++) {
		w[i] = (struct scaler_worker)RUN((int)i, NOW - 1000,
		    (int64_t)i, -1);
		if (i % 2 == 0)
			w[i].idle_since_ms = -1;
	}
	memset(&in, 0, sizeof(in));
	in.now_ms = NOW;
	in.max = 1000;
	in.threads = 1;
	in.idle_timeout_ms = 30000;
	in.scale_down_delay_ms = 10000;
	in.observed = true;
	in.last_scale_up_ms = NOW - 2000;
	in.nworkers = ARRAY_LEN(w);
	in.workers = w;
	scaler_decide(&in, &d);
	assert_int_equal(d.nretire, 0);
	assert_true(strlen(d.hold) < sizeof(d.hold));
	assert_string_equal(d.hold, "200 above desired kept: 100 busy,"
	    " 100 idle at most 1s of 30s, within scale_down_delay"
	    " (2s of 10s)");
	scaler_decision_free(&d);
	scaler_decision_free(NULL);
}

/* idle_timeout: auto from the start times kept (ms, -1 an empty slot). */
static void
test_auto_idle(void **state)
{
	static const struct {
		int64_t	 start[SCALER_START_COSTS + 2];
		size_t	 n;
		int64_t	 want;
	} cases[] = {
		/* nothing measured yet: the fixed default */
		{ { 0 }, 0, SCALER_AUTO_IDLE_NONE_MS },
		{ { -1, -1 }, 2, SCALER_AUTO_IDLE_NONE_MS },
		/* a warm fork: no finer than a tick */
		{ { 120 }, 1, SCALER_AUTO_IDLE_MIN_MS },
		/* twice the median: odd and even counts, empties skipped */
		{ { 3000 }, 1, 6000 },
		{ { 200, 5000, 900 }, 3, 1800 },
		{ { 1000, -1, 3000 }, 3, 4000 },
		/* one exec'd start among forks does not hold every worker */
		{ { 2500, 150, 180, 160 }, 4, SCALER_AUTO_IDLE_MIN_MS },
		/* a queue that made a job wait an hour: capped */
		{ { 3600000 }, 1, SCALER_AUTO_IDLE_MAX_MS },
		{ { INT64_MAX }, 1, SCALER_AUTO_IDLE_MAX_MS },
		/* only SCALER_START_COSTS entries are read */
		{ { 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 1, 1 },
		    SCALER_START_COSTS + 2, 10000 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(scaler_auto_idle_ms(cases[i].start,
		    cases[i].n), cases[i].want);
	}
}

int
main(void)
{
	struct CMUnitTest tests[ARRAY_LEN(rows) + 2];
	size_t i;

	for (i = 0; i < ARRAY_LEN(rows); i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = rows[i].name;
		tests[i].test_func = test_row;
		tests[i].initial_state = (void *)(uintptr_t)&rows[i];
	}
	memset(&tests[i], 0, sizeof(tests[i]));
	tests[i].name = "hold line with many workers";
	tests[i].test_func = test_hold_bounded;
	i++;
	memset(&tests[i], 0, sizeof(tests[i]));
	tests[i].name = "idle_timeout: auto from the start times";
	tests[i].test_func = test_auto_idle;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
