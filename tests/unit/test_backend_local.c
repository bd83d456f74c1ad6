/*
 * test_backend_local: the real controller on a local pool (backend_local.c)
 * whose workers are real processes: /bin/sh scripts this test writes,
 * which print their arguments and CUDA_VISIBLE_DEVICES into their log and
 * then `exec sleep`.  The engine is the fake one of tests/fake/fake_ctl.h:
 * decisions come from fake_scheduler_sees() with time passed in, and the
 * loop is pumped (with generous deadlines) only where a process must
 * start, exit or be reaped.  The test plays the worker forker itself: a
 * unix socket at the instance's forker path, answered from here.
 *
 * Every script appends its pid to the file `pids`; the teardown kills and
 * reaps those still running, and whatever the test spawned itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl_harness.h"
#include "launch.h"
#include "store.h"

/* ----------------------------------------------------------- harness */

struct world {
	char		 dir[64];	/* the scripts and their pids */
	char		 state[96];	/* the controller's state folder */
	struct loop	*loop;
	struct ctl	*ctl;
	int		 lfd;		/* the forker's socket, played here */
	pid_t		 spawned[4];	/* "forked" by the test's forker */
	size_t		 nspawned;
};

/* The file name in the test's folder, in buf. */
static const char *
at(struct world *wd, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", wd->dir, name);
	return buf;
}


static void
put(struct world *wd, const char *name, const char *text, int mode)
{
	char path[160], err[256];

	if (util_write_file(at(wd, name, path, sizeof(path)), text,
	    strlen(text), mode, err, sizeof(err)) == -1)
		fail_msg("%s", err);
}


/* New string: path's text, "" when it does not exist. */
static char *
slurp(const char *path)
{
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return xstrdup("");
	do {
		if (n + 1 >= cap)
			buf = xrealloc(buf, cap = cap * 2 + 4096);
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got > 0);
	buf[n] = '\0';
	fclose(f);
	return buf;
}


static bool
log_has(const struct worker *w, const char *what)
{
	char *s = slurp(w->log);
	bool has = strstr(s, what) != NULL;

	free(s);
	return has;
}


/*
 * worker.sh, a worker: logs its arguments and its GPU, then fails with
 * the text of the file `fail` if there is one, else sleeps.  python.sh,
 * the instance's python, stands for both the worker forker and a worker
 * of `command: auto` started by exec: it logs its arguments and sleeps.
 */
static void
scripts(struct world *wd)
{
	char *s;

	s = xasprintf("#!/bin/sh\n"
	    "d='%s'\n"
	    "echo $$ >> \"$d/pids\"\n"
	    "echo \"args: $*\"\n"
	    "echo \"cuda: [$CUDA_VISIBLE_DEVICES]\"\n"
	    "if [ -f \"$d/fail\" ]; then\n"
	    "\tcat \"$d/fail\"\n"
	    "\texit 3\n"
	    "fi\n"
	    "exec sleep 600\n", wd->dir);
	put(wd, "worker.sh", s, 0700);
	free(s);
	s = xasprintf("#!/bin/sh\n"
	    "d='%s'\n"
	    "echo $$ >> \"$d/pids\"\n"
	    "echo \"python: $*\"\n"
	    "exec sleep 600\n", wd->dir);
	put(wd, "python.sh", s, 0700);
	free(s);
}


static struct ctl *
open_ctl(struct world *wd)
{
	struct ctl *c;
	char err[512];

	c = fake_ctl_new_local(wd->loop, wd->state, "local", 4, err,
	    sizeof(err));
	if (c == NULL)
		fail_msg("ctl_new: %s", err);
	return c;
}


static int
setup(void **state)
{
	struct world *wd = xcalloc(1, sizeof(*wd));

	fake_reset();
	tu_mkdtemp(wd->dir, sizeof(wd->dir), "test_backend_local");
	snprintf(wd->state, sizeof(wd->state), "%s/state", wd->dir);
	/* cmocka runs no teardown after a failed setup: undone here */
	if (mkdir(wd->state, 0700) == -1) {
		tu_rm_rf(wd->dir);
		fail_msg("mkdir: %m");
	}
	scripts(wd);
	wd->lfd = -1;
	wd->loop = loop_new();
	wd->ctl = open_ctl(wd);
	*state = wd;
	return 0;
}


/* pid, a child of this process: killed and reaped unless it already was
 * (a pid the controller's loop reaped is no longer our child). */
static void
end_child(pid_t pid)
{
	if (pid > 0 && waitpid(pid, NULL, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}


static int
teardown(void **state)
{
	struct world *wd = *state;
	char path[160], *pids, *p, *save = NULL;
	size_t i;

	pids = slurp(at(wd, "pids", path, sizeof(path)));
	for (p = strtok_r(pids, "\n", &save); p != NULL;
	    p = strtok_r(NULL, "\n", &save))
		end_child((pid_t)atoi(p));
	free(pids);
	for (i = 0; i < wd->nspawned; i++)
		end_child(wd->spawned[i]);
	if (wd->lfd != -1)
		close(wd->lfd);
	ctl_world_end(wd->ctl, wd->loop, wd->dir);
	free(wd);
	return 0;
}


#define PUMP_UNTIL(wd, cond)	CTL_PUMP_UNTIL((wd)->loop, cond)

/* Spec of instance a on the local pool: yaml's workers line, with
 * python.sh as its python and idle workers retired after 10 s. */
static struct instance *
deploy(struct world *wd, const char *workers)
{
	char *yaml = xasprintf("name: a\n"
	    "python: %s/python.sh\n"
	    "pool: local\n"
	    "scaling: {interval: 1h, idle_timeout: 10s, "
	    "scale_down_delay: 0s}\n"
	    "%s", wd->dir, workers);
	struct instance *in = ctl_deploy_started(wd->ctl, wd->loop, yaml);

	free(yaml);
	return in;
}

/* Workers by exec, of worker.sh: min 0, max 2, one GPU each. */
static struct instance *
deploy_exec(struct world *wd)
{
	char *w = xasprintf("workers: {min: 0, max: 2, gpus: 1, threads: 1, "
	    "command: %s/worker.sh}\n", wd->dir);
	struct instance *in = deploy(wd, w);

	free(w);
	return in;
}


/* The store's row of worker wid of instance a: its pid and start time. */
static void
stored_pid(struct world *wd, int wid, pid_t *pid, uint64_t *start)
{
	struct store_worker *ws = NULL;
	size_t i, n = 0;
	char err[256];

	*pid = 0;
	*start = 0;
	if (store_workers_load(wd->ctl->store, "a", &ws, &n, err,
	    sizeof(err)) != 0)
		fail_msg("store_workers_load: %s", err);
	for (i = 0; i < n; i++)
		if (ws[i].id == wid) {
			*pid = ws[i].pid;
			*start = ws[i].start_time;
		}
	store_workers_free(ws, n);
}


/* Instance a has an event of kind that says exactly fmt... (the last of
 * that kind fails the test otherwise). */
static void PRINTF(3, 4)
event_is(struct world *wd, const char *kind, const char *fmt, ...)
{
	char *msg, *want;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	if (vasprintf(&want, fmt, ap) == -1)
		fail_msg("vasprintf");
	va_end(ap);
	msg = ctl_event_find(wd->ctl, "a", kind, want, &n);
	if (n == 0)
		fail_msg("%s:\n last: %s\n want: %s", kind,
		    msg != NULL ? msg : "(none)", want);
	free(want);
	free(msg);
}

/* --------------------------------------------------------------- tests */

/*
 * A worker started by exec: its own GPU in CUDA_VISIBLE_DEVICES, the
 * local pool's arguments (loopback only, its folder for spill), its pid
 * and start time saved.  Idle past its timeout, it is retired through the
 * scheduler, then stopped with SIGTERM (it does not exit by itself): the
 * slot is free again and nothing is told lost.
 */
static void
test_an_exec_worker_runs_on_its_gpu_and_is_retired(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy_exec(wd);
	int64_t t = mono_ms();
	struct worker *w;
	char want[512];
	uint64_t start;
	pid_t pid;

	fake_scheduler_sees(in, t, 1, 0);
	assert_int_equal(in->nworkers, 1);
	w = in->workers[0];
	assert_int_equal(w->state, W_LAUNCHING);
	assert_true(w->pid > 0);
	assert_true(ctl_worker_is(wd->ctl, "a", w->id, "started_by",
	    "\"exec\""));
	stored_pid(wd, w->id, &pid, &start);
	assert_int_equal(pid, w->pid);
	assert_true(start != 0);
	PUMP_UNTIL(wd, log_has(w, "cuda: "));
	snprintf(want, sizeof(want), "cuda: [%d]", w->gpu);
	assert_true(log_has(w, want));
	snprintf(want, sizeof(want), "--name %s --resources GPU=1 "
	    "--no-nanny", w->name);
	assert_true(log_has(w, want));
	snprintf(want, sizeof(want), "--local-directory %s --host 127.0.0.1 "
	    "--dashboard-address 127.0.0.1:0", in->work_dir);
	assert_true(log_has(w, want));
	/* registered, busy, then idle past idle_timeout */
	fake_scheduler_sees(in, t + 100, 0, 1);
	assert_int_equal(w->state, W_RUNNING);
	fake_scheduler_sees(in, t + 200, 0, 0);
	fake_scheduler_sees(in, t + 10300, 0, 0);
	assert_int_equal(fake_counts.retires, 1);
	fake_answer(INT64_MAX);			/* Dask retired it */
	assert_int_equal(w->state, W_STOPPING);
	pid = w->pid;
	/* it keeps running: SIGTERM after RETIRED_EXIT_MS */
	PUMP_UNTIL(wd, in->nworkers == 0);
	assert_int_equal(in->nworkers, 0);
	assert_int_equal(kill(pid, 0), -1);	/* reaped */
	event_is(wd, "worker_gone", "worker w1 (a-0) stopped, slot 0 freed");
	assert_int_equal(ctl_stored_workers(wd->ctl, "a"), 0);
	assert_int_equal(pool_free_count(in->cp->pool), 4);
	assert_false(ctl_has_event(wd->ctl, "a", "worker_lost"));
	assert_int_equal(in->failures, 0);
}


/*
 * A registered worker killed from outside: its slot is freed at once; its
 * loss is told when the scheduler says what it held as it removed the
 * worker, with the exit and the log's last line; no failure is counted.
 */
static void
test_a_running_worker_that_dies_is_lost(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy_exec(wd);
	int64_t t = mono_ms();
	struct dask_departure gone = { "tls://127.0.0.1:40001", 3, 2, 2048 };
	struct worker *w;
	char *log;

	fake_scheduler_sees(in, t, 1, 0);
	w = in->workers[0];
	fake_scheduler_sees(in, t + 100, 0, 1);
	assert_int_equal(w->state, W_RUNNING);
	PUMP_UNTIL(wd, log_has(w, "cuda: "));
	log = xstrdup(w->log);
	assert_int_equal(kill(w->pid, SIGKILL), 0);
	PUMP_UNTIL(wd, in->nworkers == 0);
	assert_int_equal(in->nworkers, 0);
	assert_int_equal(pool_free_count(in->cp->pool), 4);
	assert_int_equal(ctl_stored_workers(wd->ctl, "a"), 0);
	/* told once the scheduler has seen it go */
	assert_false(ctl_has_event(wd->ctl, "a", "worker_lost"));
	fake_scheduler_sees_but(in, t + 200, NULL, NULL, &gone);
	event_is(wd, "worker_lost", "worker w1 (a-0) exited on signal 9 "
	    "(Killed) while running; as the scheduler removed it, it held 3 "
	    "results (2.0 KiB), 2 of them nowhere else: the scheduler "
	    "recomputes those from their inputs; slot 0 freed, a new worker "
	    "comes as demand asks, without backoff; log %s: cuda: [0]", log);
	free(log);
	assert_int_equal(in->lost_keys_only, 2);
	assert_int_equal(in->lost_keys_copied, 1);
	assert_int_equal(in->failures, 0);
}


/*
 * A worker that exits before it registers: a failed launch, told with its
 * exit status and its log's last line, and the next launch backed off.
 */
static void
test_a_worker_that_exits_before_registering_fails(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy_exec(wd);
	int64_t t = mono_ms();
	char *log;

	put(wd, "fail", "ModuleNotFoundError: No module named 'xgboost'\n",
	    0600);
	fake_scheduler_sees(in, t, 1, 0);
	assert_int_equal(in->nworkers, 1);
	log = xstrdup(in->workers[0]->log);
	PUMP_UNTIL(wd, ctl_has_event(wd->ctl, "a", "worker_failed"));
	event_is(wd, "worker_failed", "worker w1 (a-0) exited with status 3 "
	    "before registering; failure 1, next launch in 1s; log %s: "
	    "ModuleNotFoundError: No module named 'xgboost'", log);
	free(log);
	assert_int_equal(in->failures, 1);
	assert_int_equal(in->nworkers, 0);
	assert_int_equal(ctl_stored_workers(wd->ctl, "a"), 0);
	assert_int_equal(pool_free_count(in->cp->pool), 4);
	/* no launch before the backoff is over */
	fake_scheduler_sees(in, in->backoff_until_ms - 1, 1, 0);
	assert_int_equal(in->nworkers, 0);
	assert_false(ctl_has_event(wd->ctl, "a", "worker_lost"));
}


/* A command gone since the deploy: the launch fails at once with exec's
 * reason, nothing is left saved, and the slot is free. */
static void
test_a_command_that_cannot_run_fails_the_launch(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy_exec(wd);
	char path[160];

	if (unlink(at(wd, "worker.sh", path, sizeof(path))) == -1)
		fail_msg("unlink: %m");
	fake_scheduler_sees(in, mono_ms(), 1, 0);
	assert_int_equal(in->nworkers, 0);
	event_is(wd, "worker_failed", "cannot start worker on slot 0: %s: %s; "
	    "failure 1, next launch in 1s", path, strerror(ENOENT));
	assert_int_equal(in->failures, 1);
	assert_int_equal(ctl_stored_workers(wd->ctl, "a"), 0);
	assert_int_equal(pool_free_count(in->cp->pool), 4);
}


/*
 * A restarted controller takes its running workers over by pid and
 * start time, and watches them again (one killed later is seen to go).
 * A running worker that ended while it was down is a loss, told with
 * what the scheduler counted as it removed the worker; its slot is free.
 */
static void
test_a_restart_adopts_live_workers_and_forgets_dead_ones(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy_exec(wd);
	int64_t t = mono_ms();
	struct dask_departure gone = { "tls://127.0.0.1:40002", 4, 1, 1024 };
	char err[512], *log, *dead_log;
	pid_t live, dead;
	int live_id;

	fake_scheduler_sees(in, t, 2, 0);
	assert_int_equal(in->nworkers, 2);
	fake_scheduler_sees(in, t + 100, 0, 1);
	live = in->workers[0]->pid;
	live_id = in->workers[0]->id;
	log = xstrdup(in->workers[0]->log);
	dead = in->workers[1]->pid;
	dead_log = xstrdup(in->workers[1]->log);
	PUMP_UNTIL(wd, log_has(in->workers[0], "cuda: ") &&
	    log_has(in->workers[1], "cuda: "));
	ctl_free(wd->ctl);
	wd->ctl = NULL;		/* teardown's, if open_ctl fails */
	/* one ends while no controller runs (reaped here: this test is its
	 * parent, as a daemon that detached is not) */
	assert_int_equal(kill(dead, SIGKILL), 0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	wd->ctl = open_ctl(wd);
	if (ctl_restore(wd->ctl, err, sizeof(err)) != 0)
		fail_msg("restore: %s", err);
	in = ctl_find(wd->ctl, "a");
	assert_non_null(in);
	assert_int_equal(in->nworkers, 1);
	assert_int_equal(in->workers[0]->id, live_id);
	assert_int_equal(in->workers[0]->pid, live);
	assert_int_equal(in->workers[0]->state, W_RUNNING);
	assert_int_equal(ctl_stored_workers(wd->ctl, "a"), 1);
	assert_int_equal(pool_free_count(in->cp->pool), 3);
	assert_false(ctl_has_event(wd->ctl, "a", "worker_gone"));
	/* watched again: its end frees its slot */
	assert_int_equal(kill(live, SIGKILL), 0);
	PUMP_UNTIL(wd, in->nworkers == 0);
	assert_int_equal(in->nworkers, 0);
	assert_int_equal(pool_free_count(in->cp->pool), 4);
	/* neither is told before the scheduler is observed: the dead one
	 * with the count it took as it removed that worker; the live one,
	 * not observed since the restart and without a departure, as not
	 * known */
	assert_false(ctl_has_event(wd->ctl, "a", "worker_lost"));
	fake_scheduler_sees_but(in, mono_ms(), NULL, NULL, &gone);
	event_is(wd, "worker_lost", "worker w2 (a-1, pid %d) was running and "
	    "exited while edask was down; as the scheduler removed it, it "
	    "held 4 results (1.0 KiB), 1 of them nowhere else: the scheduler "
	    "recomputes those from their inputs; slot 1 freed; log %s: "
	    "cuda: [1]", (int)dead, dead_log);
	free(dead_log);
	event_is(wd, "worker_lost", "worker w%d (a-0) exited on signal 9 "
	    "(Killed) while running; what it held is unknown (not observed "
	    "since edask restarted); slot 0 freed, a new worker comes as "
	    "demand asks, without backoff; log %s: cuda: [0]", live_id,
	    log);
	free(log);
	assert_int_equal(in->lost_workers, 2);
	assert_int_equal(in->lost_keys_only, 1);
	assert_int_equal(in->lost_keys_copied, 3);
	assert_int_equal(in->lost_keys_unknown, 0);
}


/* The test's forker listens at in's forker socket; pumps until the
 * controller has found it ready. */
static void
forker_listens(struct world *wd, struct instance *in)
{
	PUMP_UNTIL(wd, in->forker_pid > 0);
	assert_true(in->forker_pid > 0);
	wd->lfd = tu_unix_listen(in->forker_sock);
	PUMP_UNTIL(wd, in->forker_ready);
	assert_true(in->forker_ready);
}


/* The request the controller sent the forker (new string), and its
 * connection in *fd. */
static char *
fork_request(struct world *wd, int *fd)
{
	char buf[8192];
	ssize_t n = -1;

	/* the controller's readiness probes connect and close at once */
	do {
		if (n == 0)
			close(*fd);
		*fd = accept(wd->lfd, NULL, NULL);
		assert_true(*fd >= 0);
		n = read(*fd, buf, sizeof(buf) - 1);
	} while (n == 0);
	assert_true(n > 0);
	buf[n] = '\0';
	return xstrdup(buf);
}


/*
 * With `command: auto` and the forker ready, a worker is asked of the
 * forker, and launching meanwhile; the pid it answers is the worker's.  A
 * forker that fails a request is restarted and that worker is started by
 * exec instead.
 */
static void
test_a_worker_is_forked_and_exec_follows_a_failed_fork(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy(wd, "workers: {min: 0, max: 2, gpus: 1, "
	    "threads: 1, type: dask}\n");
	int64_t t = mono_ms();
	char *sleeper[] = { "sleep", "600", NULL }, *req, err[256], want[128],
	    *reply;
	struct launch_cmd cmd;
	struct worker *w;
	pid_t forker;
	int fd;

	forker_listens(wd, in);
	forker = in->forker_pid;
	fake_scheduler_sees(in, t, 1, 0);
	assert_int_equal(in->nworkers, 1);
	w = in->workers[0];
	assert_int_equal(w->state, W_LAUNCHING);
	assert_int_equal(w->pid, 0);		/* asked, not answered */
	assert_true(ctl_worker_is(wd->ctl, "a", w->id, "started_by",
	    "\"fork\""));
	req = fork_request(wd, &fd);
	assert_non_null(strstr(req, "\"dask-worker\""));
	snprintf(want, sizeof(want), "\"CUDA_VISIBLE_DEVICES\":\"%d\"",
	    w->gpu);
	assert_non_null(strstr(req, want));
	assert_non_null(strstr(req, "\"--host\",\"127.0.0.1\""));
	free(req);
	/* the forker's child: here, a sleep this test starts */
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = sleeper;
	cmd.log_path = w->log;
	wd->spawned[wd->nspawned] = launch_spawn(&cmd, err, sizeof(err));
	assert_true(wd->spawned[wd->nspawned] > 0);
	reply = xasprintf("{\"pid\": %d}\n", (int)wd->spawned[wd->nspawned]);
	assert_int_equal(write(fd, reply, strlen(reply)),
	    (ssize_t)strlen(reply));
	free(reply);
	PUMP_UNTIL(wd, w->pid > 0);
	close(fd);
	assert_int_equal(w->pid, wd->spawned[wd->nspawned++]);
	assert_true(ctl_worker_is(wd->ctl, "a", w->id, "started_by",
	    "\"fork\""));
	/* the second: the forker fails it */
	fake_scheduler_sees(in, t + 100, 2, 1);
	assert_int_equal(in->nworkers, 2);
	w = in->workers[1];
	req = fork_request(wd, &fd);
	free(req);
	assert_int_equal(write(fd, "{\"error\": \"cannot fork\"}\n", 25), 25);
	PUMP_UNTIL(wd, w->pid > 0);
	close(fd);
	assert_true(w->pid > 0);
	event_is(wd, "forker", "worker w2 not forked (forker: cannot fork): "
	    "started by exec; restarting the forker");
	assert_true(ctl_worker_is(wd->ctl, "a", w->id, "started_by",
	    "\"exec\""));
	PUMP_UNTIL(wd, log_has(w, "python: -m distributed.cli.dask_worker"));
	assert_true(log_has(w, "python: -m distributed.cli.dask_worker"));
	/* the forker was killed, and comes again */
	PUMP_UNTIL(wd, in->forker_pid > 0 && in->forker_pid != forker);
	assert_true(in->forker_pid > 0 && in->forker_pid != forker);
	assert_int_equal(in->failures, 0);
}


int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_an_exec_worker_runs_on_its_gpu_and_is_retired,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_running_worker_that_dies_is_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_worker_that_exits_before_registering_fails,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_command_that_cannot_run_fails_the_launch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_restart_adopts_live_workers_and_forgets_dead_ones,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_worker_is_forked_and_exec_follows_a_failed_fork,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
