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

#include "ctl_harness.h"
#include "store.h"

/* ----------------------------------------------------------- harness */

struct world {
	char		 dir[64];
	struct loop	*loop;
	struct ctl	*ctl;
};

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

	ctl_world_end(wd->ctl, wd->loop, wd->dir);
	free(wd);
	return 0;
}


/* Deploys and waits until the scheduler "answers". */
static struct instance *
deploy(struct world *wd, const char *yaml)
{
	return ctl_deploy_started(wd->ctl, wd->loop, yaml);
}


/*
 * What the controller keeps for pool_claims() against a recount of every
 * worker of every instance: by_launch sorted and made of the launching
 * or running workers not reclaimed, instance_locked() at times around
 * each launch, and the expiring count.
 */
static void
check_kept(struct ctl *c)
{
	size_t i, k, j, n, exp;
	int64_t t, d;
	int locked;

	for (i = 0; i < c->ninst; i++) {
		struct instance *in = c->inst[i];

		d = in->spec->scaling.scale_down_delay_ms;
		for (k = 1; k < in->nby_launch; k++)
			assert_true(in->by_launch[k - 1]->launched_ms <=
			    in->by_launch[k]->launched_ms);
		for (k = 0, n = 0, exp = 0; k < in->nworkers; k++) {
			struct worker *w = in->workers[k];
			bool want = (w->state == W_LAUNCHING ||
			    w->state == W_RUNNING) && w->reclaim_for < 0;

			assert_true(w->listed);
			assert_int_equal(w->lockable, want);
			n += want;
			exp += w->expires_wall_ms > 0;
		}
		assert_int_equal(in->nby_launch, n);
		assert_int_equal(in->expiring, exp);
		for (k = 0; k < in->nworkers; k++) {
			for (t = in->workers[k]->launched_ms - d - 1;
			    t <= in->workers[k]->launched_ms + d + 1;
			    t += d / 2 + 1) {
				for (j = 0, locked = 0; j < in->nworkers; j++) {
					struct worker *w = in->workers[j];

					if ((w->state == W_LAUNCHING ||
					    w->state == W_RUNNING) &&
					    w->reclaim_for < 0 &&
					    t - w->launched_ms < d)
						locked++;
				}
				assert_int_equal(instance_locked(in, t),
				    locked);
			}
		}
	}
}


/* The fake scheduler's answer (fake_scheduler_sees), with the kept
 * counts checked before and after. */
static void
observe(struct instance *in, int64_t now, int queued, int busy_each)
{
	check_kept(in->ctl);
	fake_scheduler_sees(in, now, queued, busy_each);
	check_kept(in->ctl);
}


/* Deploys yaml, then the scheduler's first look at it, at *now (the time
 * deploy() returned): no work queued.  Most scenarios start here. */
static struct instance *
deploy_observed(struct world *wd, const char *yaml, int64_t *now)
{
	struct instance *in = deploy(wd, yaml);

	*now = mono_ms();
	observe(in, *now, 0, 0);
	return in;
}


static size_t
count(const struct instance *in, enum wstate st)
{
	return instance_count(in, st);
}


static size_t
stored_workers(struct world *wd, const char *name)
{
	return ctl_stored_workers(wd->ctl, name);
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
	int64_t t;
	struct instance *in = deploy_observed(wd, SPEC_A, &t);

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
	int64_t t;
	struct instance *in = deploy_observed(wd, SPEC_A, &t);

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
static void
test_reclaim_gives_owned_slots_back(void **state)
{
	struct world *wd = *state;
	int64_t t;
	struct instance *a = deploy_observed(wd, SPEC_A, &t);
	struct instance *b;

	observe(a, t + 100, 50, 1);
	observe(a, t + 200, 50, 1);
	assert_int_equal(count(a, W_RUNNING), 4);
	b = deploy(wd, SPEC_B);
	observe(b, t + 300, 20, 0);
	assert_int_equal(b->nworkers, 0);
	assert_int_equal(count(a, W_DRAINING), 2);
	assert_true(fake_counts.drains >= 2);
	/* drained (nothing left on them): retired through the scheduler */
	fake_conf.drain_answer = fake_drained_empty;
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
	check_kept(wd->ctl);
}


/* pool_claims() at the time it is given (never the clock): a worker
 * launched less than scale_down_delay before it is locked; held is what
 * the pool counts for each instance, a reclaimed slot for its
 * recipient. */
static void
test_claims_at_the_time_given(void **state)
{
	/* times after the first launch or the last (the three need not
	 * come in the same millisecond) */
	static const struct {
		bool	 from_last;
		int64_t	 after_ms;
		int	 locked;
	} rows[] = {
		{ false, 0, 3 }, { true, 0, 3 }, { false, 29999, 3 },
		{ true, 30000, 0 }, { true, 3600000, 0 },
	};
	struct world *wd = *state;
	struct instance *a = deploy(wd, "name: a\n" "python: /bin/sh\n"
	    "pool: fake\n" "workers: {min: 1, max: 3, gpus: 1}\n"
	    "scaling: {interval: 1h, idle_timeout: 10s, "
	    "scale_down_delay: 30s}\n");
	struct instance *b, *who[2];
	struct pool_claim cl[2];
	int64_t t = mono_ms(), first = INT64_MAX, last = 0;
	size_t i, k;

	observe(a, t, 0, 0);
	observe(a, t + 100, 50, 1);
	assert_int_equal(a->nworkers, 3);
	for (k = 0; k < a->nworkers; k++) {
		if (a->workers[k]->launched_ms > last)
			last = a->workers[k]->launched_ms;
		if (a->workers[k]->launched_ms < first)
			first = a->workers[k]->launched_ms;
	}
	/* the test's own premise: all three within the delay */
	assert_true(last - first < 29999);
	b = deploy(wd, SPEC_B);
	pool_reserve(a->cp->pool, a->workers[0]->slot, b->id);
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		assert_int_equal(pool_claims(wd->ctl, a->cp, b,
		    (rows[i].from_last ? last : first) + rows[i].after_ms, cl,
		    who), 2);
		assert_ptr_equal(who[0], a);
		assert_ptr_equal(who[1], b);
		assert_int_equal(cl[0].held, 2);
		assert_int_equal(cl[1].held, 1);
		assert_int_equal(cl[0].locked, rows[i].locked);
		assert_int_equal(cl[1].locked, 0);
	}
	/* a draining worker, or one reclaimed, is not locked */
	worker_set_state(a->workers[1], W_DRAINING);
	assert_int_equal(instance_locked(a, last), 2);
	a->workers[2]->reclaim_for = b->id;
	worker_index(a->workers[2]);
	assert_int_equal(instance_locked(a, last), 1);
	check_kept(wd->ctl);
	/* the backend's part of a worker's end: its process is gone */
	worker_remove(a->workers[0]);
	after_worker_gone(a);
	assert_int_equal(instance_locked(a, last), 0);
	check_kept(wd->ctl);
}


/* observe_workers: a launching worker is found by its name, a registered
 * one by its address; of two observed alike, the first counts; one not
 * observed is missing. */
static void
test_observe_matches_the_first(void **state)
{
	static const struct {
		const char	*name, *address;
		int		 busy;
	} first[] = {
		{ "", "tcp://10.0.0.9:1", 7 },		/* nobody's */
		{ NULL, "tcp://10.0.0.2:1", 2 },	/* lw[1]'s name */
		{ NULL, "tcp://10.0.0.1:1", 1 },	/* lw[0]'s name */
		{ NULL, "tcp://10.0.0.3:1", 5 },	/* again: not it */
	}, second[] = {
		{ "x", "tcp://10.0.0.1:1", 3 },
		{ "y", "tcp://10.0.0.1:1", 9 },		/* a second: not it */
	};
	static const int name_of[] = { -1, 1, 0, 0 };
	struct world *wd = *state;
	int64_t t;
	struct instance *in = deploy_observed(wd, SPEC_A, &t);
	struct dask_worker_info wi[4];
	struct dask_obs obs;
	struct worker *lw[2];
	size_t i, n = 0;

	observe(in, t + 100, 50, 1);
	assert_int_equal(count(in, W_LAUNCHING), 3);
	for (i = 0; i < in->nworkers && n < 2; i++)
		if (in->workers[i]->state == W_LAUNCHING)
			lw[n++] = in->workers[i];
	memset(&obs, 0, sizeof(obs));
	memset(wi, 0, sizeof(wi));
	for (i = 0; i < ARRAY_LEN(first); i++) {
		strlcpy_(wi[i].name, name_of[i] < 0 ? first[i].name :
		    lw[name_of[i]]->name, sizeof(wi[i].name));
		strlcpy_(wi[i].address, first[i].address,
		    sizeof(wi[i].address));
		wi[i].busy = first[i].busy;
	}
	obs.ok = true;
	obs.workers = wi;
	obs.nworkers = ARRAY_LEN(first);
	observe_workers(in, &obs, t + 200);
	assert_int_equal(lw[0]->state, W_RUNNING);
	assert_string_equal(lw[0]->address, "tcp://10.0.0.1:1");
	assert_int_equal(lw[0]->busy, 1);
	assert_string_equal(lw[1]->address, "tcp://10.0.0.2:1");
	assert_int_equal(lw[1]->busy, 2);
	memset(wi, 0, sizeof(wi));
	for (i = 0; i < ARRAY_LEN(second); i++) {
		strlcpy_(wi[i].name, second[i].name, sizeof(wi[i].name));
		strlcpy_(wi[i].address, second[i].address,
		    sizeof(wi[i].address));
		wi[i].busy = second[i].busy;
	}
	obs.nworkers = ARRAY_LEN(second);
	observe_workers(in, &obs, t + 300);
	assert_int_equal(lw[0]->busy, 3);
	assert_int_equal(lw[0]->missing, 0);
	assert_int_equal(lw[1]->missing, 1);
	check_kept(wd->ctl);
}


/* How many events of kind instance name has. */
static size_t
events_of(struct world *wd, const char *name, const char *kind)
{
	size_t n;

	free(ctl_event_of(wd->ctl, name, kind, &n));
	return n;
}


/* Instance a deployed and observed busy with 50 tasks waiting, twice:
 * its four workers launched, then running; *t the time of its deploy. */
static struct instance *
four_running(struct world *wd, int64_t *t)
{
	struct instance *in = deploy_observed(wd, SPEC_A, t);

	observe(in, *t + 100, 50, 1);
	observe(in, *t + 200, 50, 1);
	assert_int_equal(count(in, W_RUNNING), 4);
	return in;
}


/* w's process ended, as its backend would say: lost, and gone. */
static void
backend_loses(struct worker *w, const char *how)
{
	worker_lost(w, how);
	worker_remove(w);
}


/* The daemon's restart: the controller freed and opened again on the same
 * state, which it restores. */
static struct instance *
restart(struct world *wd, const char *name)
{
	char err[512];

	ctl_free(wd->ctl);
	wd->ctl = NULL;		/* teardown's, if open_ctl fails */
	wd->ctl = open_ctl(wd);
	if (ctl_restore(wd->ctl, err, sizeof(err)) != 0)
		fail_msg("restore: %s", err);
	return ctl_find(wd->ctl, name);
}


/*
 * A worker that leaves the scheduler is lost with what it held as the
 * scheduler removed it (its departure), not as last observed: results
 * made or released since are counted as they were.
 */
static void
test_a_lost_worker_is_told_as_the_scheduler_removed_it(void **state)
{
	struct world *wd = *state;
	int64_t t;
	struct instance *in = deploy_observed(wd, SPEC_A, &t);
	struct dask_departure gone = { "", 7, 5, 2048 };
	struct worker *w;
	char *msg;

	observe(in, t + 100, 0, 0);
	assert_int_equal(count(in, W_RUNNING), 1);
	w = in->workers[0];
	assert_int_equal(w->unique_keys, 1);	/* as last observed */
	strlcpy_(gone.address, w->address, sizeof(gone.address));
	fake_scheduler_sees_but(in, t + 200, w, NULL, NULL);
	fake_scheduler_sees_but(in, t + 300, w, NULL, &gone);
	assert_int_equal(w->unique_keys, 5);
	assert_int_equal(events_of(wd, "a", "worker_lost"), 0);
	/* the third time (MISSING_TICKS): lost */
	fake_scheduler_sees_but(in, t + 400, w, NULL, &gone);
	msg = ctl_event_must(wd->ctl, "a", "worker_lost");
	assert_string_equal(msg, "worker w1 (a-1) left the scheduler: "
	    "stopping it; as the scheduler removed it, it held 7 results "
	    "(2.0 KiB), 5 of them nowhere else: the scheduler recomputes "
	    "those from their inputs");
	free(msg);
	assert_int_equal(in->lost_workers, 1);
	assert_int_equal(in->lost_keys_only, 5);
	assert_int_equal(in->lost_keys_copied, 2);
}


/*
 * A worker whose process ended before the scheduler saw it go: its loss
 * waits for the scheduler's departure, and is told with it; one the
 * scheduler still lists is told as last observed once LOSS_WAIT_MS is
 * over.  Either way the worker and its slot are gone at once.
 */
static void
test_a_lost_worker_waits_for_the_scheduler(void **state)
{
	struct world *wd = *state;
	int64_t t;
	struct instance *in = four_running(wd, &t);
	struct dask_departure gone = { "", 3, 3, 512 };
	char addr[2][DASK_ADDR_MAX];
	int i;

	for (i = 0; i < 2; i++) {
		strlcpy_(addr[i], in->workers[0]->address, sizeof(addr[i]));
		backend_loses(in->workers[0], "exited with status 1");
	}
	assert_int_equal(in->nworkers, 2);
	assert_int_equal(pool_free_count(in->cp->pool), 2);
	assert_int_equal(events_of(wd, "a", "worker_lost"), 0);
	/* the second's departure: told; the first still listed: waits */
	strlcpy_(gone.address, addr[1], sizeof(gone.address));
	fake_scheduler_sees_but(in, t + 300, NULL, addr[0], &gone);
	assert_int_equal(events_of(wd, "a", "worker_lost"), 1);
	ctl_event_has(wd->ctl, "a", "worker_lost", "exited with status 1 "
	    "while running; as the scheduler removed it, it held 3 results "
	    "(512 B), 3 of them nowhere else");
	assert_int_equal(in->lost_keys_only, 3);
	fake_scheduler_sees_but(in, t + 400, NULL, addr[0], NULL);
	assert_int_equal(events_of(wd, "a", "worker_lost"), 1);
	fake_scheduler_sees_but(in, mono_ms() + LOSS_WAIT_MS, NULL,
	    addr[0], NULL);
	ctl_event_has(wd->ctl, "a", "worker_lost", "exited with status 1 "
	    "while running; as last observed, it held 2 results (1000 B), 1 "
	    "of them nowhere else");
	assert_int_equal(in->lost_workers, 2);
	assert_int_equal(in->lost_keys_only, 4);
	assert_int_equal(in->lost_keys_copied, 1);
}


/*
 * A loss waiting for the scheduler's count is in the store in place of
 * its worker: a restart in between still tells it, with the count that
 * the first observation brings, and once only.
 */
static void
test_a_waiting_loss_survives_a_restart(void **state)
{
	struct world *wd = *state;
	int64_t t;
	struct instance *in = four_running(wd, &t);
	struct dask_departure gone = { "", 5, 4, 3072 };

	strlcpy_(gone.address, in->workers[0]->address, sizeof(gone.address));
	backend_loses(in->workers[0], "exited on signal 9 (Killed)");
	assert_int_equal(stored_workers(wd, "a"), 3);
	assert_int_equal(events_of(wd, "a", "worker_lost"), 0);
	in = restart(wd, "a");
	assert_non_null(in);
	assert_int_equal(in->nworkers, 3);
	assert_int_equal(in->nlosses, 1);
	assert_int_equal(events_of(wd, "a", "worker_lost"), 0);
	fake_scheduler_sees_but(in, mono_ms(), NULL, NULL, &gone);
	ctl_event_has(wd->ctl, "a", "worker_lost", "exited on signal 9 "
	    "(Killed) while running; as the scheduler removed it, it held 5 "
	    "results (3.0 KiB), 4 of them nowhere else");
	assert_int_equal(in->lost_keys_only, 4);
	assert_int_equal(in->nlosses, 0);
	/* told: a second restart has nothing more to tell */
	in = restart(wd, "a");
	assert_int_equal(in->nlosses, 0);
	fake_scheduler_sees_but(in, mono_ms(), NULL, NULL, &gone);
	assert_int_equal(events_of(wd, "a", "worker_lost"), 1);
}


/* A launch beyond what the instance owns is a lend only when another
 * instance shares its pool. */
static void
test_lend_only_when_shared(void **state)
{
	struct world *wd = *state;
	int64_t t;
	struct instance *a = deploy_observed(wd, SPEC_A, &t);

	assert_int_equal(a->nworkers, 1);
	assert_int_equal(events_of(wd, "a", "lend"), 0);
	(void)deploy(wd, SPEC_B);
	observe(a, t + 100, 50, 1);
	assert_int_equal(a->nworkers, 4);
	assert_int_equal(events_of(wd, "a", "lend"), 3);
}


/* The peak as every sample read oldest first would give it. */
static void
peak_by_reading_all(const struct instance *in, int64_t now, int64_t window,
    int *peak, int64_t *at)
{
	size_t i, first = (in->history_next + HISTORY_LEN - in->nhistory) %
	    HISTORY_LEN;

	*peak = 0;
	*at = now;
	for (i = 0; i < in->nhistory; i++) {
		const struct sample *s =
		    &in->history[(first + i) % HISTORY_LEN];

		if (s->t_mono >= now - window && s->desired >= *peak) {
			*peak = s->desired;
			*at = s->t_mono;
		}
	}
}


/*
 * instance_recent_peak() reads back from the newest sample to the window's
 * start, and all of them once a sample came out of time order: the same
 * peak and time as reading every sample, over seeded histories (empty,
 * partial, wrapped round, equal times, ties, a window longer than the
 * history, samples out of order).
 */
static void
test_recent_peak_reads_the_window(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy(wd, SPEC_A);
	uint32_t seed = 0x2545f491u;
	int64_t t, now, window, at, want_at;
	int peak, want, k, n, unordered;
	size_t i;

	observe(in, 100000, 0, 0);
	assert_false(in->history_unordered);
	observe(in, 99000, 0, 0);		/* the clock went back */
	assert_true(in->history_unordered);
	for (k = 0; k < 3000; k++) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		n = (int)(seed % (2 * HISTORY_LEN + 1)) * (k % 4 != 0);
		unordered = k % 5 == 0;
		window = 1000 * (int64_t)(1 + seed % 1200);
		in->spec->scaling.idle_timeout_ms = window;
		in->spec->scaling.scale_down_delay_ms = 0;
		memset(in->history, 0, HISTORY_LEN * sizeof(*in->history));
		in->nhistory = 0;
		in->history_next = seed % HISTORY_LEN;
		in->history_unordered = unordered;
		for (i = 0, t = 1000000; i < (size_t)n; i++) {
			struct sample *s = &in->history[in->history_next];

			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			t += unordered ? (int64_t)(seed % 4001) - 2000 :
			    (int64_t)(seed % 3) * 1000;
			s->t_mono = t;
			s->desired = (int)(seed >> 8) % 6;
			in->history_next = (in->history_next + 1) % HISTORY_LEN;
			if (in->nhistory < HISTORY_LEN)
				in->nhistory++;
		}
		now = t + (int64_t)(seed % 3000);
		instance_recent_peak(in, now, &peak, &at);
		peak_by_reading_all(in, now, window, &want, &want_at);
		assert_int_equal(peak, want);
		assert_int_equal(at, want_at);
	}
}


/* After a restart, the scheduler and the workers are adopted from the
 * store, with their ids and states; a worker its backend no longer
 * knows is forgotten. */
static void
test_restore_adopts_what_the_store_holds(void **state)
{
	struct world *wd = *state;
	int64_t t;
	struct instance *in = four_running(wd, &t);
	char err[512];
	int ids[4];
	size_t i, n = in->nworkers;

	for (i = 0; i < n; i++)
		ids[i] = in->workers[i]->id;
	in = restart(wd, "a");
	assert_non_null(in);
	check_kept(wd->ctl);
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
	wd->ctl = NULL;		/* teardown's, if open_ctl fails */
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

	/* The first tick asks for the change signal, which the fake engine
	 * has not.  deploy() returns once the instance is started, and the
	 * loop may or may not have run that tick by then (a busy machine
	 * ends its pump first): run one here, so that the observations
	 * below never count as quiet on a signal not yet asked for. */
	instance_tick(in);
	assert_false(in->change_signal);
	observe(in, t, 0, 0);
	observe(in, t + 100, 0, 0);
	assert_int_equal(count(in, W_RUNNING), 1);
	/* no change signal: not quiet, ever */
	assert_int_equal(in->quiet, 0);
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
	worker_set_state(in->workers[0], W_RUNNING);
	/* a worker held above desired until its idle timeout is over (or
	 * the scale-down delay, or the recent peak): the decision changes
	 * then, so the instance is not quiet */
	observe(in, t + 1100, 0, 2);
	assert_int_equal(in->nworkers, 2);
	for (i = 0; i < QUIET_AFTER + 1; i++) {
		in->change_signal = true;
		observe(in, t + 1200 + i * 100, 0, 0);
		assert_string_not_equal(in->hold, "");
		assert_int_equal(in->quiet, 0);
	}
	assert_int_equal(instance_tick(in), 1000);
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
		cmocka_unit_test_setup_teardown(
		    test_a_waiting_loss_survives_a_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_lost_worker_is_told_as_the_scheduler_removed_it,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_lost_worker_waits_for_the_scheduler, setup,
		    teardown),
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
		    test_claims_at_the_time_given, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_observe_matches_the_first, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_lend_only_when_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_recent_peak_reads_the_window, setup, teardown),
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
