/*
 * fake_ctl: a fake engine and a fake backend for the real controller
 * (fake_ctl.h), shared by its unit tests and the simulator.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ctl_int.h"
#include "fake_ctl.h"
#include "launch.h"

struct fake_conf fake_conf;
struct fake_counts fake_counts;

/* A reply the fake scheduler owes. */
struct reply {
	enum { R_HEALTH, R_RETIRE, R_DRAIN } kind;
	struct dask	*client;	/* whose: freeing it cancels this */
	void		*cb;		/* NULL: cancelled */
	void		*arg;
	int64_t		 due_ms;
	bool		 drain;
};

static struct {
	struct reply	*q;		/* owed */
	size_t		 nq, qcap;
	struct reply	*batch;		/* being answered */
	size_t		 nbatch;
	pid_t		*pids;		/* the stand-in schedulers */
	size_t		 npids;
} F;

void
fake_reset(void)
{
	free(F.q);
	free(F.pids);
	memset(&F, 0, sizeof(F));
	memset(&fake_counts, 0, sizeof(fake_counts));
	memset(&fake_conf, 0, sizeof(fake_conf));
	fake_conf.sched_life_s = 600;
	fake_conf.retire_result = 1;
}


void
fake_end(void)
{
	size_t i;

	for (i = 0; i < F.npids; i++) {
		kill(F.pids[i], SIGKILL);
		waitpid(F.pids[i], NULL, 0);
	}
	free(F.q);
	free(F.pids);
	memset(&F, 0, sizeof(F));
}

/* ------------------------------------------------------------- engine */

static int
fake_probe(const char *python, char **env, const char *dir,
    struct pyprobe *out, char *err, size_t errlen)
{
	(void)python;
	(void)env;
	(void)dir;
	(void)err;
	(void)errlen;
	memset(out, 0, sizeof(*out));
	strlcpy_(out->python, "3.11.2", sizeof(out->python));
	strlcpy_(out->distributed, PYPROBE_DASK_OLDEST,
	    sizeof(out->distributed));
	return 0;
}


/*
 * The scheduler: a sleep that stands for its process (with
 * conf.one_scheduler, the first one stands for all: its pid is watched as
 * each scheduler's), and the file a real one writes once it listens.
 */
static pid_t
fake_spawn(const struct launch_cmd *cmd, char *err, size_t errlen)
{
	char life[16];
	char *sleep_argv[] = { "sleep", life, NULL };
	struct launch_cmd sc;
	const char *file = NULL, *proto = "tcp";
	size_t i;
	pid_t pid;
	FILE *f;

	for (i = 0; cmd->argv[i] != NULL; i++) {
		if (strcmp(cmd->argv[i], "--scheduler-file") == 0)
			file = cmd->argv[i + 1];
		if (strcmp(cmd->argv[i], "--protocol") == 0)
			proto = cmd->argv[i + 1];
	}
	if (file == NULL)
		return seterr(err, errlen, "no --scheduler-file");
	if (!fake_conf.one_scheduler || F.npids == 0) {
		snprintf(life, sizeof(life), "%d", fake_conf.sched_life_s);
		memset(&sc, 0, sizeof(sc));
		sc.argv = sleep_argv;
		sc.log_path = cmd->log_path;
		sc.cwd = cmd->cwd;
		if ((pid = launch_spawn(&sc, err, errlen)) == -1)
			return -1;
		F.pids = xrealloc(F.pids, (F.npids + 1) * sizeof(*F.pids));
		F.pids[F.npids++] = pid;
	}
	pid = F.pids[F.npids - 1];
	if ((f = fopen(file, "w")) == NULL)
		return seterr(err, errlen, "%s: %s", file, strerror(errno));
	fprintf(f, "{\"address\": \"%s://127.0.0.1:8786\", \"services\": "
	    "{\"dashboard\": 8787}}\n", proto);
	fclose(f);
	fake_counts.spawns++;
	return pid;
}


static struct dask *
fake_client_new(struct http *h, const char *base)
{
	(void)h;
	(void)base;
	return (struct dask *)xcalloc(1, 1);
}


/* Drops what is owed to client d (NULL: any) for arg (NULL: any), whether
 * it waits or is being answered. */
static void
drop_owed(const struct dask *d, const void *arg)
{
	struct reply *lists[] = { F.q, F.batch };
	size_t ns[] = { F.nq, F.nbatch }, k, i;

	for (k = 0; k < ARRAY_LEN(lists); k++)
		for (i = 0; i < ns[k]; i++)
			if ((d == NULL || lists[k][i].client == d) &&
			    (arg == NULL || lists[k][i].arg == arg))
				lists[k][i].cb = NULL;
}


/* As dask_free: what it owes is cancelled with it. */
static void
fake_client_free(struct dask *d)
{
	drop_owed(d, NULL);
	free(d);
}


static void
owe(struct dask *d, int kind, void *cb, void *arg, int64_t delay_ms,
    bool drain)
{
	struct reply *r;

	if (F.nq == F.qcap) {
		F.qcap = F.qcap == 0 ? 256 : 2 * F.qcap;
		F.q = xrealloc(F.q, F.qcap * sizeof(*F.q));
	}
	r = &F.q[F.nq++];
	memset(r, 0, sizeof(*r));
	r->client = d;
	r->kind = kind;
	r->cb = cb;
	r->arg = arg;
	r->due_ms = mono_ms() + delay_ms;
	r->drain = drain;
}


static void
fake_health(struct dask *d, int64_t timeout_ms, dask_health_cb cb,
    void *arg)
{
	(void)timeout_ms;
	owe(d, R_HEALTH, (void *)cb, arg, 0, false);
}


/* The tick's own observations are refused (one "in flight"): the caller
 * observes, with its own clock. */
static int
fake_observe(struct dask *d, int64_t timeout_ms, dask_obs_cb cb, void *arg)
{
	(void)d;
	(void)timeout_ms;
	(void)cb;
	(void)arg;
	return -1;
}


static void
fake_retire(struct dask *d, const char *address, int64_t timeout_ms,
    dask_retire_cb cb, void *arg)
{
	(void)address;
	(void)timeout_ms;
	owe(d, R_RETIRE, (void *)cb, arg, fake_conf.retire_delay_ms, false);
	fake_counts.retires++;
}


static void
fake_drain(struct dask *d, const char *address, bool drain,
    int64_t timeout_ms, dask_drain_cb cb, void *arg)
{
	(void)address;
	(void)timeout_ms;
	owe(d, R_DRAIN, (void *)cb, arg, fake_conf.drain_delay_ms, drain);
	fake_counts.drains++;
}


/* No change signal: the scheduler "has none" (a 404). */
static void
fake_changes(struct dask *d, int64_t since, int64_t wait_ms,
    dask_changes_cb cb, void *arg)
{
	(void)d;
	(void)since;
	(void)wait_ms;
	cb(-2, 0, "no change signal in the fake engine", arg);
}


/* As dask_cancel: what is owed to arg goes. */
static void
fake_cancel(struct dask *d, void *arg)
{
	drop_owed(d, arg);
}


const struct engine_ops fake_engine_ops = {
	.probe = fake_probe,
	.spawn_scheduler = fake_spawn,
	.client_new = fake_client_new,
	.client_free = fake_client_free,
	.health = fake_health,
	.observe = fake_observe,
	.retire = fake_retire,
	.drain = fake_drain,
	.changes = fake_changes,
	.cancel = fake_cancel,
};


static int
drain_answer(const struct reply *r, struct dask_drain_info *di)
{
	memset(di, 0, sizeof(*di));
	if (fake_conf.drain_answer != NULL)
		return fake_conf.drain_answer(r->arg, r->drain, di);
	di->draining = true;
	return 0;
}


/*
 * The replies due by now leave the queue as one batch before any is
 * answered: a callback may owe more (a drained worker is retired), and
 * those wait for their turn; one may cancel another of the batch
 * (fake_cancel() looks there too).
 */
void
fake_answer(int64_t now)
{
	size_t i, keep = 0;

	F.batch = xcalloc(F.nq + 1, sizeof(*F.batch));
	F.nbatch = 0;
	for (i = 0; i < F.nq; i++) {
		if (F.q[i].cb == NULL)
			continue;
		if (F.q[i].due_ms <= now)
			F.batch[F.nbatch++] = F.q[i];
		else
			F.q[keep++] = F.q[i];
	}
	F.nq = keep;
	for (i = 0; i < F.nbatch; i++) {
		struct reply r = F.batch[i];
		struct dask_drain_info di;
		int rc;

		if (r.cb == NULL)
			continue;
		switch (r.kind) {
		case R_HEALTH:
			((dask_health_cb)r.cb)(true, "", r.arg);
			break;
		case R_RETIRE:
			rc = fake_conf.retire_result;
			((dask_retire_cb)r.cb)(rc, rc == 1 ? "" : "held",
			    r.arg);
			break;
		case R_DRAIN:
			rc = drain_answer(&r, &di);
			((dask_drain_cb)r.cb)(rc, &di, "", r.arg);
			break;
		}
	}
	free(F.batch);
	F.batch = NULL;
	F.nbatch = 0;
}


size_t
fake_owed(void)
{
	return F.nq;
}

/* ------------------------------------------------------------ backend */

static struct fake_worker *
fake_worker_new(struct worker *w)
{
	size_t size = fake_conf.worker_size;

	if (size < sizeof(struct fake_worker))
		size = sizeof(struct fake_worker);
	w->be = xcalloc(1, size);
	return w->be;
}


static bool
fake_launch(struct instance *in, struct worker *w)
{
	fake_worker_new(w);
	if (fake_conf.on_launch != NULL)
		fake_conf.on_launch(in, w);
	snprintf(w->name, sizeof(w->name), "%s-%d", in->spec->name, w->id);
	w->log = xasprintf("%s/w%d.log", in->dir, w->id);
	w->launched_wall_ms = wall_ms();
	persist_worker(w);
	worker_launched(w);
	fake_counts.launches++;
	return true;
}


/* A retired worker exits by itself; a terminated one is stopped: gone
 * conf.exit_delay_ms later either way. */
static void
fake_terminate(struct worker *w, int64_t wait_ms)
{
	struct fake_worker *fw = w->be;

	(void)wait_ms;
	w->term_sent = true;
	fw->exit_ms = mono_ms() + fake_conf.exit_delay_ms;
	fake_counts.terminates++;
}


static void
fake_kill(struct worker *w, bool forget)
{
	struct fake_worker *fw = w->be;

	w->term_sent = true;
	fw->exit_ms = mono_ms();
	fake_counts.kills++;
	if (forget)
		worker_remove(w);
}


static bool
fake_adopt(struct worker *w, const struct store_worker *sw)
{
	(void)sw;
	fake_counts.adopts++;
	if (fake_conf.adopt_refuses)
		return false;
	fake_worker_new(w);
	return worker_take_slot(w);
}


static void
fake_save(const struct worker *w, struct store_worker *sw)
{
	(void)w;
	(void)sw;
}


static int64_t
fake_memory(const struct instance *in)
{
	(void)in;
	return 0;
}


static int
fake_gpus(const struct instance *in)
{
	(void)in;
	return 1;
}


static const char *
fake_sched_host(const struct instance *in)
{
	return in->spec->scheduler.host;
}


static void
fake_worker_json(const struct worker *w, json_t *o)
{
	json_object_set_new(o, "fake", json_integer(w->id));
}


static void
fake_slot_json(const struct cpool *cp, int slot, const struct worker *w,
    json_t *o)
{
	(void)cp;
	(void)slot;
	(void)w;
	(void)o;
}


static void
fake_pool_json(const struct cpool *cp, json_t *o)
{
	(void)cp;
	json_object_set_new(o, "backend", json_string("fake"));
}


static void
fake_worker_free(struct worker *w)
{
	if (w->be == NULL)
		return;
	if (fake_conf.on_free != NULL)
		fake_conf.on_free(w);
	free(w->be);
	w->be = NULL;
}


static void
fake_pool_free(struct cpool *cp)
{
	(void)cp;
}


const struct backend_ops fake_backend_ops = {
	.name = "fake",
	.remote = true,
	.launch = fake_launch,
	.terminate = fake_terminate,
	.kill = fake_kill,
	.adopt = fake_adopt,
	.save = fake_save,
	.worker_memory = fake_memory,
	.worker_gpus = fake_gpus,
	.sched_host = fake_sched_host,
	.worker_json = fake_worker_json,
	.slot_json = fake_slot_json,
	.pool_json = fake_pool_json,
	.worker_free = fake_worker_free,
	.pool_free = fake_pool_free,
};


size_t
fake_exits(struct instance *in, int64_t now)
{
	size_t k, n = 0;

	for (k = in->nworkers; k-- > 0; ) {
		struct worker *w = in->workers[k];
		struct fake_worker *fw = w->be;

		if (w->state != W_STOPPING || fw->exit_ms > now)
			continue;
		worker_remove(w);
		after_worker_gone(in);
		n++;
	}
	fake_counts.exits += n;
	return n;
}


/* A controller on the fake engine, with the local pool `local` of `gpus`
 * simulated slots (NULL: none) and the Slurm pool of slurm (NULL: none). */
static struct ctl *
ctl_on_fakes(struct loop *l, const char *dir, const char *local, int gpus,
    const struct config_pool *slurm, char *err, size_t errlen)
{
	struct ctl_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = dir;
	cfg.api_url = "http://127.0.0.1:1";
	cfg.engine = &fake_engine_ops;
	cfg.pool_name = local;
	cfg.gpus = gpus;
	cfg.slurm = slurm;
	cfg.nslurm = slurm != NULL ? 1 : 0;
	return ctl_new(l, &cfg, err, errlen);
}


struct ctl *
fake_ctl_new(struct loop *l, const char *dir, const char *name, int gpus,
    char *err, size_t errlen)
{
	struct cpool *cp;
	struct ctl *c;

	if ((c = ctl_on_fakes(l, dir, NULL, 0, NULL, err, errlen)) == NULL)
		return NULL;
	cp = xcalloc(1, sizeof(*cp));
	cp->ctl = c;
	cp->ops = &fake_backend_ops;
	cp->pool = pool_new(name, POOL_SIMULATED, gpus, NULL);
	ctl_pool_add(c, cp);
	return c;
}


struct ctl *
fake_ctl_new_slurm(struct loop *l, const char *dir,
    const struct config_pool *cfg, char *err, size_t errlen)
{
	return ctl_on_fakes(l, dir, NULL, 0, cfg, err, errlen);
}


struct ctl *
fake_ctl_new_local(struct loop *l, const char *dir, const char *name,
    int gpus, char *err, size_t errlen)
{
	return ctl_on_fakes(l, dir, name, gpus, NULL, err, errlen);
}


static void
scheduler_sees(struct instance *in, int64_t now, int queued, int busy_each,
    const struct worker *absent, const char *also,
    const struct dask_departure *d)
{
	struct dask_worker_info wi[8];
	struct dask_obs obs;
	size_t i, n = 0;

	memset(&obs, 0, sizeof(obs));
	memset(wi, 0, sizeof(wi));
	obs.ok = true;
	obs.metrics.have_tasks = true;
	obs.metrics.queued = queued;
	for (i = 0; i <= in->nworkers && n < ARRAY_LEN(wi); i++) {
		struct worker *w = i < in->nworkers ? in->workers[i] : NULL;

		if (w == NULL && also == NULL)
			break;
		if (w != NULL && (w->state == W_STOPPING || w == absent))
			continue;
		if (w != NULL) {
			snprintf(wi[n].address, sizeof(wi[n].address),
			    "tls://127.0.0.1:%d", 40000 + w->id);
			strlcpy_(wi[n].name, w->name, sizeof(wi[n].name));
		} else {
			strlcpy_(wi[n].address, also, sizeof(wi[n].address));
		}
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
	/* none left out: it would look lost */
	ASSERT(i >= in->nworkers);
	obs.workers = wi;
	obs.nworkers = n;
	obs.departed = (struct dask_departure *)d;
	obs.ndeparted = d != NULL ? 1 : 0;
	obs.metrics.workers = (int)n;
	in->observe_sent_ms = now;
	instance_observed(in, &obs, now);
}


void
fake_scheduler_sees(struct instance *in, int64_t now, int queued,
    int busy_each)
{
	scheduler_sees(in, now, queued, busy_each, NULL, NULL, NULL);
}


void
fake_scheduler_sees_but(struct instance *in, int64_t now,
    const struct worker *absent, const char *also,
    const struct dask_departure *d)
{
	scheduler_sees(in, now, 0, 0, absent, also, d);
}


int
fake_drained_empty(void *arg, bool drain, struct dask_drain_info *di)
{
	(void)arg;
	di->draining = drain;
	return 1;
}
