/* backend_slurm.c: see ctl_int.h. */
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

static void on_scancel(int status, const char *out, size_t len,
    const char *msg, void *arg);

/* ------------------------------------------------------- slurm workers */

/*
 * A worker of a slurm pool is one batch job (slurm.h for its tags):
 * submitted by sbatch, seen through the pool's squeue listing, stopped by
 * scancel.  It holds its pool slot from submission to the job's end, so a
 * pending job counts as capacity like a launching process.
 */


/* scancel of w's job (again, if asked again); once sbatch has answered
 * when it is still in flight. */
void
slurm_cancel(struct worker *w)
{
	struct instance *in = w->inst;
	char id[32], err[256];
	char *argv[] = { "scancel", id, NULL };

	if (w->job_cmd != NULL || w->job_id <= 0) {
		w->cancel_wanted = true;
		return;
	}
	w->cancel_wanted = false;
	snprintf(id, sizeof(id), "%lld", (long long)w->job_id);
	w->job_cmd = child_run(in->ctl->loop, argv, NULL, SLURM_CMD_MS,
	    on_scancel, w, err, sizeof(err));
	if (w->job_cmd == NULL)
		ev(in, "slurm", "worker w%d: cannot cancel job %lld: %s; "
		    "trying again", w->id, (long long)w->job_id, err);
}


static void
on_scancel(int status, const char *out, size_t len, const char *msg,
    void *arg)
{
	struct worker *w = arg;

	(void)out;
	(void)len;
	w->job_cmd = NULL;
	if (status != 0) {
		/* the kill timer asks again, every KILL_GRACE_MS */
		if (!w->cancel_failed)
			ev(w->inst, "slurm", "worker w%d: scancel %lld failed: "
			    "%s; asking again every %ds", w->id,
			    (long long)w->job_id, msg, KILL_GRACE_MS / 1000);
		w->cancel_failed = true;
		return;
	}
	log_info("[%s] job %lld of w%d cancelled", w->inst->spec->name,
	    (long long)w->job_id, w->id);
}


/*
 * The batch script: it runs its arguments, so no quoting is needed.  Its
 * first is the scheduler's host: the worker listens on the address this
 * node reaches it by (the kernel's route), not on every interface; where
 * `ip` cannot tell, Dask's default.
 */
char *
slurm_script(struct instance *in, char *err, size_t errlen)
{
	static const char body[] = "#!/bin/sh\n"
	    "# edask: one Dask worker as a Slurm job (docs/slurm.md)\n"
	    "sched=$1; shift\n"
	    "src=$(ip -o route get \"$sched\" 2>/dev/null |"
	    " sed -n 's/.* src \\([^ ]*\\).*/\\1/p')\n"
	    "if [ -n \"$src\" ]; then\n"
	    "\texec \"$@\" --host \"$src\" --dashboard-address \"$src:0\"\n"
	    "fi\n"
	    "exec \"$@\"\n";
	char *path = xasprintf("%s/slurm-worker.sh", in->dir);

	if (write_whole(path, body, sizeof(body) - 1, err, errlen) == -1) {
		free(path);
		return NULL;
	}
	return path;
}


static void
on_sbatch(int status, const char *out, size_t len, const char *msg,
    void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;
	char err[256];

	w->job_cmd = NULL;
	w->submitted_ms = mono_ms();
	if (status != 0 || slurm_parse_sbatch(out, len, &w->job_id, err,
	    sizeof(err)) == -1) {
		if (status != 0)
			strlcpy_(err, msg, sizeof(err));
		w->job_id = 0;
		count_failure(in);
		ev(in, "worker_failed", "worker w%d: sbatch failed: %s; "
		    "failure %d, next launch in %llds", w->id, err,
		    in->failures, (long long)(backoff_ms(in->failures) / 1000));
		/* a job sbatch did submit despite an error shows up in the
		 * listing with this worker's tag and no worker: cancelled */
		worker_remove(w);
		after_worker_gone(in);
		return;
	}
	persist_worker(w);
	ev(in, "submitted", "worker w%d: Slurm job %lld (%s)", w->id,
	    (long long)w->job_id, w->name);
	if (w->cancel_wanted)
		slurm_cancel(w);
}


/* Submits w's job; false (w not submitted, err set) when sbatch cannot
 * be run at all. */
static bool
slurm_submit(struct worker *w, char **argv, char **env, char *err,
    size_t errlen)
{
	struct instance *in = w->inst;
	const struct config_pool *sp = in->cp->slurm;
	char **sb = NULL, tag[SLURM_COMMENT_MAX], buf[SLURM_COMMENT_MAX + 32];
	char *script;
	size_t n = 0, i;

	if ((script = slurm_script(in, err, errlen)) == NULL)
		return false;
	launch_argv_push(&sb, &n, "sbatch");
	launch_argv_push(&sb, &n, "--parsable");
	snprintf(buf, sizeof(buf), "--job-name=edask.%s.%d", in->spec->name,
	    w->id);
	launch_argv_push(&sb, &n, buf);
	slurm_tag(tag, sizeof(tag), in->ctl->daemon_id, in->spec->name, w->id);
	snprintf(buf, sizeof(buf), "--comment=%s", tag);
	launch_argv_push(&sb, &n, buf);
	launch_argv_push(&sb, &n, "--nodes=1");
	launch_argv_push(&sb, &n, "--ntasks=1");
	if (in->spec->workers.gpus > 0) {
		snprintf(buf, sizeof(buf), "--gres=gpu:%d", sp->gpus_per_job);
		launch_argv_push(&sb, &n, buf);
	}
	if (sp->partition != NULL) {
		snprintf(buf, sizeof(buf), "--partition=%s", sp->partition);
		launch_argv_push(&sb, &n, buf);
	}
	if (sp->account != NULL) {
		snprintf(buf, sizeof(buf), "--account=%s", sp->account);
		launch_argv_push(&sb, &n, buf);
	}
	if (sp->time_limit != NULL) {
		snprintf(buf, sizeof(buf), "--time=%s", sp->time_limit);
		launch_argv_push(&sb, &n, buf);
	}
	launch_argv_push(&sb, &n, "--open-mode=append");
	launch_argv_push(&sb, &n, "--output");
	launch_argv_push(&sb, &n, w->log);
	for (i = 0; i < sp->nsbatch_args; i++)
		launch_argv_push(&sb, &n, sp->sbatch_args[i]);
	launch_argv_push(&sb, &n, script);
	launch_argv_push(&sb, &n, sched_host(in));
	for (i = 0; argv[i] != NULL; i++)
		launch_argv_push(&sb, &n, argv[i]);
	free(script);
	w->job_cmd = child_run(in->ctl->loop, sb, env, SLURM_CMD_MS,
	    on_sbatch, w, err, errlen);
	launch_argv_free(sb);
	return w->job_cmd != NULL;
}


/*
 * The job of w ended, or left the listing: the worker is gone.  Like a
 * process exit, but a job that ran and was ended by Slurm (time limit,
 * node failure, preemption) is no failure of the spec: no backoff, and
 * the next tick replaces it if demand remains.
 */
static void
slurm_job_gone(struct worker *w, const char *state, const char *reason)
{
	struct instance *in = w->inst;
	char extra[128] = "";

	if (reason[0] != '\0')
		snprintf(extra, sizeof(extra), ", %s", reason);
	switch (w->state) {
	case W_STOPPING:
	case W_RETIRING:
		ev(in, "worker_gone", "worker w%d (%s), job %lld %s, slot %d "
		    "freed", w->id, w->name, (long long)w->job_id, state,
		    w->slot);
		break;
	case W_LAUNCHING:
		count_failure(in);
		ev(in, "worker_failed", "worker w%d (%s): job %lld %s%s "
		    "before the worker registered; failure %d, next launch "
		    "in %llds; log %s", w->id, w->name, (long long)w->job_id,
		    state, extra, in->failures,
		    (long long)(backoff_ms(in->failures) / 1000), w->log);
		break;
	case W_RUNNING:
	case W_DRAINING:
		ev(in, "worker_lost", "worker w%d (%s): job %lld %s%s; "
		    "replaced if demand remains", w->id, w->name,
		    (long long)w->job_id, state, extra);
		break;
	}
	worker_remove(w);
	after_worker_gone(in);
}


static void
on_detached_cancel(int status, const char *out, size_t len, const char *msg,
    void *arg)
{
	struct detached *d = arg;
	struct ctl *c = d->ctl;
	size_t i;

	(void)out;
	(void)len;
	if (status != 0)
		log_warnx("scancel %lld: %s", (long long)d->job_id, msg);
	for (i = 0; i < c->ndetached; i++)
		if (c->detached[i] == d)
			c->detached[i] = c->detached[--c->ndetached];
	free(d);
	ctl_check_shutdown(c);
}


/* scancel of a job no worker waits on (an orphan, or a forced stop). */
void
slurm_cancel_detached(struct ctl *c, int64_t job_id)
{
	struct detached *d = xcalloc(1, sizeof(*d));
	char id[32], err[256];
	char *argv[] = { "scancel", id, NULL };

	snprintf(id, sizeof(id), "%lld", (long long)job_id);
	d->ctl = c;
	d->job_id = job_id;
	d->cmd = child_run(c->loop, argv, NULL, SLURM_CMD_MS,
	    on_detached_cancel, d, err, sizeof(err));
	if (d->cmd == NULL) {
		log_warnx("scancel %s: %s", id, err);
		free(d);
		return;
	}
	c->detached = xrealloc(c->detached,
	    (c->ndetached + 1) * sizeof(*c->detached));
	c->detached[c->ndetached++] = d;
}


static struct worker *
slurm_worker_of(struct ctl *c, struct cpool *cp, const struct slurm_job *j)
{
	char inst[SPEC_NAME_MAX + 1];
	struct instance *in;
	struct worker *w;
	int wid;

	if (slurm_tag_parse(j->comment, c->daemon_id, inst, sizeof(inst),
	    &wid) == -1)
		return NULL;
	in = ctl_find(c, inst);
	if (in == NULL || in->cp != cp || (w = worker_by_id(in, wid)) == NULL)
		return NULL;
	/* an id the worker has already is the one that counts */
	if (w->job_id > 0 && w->job_id != j->id)
		return NULL;
	return w;
}


/* What one job listing says about w. */
static void
slurm_job_seen(struct worker *w, const struct slurm_job *j)
{
	struct instance *in = w->inst;
	bool changed = strcmp(w->job_state, j->state) != 0;

	if (w->job_id == 0) {
		/* re-adopted by its tag: sbatch answered, the record did
		 * not get the id before the controller stopped */
		w->job_id = j->id;
		persist_worker(w);
	}
	strlcpy_(w->job_state, j->state, sizeof(w->job_state));
	strlcpy_(w->job_reason, j->reason, sizeof(w->job_reason));
	strlcpy_(w->job_node, j->node, sizeof(w->job_node));
	strlcpy_(w->job_gpus, j->gres, sizeof(w->job_gpus));
	if (w->cancel_wanted && w->job_cmd == NULL)
		slurm_cancel(w);
	if (j->phase == SLURM_RUNNING && w->job_running_ms == 0) {
		w->job_running_ms = mono_ms();
		if (changed)
			ev(in, "job_running", "worker w%d: job %lld runs on %s%s%s",
			    w->id, (long long)w->job_id, j->node,
			    j->gres[0] != '\0' ? ", GPU " : "", j->gres);
		/* registering is timed from here: queueing is Slurm's */
		if (w->state == W_LAUNCHING) {
			loop_timer_cancel(in->ctl->loop, w->start_timer);
			w->start_timer = loop_timer_add(in->ctl->loop,
			    in->spec->scaling.start_timeout_ms,
			    on_start_timeout, w);
		}
	}
}


/*
 * A listing of this daemon's jobs, started at `since`: each worker of the
 * pool finds its job (by id, or by its tag), jobs that ended end their
 * workers, and jobs with this daemon's tag, of an instance of this pool,
 * that no worker claims (a submission the controller's death
 * interrupted) are cancelled.
 */
static void
slurm_observe(struct ctl *c, struct cpool *cp, const struct slurm_job *jobs,
    size_t n, int64_t since)
{
	size_t i, k, m;

	for (k = 0; k < c->ninst; k++) {
		struct instance *in = c->inst[k];

		if (in->cp != cp)
			continue;
		for (m = 0; m < in->nworkers; m++)
			in->workers[m]->job_listed = false;
	}
	for (i = 0; i < n; i++) {
		const struct slurm_job *j = &jobs[i];
		struct worker *w = slurm_worker_of(c, cp, j);
		char inst[SPEC_NAME_MAX + 1];
		int wid;

		if (w != NULL) {
			w->job_listed = true;
			/* an ENDING job still holds its GPUs: its worker
			 * keeps the slot until the job is gone, so that "no
			 * process left" is true and no new job queues behind
			 * it unseen */
			if (j->phase != SLURM_ENDED)
				slurm_job_seen(w, j);
			continue;
		}
		/* squeue lists the whole cluster: only a job of an instance
		 * of this pool is this pool's business (an instance not
		 * restored, its pool gone from the config, keeps its jobs) */
		if (j->phase == SLURM_ENDING || j->phase == SLURM_ENDED ||
		    slurm_tag_parse(j->comment,
		    c->daemon_id, inst, sizeof(inst), &wid) == -1 ||
		    ctl_find(c, inst) == NULL || ctl_find(c, inst)->cp != cp)
			continue;
		events_add(c->events, inst, "orphan", "Slurm job %lld (%s) "
		    "has no worker record (a submission the controller's "
		    "death interrupted): cancelled", (long long)j->id, j->name);
		slurm_cancel_detached(c, j->id);
	}
	/* ended jobs, and jobs gone from the listing (Slurm forgets ended
	 * jobs after MinJobAge): a job submitted after the listing started
	 * may just not be in it yet */
	for (k = 0; k < c->ninst; k++) {
		struct instance *in = c->inst[k];

		if (in->cp != cp)
			continue;
		for (m = 0; m < in->nworkers; m++) {
			struct worker *w = in->workers[m];
			const struct slurm_job *j = NULL;

			for (i = 0; i < n && w->job_id > 0; i++)
				if (jobs[i].id == w->job_id)
					j = &jobs[i];
			if (j != NULL && j->phase == SLURM_ENDED) {
				slurm_job_gone(w, j->state, j->reason);
				m = (size_t)-1;	/* the array changed */
				continue;
			}
			if (!w->job_listed && w->job_cmd == NULL &&
			    (w->job_id == 0 || w->submitted_ms < since)) {
				slurm_job_gone(w, w->job_id > 0 ?
				    "left the queue" : "was never submitted",
				    "");
				m = (size_t)-1;
				continue;
			}
		}
	}
}


static void
slurm_poll_timer(void *arg)
{
	struct cpool *cp = arg;

	cp->squeue_timer = 0;
	slurm_poll(cp);
}


static void
slurm_listing_error(struct cpool *cp, const char *msg)
{
	/* said when it starts, or changes: not every 2 s */
	if (strcmp(cp->squeue_error, msg) != 0)
		events_add(cp->ctl->events, NULL, "slurm", "pool %s: cannot "
		    "list jobs: %s; jobs are left as they are until it works",
		    pool_name(cp->pool), msg);
	strlcpy_(cp->squeue_error, msg, sizeof(cp->squeue_error));
}


static void
on_squeue(int status, const char *out, size_t len, const char *msg,
    void *arg)
{
	struct cpool *cp = arg;
	struct ctl *c = cp->ctl;
	struct slurm_job *jobs = NULL;
	char err[256];
	size_t n = 0;

	cp->squeue = NULL;
	if (status != 0) {
		slurm_listing_error(cp, msg);
	} else if (slurm_parse_squeue(out, len, &jobs, &n, err,
	    sizeof(err)) == -1) {
		slurm_listing_error(cp, err);
	} else {
		if (cp->squeue_error[0] != '\0')
			events_add(c->events, NULL, "slurm", "pool %s: job "
			    "listing works again", pool_name(cp->pool));
		cp->squeue_error[0] = '\0';
		cp->listed = true;
		slurm_observe(c, cp, jobs, n, cp->squeue_started_ms);
		free(jobs);
	}
	cp->squeue_timer = loop_timer_add(c->loop, SQUEUE_EVERY_MS,
	    slurm_poll_timer, cp);
}


/*
 * Lists the jobs (squeue --json; Slurm 22.05 ignores --me there and lists
 * everyone's, so the tags pick this daemon's), then again every
 * SQUEUE_EVERY_MS.
 */
void
slurm_poll(struct cpool *cp)
{
	char *argv[] = { "squeue", "--json", "--me", NULL };
	char err[256];
	size_t i;

	if (cp->squeue != NULL)
		return;
	/* a pool no instance uses has nothing to look for */
	for (i = 0; i < cp->ctl->ninst && cp->ctl->inst[i]->cp != cp; i++)
		;
	if (i == cp->ctl->ninst) {
		cp->squeue_timer = loop_timer_add(cp->ctl->loop,
		    SQUEUE_EVERY_MS, slurm_poll_timer, cp);
		return;
	}
	cp->squeue_started_ms = mono_ms();
	cp->squeue = child_run(cp->ctl->loop, argv, NULL, SLURM_CMD_MS,
	    on_squeue, cp, err, sizeof(err));
	if (cp->squeue == NULL) {
		slurm_listing_error(cp, err);
		cp->squeue_timer = loop_timer_add(cp->ctl->loop,
		    SQUEUE_EVERY_MS, slurm_poll_timer, cp);
	}
}


/* worker_launch() for a slurm pool: w holds its slot; submits its job. */
bool
worker_launch_slurm(struct instance *in, struct worker *w)
{
	char **argv = worker_argv(in, w);
	char **env = spec_envv(in->spec, "PYTHONUNBUFFERED=1", NULL);
	char err[512];
	bool ok;

	w->launched_wall_ms = wall_ms();
	/* recorded before sbatch: a controller killed in between leaves a
	 * row without job id, and the restart finds the job by its tag */
	persist_instance(in);
	persist_worker(w);
	ok = slurm_submit(w, argv, env, err, sizeof(err));
	launch_argv_free(argv);
	launch_argv_free(env);
	if (!ok) {
		pool_release(in->cp->pool, w->slot);
		forget_worker(w);
		count_failure(in);
		ev(in, "worker_failed", "cannot submit worker w%d: %s; "
		    "failure %d, next launch in %llds", w->id, err,
		    in->failures, (long long)(backoff_ms(in->failures) / 1000));
		worker_free(w);
		return false;
	}
	w->launched_ms = mono_ms();
	w->start_timer = loop_timer_add(in->ctl->loop,
	    in->spec->scaling.start_timeout_ms, on_start_timeout, w);
	in->workers = xrealloc(in->workers,
	    (in->nworkers + 1) * sizeof(*in->workers));
	in->workers[in->nworkers++] = w;
	log_info("[%s] submit w%d %s to pool %s (Slurm)", in->spec->name,
	    w->id, w->name, pool_name(in->cp->pool));
	return true;
}


/*
 * Scale down on a slurm pool starts with the jobs still queued: cancelling
 * one loses nothing.  Workers beyond max(desired, min) whose job has not
 * started are cancelled, newest first, once scale_down_delay has passed
 * since the last scale up (as for retirements).
 */
void
slurm_trim_pending(struct instance *in, int desired, int64_t now)
{
	int keep = desired > in->spec->workers.min ? desired :
	    in->spec->workers.min;
	int have = (int)(instance_count(in, W_LAUNCHING) +
	    instance_count(in, W_RUNNING));

	if (in->last_scale_up_ms >= 0 && now - in->last_scale_up_ms <
	    in->spec->scaling.scale_down_delay_ms)
		return;
	while (have > keep) {
		struct worker *w = NULL;
		size_t k;

		for (k = 0; k < in->nworkers; k++) {
			struct worker *o = in->workers[k];

			if (o->state == W_LAUNCHING && o->job_running_ms == 0 &&
			    (w == NULL || o->id > w->id))
				w = o;
		}
		if (w == NULL)
			return;
		in->scale_downs++;
		ev(in, "cancel", "worker w%d: job %lld not started (%s): "
		    "cancelled; desired %d", w->id, (long long)w->job_id,
		    w->job_reason[0] != '\0' ? w->job_reason :
		    w->job_state[0] != '\0' ? w->job_state : "submitting",
		    desired);
		worker_terminate(w, 0);
		have--;
	}
}
