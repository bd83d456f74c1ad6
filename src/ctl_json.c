/* ctl_json.c: see ctl_int.h. */
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

/* ---------------------------------------------------------------- JSON */

static json_t *
worker_json(const struct worker *w, int64_t now)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_sprintf("w%d", w->id));
	json_object_set_new(o, "name", json_string(w->name));
	json_object_set_new(o, "state", json_string(wstate_name[w->state]));
	json_object_set_new(o, "slot", json_integer(w->slot));
	json_object_set_new(o, "gpu", w->gpu >= 0 ? json_integer(w->gpu) :
	    json_null());
	json_object_set_new(o, "pid", json_integer(w->pid));
	json_object_set_new(o, "address", w->address[0] != '\0' ?
	    json_string(w->address) : json_null());
	json_object_set_new(o, "started_at_ms",
	    json_integer(w->launched_wall_ms));
	json_object_set_new(o, "uptime_s",
	    json_real((double)(now - w->launched_ms) / 1000.0));
	json_object_set_new(o, "register_s", w->registered_ms > 0 ?
	    json_real((double)(w->registered_ms - w->launched_ms) / 1000.0) :
	    json_null());
	json_object_set_new(o, "busy_tasks", json_integer(w->busy));
	json_object_set_new(o, "keys", json_integer(w->keys));
	json_object_set_new(o, "bytes", json_integer(w->bytes));
	json_object_set_new(o, "memory", w->rss >= 0 ? json_integer(w->rss) :
	    json_null());
	json_object_set_new(o, "idle_s", w->idle_since_ms >= 0 &&
	    w->state == W_RUNNING ?
	    json_real((double)(now - w->idle_since_ms) / 1000.0) :
	    json_null());
	json_object_set_new(o, "gpu_util", w->gpu_util >= 0 ?
	    json_integer(w->gpu_util) : json_null());
	json_object_set_new(o, "log", json_string(w->log));
	json_object_set_new(o, "reclaim_for", reclaim_name(w)[0] != '\0' ?
	    json_string(reclaim_name(w)) : json_null());
	w->inst->cp->ops->worker_json(w, o);
	return o;
}


static json_t *
notebook_json(const struct instance *in)
{
	json_t *o = json_object();

	json_object_set_new(o, "enabled",
	    json_boolean(in->spec->notebook.enabled));
	json_object_set_new(o, "pid", json_integer(in->nb != NULL ?
	    notebook_pid(in->nb) : 0));
	json_object_set_new(o, "port", in->nb != NULL &&
	    notebook_port(in->nb) > 0 ? json_integer(notebook_port(in->nb)) :
	    json_null());
	json_object_set_new(o, "folder", json_string(in->nb_dir));
	json_object_set_new(o, "log", json_string(in->nb_log));
	return o;
}


/*
 * The notebook's URL; without secrets (a read that carried no token)
 * without its ?token=, which is code execution as the daemon's user.
 */
static json_t *
notebook_url_json(const struct instance *in, bool secrets)
{
	const char *u = in->state == I_STARTED && in->nb != NULL ?
	    notebook_url(in->nb) : NULL;
	const char *q;

	if (u == NULL)
		return json_null();
	if (secrets || (q = strchr(u, '?')) == NULL)
		return json_string(u);
	return json_stringn(u, (size_t)(q - u));
}


static json_t *
instance_json(const struct instance *in, bool secrets)
{
	int64_t now = mono_ms();
	json_t *o = json_object(), *outputs = json_object();
	json_t *workers = json_array(), *sched = json_object();
	size_t i;

	json_object_set_new(o, "name", json_string(in->spec->name));
	json_object_set_new(o, "state", json_string(istate_name[in->state]));
	json_object_set_new(o, "error", in->error[0] != '\0' ?
	    json_string(in->error) : json_null());
	json_object_set_new(o, "min", json_integer(in->spec->workers.min));
	json_object_set_new(o, "max", json_integer(in->max));
	json_object_set_new(o, "desired", json_integer(in->desired));
	json_object_set_new(o, "demand", json_integer(in->demand));
	json_object_set_new(o, "pending", json_integer(in->pending));
	json_object_set_new(o, "reason", json_string(in->reason));
	json_object_set_new(o, "hold", json_string(in->hold));
	json_object_set_new(o, "idle_timeout_s",
	    json_real((double)instance_idle_timeout(in) / 1000.0));
	json_object_set_new(o, "pool", json_string(in->spec->pool));
	json_object_set_new(o, "failures", json_integer(in->failures));
	json_object_set_new(o, "losses_waiting",
	    json_integer((json_int_t)in->nlosses));
	json_object_set_new(o, "backoff_s", in->backoff_until_ms > now ?
	    json_real((double)(in->backoff_until_ms - now) / 1000.0) :
	    json_integer(0));
	/* the contract's keys are always there; null until started */
	json_object_set_new(outputs, "dask_scheduler_address",
	    in->state == I_STARTED ? json_string(sched_address(in->sched)) :
	    json_null());
	json_object_set_new(outputs, "dask_scheduler_dashboard_address",
	    in->state == I_STARTED ? json_string(sched_dashboard(in->sched)) :
	    json_null());
	json_object_set_new(outputs, "console_url",
	    in->state == I_STARTED ? json_string(in->console_url) :
	    json_null());
	json_object_set_new(outputs, "notebook_url",
	    notebook_url_json(in, secrets));
	/* how a client connects: paths only, the key file is 0600 */
	json_object_set_new(outputs, "dask_client_config",
	    in->state == I_STARTED ? json_string(in->client_config) :
	    json_null());
	json_object_set_new(outputs, "dask_tls", in->state == I_STARTED &&
	    in->tls ? json_pack("{s:s,s:s,s:s}", "ca_file", in->tls_cert,
	    "cert", in->tls_cert, "key", in->tls_key) : json_null());
	json_object_set_new(outputs, "dask_client_snippet",
	    in->state != I_STARTED ? json_null() : in->tls ? json_sprintf(
	    "from distributed import Client, Security; client = Client(\"%s\", "
	    "security=Security(tls_ca_file=\"%s\", tls_client_cert=\"%s\", "
	    "tls_client_key=\"%s\", require_encryption=True))",
	    sched_address(in->sched), in->tls_cert, in->tls_cert, in->tls_key) :
	    json_sprintf("from distributed import Client; client = "
	    "Client(\"%s\")", sched_address(in->sched)));
	json_object_set_new(o, "outputs", outputs);
	json_object_set_new(o, "notebook", notebook_json(in));
	json_object_set_new(o, "forker", json_pack("{s:i,s:b,s:s}", "pid",
	    (int)in->forker_pid, "ready", in->forker_ready, "log",
	    in->forker_log));
	json_object_set_new(sched, "pid", json_integer(sched_pid(in->sched)));
	json_object_set_new(sched, "log", json_string(in->sched_log));
	json_object_set_new(sched, "observed", json_boolean(in->observed));
	json_object_set_new(sched, "error", in->obs_error[0] != '\0' ?
	    json_string(in->obs_error) : json_null());
	json_object_set_new(sched, "adaptive_target", json_integer(in->target));
	json_object_set_new(sched, "queued",
	    json_integer(in->metrics.queued));
	json_object_set_new(sched, "processing",
	    json_integer(in->metrics.processing));
	json_object_set_new(sched, "no_worker",
	    json_integer(in->metrics.no_worker));
	json_object_set_new(sched, "tasks_in_memory",
	    json_integer(in->metrics.memory));
	json_object_set_new(sched, "observed_at_ms",
	    json_integer(in->observed_wall_ms));
	json_object_set_new(o, "scheduler", sched);
	json_object_set_new(o, "engine", in->probed ? json_pack(
	    "{s:s,s:s,s:s?,s:s?,s:s,s:b}", "python", in->probe.python,
	    "distributed", in->probe.distributed, "dask_cuda",
	    in->probe.dask_cuda[0] != '\0' ? in->probe.dask_cuda : NULL,
	    "bokeh", in->probe.bokeh[0] != '\0' ? in->probe.bokeh : NULL,
	    "worker_type", in->wtype == SPEC_WORKER_DASK_CUDA ? "dask-cuda" :
	    "dask", "dashboard", in->probe.bokeh[0] != '\0') : json_null());
	for (i = 0; i < in->nworkers; i++)
		json_array_append_new(workers, worker_json(in->workers[i], now));
	json_object_set_new(o, "workers", workers);
	json_object_set_new(o, "workers_running",
	    json_integer((json_int_t)instance_count(in, W_RUNNING)));
	json_object_set_new(o, "workers_launching",
	    json_integer((json_int_t)instance_count(in, W_LAUNCHING)));
	json_object_set_new(o, "spec", spec_to_json(in->spec));
	return o;
}


json_t *
ctl_instances_json(struct ctl *c, bool secrets)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < c->ninst; i++)
		json_array_append_new(arr, instance_json(c->inst[i], secrets));
	return json_pack("{s:o}", "instances", arr);
}


/* The per-instance counters that are one uint64_t field each. */
/* The uint64_t counter at offset off of an instance. */
static double
counter_at(const struct instance *in, size_t off)
{
	return (double)*(const uint64_t *)(const void *)
	    ((const char *)in + off);
}

static void
instance_counters(struct strbuf *b, struct ctl *c)
{
	static const struct {
		const char	*name;
		const char	*help;
		size_t		 off;
	} rows[] = {
		{ "edask_workers_lost_total", "Registered workers of an "
		    "instance that died while running (not launch failures).",
		    offsetof(struct instance, lost_workers) },
		{ "edask_instance_flaps_total", "Launches within idle_timeout + "
		    "scale_down_delay (the learned idle_timeout with auto) of a "
		    "retirement of the same instance (the retired worker was "
		    "wanted again).",
		    offsetof(struct instance, flaps) },
		{ "edask_stale_observations_total", "Scheduler answers that "
		    "came more than an interval (at least 1 s) after the "
		    "question: not decided on.",
		    offsetof(struct instance, stale_observations) },
	};
	size_t r, i;

	for (r = 0; r < ARRAY_LEN(rows); r++) {
		metrics_header(b, rows[r].name, "counter", rows[r].help);
		for (i = 0; i < c->ninst; i++) {
			const char *l[] = { "instance", c->inst[i]->spec->name,
			    NULL };

			metrics_sample(b, rows[r].name, l,
			    counter_at(c->inst[i], rows[r].off));
		}
	}
}


/*
 * The samples of name for one instance or pool (label key = who), one
 * for each value of a second label: label = what[k] has the value v[k].
 */
static void
split_samples(struct strbuf *b, const char *name, const char *key,
    const char *who, const char *label, const char *const *what,
    const double *v, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++) {
		const char *l[] = { key, who, label, what[k], NULL };

		metrics_sample(b, name, l, v[k]);
	}
}


/* A counter of every instance split by a label: its uint64_t fields. */
struct split {
	const char	*name;
	const char	*help;
	const char	*label;
	const char	*what[3];
	size_t		 off[3];
	size_t		 n;
};

static const struct split lost_keys_split = {
	"edask_lost_worker_keys_total", "Results held by lost workers, as "
	"the scheduler removed them (else as last observed): copied on "
	"another worker (elsewhere), on none (none: recomputed), or not "
	"known.", "copies",
	{ "elsewhere", "none", "unknown" },
	{ offsetof(struct instance, lost_keys_copied),
	  offsetof(struct instance, lost_keys_only),
	  offsetof(struct instance, lost_keys_unknown) }, 3
};

static const struct split reclaims_split = {
	"edask_reclaims_total", "Workers of an instance reclaimed for another "
	"instance, and of those, how many were stopped when the grace ran "
	"out.", "outcome", { "all", "forced" },
	{ offsetof(struct instance, reclaims),
	  offsetof(struct instance, forced_reclaims) }, 2
};

static const struct split scale_events_split = {
	"edask_scale_events_total", "Scaling decisions since the daemon "
	"started: up (a scale_up event) or down (a retirement).",
	"direction", { "up", "down" },
	{ offsetof(struct instance, scale_ups),
	  offsetof(struct instance, scale_downs) }, 2
};

static void
instance_split(struct strbuf *b, struct ctl *c, const struct split *sp)
{
	double v[ARRAY_LEN(sp->off)];
	size_t i, k;

	metrics_header(b, sp->name, "counter", sp->help);
	for (i = 0; i < c->ninst; i++) {
		for (k = 0; k < sp->n; k++)
			v[k] = counter_at(c->inst[i], sp->off[k]);
		split_samples(b, sp->name, "instance", c->inst[i]->spec->name,
		    sp->label, sp->what, v, sp->n);
	}
}


char *
ctl_metrics_text(struct ctl *c)
{
	struct strbuf b = { NULL, 0, 0 };
	static const char *const slots[] = { "free", "held" };
	static const char *const kinds[] = { "owned", "borrowed" };
	double v[ARRAY_LEN(wstate_name)];	/* the longest split */
	size_t i, k;

	metrics_header(&b, "edask_store_degraded", "gauge",
	    "1 while the state database's writes fail (changes are refused "
	    "with 503), else 0.");
	metrics_sample(&b, "edask_store_degraded", NULL,
	    c->store_degraded ? 1 : 0);
	metrics_header(&b, "edask_store_write_failures_total", "counter",
	    "State database writes that failed.");
	metrics_sample(&b, "edask_store_write_failures_total", NULL,
	    (double)c->store_failures);
	metrics_header(&b, "edask_instance_workers", "gauge",
	    "Workers of an instance by state.");
	for (i = 0; i < c->ninst; i++) {
		for (k = 0; k < ARRAY_LEN(wstate_name); k++)
			v[k] = instance_count(c->inst[i], (enum wstate)k);
		split_samples(&b, "edask_instance_workers", "instance",
		    c->inst[i]->spec->name, "state", wstate_name, v,
		    ARRAY_LEN(wstate_name));
	}
	instance_counters(&b, c);
	instance_split(&b, c, &lost_keys_split);
	metrics_header(&b, "edask_instance_desired_workers", "gauge",
	    "Workers the scaler wants for an instance.");
	for (i = 0; i < c->ninst; i++) {
		const char *l[] = { "instance", c->inst[i]->spec->name, NULL };

		metrics_sample(&b, "edask_instance_desired_workers", l,
		    c->inst[i]->desired);
	}
	metrics_header(&b, "edask_pool_slots", "gauge",
	    "Slots of a pool: free or held.");
	for (i = 0; i < c->npools; i++) {
		struct pool *p = c->pools[i]->pool;

		v[0] = pool_free_count(p);
		v[1] = pool_size(p) - pool_free_count(p);
		split_samples(&b, "edask_pool_slots", "pool", pool_name(p),
		    "state", slots, v, ARRAY_LEN(slots));
	}
	metrics_header(&b, "edask_instance_slots", "gauge",
	    "Slots of the pool an instance holds: owned (within its "
	    "sharing.owned) or borrowed (beyond it).");
	for (i = 0; i < c->ninst; i++) {
		int held = pool_held_by(c->inst[i]->cp->pool, c->inst[i]->id);
		int owned = c->inst[i]->spec->sharing.owned;

		v[0] = held < owned ? held : owned;
		v[1] = held > owned ? held - owned : 0;
		split_samples(&b, "edask_instance_slots", "instance",
		    c->inst[i]->spec->name, "kind", kinds, v, ARRAY_LEN(kinds));
	}
	instance_split(&b, c, &reclaims_split);
	metrics_header(&b, "edask_reclaim_restarted_tasks_total", "counter",
	    "Tasks a forced reclaim cut short (Dask runs them again "
	    "elsewhere); 0 while every reclaim drains in time.");
	metrics_sample(&b, "edask_reclaim_restarted_tasks_total", NULL,
	    (double)c->reclaim_restarted);
	metrics_header(&b, "edask_reclaim_lost_keys_total", "counter",
	    "Results only a force-reclaimed worker held.");
	metrics_sample(&b, "edask_reclaim_lost_keys_total", NULL,
	    (double)c->reclaim_lost_keys);
	instance_split(&b, c, &scale_events_split);
	metrics_header(&b, "edask_worker_start_seconds", "histogram",
	    "Seconds from a worker's launch to its registration with the "
	    "scheduler.");
	metrics_histogram(&b, "edask_worker_start_seconds", &c->start_hist);
	metrics_header(&b, "edask_decision_seconds", "histogram",
	    "Seconds one tick's scaling decision took.");
	metrics_histogram(&b, "edask_decision_seconds", &c->decide_hist);
	metrics_header(&b, "edask_scheduler_up", "gauge",
	    "1 when the instance's scheduler answers, else 0.");
	for (i = 0; i < c->ninst; i++) {
		const char *l[] = { "instance", c->inst[i]->spec->name, NULL };

		metrics_sample(&b, "edask_scheduler_up", l,
		    c->inst[i]->state == I_STARTED && c->inst[i]->observed);
	}
	return b.p;
}


json_t *
ctl_history_json(struct ctl *c, const char *name, int64_t since_ms)
{
	struct instance *in = ctl_find(c, name);
	json_t *arr;
	size_t i, first;

	if (in == NULL)
		return NULL;
	arr = json_array();
	first = (in->history_next + HISTORY_LEN - in->nhistory) % HISTORY_LEN;
	for (i = 0; i < in->nhistory; i++) {
		const struct sample *s = &in->history[(first + i) % HISTORY_LEN];

		if (s->t_ms <= since_ms)
			continue;
		json_array_append_new(arr, json_pack("{s:I,s:i,s:i,s:i,s:i,s:i,"
		    "s:i,s:i}", "t_ms", (json_int_t)s->t_ms,
		    "running", s->running, "launching", s->launching,
		    "retiring", s->retiring, "desired", s->desired,
		    "queued", s->queued, "processing", s->processing,
		    "no_worker", s->no_worker));
	}
	return json_pack("{s:s,s:o}", "name", name, "samples", arr);
}


json_t *
ctl_instance_json(struct ctl *c, const char *name, bool secrets)
{
	struct instance *in = ctl_find(c, name);

	return in != NULL ? instance_json(in, secrets) : NULL;
}


/* One pool of GET /api/v1/pool. */
static json_t *
pool_json(struct ctl *c, struct cpool *cp)
{
	json_t *slots = json_array(), *insts = json_array(), *top;
	int s, n = pool_size(cp->pool);
	struct pool_claim *claims = xcalloc(c->ninst + 1, sizeof(*claims));
	struct instance **who = xcalloc(c->ninst + 1, sizeof(*who));
	int *ent = xcalloc(c->ninst + 1, sizeof(*ent));
	int *left = xcalloc(c->ninst + 1, sizeof(*left));
	bool *lent = xcalloc((size_t)n + 1, sizeof(*lent));
	struct instance **owner = xcalloc((size_t)n + 1, sizeof(*owner));
	size_t i, j, nc;
	int pass;

	nc = pool_claims(c, cp, NULL, mono_ms(), claims, who);
	pool_entitle(n, claims, nc, ent);
	/* Which held slots count as owned and which as borrowed: up to
	 * `owned` per instance are owned, those it keeps before those being
	 * reclaimed from it (pass 0, then pass 1), so that a reclaim shows
	 * as borrowed slots going back. */
	for (i = 0; i < c->ninst; i++)
		left[i] = c->inst[i]->cp == cp ?
		    c->inst[i]->spec->sharing.owned : 0;
	for (pass = 0; pass < 2; pass++) {
		for (s = 0; s < n; s++) {
			int h = pool_slot_holder(cp->pool, s);
			int r = pool_slot_reserved(cp->pool, s);
			bool going = r != POOL_FREE && r != h;

			if (h == POOL_FREE || going != (pass == 1))
				continue;
			for (i = 0; i < c->ninst; i++)
				if (c->inst[i]->id == h && c->inst[i]->cp == cp) {
					lent[s] = left[i]-- <= 0;
					if (!lent[s])
						owner[s] = c->inst[i];
				}
		}
	}
	/* Whose owned quota the other slots are: borrowed ones first, then
	 * free ones, to the instances (in deployment order) that hold less
	 * than they own; the rest belong to nobody. */
	for (pass = 0; pass < 2; pass++) {
		for (s = 0; s < n; s++) {
			int h = pool_slot_holder(cp->pool, s);

			if (owner[s] != NULL || (pass == 0) != (h != POOL_FREE))
				continue;
			for (i = 0; i < c->ninst; i++) {
				if (left[i] > 0 && c->inst[i]->id != h) {
					left[i]--;
					owner[s] = c->inst[i];
					break;
				}
			}
		}
	}
	for (s = 0; s < n; s++) {
		json_t *o = json_object();
		int holder = pool_slot_holder(cp->pool, s);
		struct instance *in = ctl_by_id(c, holder);
		struct instance *rin = ctl_by_id(c,
		    pool_slot_reserved(cp->pool, s));
		struct worker *w = NULL;
		bool borrowed = in != NULL && lent[s];

		json_object_set_new(o, "slot", json_integer(s));
		json_object_set_new(o, "gpu", pool_slot_gpu(cp->pool, s) >= 0 ?
		    json_integer(pool_slot_gpu(cp->pool, s)) : json_null());
		json_object_set_new(o, "instance", in != NULL ?
		    json_string(in->spec->name) : json_null());
		json_object_set_new(o, "borrowed", json_boolean(borrowed));
		json_object_set_new(o, "owner", owner[s] != NULL ?
		    json_string(owner[s]->spec->name) : json_null());
		json_object_set_new(o, "reserved_for", rin != NULL ?
		    json_string(rin->spec->name) : json_null());
		for (j = 0; in != NULL && j < in->nworkers; j++)
			if (in->workers[j]->slot == s)
				w = in->workers[j];
		json_object_set_new(o, "worker", w != NULL ?
		    json_sprintf("w%d", w->id) : json_null());
		json_object_set_new(o, "worker_state", w != NULL ?
		    json_string(wstate_name[w->state]) : json_null());
		cp->ops->slot_json(cp, s, w, o);
		json_array_append_new(slots, o);
	}
	for (i = 0; i < c->ninst; i++) {
		struct instance *in = c->inst[i];
		int held = pool_held_by(cp->pool, in->id), e = -1, giving = 0;
		json_t *o;

		if (in->cp != cp)
			continue;
		for (j = 0; j < nc; j++)
			if (who[j] == in)
				e = ent[j];
		for (s = 0; s < n; s++)
			if (pool_slot_holder(cp->pool, s) == in->id &&
			    pool_slot_reserved(cp->pool, s) != POOL_FREE &&
			    pool_slot_reserved(cp->pool, s) != in->id)
				giving++;
		o = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}",
		    "name", in->spec->name, "state", istate_name[in->state],
		    "held", held, "owned", in->spec->sharing.owned,
		    "borrowed", held > in->spec->sharing.owned ?
		    held - in->spec->sharing.owned : 0,
		    "share", in->spec->sharing.share,
		    "demand", in->demand, "desired", in->desired,
		    "reclaiming", pool_reserved_for(cp->pool, in->id),
		    "giving_back", giving,
		    "reclaimed_from", (int)in->reclaims);
		json_object_set_new(o, "entitled", e >= 0 ? json_integer(e) :
		    json_null());
		json_array_append_new(insts, o);
	}
	free(claims);
	free(who);
	free(ent);
	free(left);
	free(lent);
	free(owner);
	top = json_pack("{s:s,s:s,s:i,s:i,s:o,s:o}",
	    "name", pool_name(cp->pool),
	    "kind", pool_kind_name(pool_kind(cp->pool)),
	    "size", n, "free", pool_free_count(cp->pool),
	    "slots", slots, "instances", insts);
	cp->ops->pool_json(cp, top);
	return top;
}


/*
 * GET /api/v1/pool: the daemon's first pool (the local one where there is
 * one) at the top level, as before there were several, and every pool in
 * "pools".
 */
json_t *
ctl_pool_json(struct ctl *c)
{
	json_t *top, *all = json_array();
	size_t i;

	if (c->npools == 0)
		return json_pack("{s:o}", "pools", all);
	for (i = 0; i < c->npools; i++)
		json_array_append_new(all, pool_json(c, c->pools[i]));
	top = json_deep_copy(json_array_get(all, 0));
	json_object_set_new(top, "pools", all);
	return top;
}
