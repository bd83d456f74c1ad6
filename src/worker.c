/* worker.c: see ctl_int.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "dask.h"
#include "events.h"
#include "gpu.h"
#include "http.h"
#include "launch.h"
#include "loop.h"
#include "metrics.h"
#include "notebook.h"
#include "pool.h"
#include "pyprobe.h"
#include "scaler.h"
#include "sched.h"
#include "spec.h"
#include "store.h"
#include "tls.h"
#include "util.h"

#include "ctl_int.h"

/* ------------------------------------------------------------- workers */

size_t
instance_count(const struct instance *in, enum wstate st)
{
	size_t i, n = 0;

	for (i = 0; i < in->nworkers; i++)
		if (in->workers[i]->state == st)
			n++;
	return n;
}


struct worker *
worker_by_id(struct instance *in, int id)
{
	size_t i;

	for (i = 0; i < in->nworkers; i++)
		if (in->workers[i]->id == id)
			return in->workers[i];
	return NULL;
}


/* The first of in's by_launch launched after t. */
static size_t
by_launch_after(const struct instance *in, int64_t t)
{
	size_t lo = 0, hi = in->nby_launch, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (in->by_launch[mid]->launched_ms > t)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}


/*
 * w is in by_launch while it is listed, launching or running, and not
 * reclaimed for another instance: it goes in after those launched no
 * later (usually at the end) and comes out by a search among those
 * launched when it was.
 */
void
worker_index(struct worker *w)
{
	struct instance *in = w->inst;
	bool want = w->listed && w->reclaim_for < 0 &&
	    (w->state == W_LAUNCHING || w->state == W_RUNNING);
	size_t i;

	if (want == w->lockable)
		return;
	if (want) {
		i = by_launch_after(in, w->launched_ms);
		in->by_launch = xrealloc(in->by_launch,
		    (in->nby_launch + 1) * sizeof(*in->by_launch));
		memmove(&in->by_launch[i + 1], &in->by_launch[i],
		    (in->nby_launch - i) * sizeof(*in->by_launch));
		in->by_launch[i] = w;
		in->nby_launch++;
	} else {
		i = by_launch_after(in, w->launched_ms - 1);
		while (i < in->nby_launch && in->by_launch[i] != w)
			i++;
		ASSERT(i < in->nby_launch);
		memmove(&in->by_launch[i], &in->by_launch[i + 1],
		    (in->nby_launch - i - 1) * sizeof(*in->by_launch));
		in->nby_launch--;
	}
	w->lockable = want;
}


int
instance_locked(const struct instance *in, int64_t now)
{
	return (int)(in->nby_launch - by_launch_after(in,
	    now - in->spec->scaling.scale_down_delay_ms));
}


void
worker_add(struct worker *w)
{
	struct instance *in = w->inst;

	in->workers = xrealloc(in->workers,
	    (in->nworkers + 1) * sizeof(*in->workers));
	in->workers[in->nworkers++] = w;
	w->listed = true;
	if (w->expires_wall_ms > 0)
		in->expiring++;
	worker_index(w);
}


void
worker_remove(struct worker *w)
{
	struct instance *in = w->inst;
	struct ctl *c = in->ctl;
	size_t i;

	loop_timer_clear(c->loop, &w->start_timer);
	loop_timer_clear(c->loop, &w->kill_timer);
	loop_timer_clear(c->loop, &w->reclaim_timer);
	if (sched_client(in->sched) != NULL)
		in->ctl->engine->cancel(sched_client(in->sched), w);
	pool_release(in->cp->pool, w->slot);
	forget_worker(w);
	for (i = 0; i < in->nworkers; i++) {
		if (in->workers[i] == w) {
			in->workers[i] = in->workers[--in->nworkers];
			break;
		}
	}
	w->listed = false;
	if (w->expires_wall_ms > 0)
		in->expiring--;
	worker_index(w);
	worker_free(w);
}


/* Sets w's state and saves it. */
void
worker_set_state(struct worker *w, enum wstate st)
{
	w->state = st;
	worker_index(w);
	persist_worker(w);
	instance_wake(w->inst);
}


/*
 * Stops a worker: its backend waits `wait_ms` for it to exit by itself (a
 * worker the scheduler retired closes on its own), then stops it its own
 * way.
 */
void
worker_terminate(struct worker *w, int64_t wait_ms)
{
	struct loop *l = w->inst->ctl->loop;

	if (w->state != W_STOPPING)
		worker_set_state(w, W_STOPPING);
	loop_timer_clear(l, &w->start_timer);
	loop_timer_clear(l, &w->kill_timer);
	w->inst->cp->ops->terminate(w, wait_ms);
}


/* Stops w now, without grace: a forced reclaim, a failed start. */
void
worker_kill(struct worker *w)
{
	loop_timer_clear(w->inst->ctl->loop, &w->kill_timer);
	if (w->state != W_STOPPING)
		worker_set_state(w, W_STOPPING);
	w->inst->cp->ops->kill(w, false);
}


int64_t
backoff_ms(int failures)
{
	int64_t ms = 1000;
	int i;

	for (i = 1; i < failures && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}


void
count_failure(struct instance *in)
{
	in->failures++;
	in->backoff_until_ms = mono_ms() + backoff_ms(in->failures);
}


/* What a worker's end may finish: its instance's stop, the daemon's
 * shutdown, an undeploy. */
void
after_worker_gone(struct instance *in)
{
	if (in->state == I_STOPPING && in->nworkers == 0)
		instance_stop(in);
	else
		instance_wake(in);
}


/* The last line of w's log (at most len - 1 bytes), "" when none. */
const char *
worker_log_last(const struct worker *w, char *buf, size_t len)
{
	char tail[400];

	strlcpy_(buf, launch_log_last(w->log, tail, sizeof(tail)), len);
	return buf;
}


/* ------------------------------------------------------------- losses */

/*
 * A registered worker is lost, however it went.  What it held is told and
 * counted (copied elsewhere, nowhere else, or not known) as the scheduler
 * saw it when it removed the worker (its departure, from edask's preload),
 * or else as edask last observed it, which may predate results made or
 * released since: a client that let go of its results a moment before
 * the worker died lost nothing.  A worker re-adopted after a restart and
 * not observed since held what is not known but for its departure.  A
 * loss that edask sees before the scheduler does (the process exited,
 * the job ended) waits for the departure, LOSS_WAIT_MS at most.
 */
static void
held_of(const struct worker *w, struct held *h)
{
	bool known = w->observed || w->departed;

	h->keys = known ? w->keys : -1;
	h->unique_keys = known ? w->unique_keys : -1;
	h->bytes = w->bytes;
	h->departed = w->departed;
}

static void
held_departed(struct held *h, const struct dask_departure *d)
{
	h->keys = d->keys;
	h->unique_keys = d->unique_keys;
	h->bytes = d->bytes;
	h->departed = true;
}

/* The event: head, what it held, tail; and the counts. */
static void
loss_tell(struct instance *in, const struct held *h, const char *head,
    const char *tail)
{
	const char *when = h->departed ? "as the scheduler removed it," :
	    "as last observed,";
	char bytes[32], held[300];

	in->lost_workers++;
	fmt_bytes(h->bytes, bytes, sizeof(bytes));
	if (h->keys < 0)
		snprintf(held, sizeof(held), "what it held is unknown (not "
		    "observed since edask restarted)");
	else if (h->keys == 0)
		snprintf(held, sizeof(held), "%s it held no results", when);
	else if (h->unique_keys < 0)
		snprintf(held, sizeof(held), "%s it held %d result%s (%s); "
		    "whether other workers have copies is unknown (no edask "
		    "preload)", when, h->keys, h->keys == 1 ? "" : "s", bytes);
	else
		snprintf(held, sizeof(held), "%s it held %d result%s (%s), %d "
		    "of them nowhere else: the scheduler recomputes those from "
		    "their inputs", when, h->keys, h->keys == 1 ? "" : "s",
		    bytes, h->unique_keys);
	if (h->unique_keys >= 0) {
		in->lost_keys_only += (uint64_t)h->unique_keys;
		in->lost_keys_copied += (uint64_t)(h->keys - h->unique_keys);
	} else if (h->keys > 0) {
		in->lost_keys_unknown += (uint64_t)h->keys;
	}
	ev(in, "worker_lost", "%s%s%s", head, held, tail);
}


void
worker_departed(struct worker *w, int keys, int unique_keys, int64_t bytes)
{
	w->keys = keys;
	w->unique_keys = unique_keys;
	if (bytes >= 0)
		w->bytes = bytes;
	w->departed = true;
}


void
worker_loss(struct worker *w, const char *head, const char *tail)
{
	struct held h;

	held_of(w, &h);
	loss_tell(w->inst, &h, head, tail);
}


/* p, in the store in place of its worker (one write). */
static void
loss_save(struct instance *in, const struct pending_loss *p)
{
	struct store_loss l;
	char err[256];

	memset(&l, 0, sizeof(l));
	l.instance = in->spec->name;
	l.id = p->id;
	l.address = (char *)p->address;
	l.head = p->head;
	l.tail = p->tail;
	l.keys = p->held.keys;
	l.unique_keys = p->held.unique_keys;
	l.bytes = p->held.bytes;
	l.departed = p->held.departed;
	l.until_ms = wall_ms() + (p->until_ms - mono_ms());
	store_result(in->ctl, store_loss_put(in->ctl->store, &l, err,
	    sizeof(err)), err);
}


void
worker_loss_later(struct worker *w, const char *head, const char *tail)
{
	struct instance *in = w->inst;
	struct pending_loss *p;

	/* no preload (observed, but without unique keys): no departure
	 * to wait for */
	if (w->departed || (w->observed && w->unique_keys < 0) ||
	    w->address[0] == '\0' || in->state != I_STARTED) {
		worker_loss(w, head, tail);
		return;
	}
	in->losses = xrealloc(in->losses, (in->nlosses + 1) *
	    sizeof(*in->losses));
	p = &in->losses[in->nlosses++];
	memset(p, 0, sizeof(*p));
	p->id = w->id;
	p->head = xstrdup(head);
	p->tail = xstrdup(tail);
	strlcpy_(p->address, w->address, sizeof(p->address));
	held_of(w, &p->held);
	p->until_ms = mono_ms() + LOSS_WAIT_MS;
	loss_save(in, p);
}


static const struct dask_departure *
obs_departure(const struct dask_obs *obs, const char *address)
{
	return dask_departure_find(obs->departed, obs->ndeparted, address);
}

static bool
obs_lists(const struct dask_obs *obs, const char *address)
{
	size_t i;

	for (i = 0; i < obs->nworkers; i++)
		if (strcmp(obs->workers[i].address, address) == 0)
			return true;
	return false;
}

/* Told: the i-th pending loss, in the order they came.  Its event and
 * the end of its row are one transaction, so that a restart tells it
 * once: not twice, not never. */
static void
loss_settled(struct instance *in, size_t i)
{
	struct pending_loss *p = &in->losses[i];
	struct store *st = in->ctl->store;
	char err[256];
	bool txn = store_begin(st, err, sizeof(err)) == 0;

	if (!txn)
		log_warnx("%s", err);
	loss_tell(in, &p->held, p->head, p->tail);
	store_result(in->ctl, store_loss_delete(st, in->spec->name, p->id,
	    err, sizeof(err)), err);
	if (txn)
		store_result(in->ctl, store_commit(st, err, sizeof(err)), err);
	free(p->head);
	free(p->tail);
	memmove(p, p + 1, (in->nlosses - i - 1) * sizeof(*p));
	in->nlosses--;
}


void
losses_settle(struct instance *in, const struct dask_obs *obs, int64_t now)
{
	size_t i = 0;

	while (i < in->nlosses) {
		struct pending_loss *p = &in->losses[i];
		const struct dask_departure *d = obs != NULL ?
		    obs_departure(obs, p->address) : NULL;

		if (d != NULL)
			held_departed(&p->held, d);
		else if (now < p->until_ms &&
		    (obs == NULL || obs_lists(obs, p->address))) {
			i++;		/* the scheduler has not seen it go */
			continue;
		}
		loss_settled(in, i);
	}
}


void
losses_flush(struct instance *in)
{
	while (in->nlosses > 0)
		loss_settled(in, 0);
	losses_drop(in);
}


void
losses_drop(struct instance *in)
{
	size_t i;

	for (i = 0; i < in->nlosses; i++) {
		free(in->losses[i].head);
		free(in->losses[i].tail);
	}
	free(in->losses);
	in->losses = NULL;
	in->nlosses = 0;
}


/* A loss whose wait ended while edask was down still waits for the first
 * observation, which may bring the scheduler's count (it keeps
 * departures 10 minutes). */
void
losses_restore(struct instance *in)
{
	struct store_loss *ls = NULL;
	size_t i, n = 0;
	char err[256];
	int64_t now = mono_ms(), wall = wall_ms();

	if (store_losses_load(in->ctl->store, in->spec->name, &ls, &n, err,
	    sizeof(err)) == -1) {
		log_warnx("%s", err);
		return;
	}
	if (n > 0)
		in->losses = xrealloc(in->losses, (in->nlosses + n) *
		    sizeof(*in->losses));
	for (i = 0; i < n; i++) {
		struct pending_loss *p = &in->losses[in->nlosses++];

		memset(p, 0, sizeof(*p));
		p->id = ls[i].id;
		p->head = xstrdup(ls[i].head);
		p->tail = xstrdup(ls[i].tail);
		strlcpy_(p->address, ls[i].address, sizeof(p->address));
		p->held.keys = ls[i].keys;
		p->held.unique_keys = ls[i].unique_keys;
		p->held.bytes = ls[i].bytes;
		p->held.departed = ls[i].departed;
		p->until_ms = now + (ls[i].until_ms > wall ?
		    ls[i].until_ms - wall : 0);
	}
	store_losses_free(ls, n);
}


void
worker_lost(struct worker *w, const char *how)
{
	char last[400], head[300], tail[800];

	worker_log_last(w, last, sizeof(last));
	snprintf(head, sizeof(head), "worker w%d (%s) %s while running; ",
	    w->id, w->name, how);
	snprintf(tail, sizeof(tail), "; slot %d freed, a new worker comes as "
	    "demand asks, without backoff; log %s%s%s", w->slot, w->log,
	    last[0] != '\0' ? ": " : "", last);
	worker_loss_later(w, head, tail);
}


int64_t
on_start_timeout(void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;
	int64_t more;
	char d[32];

	if (w->state != W_LAUNCHING) {
		w->start_timer = 0;
		return LOOP_NOMORE;
	}
	more = in->cp->ops->start_overdue != NULL ?
	    in->cp->ops->start_overdue(w) : BACKEND_OVERDUE;
	if (more != BACKEND_OVERDUE) {
		if (more == LOOP_NOMORE)
			w->start_timer = 0;
		return more;
	}
	w->start_timer = 0;
	count_failure(in);
	ev(in, "start_timeout", "worker w%d (%s) did not register within %s: "
	    "killed; failure %d, next launch in %llds; log %s", w->id,
	    w->name, fmt_duration(in->spec->scaling.start_timeout_ms, d,
	    sizeof(d)), in->failures,
	    (long long)(backoff_ms(in->failures) / 1000), w->log);
	worker_kill(w);
	return LOOP_NOMORE;
}


/*
 * The run's TLS credentials as Dask's command-line options (scheduler,
 * worker and dask-cuda alike: the one certificate is CA and identity).
 */
void
tls_argv(const struct instance *in, char ***argv, size_t *argc)
{
	if (!in->tls)
		return;
	launch_argv_push(argv, argc, "--tls-ca-file");
	launch_argv_push(argv, argc, in->tls_cert);
	launch_argv_push(argv, argc, "--tls-cert");
	launch_argv_push(argv, argc, in->tls_cert);
	launch_argv_push(argv, argc, "--tls-key");
	launch_argv_push(argv, argc, in->tls_key);
}


/* Argument vector of the worker command (docs/design.md §2); NULL with
 * err when workers.command does not split (deploy refuses those). */
char **
worker_argv(struct instance *in, struct worker *w, char *err, size_t errlen)
{
	const struct spec *s = in->spec;
	char **argv = NULL;
	size_t argc = 0;
	char buf[64];
	bool nanny = false;

	if (strcmp(s->workers.command, "auto") == 0) {
		if (in->wtype == SPEC_WORKER_DASK_CUDA) {
			/* dask-cuda's worker: always under its own nanny */
			launch_argv_push(&argv, &argc, s->python);
			launch_argv_push(&argv, &argc, "-m");
			launch_argv_push(&argv, &argc, "dask_cuda.cli");
			nanny = true;
		} else {
			launch_argv_push(&argv, &argc, s->python);
			launch_argv_push(&argv, &argc, "-m");
			launch_argv_push(&argv, &argc,
			    "distributed.cli.dask_worker");
		}
	} else {
		if (launch_argv_words(s->workers.command, &argv, &argc, err,
		    errlen) == -1)
			return NULL;
		/* dask-cuda runs its own nanny and has no --no-nanny */
		nanny = strstr(s->workers.command, "cuda") != NULL;
	}
	launch_argv_push(&argv, &argc, sched_address(in->sched));
	launch_argv_push(&argv, &argc, "--nthreads");
	snprintf(buf, sizeof(buf), "%d", s->workers.threads);
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--memory-limit");
	if (s->workers.memory > 0)
		snprintf(buf, sizeof(buf), "%lld",
		    (long long)s->workers.memory);
	else if (in->cp->ops->worker_memory(in) > 0)
		snprintf(buf, sizeof(buf), "%lld",
		    (long long)in->cp->ops->worker_memory(in));
	else
		snprintf(buf, sizeof(buf), "auto");
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--name");
	launch_argv_push(&argv, &argc, w->name);
	if (s->workers.gpus > 0) {
		snprintf(buf, sizeof(buf), "GPU=%d",
		    in->cp->ops->worker_gpus(in));
		launch_argv_push(&argv, &argc, "--resources");
		launch_argv_push(&argv, &argc, buf);
	}
	if (nanny && s->workers.device_memory_limit[0] != '\0') {
		launch_argv_push(&argv, &argc, "--device-memory-limit");
		launch_argv_push(&argv, &argc, s->workers.device_memory_limit);
	}
	if (nanny && s->workers.rmm_pool_size[0] != '\0') {
		launch_argv_push(&argv, &argc, "--rmm-pool-size");
		launch_argv_push(&argv, &argc, s->workers.rmm_pool_size);
	}
	if (!nanny)
		launch_argv_push(&argv, &argc, "--no-nanny");
	tls_argv(in, &argv, &argc);
	if (in->cp->ops->worker_args != NULL)
		in->cp->ops->worker_args(in, &argv, &argc);
	return argv;
}


/*
 * Environment for a child: the spec's env first, then edask's own
 * variables, which win (launch_spawn lets later entries replace earlier).
 */
char **
spec_envv(const struct spec *s, const char *first, const char *second)
{
	char **env = xcalloc(s->nenv + 3, sizeof(*env));
	size_t i, n = 0;

	for (i = 0; i < s->nenv; i++)
		env[n++] = xasprintf("%s=%s", s->env[i].key, s->env[i].value);
	if (first != NULL)
		env[n++] = xstrdup(first);
	if (second != NULL)
		env[n++] = xstrdup(second);
	return env;
}


/* Starts one worker on a free slot, through its backend; false when it
 * could not. */
bool
worker_launch(struct instance *in)
{
	struct ctl *c = in->ctl;
	struct worker *w;
	size_t k, sharers = 0;
	int slot;

	slot = pool_acquire(in->cp->pool, in->id);
	if (slot < 0)
		return false;
	/* whether it shares the pool: two instances are enough to know */
	for (k = 0; k < c->ninst && sharers < 2; k++)
		if (c->inst[k]->cp == in->cp)
			sharers++;
	if (sharers > 1 &&
	    pool_held_by(in->cp->pool, in->id) > in->spec->sharing.owned)
		ev(in, "lend", "slot %d lent to it: it holds %d, owns %d; "
		    "given back when an instance below its share needs it",
		    slot, pool_held_by(in->cp->pool, in->id),
		    in->spec->sharing.owned);
	w = xcalloc(1, sizeof(*w));
	w->inst = in;
	w->id = ++in->next_worker_id;
	w->slot = slot;
	w->gpu = pool_slot_gpu(in->cp->pool, slot);
	w->state = W_LAUNCHING;
	w->reclaim_for = -1;
	w->idle_since_ms = -1;
	w->rss = -1;
	w->unique_keys = -1;
	w->gpu_util = -1;
	return in->cp->ops->launch(in, w);
}


void
worker_launched(struct worker *w)
{
	struct instance *in = w->inst;

	w->launched_ms = mono_ms();
	w->start_timer = loop_timer_add(in->ctl->loop,
	    in->spec->scaling.start_timeout_ms, on_start_timeout, w);
	worker_add(w);
}


void
worker_launch_failed(struct worker *w, const char *fmt, ...)
{
	struct instance *in = w->inst;
	char why[EVENT_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pool_release(in->cp->pool, w->slot);
	forget_worker(w);
	count_failure(in);
	ev(in, "worker_failed", "%s; failure %d, next launch in %llds", why,
	    in->failures, (long long)(backoff_ms(in->failures) / 1000));
	worker_free(w);
}


bool
worker_take_slot(struct worker *w)
{
	struct instance *in = w->inst;

	return w->slot >= 0 && w->slot < pool_size(in->cp->pool) &&
	    pool_take(in->cp->pool, w->slot, in->id) != -1;
}


/* ------------------------------------------------------------ retiring */

static void
on_retired(int result, const char *msg, void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;

	if (w->state != W_RETIRING)
		return;
	if (result == 1) {
		ev(in, "retired", "worker w%d (%s) retired by the scheduler; "
		    "stopping it", w->id, w->name);
		worker_terminate(w, RETIRED_EXIT_MS);
		return;
	}
	if (in->state == I_STOPPING) {
		worker_terminate(w, 0);
		return;
	}
	if (w->expires_wall_ms > 0) {
		/* asked again a little later, until its job ends */
		w->retire_retry_ms = mono_ms() + RECLAIM_RETRY_MS;
		worker_set_state(w, W_DRAINING);
		if (!w->refusal_told)
			ev(in, "held", "worker w%d (%s), near its job's time "
			    "limit, not retired yet: %s; asking again every "
			    "%ds", w->id, w->name, msg, RECLAIM_RETRY_MS / 1000);
		w->refusal_told = true;
		return;
	}
	if (w->reclaim_for >= 0) {
		/* asked again a little later, until the grace ends; said
		 * once */
		w->retire_retry_ms = mono_ms() + RECLAIM_RETRY_MS;
		worker_set_state(w, W_DRAINING);
		if (!w->refusal_told)
			ev(in, "held", "worker w%d (%s), reclaimed for %s, not "
			    "retired yet: %s; asking again every %ds until "
			    "the grace ends", w->id, w->name, reclaim_name(w),
			    msg, RECLAIM_RETRY_MS / 1000);
		w->refusal_told = true;
		return;
	}
	/* Kept: wait a whole idle_timeout before trying again. */
	w->idle_since_ms = mono_ms();
	worker_set_state(w, W_RUNNING);
	ev(in, "held", "worker w%d (%s) kept: %s", w->id, w->name, msg);
}


void
worker_retire(struct worker *w, int64_t timeout_ms)
{
	struct instance *in = w->inst;

	if ((w->state != W_RUNNING && w->state != W_DRAINING) ||
	    w->address[0] == '\0' || sched_client(in->sched) == NULL) {
		worker_terminate(w, 0);
		return;
	}
	w->retire_wall_ms = wall_ms();
	worker_set_state(w, W_RETIRING);
	in->ctl->engine->retire(sched_client(in->sched), w->address,
	    timeout_ms, on_retired, w);
}


/* ------------------------------------------------------------- ticking */

/*
 * Each worker takes what the scheduler says of it: the first observed
 * worker with its address (its name until it registered), found through
 * an index of the observation rather than a strcmp against each, which
 * an instance of hundreds of workers paid squared every tick.
 */
void
observe_workers(struct instance *in, const struct dask_obs *obs,
    int64_t now)
{
	struct strindex *by_addr = NULL, *by_name = NULL;
	size_t i, j;
	ssize_t k;

	for (i = 0; i < in->nworkers; i++) {
		struct worker *w = in->workers[i];
		const struct dask_worker_info *wi = NULL;

		/* the first observed worker with its address, or its name
		 * before it has one: each index built when first needed */
		if (w->address[0] != '\0' && by_addr == NULL) {
			by_addr = strindex_new(obs->nworkers);
			for (j = 0; j < obs->nworkers; j++)
				strindex_add(by_addr,
				    obs->workers[j].address, j);
		} else if (w->address[0] == '\0' && by_name == NULL) {
			by_name = strindex_new(obs->nworkers);
			for (j = 0; j < obs->nworkers; j++)
				strindex_add(by_name, obs->workers[j].name, j);
		}
		k = w->address[0] != '\0' ? strindex_get(by_addr, w->address) :
		    strindex_get(by_name, w->name);
		if (k >= 0)
			wi = &obs->workers[k];
		if (wi == NULL && w->address[0] != '\0' && !w->departed) {
			const struct dask_departure *d =
			    obs_departure(obs, w->address);

			if (d != NULL)
				worker_departed(w, d->keys, d->unique_keys,
				    d->bytes);
		}
		if (wi == NULL) {
			/* registered once, gone now: it closed or lost its
			 * scheduler; the process is of no use any more */
			if (w->state == W_RUNNING &&
			    ++w->missing >= MISSING_TICKS) {
				char where[96] = "", head[300];

				if (in->cp->ops->where != NULL)
					in->cp->ops->where(w, where,
					    sizeof(where));
				snprintf(head, sizeof(head), "worker w%d "
				    "(%s%s%s) left the scheduler: stopping it; ",
				    w->id, w->name, where[0] != '\0' ? ", " : "",
				    where);
				worker_loss(w, head, "");
				worker_terminate(w, 0);
			}
			continue;
		}
		if (w->state == W_LAUNCHING) {
			char d[32];

			w->registered_ms = now;
			strlcpy_(w->address, wi->address, sizeof(w->address));
			loop_timer_clear(in->ctl->loop, &w->start_timer);
			in->failures = 0;
			in->backoff_until_ms = 0;
			worker_set_state(w, W_RUNNING);
			histogram_observe(&in->ctl->start_hist,
			    (double)(now - w->launched_ms) / 1000.0);
			instance_note_start(in, now - w->launched_ms);
			ev(in, "registered", "worker w%d (%s) registered at %s "
			    "after %s", w->id, w->name, w->address,
			    fmt_duration(now - w->launched_ms, d, sizeof(d)));
		}
		w->missing = 0;
		w->departed = false;	/* back: as observed from now on */
		w->observed = true;
		w->busy = wi->busy;
		w->bytes = wi->bytes;
		w->keys = wi->keys;
		w->unique_keys = wi->unique_keys;
		w->rss = wi->rss;
		if (wi->busy > 0)
			w->idle_since_ms = -1;
		else if (w->idle_since_ms < 0)
			w->idle_since_ms = now;
	}
	strindex_free(by_addr);
	strindex_free(by_name);
	if (in->cp->ops->observe != NULL)
		in->cp->ops->observe(in, now);
}
