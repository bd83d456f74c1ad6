/* ctl.c: see ctl_int.h. */
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
#include "slurm.h"
#include "spec.h"
#include "store.h"
#include "tls.h"
#include "util.h"

#include "ctl_int.h"

const struct engine_ops engine_dask = {
	.probe = pyprobe_run,
	.spawn_scheduler = launch_spawn,
	.client_new = dask_new,
	.client_free = dask_free,
	.health = dask_health,
	.observe = dask_observe,
	.retire = dask_retire,
	.drain = dask_drain,
	.changes = dask_changes,
	.cancel = dask_cancel,
};

const char *const istate_name[I_ERROR + 1] = { "registered", "starting",
    "started", "stopping", "stopped", "error" };
const char *const wstate_name[W_DRAINING + 1] = { "launching", "running",
    "retiring", "stopping", "draining" };

static const double start_bounds[] = { 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64,
    128 };
static const double decide_bounds[] = { 0.00001, 0.0001, 0.001, 0.01, 0.1,
    1 };

static int ctlerr(int code, char *err, size_t errlen, const char *fmt, ...)
    PRINTF(4, 5);
static int64_t shutdown_deadline(void *arg);
static void ctl_before_sleep(void *arg);

void
ev(struct instance *in, const char *kind, const char *fmt, ...)
{
	char msg[EVENT_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	events_add(in->ctl->events, in->spec->name, kind, "%s", msg);
}


/* --------------------------------------------------------- persistence */

/* Formats err and returns code: `return ctlerr(CTL_ENOENT, ...)`. */

/*
 * Every store write reports here.  A failure marks the daemon degraded
 * (GET /healthz answers 503, /metrics says so) until a write succeeds;
 * the change of state is an event either way.  The event's own write may
 * fail too: the flag is set first, so that reports nothing new.
 */
void
store_result(struct ctl *c, int rc, const char *err)
{
	if (rc == 0) {
		if (c->store_degraded) {
			c->store_degraded = false;
			events_add(c->events, NULL, "store", "writes succeed "
			    "again (the last failure: %s)", c->store_error);
		}
		return;
	}
	c->store_failures++;
	log_warnx("%s", err);
	if (!c->store_degraded) {
		c->store_degraded = true;
		strlcpy_(c->store_error, err, sizeof(c->store_error));
		events_add(c->events, NULL, "store", "degraded: %s; changes are "
		    "refused (503) until writes succeed again", err);
	} else {
		strlcpy_(c->store_error, err, sizeof(c->store_error));
	}
}


const char *
ctl_degraded(const struct ctl *c)
{
	return c->store_degraded ? c->store_error : NULL;
}


/* Every instance state change goes through here, to the store. */
void
instance_set_state(struct instance *in, enum istate st)
{
	in->state = st;
	persist_instance(in);
	if (st != I_STARTED)
		losses_flush(in);	/* no observation will settle them */
}


/*
 * Every state change is written through at once, one transaction each, so
 * a controller killed at any moment restarts from what really runs.  A
 * failed write is logged and the daemon goes on: the processes matter more
 * than the record of them.
 */
/*
 * The instance's record as it would be with spec and state: a mutation
 * writes it before it changes anything in memory, so that what it answers
 * is what the database holds.  0, or -1 with err.
 */
static int
instance_record_put(struct instance *in, const struct spec *sp,
    enum istate state, bool undeploy, char *err, size_t errlen)
{
	struct store_instance si;
	json_t *spec = spec_to_json(sp);
	char *spec_json = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;

	json_decref(spec);
	if (spec_json == NULL)
		fatalx("cannot encode the spec of %s", sp->name);
	memset(&si, 0, sizeof(si));
	si.name = sp->name;
	si.spec_json = spec_json;
	si.state = (char *)istate_name[state];
	si.error = in->error;
	si.sched_addr = (char *)(sched_address(in->sched) != NULL ?
	    sched_address(in->sched) : "");
	si.dash_url = (char *)(sched_dashboard(in->sched) != NULL ?
	    sched_dashboard(in->sched) : "");
	si.sched_pid = sched_pid(in->sched);
	si.sched_start = sched_start_time(in->sched);
	si.next_worker_id = in->next_worker_id;
	si.created_ms = in->created_ms;
	si.undeploy = undeploy;
	rc = store_instance_put(in->ctl->store, &si, err, errlen);
	store_result(in->ctl, rc, err);
	free(spec_json);
	return rc;
}


/* A mutation's write ahead; CTL_ESTORE with the reason when it failed. */
static int
instance_write_ahead(struct instance *in, const struct spec *sp,
    enum istate state, bool undeploy, char *err, size_t errlen)
{
	char why[256];

	if (instance_record_put(in, sp, state, undeploy, why,
	    sizeof(why)) == 0)
		return 0;
	return ctlerr(CTL_ESTORE, err, errlen, "not saved, nothing changed: "
	    "%s", why);
}


void
persist_instance(struct instance *in)
{
	char err[256];

	(void)instance_record_put(in, in->spec, in->state, in->undeploy, err,
	    sizeof(err));
}



/* Name of the instance w is reclaimed for, "" when none (or gone). */
const char *
reclaim_name(const struct worker *w)
{
	struct instance *to;

	if (w->reclaim_for < 0)
		return "";
	to = ctl_by_id(w->inst->ctl, w->reclaim_for);
	return to != NULL ? to->spec->name : "";
}


void
persist_worker(struct worker *w)
{
	struct store_worker sw;
	char err[256];

	memset(&sw, 0, sizeof(sw));
	sw.instance = w->inst->spec->name;
	sw.id = w->id;
	sw.slot = w->slot;
	sw.gpu = w->gpu;
	sw.state = (char *)wstate_name[w->state];
	sw.pid = w->pid;
	sw.name = w->name;
	sw.address = w->address;
	sw.log = w->log;
	sw.launched_ms = w->launched_wall_ms;
	sw.retire_started_ms = w->state == W_RETIRING ? w->retire_wall_ms : 0;
	sw.reclaim_for = (char *)reclaim_name(w);
	sw.reclaim_deadline_ms = w->reclaim_for >= 0 ?
	    w->reclaim_deadline_wall_ms : 0;
	w->inst->cp->ops->save(w, &sw);
	store_result(w->inst->ctl, store_worker_put(w->inst->ctl->store, &sw,
	    err, sizeof(err)), err);
}


void
forget_worker(struct worker *w)
{
	char err[256];

	store_result(w->inst->ctl, store_worker_delete(w->inst->ctl->store,
	    w->inst->spec->name, w->id, err, sizeof(err)), err);
}


static void
on_event(const struct event *e, void *arg)
{
	struct ctl *c = arg;
	char err[256];

	store_result(c, store_event_add(c->store, e, EVENTS_KEPT, err,
	    sizeof(err)), err);
}


static void
ctl_events_restore(struct ctl *c)
{
	struct event *evs = NULL;
	size_t n = 0;
	char err[256];

	if (store_events_load(c->store, EVENTS_KEPT, &evs, &n, err,
	    sizeof(err)) == -1) {
		log_warnx("%s", err);
		return;
	}
	events_restore(c->events, evs, n);
	free(evs);
}


/*
 * STATE/daemon.id: 16 random hex digits made once, in every Slurm job
 * this daemon submits (slurm.h), so that a restart finds its own jobs
 * and never takes another daemon's.
 */
int
daemon_id(struct ctl *c, char *err, size_t errlen)
{
	char *path = xasprintf("%s/daemon.id", c->state_dir), buf[64];
	int rc = 0;

	if (util_read_small(path, buf, sizeof(buf)) != -1) {
		buf[strcspn(buf, "\n")] = '\0';
		if (strlen(buf) == SLURM_DAEMON_ID_LEN &&
		    strspn(buf, "0123456789abcdef") == SLURM_DAEMON_ID_LEN) {
			strlcpy_(c->daemon_id, buf, sizeof(c->daemon_id));
			goto out;
		}
	}
	rc = util_random_hex(c->daemon_id, sizeof(c->daemon_id),
	    SLURM_DAEMON_ID_LEN, err, errlen);
	if (rc == 0) {
		snprintf(buf, sizeof(buf), "%s\n", c->daemon_id);
		rc = util_write_file(path, buf, strlen(buf), 0600, err, errlen);
	}
out:
	free(path);
	return rc;
}


/*
 * A database that is missing or empty where instance folders say one was
 * kept (truncated, or removed by hand) would start blank: every instance
 * forgotten, its processes unmanaged.  Refused, with the way to start
 * fresh on purpose.
 */
static int
refuse_blank_db(const char *state_dir, const char *path, char *err,
    size_t errlen)
{
	char *dir = xasprintf("%s/instances", state_dir);
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *d;

	if (stat(path, &st) == 0 && st.st_size > 0) {
		free(dir);
		return 0;
	}
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				n++;
		closedir(d);
	}
	if (n == 0) {
		free(dir);
		return 0;
	}
	seterr(err, errlen, "store: %s is %s, but %s holds %zu instance "
	    "folder(s): refusing to start on a blank database, which would "
	    "forget those instances and leave their processes unmanaged.  To "
	    "start fresh on purpose, stop those processes, move %s and %s* "
	    "away, and start again", path, stat(path, &st) == 0 ? "empty" :
	    "missing", dir, n, dir, path);
	free(dir);
	return -1;
}


struct ctl *
ctl_new(struct loop *l, const struct ctl_config *cfg, char *err,
    size_t errlen)
{
	struct ctl *c;
	char *path;
	size_t i;

	c = xcalloc(1, sizeof(*c));
	path = xasprintf("%s/edask.db", cfg->state_dir);
	if (refuse_blank_db(cfg->state_dir, path, err, errlen) == -1 ||
	    store_open(path, &c->store, err, errlen) == -1) {
		free(path);
		free(c);
		return NULL;
	}
	free(path);
	c->loop = l;
	loop_before_sleep(l, ctl_before_sleep, c);
	c->engine = cfg->engine != NULL ? cfg->engine : &engine_dask;
	c->http = http_new(l);
	histogram_init(&c->start_hist, start_bounds, ARRAY_LEN(start_bounds));
	histogram_init(&c->decide_hist, decide_bounds,
	    ARRAY_LEN(decide_bounds));
	c->events = events_new(EVENTS_KEPT);
	c->state_dir = xstrdup(cfg->state_dir);
	c->api_url = xstrdup(cfg->api_url);
	c->stopped = cfg->stopped;
	c->stopped_arg = cfg->stopped_arg;
	ctl_events_restore(c);
	events_set_sink(c->events, on_event, c);
	if (daemon_id(c, err, errlen) == -1) {
		ctl_free(c);
		return NULL;
	}
	c->pools = xcalloc(cfg->nslurm + 1, sizeof(*c->pools));
	if (cfg->pool_name != NULL && (c->pools[c->npools++] =
	    backend_local_pool_new(c, cfg->pool_name, cfg->gpus, err,
	    errlen)) == NULL) {
		c->npools--;
		ctl_free(c);
		return NULL;
	}
	for (i = 0; i < cfg->nslurm; i++)
		c->pools[c->npools++] = backend_slurm_pool_new(c,
		    &cfg->slurm[i]);
	return c;
}


/* A pool built by its backend joins the daemon's (a test's, a
 * simulator's: ctl_new builds those of the config). */
void
ctl_pool_add(struct ctl *c, struct cpool *cp)
{
	c->pools = xrealloc(c->pools, (c->npools + 1) * sizeof(*c->pools));
	c->pools[c->npools++] = cp;
}


void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	w->inst->cp->ops->worker_free(w);
	free(w->log);
	free(w);
}


static void
instance_free(struct instance *in)
{
	size_t i;

	if (in == NULL)
		return;
	loop_timer_clear(in->ctl->loop, &in->change_timer);
	loop_timer_clear(in->ctl->loop, &in->forker_timer);
	launch_term_cancel(&in->forker_term);
	loop_pid_unwatch(in->ctl->loop, in->forker_watch);
	losses_drop(in);	/* still in the store: the next start tells */
	for (i = 0; i < in->nworkers; i++)
		worker_free(in->workers[i]);
	free(in->workers);
	free(in->by_launch);
	free(in->history);
	sched_free(in->sched);
	spec_free(in->spec);
	free(in->dir);
	free(in->sched_log);
	free(in->sched_file);
	free(in->work_dir);
	free(in->console_url);
	notebook_free(in->nb);
	free(in->nb_dir);
	free(in->nb_log);
	free(in->nb_runtime);
	free(in->preload);
	free(in->forker_py);
	free(in->forker_sock);
	free(in->forker_log);
	free(in->forker_pidfile);
	free(in->tls_dir);
	free(in->tls_cert);
	free(in->tls_key);
	free(in->client_config);
	free(in);
}


void
ctl_free(struct ctl *c)
{
	size_t i;

	if (c == NULL)
		return;
	loop_timer_cancel(c->loop, c->shutdown_timer);
	loop_before_sleep_remove(c->loop, ctl_before_sleep, c);
	for (i = 0; i < c->ninst; i++) {
		loop_timer_clear(c->loop, &c->inst[i]->timer);
		instance_free(c->inst[i]);
	}
	free(c->inst);
	http_free(c->http);
	events_free(c->events);
	for (i = 0; i < c->npools; i++) {
		c->pools[i]->ops->pool_free(c->pools[i]);
		pool_free(c->pools[i]->pool);
		free(c->pools[i]);
	}
	free(c->pools);
	for (i = 0; i < PROBE_MEMO_N; i++)
		free(c->probes[i].key);
	store_close(c->store);
	histogram_free(&c->start_hist);
	histogram_free(&c->decide_hist);
	free(c->state_dir);
	free(c->api_url);
	free(c);
}


struct events *
ctl_events(struct ctl *c)
{
	return c->events;
}


bool
ctl_failed(const struct ctl *c)
{
	return c->failed;
}


struct instance *
ctl_find(struct ctl *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->ninst; i++)
		if (strcmp(c->inst[i]->spec->name, name) == 0)
			return c->inst[i];
	return NULL;
}


/* The pool called name; NULL if the daemon has none. */
struct cpool *
ctl_pool(struct ctl *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->npools; i++)
		if (strcmp(pool_name(c->pools[i]->pool), name) == 0)
			return c->pools[i];
	return NULL;
}


bool
ctl_has_instance(struct ctl *c, const char *name)
{
	return ctl_find(c, name) != NULL;
}


/* Defined in instance_assets.S: each file's bytes, then a NUL. */


/* ------------------------------------------------------------- control */

static int
ctlerr(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}


/* The instance named name, or NULL with err saying there is none. */
static struct instance *
ctl_find_err(struct ctl *c, const char *name, char *err, size_t errlen)
{
	struct instance *in = ctl_find(c, name);

	if (in == NULL)
		ctlerr(CTL_ENOENT, err, errlen, "no instance named \"%s\"",
		    name);
	return in;
}


/*
 * Asks the spec's python which Dask it has (pyprobe.h), at most every
 * PROBE_MEMO_MS for one python and environment.  It blocks the loop for
 * the probe's run, tens of milliseconds (PYPROBE_TIMEOUT_MS at most), once
 * per deploy or start: a refusal must reach the deploy's answer.  Returns
 * pyprobe_check()'s -1, 0 or 1 with its message in err.
 */
static int
ctl_probe(struct ctl *c, const struct spec *spec, struct pyprobe *out,
    char *err, size_t errlen)
{
	struct probe_memo *m, *oldest = &c->probes[0];
	char **env = spec_envv(spec, NULL, NULL);
	size_t keylen = strlen(spec->python) + 1, i, o;
	int64_t now = mono_ms();
	char *key;

	for (i = 0; env[i] != NULL; i++)
		keylen += strlen(env[i]) + 1;
	key = xmalloc(keylen);
	o = (size_t)sprintf(key, "%s", spec->python) + 1;
	for (i = 0; env[i] != NULL; i++)
		o += (size_t)sprintf(key + o, "%s", env[i]) + 1;
	for (i = 0; i < PROBE_MEMO_N; i++) {
		m = &c->probes[i];
		if (m->at_ms != 0 && now - m->at_ms < PROBE_MEMO_MS &&
		    m->keylen == keylen && memcmp(m->key, key, keylen) == 0) {
			free(key);
			launch_argv_free(env);
			*out = m->probe;
			strlcpy_(err, m->msg, errlen);
			return m->rc;
		}
		if (m->at_ms < oldest->at_ms)
			oldest = m;
	}
	m = oldest;
	free(m->key);
	m->key = key;
	m->keylen = keylen;
	m->at_ms = now;
	memset(&m->probe, 0, sizeof(m->probe));
	if (c->engine->probe(spec->python, env, c->state_dir, &m->probe, m->msg,
	    sizeof(m->msg)) == -1)
		m->rc = -1;
	else
		m->rc = pyprobe_check(&m->probe, spec->python, m->msg,
		    sizeof(m->msg));
	if (m->rc == -1)
		/* a fixed install is seen at the next try */
		m->at_ms = 0;
	launch_argv_free(env);
	*out = m->probe;
	strlcpy_(err, m->msg, errlen);
	return m->rc;
}


/*
 * The worker type an instance runs: what the spec says, and for auto
 * dask-cuda where it is installed and the pool's GPUs are real ones that
 * edask sees through NVML (a slurm pool's are on other machines: say
 * dask-cuda there).
 */
enum spec_worker_type
resolve_wtype(const struct spec *spec, const struct cpool *cp,
    const struct pyprobe *p)
{
	int t = spec_worker_type(spec->workers.type);

	if (t == SPEC_WORKER_DASK || t == SPEC_WORKER_DASK_CUDA)
		return (enum spec_worker_type)t;
	if (p->dask_cuda[0] != '\0' && !cp->ops->remote &&
	    pool_kind(cp->pool) == POOL_GPU && spec->workers.gpus > 0 &&
	    strcmp(spec->workers.command, "auto") == 0)
		return SPEC_WORKER_DASK_CUDA;
	return SPEC_WORKER_DASK;
}


/* Probes the instance's Python; -1 (err) when edask cannot drive it. */
int
instance_probe(struct instance *in, char *err, size_t errlen)
{
	int rc = ctl_probe(in->ctl, in->spec, &in->probe, err, errlen);

	if (rc == -1)
		return -1;
	in->probed = true;
	in->wtype = resolve_wtype(in->spec, in->cp, &in->probe);
	if (rc == 1)
		ev(in, "version", "%s", err);
	return 0;
}


/*
 * Checks that this daemon can run spec; 0, or CTL_EINVAL with err.
 */
static int
spec_check_runnable(struct ctl *c, const struct spec *spec, char *err,
    size_t errlen)
{
	struct cpool *cp = ctl_pool(c, spec->pool);
	char *cmd0;
	int max;

	if (cp == NULL) {
		char names[512];
		size_t i, o = 0;

		names[0] = '\0';
		for (i = 0; i < c->npools && o < sizeof(names); i++)
			o += (size_t)snprintf(names + o, sizeof(names) - o,
			    "%s\"%s\"", i > 0 ? ", " : "",
			    pool_name(c->pools[i]->pool));
		return ctlerr(CTL_EINVAL, err, errlen,
		    "instance \"%s\": no pool named "
		    "\"%s\" (this daemon has %s)", spec->name, spec->pool,
		    c->npools > 0 ? names : "none");
	}
	if (spec->workers.min > pool_size(cp->pool))
		return ctlerr(CTL_EINVAL, err, errlen,
		    "instance \"%s\": workers.min is %d "
		    "but pool \"%s\" has %d slots", spec->name,
		    spec->workers.min, pool_name(cp->pool),
		    pool_size(cp->pool));
	max = spec->workers.max == SPEC_MAX_ALL ? pool_size(cp->pool) :
	    spec->workers.max;
	if (spec->workers.min > max)
		return ctlerr(CTL_EINVAL, err, errlen,
		    "instance \"%s\": workers.min (%d) "
		    "is greater than workers.max (%d)", spec->name,
		    spec->workers.min, max);
	if (spec->sharing.owned > 0) {
		int owned = spec->sharing.owned;
		size_t i;

		for (i = 0; i < c->ninst; i++)
			if (strcmp(c->inst[i]->spec->name, spec->name) != 0 &&
			    !c->inst[i]->undeploy && c->inst[i]->cp == cp)
				owned += c->inst[i]->spec->sharing.owned;
		if (owned > pool_size(cp->pool))
			return ctlerr(CTL_EINVAL, err, errlen,
			    "instance \"%s\": sharing.owned %d plus the %d "
			    "slot(s) the other instances own is %d, more than "
			    "the %d slots of pool \"%s\"", spec->name,
			    spec->sharing.owned, owned - spec->sharing.owned,
			    owned, pool_size(cp->pool), pool_name(cp->pool));
	}
	if (spec->workers.gpus > 1)
		return ctlerr(CTL_EINVAL, err, errlen,
		    "instance \"%s\": workers.gpus is "
		    "%d, but a worker holds one slot (one GPU) in this "
		    "version; use gpus: 1, or 0 for CPU-only workers",
		    spec->name, spec->workers.gpus);
	if (strcmp(spec->workers.command, "auto") != 0) {
		char **argv = NULL;
		size_t argc = 0;
		char why[256];
		bool found;

		if (launch_argv_words(spec->workers.command, &argv, &argc,
		    why, sizeof(why)) == -1)
			return ctlerr(CTL_EINVAL, err, errlen,
			    "instance \"%s\": workers.command: %s",
			    spec->name, why);
		cmd0 = xstrdup(argc > 0 ? argv[0] : "");
		launch_argv_free(argv);
		found = launch_command_exists(cmd0);
		if (!found)
			ctlerr(CTL_EINVAL, err, errlen,
			    "instance \"%s\": worker command "
			    "\"%s\" not found (workers.command)", spec->name,
			    cmd0);
		free(cmd0);
		if (!found)
			return CTL_EINVAL;
	}
	if (!launch_command_exists(spec->python))
		return ctlerr(CTL_EINVAL, err, errlen,
		    "instance \"%s\": python \"%s\" not "
		    "found", spec->name, spec->python);
	{
		struct pyprobe p;
		char why[512];

		if (ctl_probe(c, spec, &p, why, sizeof(why)) == -1)
			return ctlerr(CTL_EINVAL, err, errlen,
			    "instance \"%s\": %s", spec->name, why);
		if (spec_worker_type(spec->workers.type) ==
		    SPEC_WORKER_DASK_CUDA && p.dask_cuda[0] == '\0')
			return ctlerr(CTL_EINVAL, err, errlen,
			    "instance \"%s\": workers.type is dask-cuda, but "
			    "python \"%s\" has no dask-cuda installed",
			    spec->name, spec->python);
	}
	return 0;
}


/* A new instance from spec (owned), registered with the controller. */
struct instance *
instance_new(struct ctl *c, struct spec *spec)
{
	struct instance *in = xcalloc(1, sizeof(*in));
	size_t k;

	in->ctl = c;
	in->cp = ctl_pool(c, spec->pool);
	ASSERT(in->cp != NULL);
	in->id = ++c->next_inst_id;
	in->spec = spec;
	in->state = I_REGISTERED;
	in->last_scale_up_ms = -1;
	in->last_retire_ms = -1;
	for (k = 0; k < SCALER_START_COSTS; k++)
		in->start_ms[k] = -1;
	in->change_signal = true;
	in->created_ms = wall_ms();
	in->max = spec->workers.max == SPEC_MAX_ALL ? pool_size(in->cp->pool) :
	    spec->workers.max;
	in->dir = xasprintf("%s/instances/%s", c->state_dir, spec->name);
	in->sched_log = xasprintf("%s/scheduler.log", in->dir);
	in->sched_file = xasprintf("%s/scheduler.json", in->dir);
	in->work_dir = xasprintf("%s/work", in->dir);
	in->console_url = xasprintf("%s/instances/%s", c->api_url,
	    spec->name);
	in->nb_dir = xasprintf("%s/notebooks", in->dir);
	in->nb_log = xasprintf("%s/notebook.log", in->dir);
	in->nb_runtime = xasprintf("%s/jupyter-runtime", in->dir);
	in->preload = xasprintf("%s/edask_preload.py", in->dir);
	in->forker_py = xasprintf("%s/edask_forker.py", in->dir);
	in->forker_sock = xasprintf("%s/forker.sock", in->dir);
	in->forker_log = xasprintf("%s/forker.log", in->dir);
	in->forker_pidfile = xasprintf("%s/forker.pid", in->dir);
	in->tls_dir = xasprintf("%s/tls", in->dir);
	in->tls_cert = xasprintf("%s/%s", in->tls_dir, TLS_CERT_FILE);
	in->tls_key = xasprintf("%s/%s", in->tls_dir, TLS_KEY_FILE);
	in->client_config = xasprintf("%s/dask-client.yaml", in->dir);
	c->inst = xrealloc(c->inst, (c->ninst + 1) * sizeof(*c->inst));
	c->inst[c->ninst++] = in;
	return in;
}


/* Replaces the instance's spec (owned) and what derives from it. */
static void
instance_set_spec(struct instance *in, struct spec *spec)
{
	spec_free(in->spec);
	in->spec = spec;
	in->max = spec->workers.max == SPEC_MAX_ALL ?
	    pool_size(in->cp->pool) : spec->workers.max;
	persist_instance(in);
}



static bool
instance_running(const struct instance *in)
{
	return in->state == I_STARTING || in->state == I_STARTED ||
	    in->state == I_STOPPING;
}


/* Any of its processes still there: a worker (or its job), the scheduler,
 * the notebook server, the forker. */
static bool
instance_has_processes(const struct instance *in)
{
	return in->nworkers > 0 || sched_pid(in->sched) > 0 ||
	    in->nb != NULL || in->forker_pid > 0;
}


/* Takes back an instance_new() whose record could not be written. */
static void
ctl_forget_new(struct ctl *c, struct instance *in)
{
	ASSERT(c->ninst > 0 && c->inst[c->ninst - 1] == in);
	c->ninst--;
	instance_free(in);
}


int
ctl_deploy(struct ctl *c, struct spec *spec, enum ctl_deployed *what,
    char *err, size_t errlen)
{
	struct instance *in;
	char fields[256];
	int rc;

	*what = CTL_UNCHANGED;
	if (c->shutting_down) {
		spec_free(spec);
		return ctlerr(CTL_ESHUTDOWN, err, errlen,
		    "the daemon is shutting down");
	}
	if ((rc = spec_check_runnable(c, spec, err, errlen)) != 0) {
		spec_free(spec);
		return rc;
	}
	in = ctl_find(c, spec->name);
	if (in == NULL) {
		in = instance_new(c, spec);
		if ((rc = instance_write_ahead(in, spec, in->state, false,
		    err, errlen)) != 0) {
			ctl_forget_new(c, in);
			return rc;
		}
		*what = CTL_CREATED;
		ev(in, "deployed", "min %d, max %d%s, %d GPU(s) and %d "
		    "thread(s) per worker, pool %s", spec->workers.min,
		    in->max, spec->workers.max == SPEC_MAX_ALL ?
		    " (all slots)" : "", spec->workers.gpus,
		    spec->workers.threads, spec->pool);
		if (in->max > pool_size(in->cp->pool))
			ev(in, "pending", "workers.max %d exceeds the %d slots "
			    "of pool %s: at most %d workers will run", in->max,
			    pool_size(in->cp->pool), pool_name(in->cp->pool),
			    pool_size(in->cp->pool));
		instance_start(in);
		return 0;
	}
	if (in->undeploy) {
		ctlerr(CTL_ECONFLICT, err, errlen,
		    "instance \"%s\" is being undeployed; "
		    "deploy it again once it is gone", spec->name);
		spec_free(spec);
		return CTL_ECONFLICT;
	}
	if (spec_equal(in->spec, spec)) {
		spec_free(spec);
		return 0;
	}
	spec_restart_fields(in->spec, spec, fields, sizeof(fields));
	if (fields[0] != '\0' && instance_running(in)) {
		ctlerr(CTL_ECONFLICT, err, errlen,
		    "instance \"%s\" runs; changing %s needs a "
		    "restart: stop it (edask stop %s), deploy, then start it",
		    spec->name, fields, spec->name);
		spec_free(spec);
		return CTL_ECONFLICT;
	}
	if ((rc = instance_write_ahead(in, spec, in->state, in->undeploy,
	    err, errlen)) != 0) {
		spec_free(spec);
		return rc;
	}
	ev(in, "updated", "spec changed: min %d -> %d, max %d -> %d%s%s",
	    in->spec->workers.min, spec->workers.min, in->max,
	    spec->workers.max == SPEC_MAX_ALL ? pool_size(in->cp->pool) :
	    spec->workers.max, fields[0] != '\0' ? "; at the next start: " :
	    "", fields);
	instance_set_spec(in, spec);
	*what = CTL_UPDATED;
	/* notebook.enabled applies live */
	if (in->spec->notebook.enabled)
		notebook_begin(in);
	else
		notebook_end(in);
	return 0;
}


static void
instance_reset_run(struct instance *in)
{
	sched_free(in->sched);
	in->sched = NULL;
	in->error[0] = '\0';
	in->observed = false;
	in->obs_error[0] = '\0';
	memset(&in->metrics, 0, sizeof(in->metrics));
	in->target = 0;
	in->demand = 0;
	in->desired = 0;
	in->pending = 0;
	in->reason[0] = '\0';
	in->hold[0] = '\0';
	in->last_pending[0] = '\0';
	in->failures = 0;
	in->backoff_until_ms = 0;
	in->last_scale_up_ms = -1;
	in->last_retire_ms = -1;
	in->change_seq = 0;
	in->change_watching = false;
	in->change_signal = true;
	in->tick_again = false;
}


void
ctl_fatal_start(struct ctl *c, const char *name)
{
	struct instance *in = ctl_find(c, name);

	if (in != NULL && !in->ever_started)
		in->fatal_start = true;
}


int
ctl_start(struct ctl *c, const char *name, char *err, size_t errlen)
{
	struct instance *in = ctl_find_err(c, name, err, errlen);
	int rc;

	if (in == NULL)
		return CTL_ENOENT;
	if (c->shutting_down)
		return ctlerr(CTL_ESHUTDOWN, err, errlen,
		    "the daemon is shutting "
		    "down");
	if (in->undeploy || in->state == I_STOPPING ||
	    (in->state == I_ERROR && instance_has_processes(in)))
		return ctlerr(CTL_ECONFLICT, err, errlen,
		    "instance \"%s\" is %s; start it "
		    "once it has stopped", name, in->undeploy ?
		    "being undeployed" : "still stopping");
	if (in->state == I_STARTING || in->state == I_STARTED)
		return 0;
	if ((rc = instance_write_ahead(in, in->spec, I_STARTING,
	    in->undeploy, err, errlen)) != 0)
		return rc;
	instance_reset_run(in);
	instance_start(in);
	return 0;
}


int
ctl_stop(struct ctl *c, const char *name, char *err, size_t errlen)
{
	struct instance *in = ctl_find_err(c, name, err, errlen);
	int rc;

	if (in == NULL)
		return CTL_ENOENT;
	if (in->state != I_STARTING && in->state != I_STARTED)
		return 0;
	if ((rc = instance_write_ahead(in, in->spec, I_STOPPING,
	    in->undeploy, err, errlen)) != 0)
		return rc;
	instance_stop(in);
	return 0;
}


static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}


static void
instance_reap(struct instance *in)
{
	struct ctl *c = in->ctl;
	char err[256];
	size_t i;

	store_result(c, store_instance_delete(c->store, in->spec->name, err,
	    sizeof(err)), err);
	if (nftw(in->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == -1 &&
	    errno != ENOENT)
		log_warn("removing %s", in->dir);
	ev(in, "undeployed", "instance removed with its state folder");
	for (i = 0; i < c->ninst; i++) {
		if (c->inst[i] == in) {
			memmove(&c->inst[i], &c->inst[i + 1],
			    (c->ninst - i - 1) * sizeof(*c->inst));
			c->ninst--;
			break;
		}
	}
	loop_timer_clear(c->loop, &in->timer);
	instance_free(in);
}



/* An undeployed instance whose last process is gone. */
static bool
instance_reapable(const struct instance *in)
{
	return in->undeploy && !instance_has_processes(in) &&
	    !instance_running(in);
}


int
ctl_undeploy(struct ctl *c, const char *name, bool *removed, char *err,
    size_t errlen)
{
	struct instance *in = ctl_find_err(c, name, err, errlen);

	*removed = false;
	if (in == NULL)
		return CTL_ENOENT;
	/* one removed at once is gone from the database before the answer */
	if (!instance_running(in) && !instance_has_processes(in)) {
		char why[256];
		int rc = store_instance_delete(c->store, in->spec->name, why,
		    sizeof(why));

		store_result(c, rc, why);
		if (rc != 0)
			return ctlerr(CTL_ESTORE, err, errlen, "not saved, "
			    "nothing changed: %s", why);
	} else if (!in->undeploy) {
		/* written as undeploying: a restart carries it on */
		int rc = instance_write_ahead(in, in->spec,
		    in->state == I_STARTING || in->state == I_STARTED ?
		    I_STOPPING : in->state, true, err, errlen);

		if (rc != 0)
			return rc;
	}
	if (!in->undeploy) {
		in->undeploy = true;
		ev(in, "undeploying", "stopping, then removing the instance");
	}
	if (in->state == I_STARTING || in->state == I_STARTED)
		instance_stop(in);
	if (instance_reapable(in)) {
		instance_reap(in);
		*removed = true;
	}
	return 0;
}


int
ctl_scale(struct ctl *c, const char *name, bool has_min, int min,
    bool has_max, int max, char *err, size_t errlen)
{
	struct instance *in = ctl_find_err(c, name, err, errlen);
	struct spec *s;
	int rc;

	if (in == NULL)
		return CTL_ENOENT;
	s = spec_dup(in->spec);
	if (has_min)
		s->workers.min = min;
	if (has_max)
		s->workers.max = max;
	if ((rc = spec_check_runnable(c, s, err, errlen)) != 0) {
		spec_free(s);
		return rc;
	}
	if (spec_equal(s, in->spec)) {
		spec_free(s);
		return 0;
	}
	if ((rc = instance_write_ahead(in, s, in->state, in->undeploy, err,
	    errlen)) != 0) {
		spec_free(s);
		return rc;
	}
	ev(in, "scaled", "min %d -> %d, max %d -> %d", in->spec->workers.min,
	    s->workers.min, in->max, s->workers.max == SPEC_MAX_ALL ?
	    pool_size(in->cp->pool) : s->workers.max);
	instance_set_spec(in, s);
	return 0;
}


static void
shutdown_kill_all(struct ctl *c)
{
	size_t i, j;

	for (i = 0; i < c->ninst; i++) {
		struct instance *in = c->inst[i];

		/* backward: a backend may drop the worker it kills (the
		 * last one moves into its place) */
		for (j = in->nworkers; j-- > 0; )
			in->cp->ops->kill(in->workers[j], true);
		if (sched_pid(in->sched) > 0)
			launch_kill(sched_pid(in->sched), SIGKILL);
		if (in->nb != NULL && notebook_pid(in->nb) > 0)
			launch_kill(notebook_pid(in->nb), SIGKILL);
		if (in->forker_pid > 0)
			launch_kill(in->forker_pid, SIGKILL);
	}
}


bool
ctl_idle(struct ctl *c)
{
	size_t i;

	for (i = 0; i < c->npools; i++)
		if (c->pools[i]->ops->busy != NULL &&
		    c->pools[i]->ops->busy(c->pools[i]))
			return false;
	for (i = 0; i < c->ninst; i++)
		if (instance_has_processes(c->inst[i]))
			return false;
	return true;
}


static void
ctl_check_shutdown(struct ctl *c)
{
	void (*done)(void *);

	if (!c->shutting_down || !ctl_idle(c))
		return;
	loop_timer_clear(c->loop, &c->shutdown_timer);
	done = c->stopped;
	c->stopped = NULL;
	if (done != NULL)
		done(c->stopped_arg);
}


/*
 * Once per turn of the loop, after its events: what an exit, a reply or a
 * removal may have finished.  An undeployed instance whose last process
 * is gone is removed, and a shutdown with nothing left running ends.
 * Here rather than after each event that might end the last process.
 */
static void
ctl_before_sleep(void *arg)
{
	struct ctl *c = arg;
	size_t i;

	for (i = 0; i < c->ninst; ) {
		if (instance_reapable(c->inst[i]))
			instance_reap(c->inst[i]);	/* the array shrinks */
		else
			i++;
	}
	ctl_check_shutdown(c);
}


/* The processes a shutdown still waits for, as "pid 12, pid 34". */
static void
shutdown_left(struct ctl *c, char *buf, size_t len)
{
	size_t i, j, o = 0;

	buf[0] = '\0';
	for (i = 0; i < c->ninst && o < len; i++) {
		struct instance *in = c->inst[i];

		for (j = 0; j < in->nworkers && o < len; j++)
			o += (size_t)snprintf(buf + o, len - o,
			    "%sworker pid %d", o > 0 ? ", " : "",
			    (int)in->workers[j]->pid);
		if (sched_pid(in->sched) > 0 && o < len)
			o += (size_t)snprintf(buf + o, len - o, "%sscheduler "
			    "pid %d", o > 0 ? ", " : "",
			    (int)sched_pid(in->sched));
	}
}



static void
shutdown_kill_now(struct ctl *c)
{
	shutdown_kill_all(c);
	c->shutdown_killed = true;
}


/*
 * Nothing keeps a shutdown past its deadlines: after the graceful one
 * everything is killed; after the kill one the daemon leaves whatever it
 * did not hear exit, whose records stay for the next start to adopt or
 * clean up.
 */
static int64_t
shutdown_deadline(void *arg)
{
	struct ctl *c = arg;
	void (*done)(void *);
	char left[512];

	shutdown_left(c, left, sizeof(left));
	if (!c->shutdown_killed) {
		events_add(c->events, NULL, "shutdown", "not done after %d s "
		    "(%s): killing every worker and scheduler now",
		    SHUTDOWN_GRACE_MS / 1000, left[0] != '\0' ? left :
		    "Slurm jobs");
		shutdown_kill_now(c);
		return SHUTDOWN_KILL_MS;	/* then the wait for the exits */
	}
	events_add(c->events, NULL, "shutdown", "%s not heard to exit %d s "
	    "after a kill: leaving; the next start adopts or ends them",
	    left[0] != '\0' ? left : "Slurm jobs", SHUTDOWN_KILL_MS / 1000);
	c->shutdown_timer = 0;
	done = c->stopped;
	c->stopped = NULL;
	if (done != NULL)
		done(c->stopped_arg);
	return LOOP_NOMORE;
}


void
ctl_shutdown(struct ctl *c)
{
	size_t i;

	if (c->shutting_down) {
		events_add(c->events, NULL, "shutdown", "asked again: killing "
		    "every worker and scheduler now");
		shutdown_kill_now(c);
		loop_timer_cancel(c->loop, c->shutdown_timer);
		c->shutdown_timer = loop_timer_add(c->loop, SHUTDOWN_KILL_MS,
		    shutdown_deadline, c);
		return;
	}
	c->shutting_down = true;
	events_add(c->events, NULL, "shutdown", "stopping %zu instance(s)",
	    c->ninst);
	c->shutdown_timer = loop_timer_add(c->loop, SHUTDOWN_GRACE_MS,
	    shutdown_deadline, c);
	for (i = 0; i < c->ninst; i++)
		instance_stop(c->inst[i]);
}


struct instance *
ctl_by_id(struct ctl *c, int id)
{
	size_t i;

	for (i = 0; i < c->ninst; i++)
		if (c->inst[i]->id == id)
			return c->inst[i];
	return NULL;
}
