/* instance: see instance.h. */
#include "instance.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dask.h"
#include "events.h"
#include "gpu.h"
#include "http.h"
#include "launch.h"
#include "loop.h"
#include "pool.h"
#include "scaler.h"
#include "spec.h"
#include "util.h"

/* Routes the scheduler serves: Dask's defaults plus the HTTP API
 * (DESIGN §2; the value must be a quoted Python literal). */
#define SCHEDULER_ROUTES						\
	"[\"distributed.http.scheduler.prometheus\","			\
	"\"distributed.http.scheduler.info\","				\
	"\"distributed.http.scheduler.json\","				\
	"\"distributed.http.health\","					\
	"\"distributed.http.proxy\","					\
	"\"distributed.http.statics\","					\
	"\"distributed.http.scheduler.api\"]"

#define OBSERVE_TIMEOUT_MS	5000
#define LAUNCH_POLL_MS		200
#define HEALTH_TIMEOUT_MS	2000
#define RETIRE_TIMEOUT_MS	60000
#define STOP_RETIRE_TIMEOUT_MS	10000
#define KILL_GRACE_MS		10000
#define RETIRED_EXIT_MS		3000	/* a retired worker exits by itself */
#define BACKOFF_MAX_MS		60000
#define EVENTS_KEPT		10000

enum istate { I_REGISTERED, I_STARTING, I_STARTED, I_STOPPING, I_STOPPED,
    I_ERROR };
enum wstate { W_LAUNCHING, W_RUNNING, W_RETIRING, W_STOPPING };

static const char *istate_name[] = { "registered", "starting", "started",
    "stopping", "stopped", "error" };
static const char *wstate_name[] = { "launching", "running", "retiring",
    "stopping" };

struct instance;

struct worker {
	struct instance	*inst;
	int		 id;
	int		 slot;
	int		 gpu;		/* GPU index, -1 for a CPU slot */
	enum wstate	 state;
	pid_t		 pid;
	char		 name[64];
	char		 address[DASK_ADDR_MAX];
	char		*log;
	int64_t		 launched_ms;	/* monotonic */
	int64_t		 launched_wall_ms;
	int64_t		 registered_ms;
	int64_t		 idle_since_ms;
	int64_t		 bytes;
	int64_t		 rss;
	int		 busy;
	int		 keys;
	int		 gpu_util;
	uint64_t	 start_timer;
	uint64_t	 kill_timer;
	bool		 term_sent;
};

struct instance {
	struct ctl	*ctl;
	int		 id;
	struct spec	*spec;
	enum istate	 state;
	char		 error[1024];
	char		*dir;
	char		*sched_log;
	char		*sched_file;
	char		*work_dir;
	pid_t		 sched_pid;
	char		*sched_addr;	/* tcp://... */
	char		*dash_url;	/* http://... */
	char		*console_url;
	struct dask	*dask;
	uint64_t	 timer;		/* tick, or start poll */
	uint64_t	 sched_kill_timer;
	int64_t		 start_deadline_ms;
	int		 max;		/* spec max resolved against the pool */
	int		 demand;
	int		 desired;
	int		 pending;
	char		 reason[SCALER_REASON_MAX];
	char		 hold[SCALER_REASON_MAX];
	char		 last_pending[EVENT_MSG_MAX];
	bool		 observed;
	char		 obs_error[256];
	struct dask_metrics metrics;
	int		 target;
	int64_t		 observed_wall_ms;
	int64_t		 last_scale_up_ms;
	int		 failures;	/* consecutive, reset on registration */
	int64_t		 backoff_until_ms;
	int		 next_worker_id;
	struct worker	**workers;
	size_t		 nworkers;
	bool		 ever_started;
};

struct ctl {
	struct loop	*loop;
	struct http	*http;
	struct events	*events;
	struct pool	*pool;
	char		*state_dir;
	char		*api_url;
	bool		 nvml;		/* NVML answers for the pool's GPUs */
	bool		 stop_on_start_error;
	bool		 failed;
	int64_t		 mem_total;
	struct instance	**inst;
	size_t		 ninst;
	int		 next_inst_id;
	bool		 shutting_down;
	void		(*stopped)(void *);
	void		*stopped_arg;
	uint64_t	 shutdown_timer;
};

static void instance_tick(void *arg);
static void instance_stop(struct instance *in);
static void instance_fail(struct instance *in, const char *fmt, ...)
    PRINTF(2, 3);
static void ctl_check_shutdown(struct ctl *c);

static void
ev(struct instance *in, const char *kind, const char *fmt, ...) PRINTF(3, 4);

static void
ev(struct instance *in, const char *kind, const char *fmt, ...)
{
	char msg[EVENT_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	events_add(in->ctl->events, in->spec->name, kind, "%s", msg);
}

/* ---------------------------------------------------------------- pool */

static int64_t
mem_total_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psize <= 0)
		return 0;
	return (int64_t)pages * psize;
}

struct ctl *
ctl_new(struct loop *l, const struct ctl_config *cfg, char *err,
    size_t errlen)
{
	struct ctl *c;
	char why[256];
	int n;

	c = xcalloc(1, sizeof(*c));
	c->loop = l;
	c->http = http_new(l);
	c->events = events_new(EVENTS_KEPT);
	c->state_dir = xstrdup(cfg->state_dir);
	c->api_url = xstrdup(cfg->api_url);
	c->stop_on_start_error = cfg->stop_on_start_error;
	c->stopped = cfg->stopped;
	c->stopped_arg = cfg->stopped_arg;
	c->mem_total = mem_total_bytes();
	if (cfg->gpus > 0) {
		c->pool = pool_new("local", POOL_SIMULATED, cfg->gpus, NULL);
		events_add(c->events, NULL, "pool", "local pool: %d simulated "
		    "GPU slots (--gpus; NVML not used)", cfg->gpus);
	} else if ((n = gpu_open(why, sizeof(why))) > 0) {
		c->pool = pool_new("local", POOL_GPU, n, NULL);
		c->nvml = true;
		events_add(c->events, NULL, "pool", "local pool: %d GPUs found "
		    "through NVML", n);
	} else {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		if (cores < 1)
			cores = 1;
		if (n == 0)
			snprintf(why, sizeof(why), "NVML reports no device");
		c->pool = pool_new("local", POOL_CPU, (int)cores, NULL);
		events_add(c->events, NULL, "pool", "no GPU found (%s): local "
		    "pool has %ld CPU slots, one per core", why, cores);
	}
	if (c->pool == NULL) {
		seterr(err, errlen, "cannot create the local pool");
		ctl_free(c);
		return NULL;
	}
	return c;
}

static void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	free(w->log);
	free(w);
}

static void
instance_free(struct instance *in)
{
	size_t i;

	if (in == NULL)
		return;
	for (i = 0; i < in->nworkers; i++)
		worker_free(in->workers[i]);
	free(in->workers);
	dask_free(in->dask);
	spec_free(in->spec);
	free(in->dir);
	free(in->sched_log);
	free(in->sched_file);
	free(in->work_dir);
	free(in->sched_addr);
	free(in->dash_url);
	free(in->console_url);
	free(in);
}

void
ctl_free(struct ctl *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->ninst; i++) {
		if (c->inst[i]->timer != 0)
			loop_timer_cancel(c->loop, c->inst[i]->timer);
		instance_free(c->inst[i]);
	}
	free(c->inst);
	http_free(c->http);
	events_free(c->events);
	pool_free(c->pool);
	if (c->nvml)
		gpu_close();
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

static struct instance *
ctl_find(struct ctl *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->ninst; i++)
		if (strcmp(c->inst[i]->spec->name, name) == 0)
			return c->inst[i];
	return NULL;
}

bool
ctl_has_instance(struct ctl *c, const char *name)
{
	return ctl_find(c, name) != NULL;
}

/* ------------------------------------------------------------- workers */

static size_t
instance_count(const struct instance *in, enum wstate st)
{
	size_t i, n = 0;

	for (i = 0; i < in->nworkers; i++)
		if (in->workers[i]->state == st)
			n++;
	return n;
}

static struct worker *
worker_by_id(struct instance *in, int id)
{
	size_t i;

	for (i = 0; i < in->nworkers; i++)
		if (in->workers[i]->id == id)
			return in->workers[i];
	return NULL;
}

static void
worker_remove(struct worker *w)
{
	struct instance *in = w->inst;
	struct ctl *c = in->ctl;
	size_t i;

	if (w->start_timer != 0)
		loop_timer_cancel(c->loop, w->start_timer);
	if (w->kill_timer != 0)
		loop_timer_cancel(c->loop, w->kill_timer);
	if (in->dask != NULL)
		dask_cancel(in->dask, w);
	if (w->pid > 0)
		loop_pid_unwatch(c->loop, w->pid);
	pool_release(c->pool, w->slot);
	for (i = 0; i < in->nworkers; i++) {
		if (in->workers[i] == w) {
			in->workers[i] = in->workers[--in->nworkers];
			break;
		}
	}
	worker_free(w);
}

static void
on_kill_timer(void *arg)
{
	struct worker *w = arg;

	w->kill_timer = 0;
	if (!w->term_sent) {
		w->term_sent = true;
		launch_kill(w->pid, SIGTERM);
		w->kill_timer = loop_timer_add(w->inst->ctl->loop,
		    KILL_GRACE_MS, on_kill_timer, w);
		return;
	}
	ev(w->inst, "kill", "worker w%d (pid %d) still running %ds after "
	    "SIGTERM: SIGKILL", w->id, (int)w->pid, KILL_GRACE_MS / 1000);
	launch_kill(w->pid, SIGKILL);
}

/*
 * Stops a worker: after `wait_ms` for it to exit by itself (a worker the
 * scheduler retired closes on its own, and a SIGTERM that lands in the
 * middle of that close can hang Dask's worker), SIGTERM, then SIGKILL
 * after KILL_GRACE_MS.
 */
static void
worker_terminate(struct worker *w, int64_t wait_ms)
{
	struct loop *l = w->inst->ctl->loop;

	w->state = W_STOPPING;
	if (w->start_timer != 0) {
		loop_timer_cancel(l, w->start_timer);
		w->start_timer = 0;
	}
	if (w->kill_timer != 0)
		loop_timer_cancel(l, w->kill_timer);
	if (wait_ms > 0 && !w->term_sent) {
		w->kill_timer = loop_timer_add(l, wait_ms, on_kill_timer, w);
		return;
	}
	w->term_sent = true;
	launch_kill(w->pid, SIGTERM);
	w->kill_timer = loop_timer_add(l, KILL_GRACE_MS, on_kill_timer, w);
}

static int64_t
backoff_ms(int failures)
{
	int64_t ms = 1000;
	int i;

	for (i = 1; i < failures && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

static void
count_failure(struct instance *in)
{
	in->failures++;
	in->backoff_until_ms = mono_ms() + backoff_ms(in->failures);
}

static void
on_worker_exit(pid_t pid, int status, void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;
	char tail[400], how[64];
	const char *last;

	(void)pid;
	w->pid = 0;		/* reaped: nothing left to unwatch or kill */
	if (status == -1)
		snprintf(how, sizeof(how), "unknown status");
	else if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exit status %d",
		    WEXITSTATUS(status));
	else
		snprintf(how, sizeof(how), "signal %d", WTERMSIG(status));
	switch (w->state) {
	case W_STOPPING:
	case W_RETIRING:
		ev(in, "worker_gone", "worker w%d (%s) stopped, slot %d freed",
		    w->id, w->name, w->slot);
		break;
	case W_LAUNCHING:
	case W_RUNNING:
		launch_log_tail(w->log, tail, sizeof(tail));
		last = strrchr(tail, '\n');
		last = last != NULL ? last + 1 : tail;
		count_failure(in);
		ev(in, "worker_failed", "worker w%d (%s) exited %s (%s); "
		    "failure %d, next launch in %llds; log %s%s%s", w->id,
		    w->name, w->state == W_LAUNCHING ? "before registering" :
		    "unexpectedly", how, in->failures,
		    (long long)(backoff_ms(in->failures) / 1000), w->log,
		    *last != '\0' ? ": " : "", last);
		break;
	}
	worker_remove(w);
	if (in->state == I_STOPPING && in->nworkers == 0)
		instance_stop(in);
	else
		ctl_check_shutdown(in->ctl);
}

static void
on_start_timeout(void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;
	char d[32];

	w->start_timer = 0;
	if (w->state != W_LAUNCHING)
		return;
	count_failure(in);
	ev(in, "start_timeout", "worker w%d (%s) did not register within %s: "
	    "killed; failure %d, next launch in %llds; log %s", w->id,
	    w->name, fmt_duration(in->spec->scaling.start_timeout_ms, d,
	    sizeof(d)), in->failures,
	    (long long)(backoff_ms(in->failures) / 1000), w->log);
	w->state = W_STOPPING;
	launch_kill(w->pid, SIGKILL);
}

/* Argument vector of the worker command (DESIGN §2). */
static char **
worker_argv(struct instance *in, struct worker *w)
{
	const struct spec *s = in->spec;
	char **argv = NULL;
	size_t argc = 0;
	char buf[64];
	bool nanny = false;

	if (strcmp(s->workers.command, "auto") == 0) {
		if (pool_kind(in->ctl->pool) == POOL_GPU &&
		    launch_command_exists("dask-cuda-worker")) {
			launch_argv_push(&argv, &argc, "dask-cuda-worker");
			nanny = true;
		} else {
			launch_argv_push(&argv, &argc, s->python);
			launch_argv_push(&argv, &argc, "-m");
			launch_argv_push(&argv, &argc,
			    "distributed.cli.dask_worker");
		}
	} else {
		launch_argv_split(s->workers.command, &argv, &argc);
		/* dask-cuda runs its own nanny and has no --no-nanny */
		nanny = strstr(s->workers.command, "cuda") != NULL;
	}
	launch_argv_push(&argv, &argc, in->sched_addr);
	launch_argv_push(&argv, &argc, "--nthreads");
	snprintf(buf, sizeof(buf), "%d", s->workers.threads);
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--memory-limit");
	if (s->workers.memory > 0)
		snprintf(buf, sizeof(buf), "%lld",
		    (long long)s->workers.memory);
	else
		snprintf(buf, sizeof(buf), "%lld", (long long)(in->ctl->mem_total /
		    pool_size(in->ctl->pool)));
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--name");
	launch_argv_push(&argv, &argc, w->name);
	launch_argv_push(&argv, &argc, "--local-directory");
	launch_argv_push(&argv, &argc, in->work_dir);
	if (s->workers.gpus > 0) {
		snprintf(buf, sizeof(buf), "GPU=%d", s->workers.gpus);
		launch_argv_push(&argv, &argc, "--resources");
		launch_argv_push(&argv, &argc, buf);
	}
	if (!nanny)
		launch_argv_push(&argv, &argc, "--no-nanny");
	return argv;
}

/*
 * Environment for a child: the spec's env first, then edask's own
 * variables, which win (launch_spawn lets later entries replace earlier).
 */
static char **
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

/* Starts one worker on a free slot; false when it could not. */
static bool
worker_launch(struct instance *in)
{
	struct ctl *c = in->ctl;
	struct launch_cmd cmd;
	struct worker *w;
	char err[512], cuda[64];
	char **argv, **env;
	int slot;

	slot = pool_acquire(c->pool, in->id);
	if (slot < 0)
		return false;
	w = xcalloc(1, sizeof(*w));
	w->inst = in;
	w->id = ++in->next_worker_id;
	w->slot = slot;
	w->gpu = pool_slot_gpu(c->pool, slot);
	w->state = W_LAUNCHING;
	w->idle_since_ms = -1;
	w->rss = -1;
	w->gpu_util = -1;
	snprintf(w->name, sizeof(w->name), "%s-%d", in->spec->name, slot);
	w->log = xasprintf("%s/w%d-%s.log", in->dir, w->id, w->name);
	/* a CPU-only worker (gpus: 0) still takes a slot but sees no GPU */
	if (w->gpu >= 0 && in->spec->workers.gpus > 0)
		snprintf(cuda, sizeof(cuda), "CUDA_VISIBLE_DEVICES=%d", w->gpu);
	else
		snprintf(cuda, sizeof(cuda), "CUDA_VISIBLE_DEVICES=");
	argv = worker_argv(in, w);
	env = spec_envv(in->spec, cuda, NULL);
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.env = env;
	cmd.log_path = w->log;
	cmd.cwd = in->dir;
	w->pid = launch_spawn(&cmd, err, sizeof(err));
	launch_argv_free(argv);
	launch_argv_free(env);
	if (w->pid == -1) {
		pool_release(c->pool, slot);
		count_failure(in);
		ev(in, "worker_failed", "cannot start worker on slot %d: %s; "
		    "failure %d, next launch in %llds", slot, err,
		    in->failures, (long long)(backoff_ms(in->failures) / 1000));
		worker_free(w);
		return false;
	}
	if (loop_pid_watch(c->loop, w->pid, on_worker_exit, w) == -1)
		log_warn("pidfd for worker pid %d", (int)w->pid);
	w->launched_ms = mono_ms();
	w->launched_wall_ms = wall_ms();
	w->start_timer = loop_timer_add(c->loop,
	    in->spec->scaling.start_timeout_ms, on_start_timeout, w);
	in->workers = xrealloc(in->workers,
	    (in->nworkers + 1) * sizeof(*in->workers));
	in->workers[in->nworkers++] = w;
	if (w->gpu >= 0)
		log_info("[%s] launch w%d %s on slot %d, GPU %d (pid %d)",
		    in->spec->name, w->id, w->name, slot, w->gpu, (int)w->pid);
	else
		log_info("[%s] launch w%d %s on CPU slot %d (pid %d)",
		    in->spec->name, w->id, w->name, slot, (int)w->pid);
	return true;
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
	/* Kept: wait a whole idle_timeout before trying again. */
	w->state = W_RUNNING;
	w->idle_since_ms = mono_ms();
	ev(in, "held", "worker w%d (%s) kept: %s", w->id, w->name, msg);
}

static void
worker_retire(struct worker *w, int64_t timeout_ms)
{
	struct instance *in = w->inst;

	if (w->state != W_RUNNING || w->address[0] == '\0' ||
	    in->dask == NULL) {
		worker_terminate(w, 0);
		return;
	}
	w->state = W_RETIRING;
	dask_retire(in->dask, w->address, timeout_ms, on_retired, w);
}

/* ------------------------------------------------------------- ticking */

static void
observe_workers(struct instance *in, const struct dask_obs *obs)
{
	int64_t now = mono_ms();
	size_t i, j;

	for (i = 0; i < in->nworkers; i++) {
		struct worker *w = in->workers[i];
		const struct dask_worker_info *wi = NULL;

		for (j = 0; j < obs->nworkers && wi == NULL; j++) {
			const struct dask_worker_info *o = &obs->workers[j];

			if (w->address[0] != '\0' ?
			    strcmp(o->address, w->address) == 0 :
			    strcmp(o->name, w->name) == 0)
				wi = o;
		}
		if (wi == NULL)
			continue;
		if (w->state == W_LAUNCHING) {
			char d[32];

			w->state = W_RUNNING;
			w->registered_ms = now;
			strlcpy_(w->address, wi->address, sizeof(w->address));
			if (w->start_timer != 0) {
				loop_timer_cancel(in->ctl->loop, w->start_timer);
				w->start_timer = 0;
			}
			in->failures = 0;
			in->backoff_until_ms = 0;
			ev(in, "registered", "worker w%d (%s) registered at %s "
			    "after %s", w->id, w->name, w->address,
			    fmt_duration(now - w->launched_ms, d, sizeof(d)));
		}
		w->busy = wi->busy;
		w->bytes = wi->bytes;
		w->keys = wi->keys;
		w->rss = wi->rss;
		if (wi->busy > 0)
			w->idle_since_ms = -1;
		else if (w->idle_since_ms < 0)
			w->idle_since_ms = now;
	}
	if (in->ctl->nvml) {
		for (i = 0; i < in->nworkers; i++) {
			struct worker *w = in->workers[i];
			struct gpu_info gi;

			if (w->gpu >= 0 && gpu_query(w->gpu, &gi, NULL, 0) == 0)
				w->gpu_util = gi.util;
			else
				w->gpu_util = -1;
		}
	}
}

/* Slots this instance may still take now, as the pool's allocation says. */
static int
instance_free_slots(struct instance *in)
{
	struct ctl *c = in->ctl;
	struct pool_claim *claims;
	int *grant, mine = 0, held;
	size_t i, n = 0;

	claims = xcalloc(c->ninst, sizeof(*claims));
	grant = xcalloc(c->ninst, sizeof(*grant));
	for (i = 0; i < c->ninst; i++) {
		struct instance *o = c->inst[i];

		if (o->state != I_STARTED && o != in)
			continue;
		claims[n].holder = o->id;
		claims[n].held = pool_held_by(c->pool, o->id);
		claims[n].demand = o->desired;
		claims[n].max = o->max;
		claims[n].owned = o->spec->sharing.owned;
		claims[n].share = o->spec->sharing.share;
		n++;
	}
	pool_allocate(pool_size(c->pool), claims, n, grant);
	for (i = 0; i < n; i++)
		if (claims[i].holder == in->id)
			mine = grant[i];
	held = pool_held_by(c->pool, in->id);
	free(claims);
	free(grant);
	mine -= held;
	if (mine > pool_free_count(c->pool))
		mine = pool_free_count(c->pool);
	return mine > 0 ? mine : 0;
}

static void
pending_event(struct instance *in, const char *fmt, ...) PRINTF(2, 3);

/* Emits a "pending" event only when what is pending changes. */
static void
pending_event(struct instance *in, const char *fmt, ...)
{
	char msg[EVENT_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, in->last_pending) == 0)
		return;
	strlcpy_(in->last_pending, msg, sizeof(in->last_pending));
	if (msg[0] != '\0')
		ev(in, "pending", "%s", msg);
}

static void
instance_decide(struct instance *in)
{
	struct scaler_worker *sw;
	struct scaler_input si;
	struct scaler_decision d;
	int64_t now = mono_ms();
	int launched = 0, i;
	size_t k;

	sw = xcalloc(in->nworkers, sizeof(*sw));
	for (k = 0; k < in->nworkers; k++) {
		struct worker *w = in->workers[k];

		sw[k].id = w->id;
		sw[k].state = w->state == W_LAUNCHING ? SCALER_W_LAUNCHING :
		    w->state == W_RUNNING ? SCALER_W_RUNNING :
		    SCALER_W_RETIRING;
		sw[k].idle_since_ms = w->idle_since_ms;
		sw[k].bytes = w->bytes;
		sw[k].gpu_util = w->gpu_util;
	}
	memset(&si, 0, sizeof(si));
	si.now_ms = now;
	si.min = in->spec->workers.min;
	si.max = in->max;
	si.threads = in->spec->workers.threads;
	si.gpus = in->spec->workers.gpus;
	si.idle_timeout_ms = in->spec->scaling.idle_timeout_ms;
	si.scale_down_delay_ms = in->spec->scaling.scale_down_delay_ms;
	si.gpu_idle_util = in->spec->scaling.gpu_idle_util;
	si.observed = in->observed;
	si.adaptive_target = in->target;
	si.queued = in->metrics.queued;
	si.processing = in->metrics.processing;
	si.no_worker = in->metrics.no_worker;
	/* the allocation uses last tick's desired; first ask with all the
	 * slots the pool could give, then bound by the allocation */
	in->desired = in->desired > 0 ? in->desired : in->spec->workers.min;
	si.free_slots = pool_free_count(in->ctl->pool);
	si.last_scale_up_ms = in->last_scale_up_ms;
	si.nworkers = in->nworkers;
	si.workers = sw;
	scaler_decide(&si, &d);
	in->demand = d.demand;
	in->desired = d.desired;
	if (d.launch > 0) {
		int allowed = instance_free_slots(in);

		if (d.launch > allowed) {
			d.pending += d.launch - allowed;
			d.launch = allowed;
		}
	}
	in->pending = d.pending;
	strlcpy_(in->reason, d.reason, sizeof(in->reason));
	strlcpy_(in->hold, d.hold, sizeof(in->hold));

	if (d.launch > 0 && now < in->backoff_until_ms) {
		pending_event(in, "%d worker(s) wanted; launches paused for %llds "
		    "after %d consecutive failure(s)", d.launch,
		    (long long)((in->backoff_until_ms - now + 999) / 1000),
		    in->failures);
		d.launch = 0;
	} else if (d.pending > 0) {
		pending_event(in, "%d more worker(s) wanted: no free %s in pool "
		    "%s", d.pending, pool_kind(in->ctl->pool) == POOL_CPU ?
		    "slot" : "GPU", pool_name(in->ctl->pool));
	} else {
		pending_event(in, "%s", "");
	}
	for (i = 0; i < d.launch; i++)
		if (worker_launch(in))
			launched++;
	if (launched > 0) {
		in->last_scale_up_ms = now;
		ev(in, "scale_up", "+%d -> %zu workers, desired %d (%s)",
		    launched, instance_count(in, W_LAUNCHING) +
		    instance_count(in, W_RUNNING), d.desired, d.reason);
	}
	for (k = 0; k < d.nretire; k++) {
		struct worker *w = worker_by_id(in, d.retire[k]);
		char idle[32], bytes[32];

		if (w == NULL || w->state != W_RUNNING)
			continue;
		ev(in, "retire", "worker w%d (%s) idle %s, %s in %d keys; "
		    "desired %d (%s)", w->id, w->name,
		    fmt_duration(now - w->idle_since_ms, idle, sizeof(idle)),
		    fmt_bytes(w->bytes, bytes, sizeof(bytes)), w->keys,
		    d.desired, d.reason);
		worker_retire(w, RETIRE_TIMEOUT_MS);
	}
	scaler_decision_free(&d);
	free(sw);
}

static void
on_observed(const struct dask_obs *obs, void *arg)
{
	struct instance *in = arg;

	if (in->state != I_STARTED)
		return;
	if (obs->ok) {
		if (!in->observed && in->obs_error[0] != '\0')
			ev(in, "observe", "scheduler answers again");
		in->observed = true;
		in->obs_error[0] = '\0';
		in->metrics = obs->metrics;
		in->target = obs->target;
		in->observed_wall_ms = wall_ms();
		observe_workers(in, obs);
	} else {
		if (strcmp(in->obs_error, obs->error) != 0)
			ev(in, "observe", "scheduler not observed: %s; holding "
			    "the current size", obs->error);
		in->observed = false;
		strlcpy_(in->obs_error, obs->error, sizeof(in->obs_error));
	}
	instance_decide(in);
}

static void
instance_tick(void *arg)
{
	struct instance *in = arg;
	int64_t delay;

	in->timer = 0;
	if (in->state != I_STARTED)
		return;
	/* while workers launch, look more often: registration is what
	 * starts their work, and what the user waits for */
	delay = in->spec->scaling.interval_ms;
	if (instance_count(in, W_LAUNCHING) > 0 && delay > LAUNCH_POLL_MS)
		delay = LAUNCH_POLL_MS;
	in->timer = loop_timer_add(in->ctl->loop, delay, instance_tick, in);
	/* an observation still in flight (slow scheduler) skips this tick */
	dask_observe(in->dask, OBSERVE_TIMEOUT_MS, on_observed, in);
}

/* ----------------------------------------------------------- scheduler */

static void
on_sched_kill(void *arg)
{
	struct instance *in = arg;

	in->sched_kill_timer = 0;
	ev(in, "kill", "scheduler (pid %d) still running %ds after SIGTERM: "
	    "SIGKILL", (int)in->sched_pid, KILL_GRACE_MS / 1000);
	launch_kill(in->sched_pid, SIGKILL);
}

static void
sched_terminate(struct instance *in)
{
	launch_kill(in->sched_pid, SIGTERM);
	if (in->sched_kill_timer == 0)
		in->sched_kill_timer = loop_timer_add(in->ctl->loop,
		    KILL_GRACE_MS, on_sched_kill, in);
}

static void
workers_terminate_all(struct instance *in)
{
	size_t i;

	for (i = 0; i < in->nworkers; i++)
		if (!in->workers[i]->term_sent)
			worker_terminate(in->workers[i], 0);
}

static void
instance_fail(struct instance *in, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(in->error, sizeof(in->error), fmt, ap);
	va_end(ap);
	in->state = I_ERROR;
	if (in->timer != 0) {
		loop_timer_cancel(in->ctl->loop, in->timer);
		in->timer = 0;
	}
	ev(in, "error", "%s", in->error);
	workers_terminate_all(in);
	if (in->sched_pid > 0)
		sched_terminate(in);
	if (!in->ever_started && in->ctl->stop_on_start_error) {
		in->ctl->failed = true;
		if (!in->ctl->shutting_down)
			ctl_shutdown(in->ctl);
	}
	ctl_check_shutdown(in->ctl);
}

static void
on_sched_exit(pid_t pid, int status, void *arg)
{
	struct instance *in = arg;
	char tail[600], how[64];

	(void)pid;
	in->sched_pid = 0;
	if (in->sched_kill_timer != 0) {
		loop_timer_cancel(in->ctl->loop, in->sched_kill_timer);
		in->sched_kill_timer = 0;
	}
	if (status == -1)
		snprintf(how, sizeof(how), "with unknown status");
	else if (WIFEXITED(status))
		snprintf(how, sizeof(how), "with status %d",
		    WEXITSTATUS(status));
	else
		snprintf(how, sizeof(how), "on signal %d", WTERMSIG(status));
	if (in->state == I_STOPPING) {
		in->state = I_STOPPED;
		ev(in, "stopped", "scheduler stopped; instance stopped");
		ctl_check_shutdown(in->ctl);
		return;
	}
	if (in->state == I_ERROR) {
		ctl_check_shutdown(in->ctl);
		return;
	}
	launch_log_tail(in->sched_log, tail, sizeof(tail));
	instance_fail(in, "scheduler exited %s%s; log %s%s%s", how,
	    in->state == I_STARTING ? " while starting" : "", in->sched_log,
	    tail[0] != '\0' ? "; it ends with: " : "", tail);
}

static void
on_health(bool ok, const char *why, void *arg)
{
	struct instance *in = arg;

	if (in->state != I_STARTING)
		return;
	if (!ok) {
		log_debug("[%s] /health: %s", in->spec->name, why);
		return;		/* the start poll asks again */
	}
	if (in->timer != 0)
		loop_timer_cancel(in->ctl->loop, in->timer);
	in->state = I_STARTED;
	in->ever_started = true;
	ev(in, "started", "scheduler up: dask_scheduler_address=%s "
	    "dask_scheduler_dashboard_address=%s console_url=%s",
	    in->sched_addr, in->dash_url, in->console_url);
	in->timer = loop_timer_add(in->ctl->loop, 0, instance_tick, in);
}

/* Reads the scheduler file: address and dashboard port; 0 once both are
 * there and valid, -1 while not yet written. */
static int
read_sched_file(struct instance *in)
{
	json_t *root, *addr, *dash;
	json_error_t jerr;
	const char *a;
	json_int_t port;
	const char *host;

	root = json_load_file(in->sched_file, 0, &jerr);
	if (root == NULL)
		return -1;
	addr = json_object_get(root, "address");
	dash = json_object_get(json_object_get(root, "services"), "dashboard");
	if (!json_is_string(addr) || !json_is_integer(dash)) {
		json_decref(root);
		return -1;
	}
	a = json_string_value(addr);
	port = json_integer_value(dash);
	if (strncmp(a, "tcp://", 6) != 0 || strlen(a) >= DASK_ADDR_MAX ||
	    port <= 0 || port > 65535) {
		json_decref(root);
		return -1;
	}
	free(in->sched_addr);
	in->sched_addr = xstrdup(a);
	host = in->spec->scheduler.host;
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		host = "127.0.0.1";
	free(in->dash_url);
	in->dash_url = xasprintf("http://%s:%lld", host, (long long)port);
	json_decref(root);
	return 0;
}

static void
start_poll(void *arg)
{
	struct instance *in = arg;
	char d[32];

	in->timer = 0;
	if (in->state != I_STARTING)
		return;
	if (mono_ms() > in->start_deadline_ms) {
		instance_fail(in, "scheduler did not answer /health within %s; "
		    "log %s", fmt_duration(in->spec->scaling.start_timeout_ms,
		    d, sizeof(d)), in->sched_log);
		return;
	}
	if (in->dask == NULL && read_sched_file(in) == 0)
		in->dask = dask_new(in->ctl->http, in->dash_url);
	if (in->dask != NULL)
		dask_health(in->dask, HEALTH_TIMEOUT_MS, on_health, in);
	in->timer = loop_timer_add(in->ctl->loop, 200, start_poll, in);
}

static void
instance_start(struct instance *in)
{
	struct ctl *c = in->ctl;
	struct launch_cmd cmd;
	char **argv = NULL, **env;
	size_t argc = 0;
	char err[512], buf[300];

	in->state = I_STARTING;
	in->error[0] = '\0';
	if (mkdir_p(in->work_dir, 0755) == -1) {
		instance_fail(in, "cannot create %s: %s", in->work_dir,
		    strerror(errno));
		return;
	}
	unlink(in->sched_file);
	launch_argv_push(&argv, &argc, in->spec->python);
	launch_argv_push(&argv, &argc, "-m");
	launch_argv_push(&argv, &argc, "distributed.cli.dask_scheduler");
	launch_argv_push(&argv, &argc, "--host");
	launch_argv_push(&argv, &argc, in->spec->scheduler.host);
	launch_argv_push(&argv, &argc, "--port");
	snprintf(buf, sizeof(buf), "%d", in->spec->scheduler.port);
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--dashboard-address");
	snprintf(buf, sizeof(buf), "%s:%d", in->spec->scheduler.host,
	    in->spec->scheduler.dashboard_port);
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--scheduler-file");
	launch_argv_push(&argv, &argc, in->sched_file);
	env = spec_envv(in->spec, "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES="
	    SCHEDULER_ROUTES, "PYTHONUNBUFFERED=1");
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.env = env;
	cmd.log_path = in->sched_log;
	cmd.cwd = in->dir;
	in->sched_pid = launch_spawn(&cmd, err, sizeof(err));
	launch_argv_free(argv);
	launch_argv_free(env);
	if (in->sched_pid == -1) {
		in->sched_pid = 0;
		instance_fail(in, "cannot start the scheduler: %s", err);
		return;
	}
	if (loop_pid_watch(c->loop, in->sched_pid, on_sched_exit, in) == -1)
		log_warn("pidfd for scheduler pid %d", (int)in->sched_pid);
	ev(in, "starting", "scheduler pid %d, log %s", (int)in->sched_pid,
	    in->sched_log);
	in->start_deadline_ms = mono_ms() + in->spec->scaling.start_timeout_ms;
	in->timer = loop_timer_add(c->loop, 100, start_poll, in);
}

/*
 * Stopping: retire running workers through the scheduler (bounded), stop
 * the rest, then the scheduler.  Called again as workers go; idempotent.
 */
static void
instance_stop(struct instance *in)
{
	size_t i;

	if (in->state == I_STOPPED || in->state == I_ERROR) {
		ctl_check_shutdown(in->ctl);
		return;
	}
	if (in->state != I_STOPPING) {
		in->state = I_STOPPING;
		if (in->timer != 0) {
			loop_timer_cancel(in->ctl->loop, in->timer);
			in->timer = 0;
		}
		ev(in, "stopping", "retiring %zu worker(s), then the scheduler",
		    in->nworkers);
		for (i = 0; i < in->nworkers; i++) {
			struct worker *w = in->workers[i];

			if (w->state == W_RUNNING)
				worker_retire(w, STOP_RETIRE_TIMEOUT_MS);
			else if (w->state == W_LAUNCHING)
				worker_terminate(w, 0);
		}
	}
	if (in->nworkers > 0)
		return;
	if (in->sched_pid > 0) {
		if (in->sched_kill_timer == 0)
			sched_terminate(in);
		return;
	}
	in->state = I_STOPPED;
	ev(in, "stopped", "instance stopped");
	ctl_check_shutdown(in->ctl);
}

/* ------------------------------------------------------------- control */

int
ctl_deploy(struct ctl *c, struct spec *spec, char *err, size_t errlen)
{
	struct instance *in;
	char *cmd0;

	if (c->shutting_down) {
		spec_free(spec);
		return seterr(err, errlen, "the daemon is shutting down");
	}
	if (ctl_find(c, spec->name) != NULL) {
		seterr(err, errlen, "instance \"%s\" already exists",
		    spec->name);
		spec_free(spec);
		return -1;
	}
	if (strcmp(spec->pool, pool_name(c->pool)) != 0) {
		seterr(err, errlen, "instance \"%s\": no pool named \"%s\" "
		    "(this daemon has \"%s\")", spec->name, spec->pool,
		    pool_name(c->pool));
		spec_free(spec);
		return -1;
	}
	if (spec->workers.min > pool_size(c->pool)) {
		seterr(err, errlen, "instance \"%s\": workers.min is %d but "
		    "pool \"%s\" has %d slots", spec->name, spec->workers.min,
		    pool_name(c->pool), pool_size(c->pool));
		spec_free(spec);
		return -1;
	}
	if (spec->workers.gpus > 1) {
		seterr(err, errlen, "instance \"%s\": workers.gpus is %d, but a "
		    "worker holds one slot (one GPU) in this version; use "
		    "gpus: 1, or 0 for CPU-only workers", spec->name,
		    spec->workers.gpus);
		spec_free(spec);
		return -1;
	}
	if (strcmp(spec->workers.command, "auto") != 0) {
		char **argv = NULL;
		size_t argc = 0;

		launch_argv_split(spec->workers.command, &argv, &argc);
		cmd0 = argc > 0 ? xstrdup(argv[0]) : xstrdup("");
		launch_argv_free(argv);
		if (!launch_command_exists(cmd0)) {
			seterr(err, errlen, "instance \"%s\": worker command "
			    "\"%s\" not found (workers.command)", spec->name,
			    cmd0);
			free(cmd0);
			spec_free(spec);
			return -1;
		}
		free(cmd0);
	}
	if (!launch_command_exists(spec->python)) {
		seterr(err, errlen, "instance \"%s\": python \"%s\" not found",
		    spec->name, spec->python);
		spec_free(spec);
		return -1;
	}
	in = xcalloc(1, sizeof(*in));
	in->ctl = c;
	in->id = ++c->next_inst_id;
	in->spec = spec;
	in->state = I_REGISTERED;
	in->last_scale_up_ms = -1;
	in->max = spec->workers.max == SPEC_MAX_ALL ? pool_size(c->pool) :
	    spec->workers.max;
	in->dir = xasprintf("%s/instances/%s", c->state_dir, spec->name);
	in->sched_log = xasprintf("%s/scheduler.log", in->dir);
	in->sched_file = xasprintf("%s/scheduler.json", in->dir);
	in->work_dir = xasprintf("%s/work", in->dir);
	in->console_url = xasprintf("%s/instances/%s", c->api_url,
	    spec->name);
	c->inst = xrealloc(c->inst, (c->ninst + 1) * sizeof(*c->inst));
	c->inst[c->ninst++] = in;
	ev(in, "deployed", "min %d, max %d%s, %d GPU(s) and %d thread(s) per "
	    "worker, pool %s", spec->workers.min, in->max,
	    spec->workers.max == SPEC_MAX_ALL ? " (all slots)" : "",
	    spec->workers.gpus, spec->workers.threads, spec->pool);
	if (in->max > pool_size(c->pool))
		ev(in, "pending", "workers.max %d exceeds the %d slots of pool "
		    "%s: at most %d workers will run", in->max,
		    pool_size(c->pool), pool_name(c->pool), pool_size(c->pool));
	instance_start(in);
	return 0;
}

static void
shutdown_kill_all(struct ctl *c)
{
	size_t i, j;

	for (i = 0; i < c->ninst; i++) {
		struct instance *in = c->inst[i];

		for (j = 0; j < in->nworkers; j++)
			launch_kill(in->workers[j]->pid, SIGKILL);
		if (in->sched_pid > 0)
			launch_kill(in->sched_pid, SIGKILL);
	}
}

static bool
ctl_idle(struct ctl *c)
{
	size_t i;

	for (i = 0; i < c->ninst; i++)
		if (c->inst[i]->nworkers > 0 || c->inst[i]->sched_pid > 0)
			return false;
	return true;
}

static void
ctl_check_shutdown(struct ctl *c)
{
	void (*done)(void *);

	if (!c->shutting_down || !ctl_idle(c))
		return;
	if (c->shutdown_timer != 0) {
		loop_timer_cancel(c->loop, c->shutdown_timer);
		c->shutdown_timer = 0;
	}
	done = c->stopped;
	c->stopped = NULL;
	if (done != NULL)
		done(c->stopped_arg);
}

void
ctl_shutdown(struct ctl *c)
{
	size_t i;

	if (c->shutting_down) {
		events_add(c->events, NULL, "shutdown", "asked again: killing "
		    "every worker and scheduler now");
		shutdown_kill_all(c);
		return;
	}
	c->shutting_down = true;
	events_add(c->events, NULL, "shutdown", "stopping %zu instance(s)",
	    c->ninst);
	for (i = 0; i < c->ninst; i++)
		instance_stop(c->inst[i]);
	ctl_check_shutdown(c);
}

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
	return o;
}

static json_t *
instance_json(const struct instance *in)
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
	json_object_set_new(o, "pool", json_string(in->spec->pool));
	json_object_set_new(o, "failures", json_integer(in->failures));
	json_object_set_new(o, "backoff_s", in->backoff_until_ms > now ?
	    json_real((double)(in->backoff_until_ms - now) / 1000.0) :
	    json_integer(0));
	/* the contract's keys are always there; null until started */
	json_object_set_new(outputs, "dask_scheduler_address",
	    in->state == I_STARTED ? json_string(in->sched_addr) : json_null());
	json_object_set_new(outputs, "dask_scheduler_dashboard_address",
	    in->state == I_STARTED ? json_string(in->dash_url) : json_null());
	json_object_set_new(outputs, "console_url",
	    in->state == I_STARTED ? json_string(in->console_url) :
	    json_null());
	json_object_set_new(o, "outputs", outputs);
	json_object_set_new(sched, "pid", json_integer(in->sched_pid));
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
ctl_instances_json(struct ctl *c)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < c->ninst; i++)
		json_array_append_new(arr, instance_json(c->inst[i]));
	return json_pack("{s:o}", "instances", arr);
}

json_t *
ctl_instance_json(struct ctl *c, const char *name)
{
	struct instance *in = ctl_find(c, name);

	return in != NULL ? instance_json(in) : NULL;
}

static struct instance *
ctl_by_id(struct ctl *c, int id)
{
	size_t i;

	for (i = 0; i < c->ninst; i++)
		if (c->inst[i]->id == id)
			return c->inst[i];
	return NULL;
}

json_t *
ctl_pool_json(struct ctl *c)
{
	json_t *slots = json_array(), *insts = json_array();
	int s, n = pool_size(c->pool);
	size_t i, j;

	for (s = 0; s < n; s++) {
		json_t *o = json_object();
		int holder = pool_slot_holder(c->pool, s);
		struct instance *in = ctl_by_id(c, holder);
		struct worker *w = NULL;
		struct gpu_info gi;

		json_object_set_new(o, "slot", json_integer(s));
		json_object_set_new(o, "gpu", pool_slot_gpu(c->pool, s) >= 0 ?
		    json_integer(pool_slot_gpu(c->pool, s)) : json_null());
		json_object_set_new(o, "instance", in != NULL ?
		    json_string(in->spec->name) : json_null());
		for (j = 0; in != NULL && j < in->nworkers; j++)
			if (in->workers[j]->slot == s)
				w = in->workers[j];
		json_object_set_new(o, "worker", w != NULL ?
		    json_sprintf("w%d", w->id) : json_null());
		json_object_set_new(o, "worker_state", w != NULL ?
		    json_string(wstate_name[w->state]) : json_null());
		if (c->nvml && gpu_query(pool_slot_gpu(c->pool, s), &gi, NULL,
		    0) == 0) {
			json_object_set_new(o, "name", json_string(gi.name));
			json_object_set_new(o, "util", gi.util >= 0 ?
			    json_integer(gi.util) : json_null());
			json_object_set_new(o, "mem_used", gi.mem_used >= 0 ?
			    json_integer(gi.mem_used) : json_null());
			json_object_set_new(o, "mem_total", gi.mem_total >= 0 ?
			    json_integer(gi.mem_total) : json_null());
		}
		json_array_append_new(slots, o);
	}
	for (i = 0; i < c->ninst; i++) {
		struct instance *in = c->inst[i];

		json_array_append_new(insts, json_pack("{s:s,s:i,s:i,s:i,s:i,"
		    "s:i}", "name", in->spec->name,
		    "held", pool_held_by(c->pool, in->id),
		    "owned", in->spec->sharing.owned,
		    "borrowed", 0,
		    "demand", in->demand, "desired", in->desired));
	}
	return json_pack("{s:s,s:s,s:i,s:i,s:o,s:o}",
	    "name", pool_name(c->pool),
	    "kind", pool_kind_name(pool_kind(c->pool)),
	    "size", n, "free", pool_free_count(c->pool),
	    "slots", slots, "instances", insts);
}
