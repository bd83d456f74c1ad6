/*
 * test_ctl: the controller end to end without Python: deploy, scale up,
 * retire, reclaim and restore, through a fake backend (workers are rows,
 * no processes) and a fake engine (canned probe, a `sleep` as the
 * scheduler process, canned scheduler replies), those of
 * tests/fake/fake_ctl.h; the fake scheduler answers when the test pumps
 * or calls fake_answer().  Decisions are driven by
 * instance_observed() with time passed in, so idle time is made by moving
 * the clock, not by waiting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "fake_ctl.h"
#include "loop.h"
#include "sched.h"
#include "store.h"
#include "testutil.h"

/* ----------------------------------------------------------- harness */

struct world {
	char		 dir[64];
	struct loop	*loop;
	struct ctl	*ctl;
};

/* Runs the loop for ms, answering what the fake scheduler owes. */
static void
pump(struct world *wd, int64_t ms)
{
	int64_t end = mono_ms() + ms;

	while (mono_ms() < end) {
		tu_loop_run_for(wd->loop, 20);
		fake_answer(INT64_MAX);
	}
}


static struct ctl *
open_ctl(struct world *wd)
{
	struct ctl *c;
	char err[512];

	c = fake_ctl_new(wd->loop, wd->dir, "fake", 4, err, sizeof(err));
	if (c == NULL)
		fail_msg("ctl_new: %s", err);
	return c;
}


static int
setup(void **state)
{
	struct world *wd = xcalloc(1, sizeof(*wd));

	fake_reset();
	tu_mkdtemp(wd->dir, sizeof(wd->dir), "test_ctl");
	wd->loop = loop_new();
	wd->ctl = open_ctl(wd);
	*state = wd;
	return 0;
}


static int
teardown(void **state)
{
	struct world *wd = *state;

	ctl_free(wd->ctl);
	loop_free(wd->loop);
	fake_end();
	tu_rm_rf(wd->dir);
	free(wd);
	return 0;
}


static struct spec *
spec_of(const char *yaml)
{
	struct spec *s = NULL;
	char err[512];

	if (spec_parse(yaml, strlen(yaml), "test.yaml", &s, err,
	    sizeof(err)) != 0)
		fail_msg("spec: %s", err);
	return s;
}


/* Deploys and waits until the scheduler "answers". */
static struct instance *
deploy(struct world *wd, const char *yaml)
{
	enum ctl_deployed what;
	struct spec *s = spec_of(yaml);
	char name[SPEC_NAME_MAX + 1], err[512];
	struct instance *in;
	int64_t end = mono_ms() + 10000;

	strlcpy_(name, s->name, sizeof(name));
	if (ctl_deploy(wd->ctl, s, &what, err, sizeof(err)) != 0)
		fail_msg("deploy: %s", err);
	assert_int_equal(what, CTL_CREATED);
	in = ctl_find(wd->ctl, name);
	assert_non_null(in);
	while (in->state != I_STARTED && mono_ms() < end)
		pump(wd, 50);
	if (in->state != I_STARTED)
		fail_msg("instance %s: %s, %s (spawns %llu, owed %zu, "
		    "dask %p)", name, istate_name[in->state], in->error,
		    (unsigned long long)fake_counts.spawns, fake_owed(),
		    (void *)sched_client(in->sched));
	return in;
}


/* What the fake scheduler reports: every worker of in registered, busy
 * or idle, and `queued` tasks waiting. */
static void
observe(struct instance *in, int64_t now, int queued, int busy_each)
{
	struct dask_worker_info wi[8];
	struct dask_obs obs;
	size_t i, n = 0;

	memset(&obs, 0, sizeof(obs));
	memset(wi, 0, sizeof(wi));
	obs.ok = true;
	obs.metrics.have_tasks = true;
	obs.metrics.queued = queued;
	for (i = 0; i < in->nworkers && n < ARRAY_LEN(wi); i++) {
		struct worker *w = in->workers[i];

		if (w->state == W_STOPPING)
			continue;
		snprintf(wi[n].address, sizeof(wi[n].address),
		    "tls://127.0.0.1:%d", 40000 + w->id);
		strlcpy_(wi[n].name, w->name, sizeof(wi[n].name));
		wi[n].nthreads = 1;
		wi[n].busy = busy_each;
		wi[n].keys = 2;
		wi[n].bytes = 1000;
		wi[n].rss = -1;
		wi[n].memory_limit = -1;
		wi[n].unique_keys = 1;
		obs.metrics.processing += busy_each;
		n++;
	}
	obs.workers = wi;
	obs.nworkers = n;
	obs.metrics.workers = (int)n;
	in->observe_sent_ms = now;
	instance_observed(in, &obs, now);
}


static size_t
count(const struct instance *in, enum wstate st)
{
	return instance_count(in, st);
}


static size_t
stored_workers(struct world *wd, const char *name)
{
	struct store_worker *ws = NULL;
	size_t n = 0;
	char err[256];

	assert_int_equal(store_workers_load(wd->ctl->store, name, &ws, &n,
	    err, sizeof(err)), 0);
	store_workers_free(ws, n);
	return n;
}


/* What the specs of these tests share: the fake pool, and decisions
 * only when a test calls observe(). */
#define SPEC_FAKE							\
	"python: /bin/sh\n"						\
	"pool: fake\n"							\
	"scaling: {interval: 1h, idle_timeout: 10s, "			\
	"scale_down_delay: 0s}\n"

#define SPEC_A								\
	"name: a\n"							\
	SPEC_FAKE							\
	"workers: {min: 1, max: 4, gpus: 1, threads: 1}\n"

/* --------------------------------------------------------------- tests */

/* deploy: the scheduler comes up through the engine; min workers are
 * launched at the first decision, each saved before it starts. */
static void
test_deploy_launches_min(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy(wd, SPEC_A);
	int64_t t = mono_ms();

	assert_int_equal(fake_counts.spawns, 1);
	assert_int_equal(in->nworkers, 0);
	observe(in, t, 0, 0);
	assert_int_equal(fake_counts.launches, 1);
	assert_int_equal(count(in, W_LAUNCHING), 1);
	assert_int_equal(stored_workers(wd, "a"), 1);
	/* seen by the scheduler: running, and nothing more wanted */
	observe(in, t + 100, 0, 0);
	assert_int_equal(count(in, W_RUNNING), 1);
	assert_int_equal(fake_counts.launches, 1);
}


/* A queue of work grows it to max; idle past idle_timeout, it is
 * retired through the scheduler back to min, data moved first. */
static void
test_scale_up_then_retire_to_min(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy(wd, SPEC_A);
	int64_t t = mono_ms();

	observe(in, t, 0, 0);
	observe(in, t + 100, 50, 1);	/* busy, 50 waiting */
	assert_int_equal(fake_counts.launches, 4);
	assert_int_equal(in->nworkers, 4);
	observe(in, t + 200, 50, 1);
	assert_int_equal(count(in, W_RUNNING), 4);
	/* idle from t + 300 on; 5 s later nothing is retired yet */
	observe(in, t + 300, 0, 0);
	observe(in, t + 5300, 0, 0);
	assert_int_equal(fake_counts.retires, 0);
	/* past idle_timeout: three retirements asked, min kept */
	observe(in, t + 10400, 0, 0);
	assert_int_equal(fake_counts.retires, 3);
	assert_int_equal(count(in, W_RETIRING), 3);
	assert_int_equal(count(in, W_RUNNING), 1);
	fake_answer(INT64_MAX);	/* the scheduler moved their data */
	assert_int_equal(count(in, W_STOPPING), 3);
	assert_int_equal(fake_counts.terminates, 3);
	fake_exits(in, INT64_MAX);
	assert_int_equal(in->nworkers, 1);
	assert_int_equal(stored_workers(wd, "a"), 1);
	assert_int_equal(pool_free_count(in->cp->pool), 3);
}


/* A retirement the scheduler refuses keeps the worker, running. */
static void
test_refused_retirement_keeps_the_worker(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy(wd, SPEC_A);
	int64_t t = mono_ms();

	observe(in, t, 0, 0);
	observe(in, t + 100, 2, 1);
	assert_int_equal(in->nworkers, 3);
	observe(in, t + 200, 0, 0);
	fake_conf.retire_result = 0;
	observe(in, t + 10300, 0, 0);
	assert_int_equal(fake_counts.retires, 2);
	fake_answer(INT64_MAX);
	assert_int_equal(count(in, W_RUNNING), 3);
	assert_int_equal(fake_counts.terminates, 0);
}


#define SPEC_B								\
	"name: b\n"							\
	SPEC_FAKE							\
	"workers: {min: 0, max: 2, gpus: 1, threads: 1}\n"		\
	"sharing: {owned: 2, reclaim_grace: 30s}\n"

/* b owns two slots that a holds: when b has work, a's workers are
 * drained and retired for it, and b launches on the freed slots. */
/* The scheduler's answer to a drain: the worker has nothing left to run
 * or to hand over. */
static int
drained_empty(void *arg, bool drain, struct dask_drain_info *di)
{
	(void)arg;
	di->draining = drain;
	return 1;
}


static void
test_reclaim_gives_owned_slots_back(void **state)
{
	struct world *wd = *state;
	struct instance *a = deploy(wd, SPEC_A);
	struct instance *b;
	int64_t t = mono_ms();

	observe(a, t, 0, 0);
	observe(a, t + 100, 50, 1);
	observe(a, t + 200, 50, 1);
	assert_int_equal(count(a, W_RUNNING), 4);
	b = deploy(wd, SPEC_B);
	observe(b, t + 300, 20, 0);
	assert_int_equal(b->nworkers, 0);
	assert_int_equal(count(a, W_DRAINING), 2);
	assert_true(fake_counts.drains >= 2);
	/* drained (nothing left on them): retired through the scheduler */
	fake_conf.drain_answer = drained_empty;
	fake_answer(INT64_MAX);
	observe(a, t + 400, 50, 1);
	fake_answer(INT64_MAX);
	assert_int_equal(fake_counts.retires, 2);
	assert_int_equal(count(a, W_STOPPING), 2);
	fake_exits(a, INT64_MAX);
	observe(b, t + 500, 20, 0);
	assert_int_equal(b->nworkers, 2);
	assert_int_equal(a->nworkers, 2);
	assert_int_equal(a->reclaims, 2);
}


/* After a restart, the scheduler and the workers are adopted from the
 * store, with their ids and states; a worker its backend no longer
 * knows is forgotten. */
static void
test_restore_adopts_what_the_store_holds(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy(wd, SPEC_A);
	int64_t t = mono_ms();
	char err[512];
	int ids[4];
	size_t i, n;

	observe(in, t, 0, 0);
	observe(in, t + 100, 50, 1);
	observe(in, t + 200, 50, 1);
	n = in->nworkers;
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++)
		ids[i] = in->workers[i]->id;
	ctl_free(wd->ctl);
	wd->ctl = open_ctl(wd);
	if (ctl_restore(wd->ctl, err, sizeof(err)) != 0)
		fail_msg("restore: %s", err);
	in = ctl_find(wd->ctl, "a");
	assert_non_null(in);
	assert_int_equal(fake_counts.adopts, 4);
	assert_int_equal(in->nworkers, 4);
	for (i = 0; i < n; i++) {
		struct worker *w = worker_by_id(in, ids[i]);

		assert_non_null(w);
		assert_int_equal(w->state, W_RUNNING);
	}
	/* the scheduler was adopted */
	assert_int_equal(fake_counts.spawns, 1);
	assert_int_equal(pool_free_count(in->cp->pool), 0);
	/* and a second restart where the backend lost them */
	ctl_free(wd->ctl);
	wd->ctl = open_ctl(wd);
	fake_conf.adopt_refuses = true;
	if (ctl_restore(wd->ctl, err, sizeof(err)) != 0)
		fail_msg("restore: %s", err);
	in = ctl_find(wd->ctl, "a");
	assert_int_equal(in->nworkers, 0);
	assert_int_equal(stored_workers(wd, "a"), 0);
}


/* Quiet: no task, every worker running and idle, a change signal.  After
 * QUIET_AFTER such observations the ticks come every QUIET_POLL_MS, or
 * when an idle worker's timeout ends if sooner; work, or a worker's state
 * changed outside a tick, brings the interval back at once. */
static void
test_a_quiet_instance_ticks_slowly(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy(wd, "name: q\n" "python: /bin/sh\n"
	    "pool: fake\n" "workers: {min: 1, max: 2, gpus: 1}\n"
	    "scaling: {interval: 1s, idle_timeout: 30s, "
	    "scale_down_delay: 0s}\n");
	int64_t t = mono_ms(), kicks;
	int i;

	observe(in, t, 0, 0);
	observe(in, t + 100, 0, 0);
	assert_int_equal(count(in, W_RUNNING), 1);
	/* the fake engine has no change signal: not quiet, ever */
	assert_int_equal(instance_tick(in), 1000);
	in->change_signal = true;
	for (i = 0; i < QUIET_AFTER; i++) {
		assert_int_equal(instance_tick(in), 1000);
		in->change_signal = true;	/* the fake said "none" */
		observe(in, t + 200 + i * 100, 0, 0);
	}
	assert_int_equal(in->quiet, QUIET_AFTER);
	assert_int_equal(instance_tick(in), QUIET_POLL_MS);
	in->change_signal = true;
	/* work comes: the interval again */
	observe(in, t + 600, 0, 1);
	assert_int_equal(in->quiet, 0);
	assert_int_equal(instance_tick(in), 1000);
	/* quiet again, then a worker drained outside a tick: woken */
	for (i = 0; i < QUIET_AFTER; i++) {
		in->change_signal = true;
		observe(in, t + 700 + i * 100, 0, 0);
	}
	assert_int_equal(in->quiet, QUIET_AFTER);
	kicks = (int64_t)in->kicks;
	worker_set_state(in->workers[0], W_DRAINING);
	assert_int_equal(in->quiet, 0);
	assert_int_equal((int64_t)in->kicks, kicks + 1);
}


/* The JSON view asks the backend for its members. */
static void
test_json_has_the_backends_members(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy(wd, SPEC_A);
	json_t *o, *p;

	observe(in, mono_ms(), 0, 0);
	o = ctl_instance_json(wd->ctl, "a", false);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(
	    json_array_get(json_object_get(o, "workers"), 0), "fake")),
	    in->workers[0]->id);
	json_decref(o);
	p = ctl_pool_json(wd->ctl);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(json_object_get(p, "pools"), 0), "backend")),
	    "fake");
	json_decref(p);
}


int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deploy_launches_min,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_scale_up_then_retire_to_min, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_refused_retirement_keeps_the_worker, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_reclaim_gives_owned_slots_back, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_restore_adopts_what_the_store_holds, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_json_has_the_backends_members, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_quiet_instance_ticks_slowly, setup, teardown),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
