/* restore.c: see ctl_int.h. */
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

/* ------------------------------------------------------------- restore */

/* True when pid is still the process that started at start (clock ticks
 * since boot): a pid alone may have been reused. */
bool
proc_alive(pid_t pid, uint64_t start)
{
	return pid > 0 && start != 0 && launch_start_time(pid) == start;
}


static bool
instance_owns_session(const struct instance *in, pid_t sid)
{
	size_t i;

	if (sid <= 0)
		return false;
	if (sid == sched_pid(in->sched))
		return true;
	if (in->nb != NULL && sid == notebook_pid(in->nb))
		return true;
	if (in->forker_pid > 0 && sid == in->forker_pid)
		return true;
	for (i = 0; i < in->nworkers; i++)
		if (in->workers[i]->pid > 0 && sid == in->workers[i]->pid)
			return true;
	return false;
}


/*
 * Kills the processes that name this instance's folder on their command
 * line (every scheduler and worker does) but belong to no process edask
 * knows: a launch that the controller's death interrupted between fork
 * and record.
 */
void
kill_orphans(struct instance *in)
{
	/* what edask itself puts on its schedulers' and workers' command
	 * lines: nobody else's process (a `tail -f` of a log) matches */
	char *sched_arg = xasprintf("--scheduler-file %s ", in->sched_file);
	char *work_arg = xasprintf("--local-directory %s ", in->work_dir);
	char *nb_arg = xasprintf("--notebook-dir %s ", in->nb_dir);
	/* the forker's, and so every worker it forked (fork keeps the
	 * command line) */
	char *fk_arg = xasprintf("%s ", in->forker_sock);
	struct dirent *de;
	DIR *d;

	d = opendir("/proc");
	if (d == NULL) {
		log_warn("/proc");
		free(sched_arg);
		free(work_arg);
		free(nb_arg);
		free(fk_arg);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char path[64], cmd[8192];
		pid_t pid = (pid_t)atoi(de->d_name);
		ssize_t n, i;
		int fd;

		if (pid <= 1 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			continue;
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (i = 0; i < n; i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		cmd[n] = '\0';	/* every argument now ends with a blank */
		if ((strstr(cmd, sched_arg) == NULL &&
		    strstr(cmd, work_arg) == NULL &&
		    strstr(cmd, nb_arg) == NULL &&
		    strstr(cmd, fk_arg) == NULL) ||
		    instance_owns_session(in, getsid(pid)))
			continue;
		ev(in, "orphan", "process %d has no record (a launch the "
		    "controller's death interrupted): killed; %.120s",
		    (int)pid, cmd);
		launch_kill(pid, SIGKILL);
	}
	closedir(d);
	free(sched_arg);
	free(work_arg);
	free(nb_arg);
	free(fk_arg);
}


static enum istate
istate_parse(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(istate_name); i++)
		if (strcmp(istate_name[i], name) == 0)
			return (enum istate)i;
	return I_ERROR;
}


static int
wstate_parse(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(wstate_name); i++)
		if (strcmp(wstate_name[i], name) == 0)
			return (int)i;
	return -1;
}


/*
 * Re-adopts the stored notebook server if it still runs and its instance
 * still wants it; one that is no longer wanted is stopped.  Runs before
 * kill_orphans(), which would take an unknown notebook for an orphan.
 */
static void
restore_notebook(struct instance *in, enum istate st, bool sched_alive)
{
	struct store_notebook sn;
	pid_t pid;
	char err[256];
	int rc;

	rc = store_notebook_get(in->ctl->store, in->spec->name, &sn, err,
	    sizeof(err));
	if (rc == -1)
		log_warnx("%s", err);
	if (rc != 1)
		return;
	pid = (pid_t)sn.pid;
	if (pid > 0 && proc_alive(pid, sn.start_time)) {
		if (in->spec->notebook.enabled && sched_alive &&
		    (st == I_STARTED || st == I_STOPPING) &&
		    sched_address(in->sched) != NULL) {
			in->nb = notebook_for(in);
			if (notebook_adopt(in->nb, pid, sn.start_time,
			    sn.port, sn.token) == 0) {
				ev(in, "notebook", "notebook server pid %d on "
				    "127.0.0.1:%d re-adopted", (int)pid,
				    sn.port);
				store_notebook_clear(&sn);
				return;
			}
			notebook_free(in->nb);
			in->nb = NULL;
		}
		ev(in, "notebook", "notebook server pid %d is no longer "
		    "wanted: stopped", (int)pid);
		launch_kill(pid, SIGTERM);
	}
	store_notebook_clear(&sn);
	persist_notebook(in);
}


/* Re-adopts one stored worker if its process still runs. */
static void
restore_worker(struct instance *in, const struct store_worker *sw)
{
	struct ctl *c = in->ctl;
	struct worker *w;
	int st = wstate_parse(sw->state);

	w = xcalloc(1, sizeof(*w));
	w->inst = in;
	w->id = sw->id;
	w->slot = sw->slot;
	w->gpu = sw->gpu;
	w->pid = (pid_t)sw->pid;
	strlcpy_(w->name, sw->name, sizeof(w->name));
	strlcpy_(w->address, sw->address, sizeof(w->address));
	w->log = xstrdup(sw->log);
	w->launched_wall_ms = sw->launched_ms;
	w->launched_ms = mono_ms() - (wall_ms() - sw->launched_ms);
	w->retire_wall_ms = sw->retire_started_ms;
	w->reclaim_for = -1;
	w->reclaim_deadline_wall_ms = sw->reclaim_deadline_ms;
	strlcpy_(w->reclaim_restored, sw->reclaim_for,
	    sizeof(w->reclaim_restored));
	w->idle_since_ms = -1;
	w->rss = -1;
	w->unique_keys = -1;
	w->gpu_util = -1;
	if (st >= 0)
		w->state = (enum wstate)st;	/* as it was: adopt may ask */
	if (st < 0)
		ev(in, "worker_gone", "worker w%d (%s): bad record (state "
		    "\"%s\"), forgotten", w->id, w->name, sw->state);
	if (st < 0 || !in->cp->ops->adopt(w, sw)) {
		if (store_worker_delete(c->store, in->spec->name, w->id, NULL,
		    0) == -1)
			log_warnx("store: cannot delete worker w%d", w->id);
		worker_free(w);
		return;
	}
	w->state = (enum wstate)st;
	worker_add(w);
}


/* Carries on with what each adopted worker was doing. */
static void
resume_workers(struct instance *in)
{
	int64_t now = wall_ms();
	size_t i;

	for (i = 0; i < in->nworkers; i++) {
		struct worker *w = in->workers[i];
		int64_t left;

		switch (w->state) {
		case W_LAUNCHING:
			left = w->launched_wall_ms +
			    in->spec->scaling.start_timeout_ms - now;
			w->start_timer = loop_timer_add(in->ctl->loop,
			    left > 1000 ? left : 1000, on_start_timeout, w);
			break;
		case W_RETIRING:
			/* the answer was lost with the old controller: ask
			 * again; a worker the scheduler no longer has is
			 * refused, then stopped once seen missing */
			worker_set_state(w, W_RUNNING);
			worker_retire(w, RETIRE_TIMEOUT_MS);
			break;
		case W_STOPPING:
			worker_terminate(w, 0);
			break;
		case W_RUNNING:
		case W_DRAINING:	/* the reclaim goes on at the next tick */
			break;
		}
	}
}


static void
restore_instance(struct ctl *c, const struct store_instance *si)
{
	struct store_worker *sws = NULL;
	struct instance *in;
	struct spec *spec;
	enum istate st = istate_parse(si->state);
	bool sched_alive;
	size_t i, n = 0;
	char err[512];

	if (spec_parse(si->spec_json, strlen(si->spec_json), "stored spec",
	    &spec, err, sizeof(err)) == -1) {
		events_add(c->events, si->name, "error", "cannot restore: %s",
		    err);
		return;
	}
	if (ctl_pool(c, spec->pool) == NULL) {
		/* its record stays: with the pool back in the config, the
		 * next start restores it */
		events_add(c->events, si->name, "error", "cannot restore: its "
		    "pool \"%s\" is not in this daemon's config; its "
		    "processes and jobs are left as they are", spec->pool);
		spec_free(spec);
		return;
	}
	in = instance_new(c, spec);
	in->created_ms = si->created_ms;
	in->next_worker_id = si->next_worker_id;
	strlcpy_(in->error, si->error, sizeof(in->error));
	/* what the run was started with: its address says, or, before the
	 * scheduler wrote it, the spec (a change of security.tls needs a
	 * stop, so a running instance's spec is its run's) */
	in->tls = si->sched_addr[0] != '\0' ?
	    strncmp(si->sched_addr, "tls://", 6) == 0 : spec->security.tls;
	in->state = st;
	/* first: a worker found gone below may add its own */
	losses_restore(in);
	if (store_workers_load(c->store, spec->name, &sws, &n, err,
	    sizeof(err)) == -1)
		log_warnx("%s", err);
	for (i = 0; i < n; i++)
		restore_worker(in, &sws[i]);
	store_workers_free(sws, n);
	/* one that had not answered yet is waited for again */
	in->sched = sched_for(in);
	sched_alive = sched_adopt(in->sched, (pid_t)si->sched_pid,
	    si->sched_start, si->sched_addr, si->dash_url,
	    st == I_STARTING) == 0;
	restore_notebook(in, st, sched_alive);
	if (sched_alive && instance_probe(in, err, sizeof(err)) == -1) {
		/* it runs: keep it, and say why new workers may fail */
		ev(in, "engine", "%s", err);
		in->wtype = resolve_wtype(in->spec, in->cp, &in->probe);
	}
	if (sched_alive)
		forker_adopt(in);
	kill_orphans(in);
	ev(in, "restored", "state %s, scheduler %s, %zu worker(s) re-adopted",
	    istate_name[st], sched_alive ? "alive" : "gone", in->nworkers);
	in->ever_started = st == I_STARTED || st == I_STOPPING;
	/* an undeploy asked before the restart goes on: what runs stops,
	 * nothing starts, and the instance goes once nothing is left */
	in->undeploy = si->undeploy;
	if (in->undeploy) {
		ev(in, "undeploying", "asked before the restart: carried on");
		if (st == I_STARTED)
			st = I_STOPPING;
		else if (st == I_STARTING || st == I_REGISTERED)
			st = in->state = I_STOPPED;
	}
	switch (st) {
	case I_STARTED:
	case I_STOPPING:
		if (sched_client(in->sched) == NULL) {
			instance_fail(in, "scheduler exited while edask was "
			    "down; log %s", in->sched_log);
			break;
		}
		in->ever_started = true;
		in->state = I_STARTED;
		resume_workers(in);
		if (st == I_STOPPING) {
			instance_stop(in);
		} else {
			in->timer = loop_timer_add(c->loop, 0, instance_tick,
			    in);
			notebook_begin(in);
			forker_start(in);
		}
		break;
	case I_STARTING:
		if (sched_alive) {
			forker_start(in);
			break;
		}
		workers_terminate_all(in);
		instance_start(in);
		break;
	case I_REGISTERED:
		instance_start(in);
		break;
	case I_STOPPED:
	case I_ERROR:
		/* nothing should run; whatever does is stopped */
		workers_terminate_all(in);
		forker_terminate(in);
		sched_stop(in->sched);
		persist_instance(in);
		break;
	}
	if (in->state != I_STARTED)
		losses_flush(in);	/* no observation will settle them */
}


/*
 * Reclaims in flight when the controller died: their recipients are known
 * by name, and every instance is back now.  The slot is reserved again and
 * the grace goes on from where it was; a worker whose recipient is gone
 * (or stopped) keeps its slot, and the drain is undone at its next tick.
 */
static void
restore_reclaims(struct ctl *c)
{
	size_t i, j;

	for (i = 0; i < c->ninst; i++) {
		struct instance *in = c->inst[i];

		for (j = 0; j < in->nworkers; j++) {
			struct worker *w = in->workers[j];
			struct instance *to;

			if (w->reclaim_restored[0] == '\0')
				continue;
			to = ctl_find(c, w->reclaim_restored);
			w->reclaim_restored[0] = '\0';
			/* reclaim_for stays -1: a drain is undone */
			if (to == NULL || to == in || (to->state != I_STARTED &&
			    to->state != I_STARTING))
				continue;
			w->reclaim_for = to->id;
			worker_index(w);
			pool_reserve(in->cp->pool, w->slot, to->id);
			if (w->state == W_DRAINING || w->state == W_RETIRING)
				arm_reclaim_deadline(w);
		}
	}
}


int
ctl_restore(struct ctl *c, char *err, size_t errlen)
{
	struct store_instance *sis = NULL;
	size_t i, n = 0;

	if (store_instances_load(c->store, &sis, &n, err, errlen) == -1)
		return -1;
	for (i = 0; i < n; i++)
		restore_instance(c, &sis[i]);
	store_instances_free(sis, n);
	restore_reclaims(c);
	return 0;
}
