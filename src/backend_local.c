/*
 * backend_local: workers as processes on this machine (backend.h).  A
 * worker is forked by the instance's worker forker when it is ready, else
 * spawned by exec; each gets one slot's GPU through CUDA_VISIBLE_DEVICES,
 * and is stopped with SIGTERM, then SIGKILL after KILL_GRACE_MS.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "ctl_int.h"
#include "events.h"
#include "gpu.h"
#include "launch.h"
#include "loop.h"
#include "store.h"

enum { HOW_UNKNOWN, HOW_FORK, HOW_EXEC };

/* What this backend keeps of a worker: its process. */
struct local_worker {
	uint64_t	 pid_watch;	/* loop_pid_watch() id */
	uint64_t	 start_time;	/* /proc start time of the pid */
	int		 how;		/* HOW_*; unknown: re-adopted */
	/* until it has a pid: the command (for exec, should the forker
	 * fail), the fork request in flight, and a kill asked meanwhile */
	char		**argv, **env;
	struct fork_req	*req;
	bool		 kill_wanted;
	struct launch_term term;	/* its stop */
};

/*
 * What it keeps of its pool: whether NVML answers for its GPUs, and each
 * GPU's last reading.  A reading serves every worker and every GET of the
 * pool for GPU_FRESH_MS: NVML is asked once per tick per GPU, not per
 * worker and per request.
 */
#define GPU_FRESH_MS	500

struct gpu_seen {
	int64_t		 at_ms;		/* monotonic; 0: never read */
	bool		 ok;
	struct gpu_info	 gi;
};

struct local_pool {
	bool		 nvml;
	struct gpu_seen	*seen;		/* by GPU index */
	int		 ngpus;
};

static struct local_worker *
lw(const struct worker *w)
{
	return w->be;
}


/* GPU index's reading, fresh within GPU_FRESH_MS of now; NULL when NVML
 * does not answer for it. */
static const struct gpu_info *
gpu_seen(const struct cpool *cp, int gpu, int64_t now)
{
	struct local_pool *p = cp->be;
	struct gpu_seen *g;

	if (!p->nvml || gpu < 0 || gpu >= p->ngpus)
		return NULL;
	g = &p->seen[gpu];
	if (g->at_ms == 0 || now - g->at_ms >= GPU_FRESH_MS) {
		g->ok = gpu_query(gpu, &g->gi, NULL, 0) == 0;
		g->at_ms = now;
	}
	return g->ok ? &g->gi : NULL;
}


static int64_t
mem_total_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psize <= 0)
		return 0;
	return (int64_t)pages * psize;
}


struct cpool *
backend_local_pool_new(struct ctl *c, const char *name, int gpus,
    char *err, size_t errlen)
{
	struct cpool *cp = xcalloc(1, sizeof(*cp));
	struct local_pool *p = xcalloc(1, sizeof(*p));
	char why[256];
	int n;

	(void)err;
	(void)errlen;
	cp->ctl = c;
	cp->ops = &backend_local;
	cp->be = p;
	c->mem_total = mem_total_bytes();
	if (gpus > 0) {
		cp->pool = pool_new(name, POOL_SIMULATED, gpus, NULL);
		events_add(c->events, NULL, "pool", "pool %s: %d simulated GPU "
		    "slots (NVML not used)", name, gpus);
	} else if ((n = gpu_open(why, sizeof(why))) > 0) {
		cp->pool = pool_new(name, POOL_GPU, n, NULL);
		p->nvml = true;
		p->ngpus = n;
		p->seen = xcalloc((size_t)n, sizeof(*p->seen));
		events_add(c->events, NULL, "pool", "pool %s: %d GPUs found "
		    "through NVML", name, n);
	} else {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		if (cores < 1)
			cores = 1;
		if (n == 0)
			snprintf(why, sizeof(why), "NVML reports no device");
		cp->pool = pool_new(name, POOL_CPU, (int)cores, NULL);
		events_add(c->events, NULL, "pool", "no GPU found (%s): pool %s "
		    "has %ld CPU slots, one per core", why, name, cores);
	}
	return cp;
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
	lw(w)->pid_watch = 0;
	launch_term_cancel(&lw(w)->term);
	util_exit_text(status, how, sizeof(how));
	switch (w->state) {
	case W_STOPPING:
	case W_RETIRING:
		ev(in, "worker_gone", "worker w%d (%s) stopped, slot %d freed",
		    w->id, w->name, w->slot);
		break;
	case W_RUNNING:
	case W_DRAINING:
		/* it ran: a lost worker, not a failed launch (no backoff) */
		worker_lost(w, how);
		break;
	case W_LAUNCHING:
		last = launch_log_last(w->log, tail, sizeof(tail));
		count_failure(in);
		ev(in, "worker_failed", "worker w%d (%s) %s before "
		    "registering; failure %d, next launch in %llds; log "
		    "%s%s%s", w->id, w->name, how, in->failures,
		    (long long)(backoff_ms(in->failures) / 1000), w->log,
		    *last != '\0' ? ": " : "", last);
		break;
	}
	worker_remove(w);
	after_worker_gone(in);
}


static void
watch(struct worker *w)
{
	if ((lw(w)->pid_watch = loop_pid_watch(w->inst->ctl->loop, w->pid,
	    on_worker_exit, w)) == 0)
		log_warn("pidfd for worker pid %d", (int)w->pid);
}


/* w has its process: followed from now on. */
static void
local_started(struct worker *w)
{
	struct instance *in = w->inst;

	watch(w);
	lw(w)->start_time = launch_start_time(w->pid);
	persist_worker(w);
	if (w->gpu >= 0)
		log_info("[%s] launch w%d %s on slot %d, GPU %d (pid %d, %s)",
		    in->spec->name, w->id, w->name, w->slot, w->gpu,
		    (int)w->pid, lw(w)->how == HOW_FORK ? "forked" : "exec");
	else
		log_info("[%s] launch w%d %s on CPU slot %d (pid %d, %s)",
		    in->spec->name, w->id, w->name, w->slot, (int)w->pid,
		    lw(w)->how == HOW_FORK ? "forked" : "exec");
}


/* Starts w's command by exec: -1 with err when it cannot. */
static pid_t
local_exec(struct worker *w, char *err, size_t errlen)
{
	struct local_worker *l = lw(w);
	struct launch_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = l->argv;
	cmd.env = l->env;
	cmd.log_path = w->log;
	cmd.cwd = w->inst->dir;
	l->how = HOW_EXEC;
	return launch_spawn(&cmd, err, errlen);
}


static void
local_free_cmd(struct local_worker *l)
{
	launch_argv_free(l->argv);
	launch_argv_free(l->env);
	l->argv = l->env = NULL;
}


static void local_terminate(struct worker *w, int64_t wait_ms);

/*
 * The forker's answer for w.  A forker that fails a request is restarted
 * rather than asked again, and w is started by exec; a stop asked while
 * the request was in flight is carried out now.
 */
static void
on_forked(pid_t pid, const char *why, void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;
	struct local_worker *l = lw(w);
	char err[512];

	l->req = NULL;
	if (pid > 0) {
		w->pid = pid;
	} else {
		ev(in, "forker", "worker w%d not forked (%s): started by exec; "
		    "restarting the forker", w->id, why);
		in->forker_ready = false;
		launch_kill(in->forker_pid, SIGKILL);
		if ((w->pid = local_exec(w, err, sizeof(err))) == -1) {
			w->pid = 0;
			local_free_cmd(l);
			count_failure(in);
			ev(in, "worker_failed", "cannot start worker on slot %d: "
			    "%s; failure %d, next launch in %llds", w->slot, err,
			    in->failures,
			    (long long)(backoff_ms(in->failures) / 1000));
			worker_remove(w);
			after_worker_gone(in);
			return;
		}
	}
	local_free_cmd(l);
	local_started(w);
	if (l->kill_wanted)
		launch_kill(w->pid, SIGKILL);
	else if (w->state == W_STOPPING)
		local_terminate(w, 0);
}


/*
 * Forked by the instance's forker when it is ready (the answer comes
 * later, from the loop: w is launching meanwhile, without a pid), else
 * started by exec at once.
 */
static bool
local_launch(struct instance *in, struct worker *w)
{
	struct local_worker *l;
	char err[512], cuda[64];

	w->be = l = xcalloc(1, sizeof(struct local_worker));
	snprintf(w->name, sizeof(w->name), "%s-%d", in->spec->name, w->slot);
	w->log = xasprintf("%s/w%d-%s.log", in->dir, w->id, w->name);
	/* a CPU-only worker (gpus: 0) still takes a slot but sees no GPU */
	if (w->gpu >= 0 && in->spec->workers.gpus > 0)
		snprintf(cuda, sizeof(cuda), "CUDA_VISIBLE_DEVICES=%d", w->gpu);
	else
		snprintf(cuda, sizeof(cuda), "CUDA_VISIBLE_DEVICES=");
	if ((l->argv = worker_argv(in, w, err, sizeof(err))) == NULL) {
		worker_launch_failed(w, "cannot start worker on slot %d: "
		    "workers.command: %s", w->slot, err);
		return false;
	}
	l->env = spec_envv(in->spec, cuda, NULL);
	w->launched_wall_ms = wall_ms();
	/* recorded before the fork: a controller killed in between leaves a
	 * row without pid, and the restart looks for the orphan process */
	persist_instance(in);
	persist_worker(w);
	if (in->forker_ready && in->wtype == SPEC_WORKER_DASK &&
	    strcmp(in->spec->workers.command, "auto") == 0) {
		l->how = HOW_FORK;
		l->req = forker_fork(in, l->argv, l->env, w->log, on_forked, w,
		    err, sizeof(err));
		if (l->req != NULL) {
			worker_launched(w);
			return true;
		}
		ev(in, "forker", "worker w%d not forked (%s): started by exec; "
		    "restarting the forker", w->id, err);
		in->forker_ready = false;
		launch_kill(in->forker_pid, SIGKILL);
	}
	w->pid = local_exec(w, err, sizeof(err));
	local_free_cmd(l);
	if (w->pid == -1) {
		w->pid = 0;
		worker_launch_failed(w, "cannot start worker on slot %d: %s",
		    w->slot, err);
		return false;
	}
	worker_launched(w);
	local_started(w);
	return true;
}


static void
on_worker_signal(pid_t pid, int sig, void *arg)
{
	struct worker *w = arg;

	w->term_sent = true;
	if (sig == SIGKILL)
		ev(w->inst, "kill", "worker w%d (pid %d) still running %ds "
		    "after SIGTERM: SIGKILL", w->id, (int)pid,
		    KILL_GRACE_MS / 1000);
}


/*
 * After wait_ms for the worker to exit by itself (a worker the scheduler
 * retired closes on its own, and a SIGTERM that lands in the middle of
 * that close can hang Dask's worker), SIGTERM, then SIGKILL after
 * KILL_GRACE_MS.
 */
static void
local_terminate(struct worker *w, int64_t wait_ms)
{
	if (lw(w)->req != NULL)
		return;		/* on_forked() stops it, once it has a pid */
	if (w->term_sent)
		wait_ms = 0;
	if (wait_ms == 0)
		w->term_sent = true;
	launch_term_start(&lw(w)->term, w->inst->ctl->loop, w->pid, true,
	    wait_ms, KILL_GRACE_MS, on_worker_signal, w);
}


/* SIGKILL at once; its exit is reaped as any other. */
static void
local_kill(struct worker *w, bool forget)
{
	(void)forget;
	w->term_sent = true;
	launch_term_cancel(&lw(w)->term);
	if (lw(w)->req != NULL)
		lw(w)->kill_wanted = true;	/* once it has a pid */
	else
		launch_kill(w->pid, SIGKILL);
}


/* A registered worker that exited while edask was down is a loss, told
 * with what the scheduler counted as it removed the worker. */
static void
lost_while_down(struct worker *w)
{
	char head[300], tail[800], last[400];

	worker_log_last(w, last, sizeof(last));
	snprintf(head, sizeof(head), "worker w%d (%s, pid %d) was running "
	    "and exited while edask was down; ", w->id, w->name, (int)w->pid);
	snprintf(tail, sizeof(tail), "; slot %d freed; log %s%s%s", w->slot,
	    w->log, last[0] != '\0' ? ": " : "", last);
	worker_loss_later(w, head, tail);
}


static bool
local_adopt(struct worker *w, const struct store_worker *sw)
{
	struct instance *in = w->inst;
	bool alive = proc_alive(w->pid, sw->start_time);

	w->be = xcalloc(1, sizeof(struct local_worker));
	lw(w)->start_time = sw->start_time;
	if (!alive || !worker_take_slot(w)) {
		if (alive)
			launch_kill(w->pid, SIGKILL);	/* slot clash */
		if (!alive && w->pid > 0 && w->address[0] != '\0' &&
		    (w->state == W_RUNNING || w->state == W_DRAINING)) {
			lost_while_down(w);
			return false;
		}
		ev(in, "worker_gone", "worker w%d (%s, pid %d) %s while edask "
		    "was down", w->id, w->name, (int)w->pid, w->pid > 0 ?
		    "exited" : "was being launched");
		return false;
	}
	watch(w);
	return true;
}


static void
local_save(const struct worker *w, struct store_worker *sw)
{
	sw->start_time = lw(w)->start_time;
}


static int64_t
local_worker_memory(const struct instance *in)
{
	return in->ctl->mem_total / pool_size(in->cp->pool);
}


static int
local_worker_gpus(const struct instance *in)
{
	return in->spec->workers.gpus;
}


static const char *
local_sched_host(const struct instance *in)
{
	return in->spec->scheduler.host;
}


/*
 * A local pool's workers listen on loopback only, their dashboards too,
 * and keep their spill files in the instance's folder.
 */
static void
local_worker_args(const struct instance *in, char ***argv, size_t *argc)
{
	launch_argv_push(argv, argc, "--local-directory");
	launch_argv_push(argv, argc, in->work_dir);
	launch_argv_push(argv, argc, "--host");
	launch_argv_push(argv, argc, "127.0.0.1");
	launch_argv_push(argv, argc, "--dashboard-address");
	launch_argv_push(argv, argc, "127.0.0.1:0");
}


static void
local_worker_json(const struct worker *w, json_t *o)
{
	int how = w->be != NULL ? lw(w)->how : HOW_UNKNOWN;

	json_object_set_new(o, "started_by", how == HOW_FORK ?
	    json_string("fork") : how == HOW_EXEC ? json_string("exec") :
	    json_null());
}


/* Each worker's GPU utilization, as NVML last read it. */
static void
local_observe(struct instance *in, int64_t now)
{
	size_t i;

	for (i = 0; i < in->nworkers; i++) {
		struct worker *w = in->workers[i];
		const struct gpu_info *gi = gpu_seen(in->cp, w->gpu, now);

		w->gpu_util = gi != NULL ? gi->util : -1;
	}
}


static void
local_slot_json(const struct cpool *cp, int slot, const struct worker *w,
    json_t *o)
{
	const struct gpu_info *gi = gpu_seen(cp, pool_slot_gpu(cp->pool, slot),
	    mono_ms());

	(void)w;
	if (gi == NULL)
		return;
	json_object_set_new(o, "name", json_string(gi->name));
	json_object_set_new(o, "util", gi->util >= 0 ?
	    json_integer(gi->util) : json_null());
	json_object_set_new(o, "mem_used", gi->mem_used >= 0 ?
	    json_integer(gi->mem_used) : json_null());
	json_object_set_new(o, "mem_total", gi->mem_total >= 0 ?
	    json_integer(gi->mem_total) : json_null());
}


static void
local_pool_json(const struct cpool *cp, json_t *o)
{
	(void)cp;
	(void)o;
}


static void
local_worker_free(struct worker *w)
{
	if (w->be != NULL) {
		loop_pid_unwatch(w->inst->ctl->loop, lw(w)->pid_watch);
		launch_term_cancel(&lw(w)->term);
		forker_fork_cancel(lw(w)->req);
		local_free_cmd(lw(w));
	}
	free(w->be);
	w->be = NULL;
}


static void
local_pool_free(struct cpool *cp)
{
	struct local_pool *p = cp->be;

	if (p->nvml)
		gpu_close();
	free(p->seen);
	free(p);
	cp->be = NULL;
}


const struct backend_ops backend_local = {
	.name = "local",
	.remote = false,
	.launch = local_launch,
	.terminate = local_terminate,
	.kill = local_kill,
	.adopt = local_adopt,
	.save = local_save,
	.observe = local_observe,
	.worker_memory = local_worker_memory,
	.worker_gpus = local_worker_gpus,
	.sched_host = local_sched_host,
	.worker_args = local_worker_args,
	.worker_json = local_worker_json,
	.slot_json = local_slot_json,
	.pool_json = local_pool_json,
	.worker_free = local_worker_free,
	.pool_free = local_pool_free,
};
