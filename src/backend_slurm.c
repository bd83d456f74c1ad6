/*
 * backend_slurm: workers as Slurm batch jobs (backend.h).  A worker of a
 * slurm pool is one job (slurm.h for its tags): submitted by sbatch, seen
 * through the pool's squeue listing, stopped by scancel.  It holds its
 * pool slot from submission to the job's end, so a pending job counts as
 * capacity like a launching process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "child.h"
#include "config.h"
#include "ctl_int.h"
#include "events.h"
#include "launch.h"
#include "loop.h"
#include "slurm.h"
#include "sched.h"
#include "store.h"

#define SQUEUE_EVERY_MS		2000	/* a slurm pool's job listing */
#define SLURM_CMD_MS		30000	/* sbatch, squeue, scancel: at most */

/* What this backend keeps of a worker: its job. */
struct slurm_worker {
	int64_t		 job_id;	/* 0: not known yet */
	struct child	*job_cmd;	/* sbatch or scancel in flight */
	bool		 cancel_wanted;	/* scancel once sbatch answers */
	bool		 cancel_failed;	/* a scancel failed: said once */
	int64_t		 submitted_ms;	/* monotonic: sbatch answered */
	int64_t		 job_running_ms;	/* monotonic: seen running */
	bool		 pending_told;	/* its "pending too long" event */
	bool		 requeue_told;	/* its "job_requeued" event */
	bool		 job_listed;	/* in the latest listing */
	char		 job_state[SLURM_STATE_MAX];
	char		 job_reason[SLURM_REASON_MAX];
	char		 job_node[SLURM_NODE_MAX];
	char		 job_gpus[SLURM_GRES_MAX];
};

/* A scancel of a job that no worker tracks any more. */
struct detached {
	struct cpool	*cp;
	struct child	*cmd;
	int64_t		 job_id;
};

/*
 * What it keeps of a pool: the config (borrowed from ctl_config for the
 * ctl's life) and the latest listing of this daemon's jobs (squeue, every
 * SQUEUE_EVERY_MS).
 */
struct slurm_pool {
	const struct config_pool *cfg;
	struct child	*squeue;	/* in flight */
	int64_t		 squeue_started_ms;	/* monotonic */
	uint64_t	 squeue_timer;
	char		 squeue_error[256];	/* last failure, "" */
	bool		 listed;	/* a listing has succeeded since the
					   daemon started */
	struct detached	**detached;	/* scancels no worker waits on */
	size_t		 ndetached;
};

static struct slurm_worker *
sj(const struct worker *w)
{
	return w->be;
}


static struct slurm_pool *
sp(const struct cpool *cp)
{
	return cp->be;
}


static void slurm_poll(struct cpool *cp);
static void on_scancel(int status, const char *out, size_t len,
    const char *msg, void *arg);

/* scancel of w's job (again, if asked again); once sbatch has answered
 * when it is still in flight. */
static void
slurm_cancel(struct worker *w)
{
	struct instance *in = w->inst;
	char id[32], err[256];
	char *argv[] = { "scancel", id, NULL };

	if (sj(w)->job_cmd != NULL || sj(w)->job_id <= 0) {
		sj(w)->cancel_wanted = true;
		return;
	}
	sj(w)->cancel_wanted = false;
	snprintf(id, sizeof(id), "%lld", (long long)sj(w)->job_id);
	sj(w)->job_cmd = child_run(in->ctl->loop, argv, NULL, SLURM_CMD_MS,
	    on_scancel, w, err, sizeof(err));
	if (sj(w)->job_cmd == NULL)
		ev(in, "slurm", "worker w%d: cannot cancel job %lld: %s; "
		    "trying again", w->id, (long long)sj(w)->job_id, err);
}


static void
on_scancel(int status, const char *out, size_t len, const char *msg,
    void *arg)
{
	struct worker *w = arg;

	(void)out;
	(void)len;
	sj(w)->job_cmd = NULL;
	if (status != 0) {
		/* the kill timer asks again, every KILL_GRACE_MS */
		if (!sj(w)->cancel_failed)
			ev(w->inst, "slurm", "worker w%d: scancel %lld failed: "
			    "%s; asking again every %ds", w->id,
			    (long long)sj(w)->job_id, msg, KILL_GRACE_MS / 1000);
		sj(w)->cancel_failed = true;
		return;
	}
	log_info("[%s] job %lld of w%d cancelled", w->inst->spec->name,
	    (long long)sj(w)->job_id, w->id);
}


/*
 * The batch script: it runs its arguments, so no quoting is needed.  They
 * are the scheduler's host and port, the instance's Python, then the
 * worker's command line.  It first checks that this node reaches the
 * scheduler (10 s): if not, it says so in the job's log and exits 3, so
 * the failure names the address tried instead of a worker that never
 * registers.  The worker listens on the address this node reaches the
 * scheduler by (the kernel's route), not on every interface; where `ip`
 * cannot tell, Dask's default.
 */
static char *
slurm_script(struct instance *in, char *err, size_t errlen)
{
	static const char body[] = "#!/bin/sh\n"
	    "# edask: one Dask worker as a Slurm job (docs/slurm.md)\n"
	    "sched=$1; port=$2; py=$3; shift 3\n"
	    "\"$py\" -c 'import socket, sys\n"
	    "try:\n"
	    "    socket.create_connection((sys.argv[1], int(sys.argv[2])),"
	    " 10).close()\n"
	    "except (OSError, ValueError) as e:\n"
	    "    sys.exit(\"edask: cannot reach the scheduler at %s:%s from "
	    "node %s: %s\" % (sys.argv[1], sys.argv[2], sys.argv[3], e))'"
	    " \"$sched\" \"$port\" \"${SLURMD_NODENAME:-$(hostname)}\" ||"
	    " exit 3\n"
	    "src=$(ip -o route get \"$sched\" 2>/dev/null |"
	    " sed -n 's/.* src \\([^ ]*\\).*/\\1/p')\n"
	    "if [ -n \"$src\" ]; then\n"
	    "\texec \"$@\" --host \"$src\" --dashboard-address \"$src:0\"\n"
	    "fi\n"
	    "exec \"$@\"\n";
	char *path = xasprintf("%s/slurm-worker.sh", in->dir);

	if (util_write_file(path, body, sizeof(body) - 1, 0600, err,
	    errlen) == -1) {
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

	sj(w)->job_cmd = NULL;
	sj(w)->submitted_ms = mono_ms();
	if (status != 0 || slurm_parse_sbatch(out, len, &sj(w)->job_id, err,
	    sizeof(err)) == -1) {
		if (status != 0)
			strlcpy_(err, msg, sizeof(err));
		sj(w)->job_id = 0;
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
	    (long long)sj(w)->job_id, w->name);
	if (sj(w)->cancel_wanted)
		slurm_cancel(w);
}


/* Submits w's job; false (w not submitted, err set) when sbatch cannot
 * be run at all. */
static bool
slurm_submit(struct worker *w, char **argv, char **env, char *err,
    size_t errlen)
{
	struct instance *in = w->inst;
	const struct config_pool *cfg = sp(in->cp)->cfg;
	char **sb = NULL, tag[SLURM_COMMENT_MAX], buf[SLURM_COMMENT_MAX + 32];
	const char *port;
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
		snprintf(buf, sizeof(buf), "--gres=gpu:%d", cfg->gpus_per_job);
		launch_argv_push(&sb, &n, buf);
	}
	if (cfg->partition != NULL) {
		snprintf(buf, sizeof(buf), "--partition=%s", cfg->partition);
		launch_argv_push(&sb, &n, buf);
	}
	if (cfg->account != NULL) {
		snprintf(buf, sizeof(buf), "--account=%s", cfg->account);
		launch_argv_push(&sb, &n, buf);
	}
	if (cfg->time_limit != NULL) {
		snprintf(buf, sizeof(buf), "--time=%s", cfg->time_limit);
		launch_argv_push(&sb, &n, buf);
	}
	launch_argv_push(&sb, &n, "--open-mode=append");
	launch_argv_push(&sb, &n, "--output");
	launch_argv_push(&sb, &n, w->log);
	for (i = 0; i < cfg->nsbatch_args; i++)
		launch_argv_push(&sb, &n, cfg->sbatch_args[i]);
	launch_argv_push(&sb, &n, script);
	launch_argv_push(&sb, &n, sched_host(in));
	port = strrchr(sched_address(in->sched), ':');
	launch_argv_push(&sb, &n, port != NULL ? port + 1 : "0");
	launch_argv_push(&sb, &n, in->spec->python);
	for (i = 0; argv[i] != NULL; i++)
		launch_argv_push(&sb, &n, argv[i]);
	free(script);
	sj(w)->job_cmd = child_run(in->ctl->loop, sb, env, SLURM_CMD_MS,
	    on_sbatch, w, err, errlen);
	launch_argv_free(sb);
	return sj(w)->job_cmd != NULL;
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
		    "freed", w->id, w->name, (long long)sj(w)->job_id, state,
		    w->slot);
		break;
	case W_LAUNCHING: {
		char last[400];

		count_failure(in);
		worker_log_last(w, last, sizeof(last));
		ev(in, "worker_failed", "worker w%d (%s): job %lld %s%s "
		    "before the worker registered; failure %d, next launch "
		    "in %llds; log %s%s%s", w->id, w->name,
		    (long long)sj(w)->job_id, state, extra, in->failures,
		    (long long)(backoff_ms(in->failures) / 1000), w->log,
		    last[0] != '\0' ? ": " : "", last);
		break;
	}
	case W_RUNNING:
	case W_DRAINING: {
		char head[400];

		snprintf(head, sizeof(head), "worker w%d (%s): job %lld "
		    "%s%s%s%s; ", w->id, w->name, (long long)sj(w)->job_id,
		    state, extra, sj(w)->job_node[0] != '\0' ? " on " : "",
		    sj(w)->job_node);
		worker_loss_later(w, head, "; replaced if demand remains");
		break;
	}
	}
	worker_remove(w);
	after_worker_gone(in);
}


static void
on_detached_cancel(int status, const char *out, size_t len, const char *msg,
    void *arg)
{
	struct detached *d = arg;
	struct slurm_pool *p = sp(d->cp);
	size_t i;

	(void)out;
	(void)len;
	if (status != 0)
		log_warnx("scancel %lld: %s", (long long)d->job_id, msg);
	for (i = 0; i < p->ndetached; i++)
		if (p->detached[i] == d)
			p->detached[i] = p->detached[--p->ndetached];
	free(d);
}


/* scancel of a job no worker waits on (an orphan, or a forced stop). */
static void
slurm_cancel_detached(struct cpool *cp, int64_t job_id)
{
	struct slurm_pool *p = sp(cp);
	struct ctl *c = cp->ctl;
	struct detached *d = xcalloc(1, sizeof(*d));
	char id[32], err[256];
	char *argv[] = { "scancel", id, NULL };

	snprintf(id, sizeof(id), "%lld", (long long)job_id);
	d->cp = cp;
	d->job_id = job_id;
	d->cmd = child_run(c->loop, argv, NULL, SLURM_CMD_MS,
	    on_detached_cancel, d, err, sizeof(err));
	if (d->cmd == NULL) {
		log_warnx("scancel %s: %s", id, err);
		free(d);
		return;
	}
	p->detached = xrealloc(p->detached,
	    (p->ndetached + 1) * sizeof(*p->detached));
	p->detached[p->ndetached++] = d;
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
	if (sj(w)->job_id > 0 && sj(w)->job_id != j->id)
		return NULL;
	return w;
}


/*
 * A running job within retire_before_limit of its time limit: its worker
 * is retired through the scheduler before Slurm ends the job with its
 * data (the limit is the pool's time_limit, counted from the job's
 * start_time).
 */
static void
slurm_check_limit(struct worker *w, const struct slurm_job *j)
{
	const struct config_pool *cfg = sp(w->inst->cp)->cfg;
	int64_t end_ms, left;
	char why[512], d[32], l[32];

	if (cfg->time_limit_s <= 0 || cfg->retire_before_ms <= 0 ||
	    j->start_time <= 0)
		return;
	end_ms = (j->start_time + cfg->time_limit_s) * 1000;
	left = end_ms - wall_ms();
	if (left > cfg->retire_before_ms)
		return;
	snprintf(why, sizeof(why), "(job %lld on %s): its time_limit %s ends "
	    "in %s (retire_before_limit %s)", (long long)j->id, j->node,
	    cfg->time_limit, fmt_duration(left, d, sizeof(d)),
	    fmt_duration(cfg->retire_before_ms, l, sizeof(l)));
	worker_expire(w, end_ms, "expiring", why);
}


/*
 * The job of a registered worker is pending again: Slurm requeued it (its
 * node went down: slurmd gone, or the node unreachable; a preemption with
 * requeue; a slurmctld that lost its state).  Its worker may still run and
 * answer the scheduler, and Slurm would start a second copy of it later.
 * edask makes its own replacements: the worker is drained and retired
 * through the scheduler as before a time limit (its data moves first,
 * once a replacement can take it), and its job is cancelled with it.
 */
static void
slurm_requeued(struct worker *w, const struct slurm_job *j)
{
	char why[512];

	sj(w)->requeue_told = true;
	snprintf(why, sizeof(why), "(job %lld%s%s): Slurm requeued its job "
	    "(%s again%s%s); it is cancelled once the worker is retired",
	    (long long)sj(w)->job_id, sj(w)->job_node[0] != '\0' ? " on " : "",
	    sj(w)->job_node, j->state, j->reason[0] != '\0' ? ", " : "",
	    j->reason);
	worker_expire(w, wall_ms() + RETIRE_TIMEOUT_MS, "job_requeued", why);
}


/* What one job listing says about w. */
static void
slurm_job_seen(struct worker *w, const struct slurm_job *j)
{
	struct instance *in = w->inst;
	bool changed = strcmp(sj(w)->job_state, j->state) != 0;

	if (j->phase == SLURM_PENDING && sj(w)->job_running_ms != 0 &&
	    (w->state == W_RUNNING || w->state == W_DRAINING) &&
	    !sj(w)->requeue_told)
		slurm_requeued(w, j);
	if (sj(w)->job_id == 0) {
		/* re-adopted by its tag: sbatch answered, the record did
		 * not get the id before the controller stopped */
		sj(w)->job_id = j->id;
		persist_worker(w);
	}
	strlcpy_(sj(w)->job_state, j->state, sizeof(sj(w)->job_state));
	strlcpy_(sj(w)->job_reason, j->reason, sizeof(sj(w)->job_reason));
	strlcpy_(sj(w)->job_node, j->node, sizeof(sj(w)->job_node));
	strlcpy_(sj(w)->job_gpus, j->gres, sizeof(sj(w)->job_gpus));
	if (sj(w)->cancel_wanted && sj(w)->job_cmd == NULL)
		slurm_cancel(w);
	if (j->phase == SLURM_RUNNING && w->state == W_RUNNING)
		slurm_check_limit(w, j);
	if (j->phase == SLURM_RUNNING && sj(w)->job_running_ms == 0) {
		sj(w)->job_running_ms = mono_ms();
		if (changed)
			ev(in, "job_running", "worker w%d: job %lld runs "
			    "on %s%s%s",
			    w->id, (long long)sj(w)->job_id, j->node,
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
			sj(in->workers[m])->job_listed = false;
	}
	for (i = 0; i < n; i++) {
		const struct slurm_job *j = &jobs[i];
		struct worker *w = slurm_worker_of(c, cp, j);
		char inst[SPEC_NAME_MAX + 1];
		int wid;

		if (w != NULL) {
			sj(w)->job_listed = true;
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
		slurm_cancel_detached(cp, j->id);
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

			for (i = 0; i < n && sj(w)->job_id > 0; i++)
				if (jobs[i].id == sj(w)->job_id)
					j = &jobs[i];
			if (j != NULL && j->phase == SLURM_ENDED) {
				slurm_job_gone(w, j->state, j->reason);
				m = (size_t)-1;	/* the array changed */
				continue;
			}
			if (!sj(w)->job_listed && sj(w)->job_cmd == NULL &&
			    (sj(w)->job_id == 0 || sj(w)->submitted_ms < since)) {
				slurm_job_gone(w, sj(w)->job_id > 0 ?
				    "left the queue" : "was never submitted",
				    "");
				m = (size_t)-1;
				continue;
			}
		}
	}
}


/* Every SQUEUE_EVERY_MS for the pool's life. */
static int64_t
slurm_poll_timer(void *arg)
{
	slurm_poll(arg);
	return SQUEUE_EVERY_MS;
}


static void
slurm_listing_error(struct cpool *cp, const char *msg)
{
	/* said when it starts, or changes: not every 2 s */
	if (strcmp(sp(cp)->squeue_error, msg) != 0)
		events_add(cp->ctl->events, NULL, "slurm", "pool %s: cannot "
		    "list jobs: %s; jobs are left as they are until it works",
		    pool_name(cp->pool), msg);
	strlcpy_(sp(cp)->squeue_error, msg, sizeof(sp(cp)->squeue_error));
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

	sp(cp)->squeue = NULL;
	if (status != 0) {
		slurm_listing_error(cp, msg);
	} else if (slurm_parse_squeue(out, len, &jobs, &n, err,
	    sizeof(err)) == -1) {
		slurm_listing_error(cp, err);
	} else {
		if (sp(cp)->squeue_error[0] != '\0')
			events_add(c->events, NULL, "slurm", "pool %s: job "
			    "listing works again", pool_name(cp->pool));
		sp(cp)->squeue_error[0] = '\0';
		sp(cp)->listed = true;
		slurm_observe(c, cp, jobs, n, sp(cp)->squeue_started_ms);
		free(jobs);
	}
}


/*
 * Lists the jobs (squeue --json; Slurm 22.05 ignores --me there and lists
 * everyone's, so the tags pick this daemon's), unless a listing is still
 * in flight.
 */
static void
slurm_poll(struct cpool *cp)
{
	char *argv[] = { "squeue", "--json", "--me", NULL };
	char err[256];
	size_t i;

	if (sp(cp)->squeue != NULL)
		return;
	/* a pool no instance uses has nothing to look for */
	for (i = 0; i < cp->ctl->ninst && cp->ctl->inst[i]->cp != cp; i++)
		;
	if (i == cp->ctl->ninst)
		return;
	sp(cp)->squeue_started_ms = mono_ms();
	sp(cp)->squeue = child_run(cp->ctl->loop, argv, NULL, SLURM_CMD_MS,
	    on_squeue, cp, err, sizeof(err));
	if (sp(cp)->squeue == NULL)
		slurm_listing_error(cp, err);
}


/* Submits w's job; its name is its own (not the slot's): a job may
 * outlive its slot (a listing that lost it, a job still closing), and the
 * scheduler's worker of an old job is never taken for a new one. */
static bool
slurm_launch(struct instance *in, struct worker *w)
{
	char **argv, **env;
	char err[512];
	bool ok;

	w->be = xcalloc(1, sizeof(struct slurm_worker));
	snprintf(w->name, sizeof(w->name), "%s-w%d", in->spec->name, w->id);
	w->log = xasprintf("%s/w%d.log", in->dir, w->id);
	if ((argv = worker_argv(in, w, err, sizeof(err))) == NULL) {
		worker_launch_failed(w, "cannot submit worker w%d: "
		    "workers.command: %s", w->id, err);
		return false;
	}
	env = spec_envv(in->spec, "PYTHONUNBUFFERED=1", NULL);
	w->launched_wall_ms = wall_ms();
	/* recorded before sbatch: a controller killed in between leaves a
	 * row without job id, and the restart finds the job by its tag */
	persist_instance(in);
	persist_worker(w);
	ok = slurm_submit(w, argv, env, err, sizeof(err));
	launch_argv_free(argv);
	launch_argv_free(env);
	if (!ok) {
		worker_launch_failed(w, "cannot submit worker w%d: %s", w->id,
		    err);
		return false;
	}
	worker_launched(w);
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
static void
slurm_trim(struct instance *in, int desired, int64_t now)
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

			if (o->state == W_LAUNCHING &&
			    sj(o)->job_running_ms == 0 &&
			    (w == NULL || o->id > w->id))
				w = o;
		}
		if (w == NULL)
			return;
		in->scale_downs++;
		ev(in, "cancel", "worker w%d: job %lld not started (%s): "
		    "cancelled; desired %d", w->id, (long long)sj(w)->job_id,
		    sj(w)->job_reason[0] != '\0' ? sj(w)->job_reason :
		    sj(w)->job_state[0] != '\0' ? sj(w)->job_state : "submitting",
		    desired);
		worker_terminate(w, 0);
		have--;
	}
}


/* ------------------------------------------------------------- the ops */

struct cpool *
backend_slurm_pool_new(struct ctl *c, const struct config_pool *cfg)
{
	struct cpool *cp = xcalloc(1, sizeof(*cp));
	struct slurm_pool *p = xcalloc(1, sizeof(*p));

	p->cfg = cfg;
	cp->ctl = c;
	cp->ops = &backend_slurm;
	cp->be = p;
	cp->pool = pool_new(cfg->name, POOL_SLURM,
	    cfg->slots / cfg->gpus_per_job, NULL);
	events_add(c->events, NULL, "pool", "pool %s: Slurm, up to %d "
	    "job(s) of %d GPU(s)%s%s; workers reach their schedulers at %s",
	    cfg->name, pool_size(cp->pool), cfg->gpus_per_job,
	    cfg->partition != NULL ? " in partition " : "",
	    cfg->partition != NULL ? cfg->partition : "",
	    cfg->scheduler_host);
	slurm_poll(cp);
	p->squeue_timer = loop_timer_add(c->loop, SQUEUE_EVERY_MS,
	    slurm_poll_timer, cp);
	return cp;
}


/* scancel again until the job has left: Slurm itself sends SIGTERM, then
 * SIGKILL after its KillWait. */
static int64_t
on_kill_timer(void *arg)
{
	slurm_cancel(arg);
	return KILL_GRACE_MS;
}


/* A retired worker's job is cancelled at once: once Dask has confirmed,
 * nothing of it is still needed. */
static void
slurm_terminate(struct worker *w, int64_t wait_ms)
{
	(void)wait_ms;
	w->term_sent = true;
	slurm_cancel(w);
	w->kill_timer = loop_timer_add(w->inst->ctl->loop, KILL_GRACE_MS,
	    on_kill_timer, w);
}


/*
 * Now: scancel, asked again until the job has left; at a forced shutdown
 * (forget) the job is cancelled and forgotten, not waited for (Slurm may
 * be what is not answering): one that survives has this daemon's tag and
 * no record, and is cancelled as an orphan at the next start.
 */
static void
slurm_kill(struct worker *w, bool forget)
{
	struct instance *in = w->inst;

	if (!forget) {
		loop_timer_clear(in->ctl->loop, &w->kill_timer);
		slurm_terminate(w, 0);
		return;
	}
	if (sj(w)->job_id > 0)
		slurm_cancel_detached(in->cp, sj(w)->job_id);
	ev(in, "worker_gone", "worker w%d (%s): job %lld cancelled at a forced "
	    "stop", w->id, w->name, (long long)sj(w)->job_id);
	worker_remove(w);
}


static int64_t
slurm_start_overdue(struct worker *w)
{
	struct instance *in = w->inst;
	char d[32];

	if (!sp(in->cp)->listed) {
		/* a restart: what the job does is known at the first
		 * listing */
		return SQUEUE_EVERY_MS;
	}
	if (sj(w)->job_running_ms != 0)
		return BACKEND_OVERDUE;
	/* still queued: Slurm's business, and it counts as capacity; said
	 * once, never duplicated by another job */
	if (!sj(w)->pending_told)
		ev(in, "pending", "worker w%d: job %lld pending for %s: %s; "
		    "kept in the queue", w->id, (long long)sj(w)->job_id,
		    fmt_duration(in->spec->scaling.start_timeout_ms, d,
		    sizeof(d)), sj(w)->job_reason[0] != '\0' ?
		    sj(w)->job_reason : sj(w)->job_state[0] != '\0' ?
		    sj(w)->job_state : "not listed yet");
	sj(w)->pending_told = true;
	return LOOP_NOMORE;	/* slurm_job_seen() times it from the start */
}


/* Its job is looked up in the pool's next listing: by id, or by its tag
 * when sbatch's answer was lost. */
static bool
slurm_adopt(struct worker *w, const struct store_worker *sw)
{
	w->be = xcalloc(1, sizeof(struct slurm_worker));
	sj(w)->job_id = sw->job_id;
	if (!worker_take_slot(w)) {
		ev(w->inst, "worker_gone", "worker w%d (%s, job %lld): bad "
		    "record, forgotten; its job, if any, is cancelled", w->id,
		    w->name, (long long)sw->job_id);
		return false;
	}
	return true;
}


static void
slurm_save(const struct worker *w, struct store_worker *sw)
{
	sw->job_id = sj(w)->job_id;
}


/* Dask reads the job's memory (its cgroup) on the node. */
static int64_t
slurm_worker_memory(const struct instance *in)
{
	(void)in;
	return 0;
}


static int
slurm_worker_gpus(const struct instance *in)
{
	return sp(in->cp)->cfg->gpus_per_job;
}


/* The workers come from other machines, to the pool's scheduler_host; a
 * spec that names a host other than the default loopback keeps it. */
static const char *
slurm_sched_host(const struct instance *in)
{
	if (strcmp(in->spec->scheduler.host, "127.0.0.1") == 0)
		return sp(in->cp)->cfg->scheduler_host;
	return in->spec->scheduler.host;
}


static json_t *
str_or_null(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}


static void
slurm_worker_json(const struct worker *w, json_t *o)
{
	const struct slurm_worker *j = sj(w);

	json_object_set_new(o, "started_by", json_null());
	json_object_set_new(o, "job_id", j->job_id > 0 ?
	    json_integer(j->job_id) : json_null());
	json_object_set_new(o, "job_state", str_or_null(j->job_state));
	json_object_set_new(o, "job_reason", str_or_null(j->job_reason));
	json_object_set_new(o, "node", str_or_null(j->job_node));
	json_object_set_new(o, "job_gpus", str_or_null(j->job_gpus));
}


static void
slurm_where(const struct worker *w, char *buf, size_t len)
{
	const struct slurm_worker *j = sj(w);

	if (j->job_node[0] != '\0')
		snprintf(buf, len, "job %lld on %s", (long long)j->job_id,
		    j->job_node);
	else
		snprintf(buf, len, "job %lld", (long long)j->job_id);
}


static void
slurm_slot_json(const struct cpool *cp, int slot, const struct worker *w,
    json_t *o)
{
	(void)cp;
	(void)slot;
	json_object_set_new(o, "job_id", w != NULL && sj(w)->job_id > 0 ?
	    json_integer(sj(w)->job_id) : json_null());
	json_object_set_new(o, "job_state", w != NULL ?
	    str_or_null(sj(w)->job_state) : json_null());
	json_object_set_new(o, "node", w != NULL ?
	    str_or_null(sj(w)->job_node) : json_null());
	json_object_set_new(o, "job_gpus", w != NULL ?
	    str_or_null(sj(w)->job_gpus) : json_null());
}


static void
slurm_pool_json(const struct cpool *cp, json_t *o)
{
	const struct slurm_pool *p = sp(cp);

	json_object_set_new(o, "gpus_per_job",
	    json_integer(p->cfg->gpus_per_job));
	json_object_set_new(o, "partition", p->cfg->partition != NULL ?
	    json_string(p->cfg->partition) : json_null());
	json_object_set_new(o, "listing_error", str_or_null(p->squeue_error));
}


static void
slurm_worker_free(struct worker *w)
{
	if (w->be != NULL)
		child_cancel(sj(w)->job_cmd);
	free(w->be);
	w->be = NULL;
}


static void
slurm_pool_free(struct cpool *cp)
{
	struct slurm_pool *p = sp(cp);
	size_t i;

	child_cancel(p->squeue);
	loop_timer_cancel(cp->ctl->loop, p->squeue_timer);
	for (i = 0; i < p->ndetached; i++) {
		child_cancel(p->detached[i]->cmd);
		free(p->detached[i]);
	}
	free(p->detached);
	free(p);
	cp->be = NULL;
}


/* Scancels of forgotten jobs still running. */
static bool
slurm_busy(const struct cpool *cp)
{
	return sp(cp)->ndetached > 0;
}


const struct backend_ops backend_slurm = {
	.name = "slurm",
	.remote = true,
	.launch = slurm_launch,
	.terminate = slurm_terminate,
	.kill = slurm_kill,
	.start_overdue = slurm_start_overdue,
	.adopt = slurm_adopt,
	.save = slurm_save,
	.trim = slurm_trim,
	.worker_memory = slurm_worker_memory,
	.worker_gpus = slurm_worker_gpus,
	.sched_host = slurm_sched_host,
	/* no worker_args: the node's temporary folder, and the job's script
	 * adds the node's address (slurm_script) */
	.where = slurm_where,
	.worker_json = slurm_worker_json,
	.slot_json = slurm_slot_json,
	.pool_json = slurm_pool_json,
	.worker_free = slurm_worker_free,
	.pool_free = slurm_pool_free,
	.busy = slurm_busy,
};
