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
#include "slurm.h"
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


void
worker_remove(struct worker *w)
{
	struct instance *in = w->inst;
	struct ctl *c = in->ctl;
	size_t i;

	if (w->start_timer != 0)
		loop_timer_cancel(c->loop, w->start_timer);
	if (w->kill_timer != 0)
		loop_timer_cancel(c->loop, w->kill_timer);
	if (w->reclaim_timer != 0)
		loop_timer_cancel(c->loop, w->reclaim_timer);
	if (in->dask != NULL)
		dask_cancel(in->dask, w);
	loop_pid_unwatch(c->loop, w->pid_watch);
	pool_release(in->cp->pool, w->slot);
	forget_worker(w);
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
	if (w->inst->cp->slurm != NULL) {
		/* scancel again until the job has left: Slurm itself sends
		 * SIGTERM, then SIGKILL after its KillWait */
		slurm_cancel(w);
		w->kill_timer = loop_timer_add(w->inst->ctl->loop,
		    KILL_GRACE_MS, on_kill_timer, w);
		return;
	}
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
void
worker_terminate(struct worker *w, int64_t wait_ms)
{
	struct loop *l = w->inst->ctl->loop;

	if (w->state != W_STOPPING) {
		w->state = W_STOPPING;
		persist_worker(w);
	}
	if (w->start_timer != 0) {
		loop_timer_cancel(l, w->start_timer);
		w->start_timer = 0;
	}
	if (w->kill_timer != 0)
		loop_timer_cancel(l, w->kill_timer);
	if (w->inst->cp->slurm != NULL) {
		/* a retired worker's job is cancelled at once: once Dask
		 * has confirmed, nothing of it is still needed */
		w->term_sent = true;
		slurm_cancel(w);
		w->kill_timer = loop_timer_add(l, KILL_GRACE_MS, on_kill_timer,
		    w);
		return;
	}
	if (wait_ms > 0 && !w->term_sent) {
		w->kill_timer = loop_timer_add(l, wait_ms, on_kill_timer, w);
		return;
	}
	w->term_sent = true;
	launch_kill(w->pid, SIGTERM);
	w->kill_timer = loop_timer_add(l, KILL_GRACE_MS, on_kill_timer, w);
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
		ctl_check_shutdown(in->ctl);
	maybe_reap(in);
}


/*
 * A registered worker died (killed, crashed, out of memory): a lost
 * worker, told with what it held as last observed.  Not a launch
 * failure: the next launch is not held back.
 */
void
worker_lost(struct worker *w, const char *how)
{
	struct instance *in = w->inst;
	char tail[400], held[200], bytes[32];
	const char *last;

	launch_log_tail(w->log, tail, sizeof(tail));
	last = strrchr(tail, '\n');
	last = last != NULL ? last + 1 : tail;
	in->lost_workers++;
	if (w->keys == 0)
		snprintf(held, sizeof(held), "it held no results");
	else if (w->unique_keys < 0)
		snprintf(held, sizeof(held), "it held %d results (%s); whether "
		    "other workers have copies is unknown (no edask preload)",
		    w->keys, fmt_bytes(w->bytes, bytes, sizeof(bytes)));
	else
		snprintf(held, sizeof(held), "it held %d results (%s), %d of "
		    "them nowhere else: the scheduler recomputes those from "
		    "their inputs", w->keys, fmt_bytes(w->bytes, bytes,
		    sizeof(bytes)), w->unique_keys);
	if (w->unique_keys >= 0) {
		in->lost_keys_only += (uint64_t)w->unique_keys;
		in->lost_keys_copied += (uint64_t)(w->keys - w->unique_keys);
	} else {
		in->lost_keys_unknown += (uint64_t)w->keys;
	}
	ev(in, "worker_lost", "worker w%d (%s) died while running (%s); %s; "
	    "slot %d freed, a new worker comes as demand asks, without "
	    "backoff; log %s%s%s", w->id, w->name, how, held, w->slot, w->log,
	    *last != '\0' ? ": " : "", last);
}


void
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
	case W_RUNNING:
	case W_DRAINING:
		/* it ran: a lost worker, not a failed launch (no backoff) */
		worker_lost(w, how);
		break;
	case W_LAUNCHING:
		launch_log_tail(w->log, tail, sizeof(tail));
		last = strrchr(tail, '\n');
		last = last != NULL ? last + 1 : tail;
		count_failure(in);
		ev(in, "worker_failed", "worker w%d (%s) exited before "
		    "registering (%s); failure %d, next launch in %llds; log "
		    "%s%s%s", w->id, w->name, how, in->failures,
		    (long long)(backoff_ms(in->failures) / 1000), w->log,
		    *last != '\0' ? ": " : "", last);
		break;
	}
	worker_remove(w);
	after_worker_gone(in);
}


void
on_start_timeout(void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;
	char d[32];

	w->start_timer = 0;
	if (w->state != W_LAUNCHING)
		return;
	if (in->cp->slurm != NULL && !in->cp->listed) {
		/* a restart: what the job does is known at the first
		 * listing */
		w->start_timer = loop_timer_add(in->ctl->loop, SQUEUE_EVERY_MS,
		    on_start_timeout, w);
		return;
	}
	if (in->cp->slurm != NULL && w->job_running_ms == 0) {
		/* still queued: Slurm's business, and it counts as capacity;
		 * said once, never duplicated by another job */
		if (!w->pending_told)
			ev(in, "pending", "worker w%d: job %lld pending for %s: "
			    "%s; kept in the queue", w->id,
			    (long long)w->job_id, fmt_duration(
			    in->spec->scaling.start_timeout_ms, d, sizeof(d)),
			    w->job_reason[0] != '\0' ? w->job_reason :
			    w->job_state[0] != '\0' ? w->job_state :
			    "not listed yet");
		w->pending_told = true;
		return;
	}
	count_failure(in);
	ev(in, "start_timeout", "worker w%d (%s) did not register within %s: "
	    "killed; failure %d, next launch in %llds; log %s", w->id,
	    w->name, fmt_duration(in->spec->scaling.start_timeout_ms, d,
	    sizeof(d)), in->failures,
	    (long long)(backoff_ms(in->failures) / 1000), w->log);
	if (in->cp->slurm != NULL) {
		worker_terminate(w, 0);
		return;
	}
	w->state = W_STOPPING;
	persist_worker(w);
	launch_kill(w->pid, SIGKILL);
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


/* Argument vector of the worker command (DESIGN §2). */
char **
worker_argv(struct instance *in, struct worker *w)
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
	else if (in->cp->slurm != NULL)
		/* Dask reads the job's memory (its cgroup) on the node */
		snprintf(buf, sizeof(buf), "auto");
	else
		snprintf(buf, sizeof(buf), "%lld", (long long)(in->ctl->mem_total /
		    pool_size(in->cp->pool)));
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--name");
	launch_argv_push(&argv, &argc, w->name);
	/* on a Slurm node, the node's temporary folder */
	if (in->cp->slurm == NULL) {
		launch_argv_push(&argv, &argc, "--local-directory");
		launch_argv_push(&argv, &argc, in->work_dir);
	}
	if (s->workers.gpus > 0) {
		snprintf(buf, sizeof(buf), "GPU=%d", in->cp->slurm != NULL ?
		    in->cp->slurm->gpus_per_job : s->workers.gpus);
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
	/* a local pool's workers listen on loopback only, their dashboards
	 * too (a slurm job's script adds its node's address: slurm_script) */
	if (in->cp->slurm == NULL) {
		launch_argv_push(&argv, &argc, "--host");
		launch_argv_push(&argv, &argc, "127.0.0.1");
		launch_argv_push(&argv, &argc, "--dashboard-address");
		launch_argv_push(&argv, &argc, "127.0.0.1:0");
	}
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


/* Starts one worker on a free slot; false when it could not. */
bool
worker_launch(struct instance *in)
{
	struct ctl *c = in->ctl;
	struct launch_cmd cmd;
	struct worker *w;
	char err[512], cuda[64];
	char **argv, **env;
	size_t k, sharers = 0;
	int slot;

	slot = pool_acquire(in->cp->pool, in->id);
	if (slot < 0)
		return false;
	for (k = 0; k < c->ninst; k++)
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
	snprintf(w->name, sizeof(w->name), "%s-%d", in->spec->name, slot);
	if (in->cp->slurm != NULL) {
		/* a job may outlive its slot (a listing that lost it, a
		 * job still closing): a name of its own, so that the
		 * scheduler's worker of an old job is never taken for a
		 * new one */
		snprintf(w->name, sizeof(w->name), "%s-w%d", in->spec->name,
		    w->id);
		w->log = xasprintf("%s/w%d.log", in->dir, w->id);
		return worker_launch_slurm(in, w);
	}
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
	w->launched_wall_ms = wall_ms();
	/* recorded before the fork: a controller killed in between leaves a
	 * row without pid, and the restart looks for the orphan process */
	persist_instance(in);
	persist_worker(w);
	w->pid = -1;
	if (in->forker_ready && in->wtype == SPEC_WORKER_DASK &&
	    strcmp(in->spec->workers.command, "auto") == 0) {
		w->pid = forker_fork(in, argv, env, w->log, err, sizeof(err));
		if (w->pid == -1) {
			/* a forker that fails a request is restarted rather
			 * than asked again (each request may wait
			 * FORKER_IO_MS) */
			ev(in, "forker", "worker w%d not forked (%s): started "
			    "by exec; restarting the forker", w->id, err);
			in->forker_ready = false;
			launch_kill(in->forker_pid, SIGKILL);
		} else {
			w->how = HOW_FORK;
		}
	}
	if (w->pid == -1) {
		w->pid = launch_spawn(&cmd, err, sizeof(err));
		w->how = HOW_EXEC;
	}
	launch_argv_free(argv);
	launch_argv_free(env);
	if (w->pid == -1) {
		w->pid = 0;
		pool_release(in->cp->pool, slot);
		forget_worker(w);
		count_failure(in);
		ev(in, "worker_failed", "cannot start worker on slot %d: %s; "
		    "failure %d, next launch in %llds", slot, err,
		    in->failures, (long long)(backoff_ms(in->failures) / 1000));
		worker_free(w);
		return false;
	}
	if ((w->pid_watch = loop_pid_watch(c->loop, w->pid, on_worker_exit,
	    w)) == 0)
		log_warn("pidfd for worker pid %d", (int)w->pid);
	w->start_time = launch_start_time(w->pid);
	persist_worker(w);
	w->launched_ms = mono_ms();
	w->start_timer = loop_timer_add(c->loop,
	    in->spec->scaling.start_timeout_ms, on_start_timeout, w);
	in->workers = xrealloc(in->workers,
	    (in->nworkers + 1) * sizeof(*in->workers));
	in->workers[in->nworkers++] = w;
	if (w->gpu >= 0)
		log_info("[%s] launch w%d %s on slot %d, GPU %d (pid %d, %s)",
		    in->spec->name, w->id, w->name, slot, w->gpu, (int)w->pid,
		    w->how == HOW_FORK ? "forked" : "exec");
	else
		log_info("[%s] launch w%d %s on CPU slot %d (pid %d, %s)",
		    in->spec->name, w->id, w->name, slot, (int)w->pid,
		    w->how == HOW_FORK ? "forked" : "exec");
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
	if (w->reclaim_for >= 0) {
		/* asked again a little later, until the grace ends; said
		 * once */
		w->state = W_DRAINING;
		w->retire_retry_ms = mono_ms() + RECLAIM_RETRY_MS;
		persist_worker(w);
		if (!w->refusal_told)
			ev(in, "held", "worker w%d (%s), reclaimed for %s, not "
			    "retired yet: %s; asking again every %ds until "
			    "the grace ends", w->id, w->name, reclaim_name(w),
			    msg, RECLAIM_RETRY_MS / 1000);
		w->refusal_told = true;
		return;
	}
	/* Kept: wait a whole idle_timeout before trying again. */
	w->state = W_RUNNING;
	w->idle_since_ms = mono_ms();
	persist_worker(w);
	ev(in, "held", "worker w%d (%s) kept: %s", w->id, w->name, msg);
}


void
worker_retire(struct worker *w, int64_t timeout_ms)
{
	struct instance *in = w->inst;

	if ((w->state != W_RUNNING && w->state != W_DRAINING) ||
	    w->address[0] == '\0' || in->dask == NULL) {
		worker_terminate(w, 0);
		return;
	}
	w->state = W_RETIRING;
	w->retire_wall_ms = wall_ms();
	persist_worker(w);
	dask_retire(in->dask, w->address, timeout_ms, on_retired, w);
}


/* ------------------------------------------------------------- ticking */

void
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
		if (wi == NULL) {
			/* registered once, gone now: it closed or lost its
			 * scheduler; the process is of no use any more */
			if (w->state == W_RUNNING &&
			    ++w->missing >= MISSING_TICKS) {
				ev(in, "worker_lost", "worker w%d (%s) left the "
				    "scheduler: stopping it", w->id, w->name);
				worker_terminate(w, 0);
			}
			continue;
		}
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
			persist_worker(w);
			histogram_observe(&in->ctl->start_hist,
			    (double)(now - w->launched_ms) / 1000.0);
			ev(in, "registered", "worker w%d (%s) registered at %s "
			    "after %s", w->id, w->name, w->address,
			    fmt_duration(now - w->launched_ms, d, sizeof(d)));
		}
		w->missing = 0;
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
