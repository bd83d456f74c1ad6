/*
 * test_backend_slurm: the real controller on a Slurm pool (backend_slurm.c)
 * with fake `sbatch`, `squeue` and `scancel`: /bin/sh scripts this test
 * writes into a temporary folder put first on PATH.  What "Slurm" says is
 * files in that folder the test writes: next_id (sbatch's next job id),
 * sbatch.refuse (present: sbatch prints it on stderr and exits 1),
 * squeue.json (what `squeue --json` prints, written whole then renamed);
 * the scripts log their arguments to calls (sbatch, scancel) and
 * squeue.log.  The engine is the fake one of tests/fake/fake_ctl.h:
 * decisions come from fake_scheduler_sees() with time passed in; the
 * loop is pumped (with generous deadlines) only where the commands must
 * run and end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ctl_harness.h"
#include "store.h"


/* ----------------------------------------------------------- harness */

struct world {
	char		 dir[64];	/* the fake Slurm's files */
	char		 state[96];	/* the controller's state folder */
	char		*old_path;
	struct loop	*loop;
	struct ctl	*ctl;
	struct config_pool cfg;
};

static char *sbatch_args[] = { "--qos=fast" };

static void
write_file(const char *path, const char *text, int mode)
{
	char err[256];

	if (util_write_file(path, text, strlen(text), mode, err,
	    sizeof(err)) == -1)
		fail_msg("%s", err);
}


/* The file name in the fake Slurm's folder, in buf. */
static const char *
at(struct world *wd, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", wd->dir, name);
	return buf;
}


/* name's whole text (util_write_file writes it aside, then renames it:
 * a script never reads half of it). */
static void
put(struct world *wd, const char *name, const char *text)
{
	char path[160];

	write_file(at(wd, name, path, sizeof(path)), text, 0600);
}


/* New string: name's text, "" when it does not exist. */
static char *
get(struct world *wd, const char *name)
{
	char path[160], *buf = NULL;
	size_t cap = 0, n;
	FILE *f;

	at(wd, name, path, sizeof(path));
	if ((f = fopen(path, "r")) == NULL)
		return xstrdup("");
	for (n = 0;;) {
		size_t got;

		if (n + 1 >= cap)
			buf = xrealloc(buf, cap = cap * 2 + 4096);
		if ((got = fread(buf + n, 1, cap - n - 1, f)) == 0)
			break;
		n += got;
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}


static size_t
lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}


/* How many logged calls start with prefix (a command and its first
 * arguments). */
static size_t
calls_of(struct world *wd, const char *prefix)
{
	char *all = get(wd, "calls"), *p, *save = NULL;
	size_t n = 0;

	for (p = strtok_r(all, "\n", &save); p != NULL;
	    p = strtok_r(NULL, "\n", &save))
		n += strncmp(p, prefix, strlen(prefix)) == 0;
	free(all);
	return n;
}


static void
script(struct world *wd, const char *name, const char *body)
{
	char path[160], *text;

	snprintf(path, sizeof(path), "%s/bin/%s", wd->dir, name);
	text = xasprintf("#!/bin/sh\nd='%s'\n%s", wd->dir, body);
	write_file(path, text, 0700);
	free(text);
}


#define PUMP_UNTIL(wd, cond)	CTL_PUMP_UNTIL((wd)->loop, cond)

/* Pumps until k more listings have started: by then k - 1 listings
 * started after this call have been read (never two at once). */
static void
pump_listings(struct world *wd, size_t k)
{
	char *s = get(wd, "squeue.log");
	size_t want = lines(s) + k, n = 0;

	free(s);
	PUMP_UNTIL(wd, (s = get(wd, "squeue.log"), n = lines(s), free(s),
	    n >= want));
	assert_true(n >= want);
}


static int
setup(void **state)
{
	struct world *wd = xcalloc(1, sizeof(*wd));
	const char *path = getenv("PATH");
	char bin[128], err[512], *np;

	fake_reset();
	tu_mkdtemp(wd->dir, sizeof(wd->dir), "test_backend_slurm");
	snprintf(bin, sizeof(bin), "%s/bin", wd->dir);
	snprintf(wd->state, sizeof(wd->state), "%s/state", wd->dir);
	/* cmocka runs no teardown after a failed setup: undone here */
	if (mkdir(bin, 0700) == -1 || mkdir(wd->state, 0700) == -1) {
		tu_rm_rf(wd->dir);
		fail_msg("mkdir: %m");
	}
	script(wd, "sbatch",
	    "echo \"sbatch $*\" >> \"$d/calls\"\n"
	    "if [ -f \"$d/sbatch.refuse\" ]; then\n"
	    "\tcat \"$d/sbatch.refuse\" >&2\n"
	    "\texit 1\n"
	    "fi\n"
	    "id=$(cat \"$d/next_id\")\n"
	    "echo $((id + 1)) > \"$d/next_id\"\n"
	    "echo \"$id\"\n");
	script(wd, "squeue",
	    "echo \"squeue $*\" >> \"$d/squeue.log\"\n"
	    "if [ -f \"$d/squeue.json\" ]; then\n"
	    "\tcat \"$d/squeue.json\"\n"
	    "else\n"
	    "\techo '{\"errors\": [], \"jobs\": []}'\n"
	    "fi\n");
	script(wd, "scancel", "echo \"scancel $*\" >> \"$d/calls\"\n");
	put(wd, "next_id", "4101\n");
	wd->old_path = xstrdup(path != NULL ? path : "/usr/bin:/bin");
	np = xasprintf("%s:%s", bin, wd->old_path);
	setenv("PATH", np, 1);
	free(np);

	wd->cfg.name = "hpc";
	wd->cfg.backend = "slurm";
	wd->cfg.slots = 4;
	wd->cfg.partition = "gpu";
	wd->cfg.account = "proj";
	wd->cfg.gpus_per_job = 1;
	wd->cfg.time_limit = "01:00:00";
	wd->cfg.time_limit_s = 3600;
	wd->cfg.sbatch_args = sbatch_args;
	wd->cfg.nsbatch_args = ARRAY_LEN(sbatch_args);
	wd->cfg.scheduler_host = "10.0.0.1";
	wd->loop = loop_new();
	wd->ctl = fake_ctl_new_slurm(wd->loop, wd->state, &wd->cfg, err,
	    sizeof(err));
	if (wd->ctl == NULL) {
		setenv("PATH", wd->old_path, 1);
		tu_rm_rf(wd->dir);
		fail_msg("ctl_new: %s", err);
	}
	*state = wd;
	return 0;
}


static int
teardown(void **state)
{
	struct world *wd = *state;

	ctl_world_end(wd->ctl, wd->loop, wd->dir);
	setenv("PATH", wd->old_path, 1);
	free(wd->old_path);
	free(wd);
	return 0;
}


/* Deploys and waits until the scheduler "answers". */
static struct instance *
deploy(struct world *wd, const char *yaml)
{
	return ctl_deploy_started(wd->ctl, wd->loop, yaml);
}


static bool
has_event(struct world *wd, const char *name, const char *kind)
{
	return ctl_has_event(wd->ctl, name, kind);
}


static bool
worker_is(struct world *wd, const char *name, int wid, const char *key,
    const char *want)
{
	return ctl_worker_is(wd->ctl, name, wid, key, want);
}


/* One job of `squeue --json` (Slurm 22.05's shape, test_slurm.c) for
 * worker wid of instance name, appended to *buf. */
static void
job_json(struct world *wd, char **buf, int64_t id, const char *name,
    int wid, const char *state, const char *reason, const char *node)
{
	char tag[SLURM_COMMENT_MAX], *old = *buf;
	bool running = strcmp(state, "RUNNING") == 0;

	slurm_tag(tag, sizeof(tag), wd->ctl->daemon_id, name, wid);
	*buf = xasprintf("%s%s{\"job_id\": %lld, \"name\": \"edask.%s.%d\", "
	    "\"comment\": \"%s\", \"job_state\": \"%s\", "
	    "\"state_reason\": \"%s\", \"batch_host\": \"%s\", "
	    "\"nodes\": \"%s\", \"gres_detail\": [%s], "
	    "\"submit_time\": 1795618195, \"start_time\": %s, "
	    "\"partition\": \"gpu\", \"tres_per_node\": \"gres:gpu:1\", "
	    "\"flags\": []}", old != NULL ? old : "", old != NULL ? ", " : "",
	    (long long)id, name, wid, tag, state, reason, node, node,
	    running ? "\"gpu:1(IDX:0)\"" : "", running ? "1795618200" : "0");
	free(old);
}


/* squeue prints jobs (NULL: none). */
static void
squeue_lists(struct world *wd, const char *jobs)
{
	char *s = xasprintf("{\"meta\": {}, \"errors\": [], \"jobs\": [%s]}\n",
	    jobs != NULL ? jobs : "");

	put(wd, "squeue.json", s);
	free(s);
}


/* squeue lists worker wid's job alone. */
static void
squeue_lists_one(struct world *wd, int64_t id, const char *name, int wid,
    const char *state, const char *reason, const char *node)
{
	char *j = NULL;

	job_json(wd, &j, id, name, wid, state, reason, node);
	squeue_lists(wd, j);
	free(j);
}


static size_t
stored_workers(struct world *wd, const char *name)
{
	return ctl_stored_workers(wd->ctl, name);
}


#define SPEC_SLURM							\
	"python: /bin/sh\n"						\
	"pool: hpc\n"							\
	"scaling: {interval: 1h, idle_timeout: 10s, "			\
	"scale_down_delay: 0s}\n"

#define SPEC_A								\
	"name: a\n"							\
	SPEC_SLURM							\
	"workers: {min: 1, max: 2, gpus: 1, threads: 1}\n"

/*
 * Deploys yaml (instance "a"); its first decision, with `queued` tasks
 * waiting, submits one worker (sbatch answers job 4101); the job is
 * listed running on node n1, the worker registers: running.  The start of
 * most scenarios.
 */
static struct instance *
deploy_running(struct world *wd, const char *yaml, int queued, int64_t *now,
    struct worker **wp)
{
	struct instance *in = deploy(wd, yaml);
	struct worker *w;

	*now = mono_ms();
	fake_scheduler_sees(in, *now, queued, 0);
	assert_int_equal(in->nworkers, 1);
	w = in->workers[0];
	/* listed from the start, as Slurm lists a job once sbatch took it:
	 * a listing that ran after sbatch answered and did not show it would
	 * say the job left the queue */
	squeue_lists_one(wd, 4101, "a", w->id, "RUNNING", "None", "n1");
	PUMP_UNTIL(wd, has_event(wd, "a", "submitted"));
	PUMP_UNTIL(wd, worker_is(wd, "a", w->id, "job_state", "\"RUNNING\""));
	assert_true(worker_is(wd, "a", w->id, "job_state", "\"RUNNING\""));
	fake_scheduler_sees(in, *now + 100, queued, queued > 0);
	assert_int_equal(w->state, W_RUNNING);
	*wp = w;
	return in;
}

/* --------------------------------------------------------------- tests */

/* deploy on a slurm pool: sbatch with the pool's options, the job
 * listed pending then running on a node, the worker registers. */
static void
test_deploy_submits_then_runs_on_a_node(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy(wd, SPEC_A);
	int64_t t = mono_ms();
	struct worker *w;
	char *want, *all, *msg;

	fake_scheduler_sees(in, t, 0, 0);
	assert_int_equal(in->nworkers, 1);
	w = in->workers[0];
	assert_int_equal(w->state, W_LAUNCHING);
	assert_int_equal(stored_workers(wd, "a"), 1);
	/* queued, listed from the start (see deploy_running) */
	squeue_lists_one(wd, 4101, "a", w->id, "PENDING", "Resources", "");
	PUMP_UNTIL(wd, has_event(wd, "a", "submitted"));
	msg = ctl_event_must(wd->ctl, "a", "submitted");
	want = xasprintf("worker w%d: Slurm job 4101 (%s)", w->id, w->name);
	assert_string_equal(msg, want);
	free(want);
	free(msg);
	assert_true(worker_is(wd, "a", w->id, "job_id", "4101"));
	/* one sbatch, with the pool's options, the job script and the
	 * worker's command line */
	all = get(wd, "calls");
	want = xasprintf("sbatch --parsable --job-name=edask.a.%d "
	    "--comment=edask:%s:a:%d --nodes=1 --ntasks=1 --gres=gpu:1 "
	    "--partition=gpu --account=proj --time=01:00:00 "
	    "--open-mode=append --output %s/w%d.log --qos=fast "
	    "%s/slurm-worker.sh 10.0.0.1 8786 /bin/sh /bin/sh -m "
	    "distributed.cli.dask_worker tls://127.0.0.1:8786 --nthreads 1 "
	    "--memory-limit auto --name %s --resources GPU=1 ",
	    w->id, wd->ctl->daemon_id, w->id, in->dir, w->id, in->dir,
	    w->name);
	if (strncmp(all, want, strlen(want)) != 0)
		fail_msg("calls:\n%s\nwant a start of:\n%s", all, want);
	assert_int_equal(lines(all), 1);
	free(want);
	free(all);
	PUMP_UNTIL(wd, worker_is(wd, "a", w->id, "job_state", "\"PENDING\""));
	assert_true(worker_is(wd, "a", w->id, "job_reason", "\"Resources\""));
	assert_true(worker_is(wd, "a", w->id, "node", "null"));
	assert_int_equal(w->state, W_LAUNCHING);
	assert_false(has_event(wd, "a", "job_running"));
	/* started on n1 with GPU 0 */
	squeue_lists_one(wd, 4101, "a", w->id, "RUNNING", "None", "n1");
	PUMP_UNTIL(wd, has_event(wd, "a", "job_running"));
	msg = ctl_event_must(wd->ctl, "a", "job_running");
	want = xasprintf("worker w%d: job 4101 runs on n1, GPU 0", w->id);
	assert_non_null(msg);
	assert_string_equal(msg, want);
	free(want);
	free(msg);
	assert_true(worker_is(wd, "a", w->id, "node", "\"n1\""));
	assert_true(worker_is(wd, "a", w->id, "job_gpus", "\"0\""));
	assert_int_equal(w->state, W_LAUNCHING);
	/* the worker registers: running; nothing more submitted */
	fake_scheduler_sees(in, t + 100, 0, 0);
	assert_int_equal(w->state, W_RUNNING);
	assert_int_equal(calls_of(wd, "sbatch"), 1);
	assert_int_equal(calls_of(wd, "scancel"), 0);
}


/* An idle worker retired through the scheduler: its job is cancelled
 * once Dask has let it go, and it is gone when Slurm lists the job
 * ended; nothing else is cancelled or submitted. */
static void
test_retired_worker_has_its_job_cancelled(void **state)
{
	struct world *wd = *state;
	int64_t t;
	struct worker *w;
	struct instance *in = deploy_running(wd, "name: a\n" SPEC_SLURM
	    "workers: {min: 0, max: 1, gpus: 1, threads: 1}\n", 5, &t, &w);
	char *msg, *want;
	size_t n;

	fake_scheduler_sees(in, t + 200, 0, 0);	/* idle from here */
	fake_scheduler_sees(in, t + 10300, 0, 0);	/* past idle_timeout */
	assert_int_equal(fake_counts.retires, 1);
	assert_int_equal(w->state, W_RETIRING);
	assert_int_equal(calls_of(wd, "scancel"), 0);
	fake_answer(INT64_MAX);			/* Dask retired it */
	assert_int_equal(w->state, W_STOPPING);
	PUMP_UNTIL(wd, calls_of(wd, "scancel") > 0);
	assert_int_equal(calls_of(wd, "scancel 4101"), 1);
	/* still holding its slot while Slurm lists the job */
	assert_int_equal(in->nworkers, 1);
	assert_int_equal(pool_free_count(in->cp->pool), 3);
	want = xasprintf("worker w%d (%s), job 4101 CANCELLED, slot", w->id,
	    w->name);
	squeue_lists_one(wd, 4101, "a", w->id, "CANCELLED", "None", "n1");
	PUMP_UNTIL(wd, in->nworkers == 0);	/* w is freed */
	assert_int_equal(in->nworkers, 0);
	msg = ctl_event_must(wd->ctl, "a", "worker_gone");
	if (strncmp(msg, want, strlen(want)) != 0)
		fail_msg("worker_gone: %s", msg);
	free(want);
	free(msg);
	assert_int_equal(stored_workers(wd, "a"), 0);
	assert_int_equal(pool_free_count(in->cp->pool), 4);
	/* Slurm forgets the job: no stray scancel, no new job.  (A job
	 * still listed KILL_GRACE_MS after its scancel is asked again: on a
	 * very slow machine there may be two, both for job 4101.) */
	n = calls_of(wd, "scancel");
	assert_int_equal(calls_of(wd, "scancel 4101"), n);
	squeue_lists(wd, NULL);
	pump_listings(wd, 2);
	assert_int_equal(calls_of(wd, "scancel"), n);
	assert_int_equal(calls_of(wd, "sbatch"), 1);
	assert_false(has_event(wd, "a", "orphan"));
	assert_false(has_event(wd, "a", "worker_lost"));
}


#define SLURM_SAYS	"sbatch: error: Batch job submission failed: " \
			"Invalid account or account/partition combination " \
			"specified"

/* sbatch refuses: a worker_failed event in Slurm's words, the slot
 * freed, and the next launch backed off until its time. */
static void
test_refused_sbatch_fails_and_backs_off(void **state)
{
	struct world *wd = *state;
	struct instance *in = deploy(wd, SPEC_A);
	int64_t t = mono_ms();
	char path[160], *msg;

	put(wd, "sbatch.refuse", SLURM_SAYS "\n");
	fake_scheduler_sees(in, t, 0, 0);
	assert_int_equal(in->nworkers, 1);
	PUMP_UNTIL(wd, has_event(wd, "a", "worker_failed"));
	msg = ctl_event_must(wd->ctl, "a", "worker_failed");
	assert_string_equal(msg, "worker w1: sbatch failed: " SLURM_SAYS
	    "; failure 1, next launch in 1s");
	free(msg);
	assert_int_equal(in->failures, 1);
	assert_int_equal(in->nworkers, 0);
	assert_int_equal(stored_workers(wd, "a"), 0);
	assert_int_equal(pool_free_count(in->cp->pool), 4);
	assert_false(has_event(wd, "a", "submitted"));
	/* Slurm would take it now, but the launch waits for its backoff */
	if (unlink(at(wd, "sbatch.refuse", path, sizeof(path))) == -1)
		fail_msg("unlink: %m");
	fake_scheduler_sees(in, in->backoff_until_ms - 1, 0, 0);
	assert_int_equal(in->nworkers, 0);
	assert_int_equal(calls_of(wd, "sbatch"), 1);
	fake_scheduler_sees(in, in->backoff_until_ms, 0, 0);
	assert_int_equal(in->nworkers, 1);
	squeue_lists_one(wd, 4101, "a", in->workers[0]->id, "PENDING",
	    "Resources", "");
	PUMP_UNTIL(wd, has_event(wd, "a", "submitted"));
	assert_int_equal(calls_of(wd, "sbatch"), 2);
	assert_true(worker_is(wd, "a", in->workers[0]->id, "job_id", "4101"));
}


/* A running job that squeue no longer lists: its worker is lost (no
 * failure, nothing to cancel), and replaced while demand remains.  What
 * it held is told once the scheduler says what it held as it removed the
 * worker, not as last observed (2 results, 1 only there). */
static void
test_job_gone_from_listing_loses_the_worker(void **state)
{
	struct world *wd = *state;
	int64_t t;
	struct worker *w;
	struct instance *in = deploy_running(wd, SPEC_A, 0, &t, &w);
	struct dask_departure gone = { "tls://127.0.0.1:40001", 5, 4, 3072 };
	char *msg;
	int nid;

	squeue_lists(wd, NULL);
	PUMP_UNTIL(wd, in->nworkers == 0);
	assert_int_equal(in->nworkers, 0);
	assert_false(has_event(wd, "a", "worker_lost"));
	assert_int_equal(in->failures, 0);
	assert_int_equal(calls_of(wd, "scancel"), 0);
	assert_int_equal(stored_workers(wd, "a"), 0);
	/* the next observation tells it; min 1: replaced, a new job */
	fake_scheduler_sees_but(in, t + 100, NULL, NULL, &gone);
	msg = ctl_event_must(wd->ctl, "a", "worker_lost");
	assert_string_equal(msg, "worker w1 (a-w1): job 4101 left the queue "
	    "on n1; as the scheduler removed it, it held 5 results (3.0 KiB), "
	    "4 of them nowhere else: the scheduler recomputes those from "
	    "their inputs; replaced if demand remains");
	free(msg);
	assert_int_equal(in->lost_keys_only, 4);
	assert_int_equal(in->lost_keys_copied, 1);
	assert_int_equal(in->failures, 0);
	assert_int_equal(in->nworkers, 1);
	nid = in->workers[0]->id;
	squeue_lists_one(wd, 4102, "a", nid, "PENDING", "Resources", "");
	PUMP_UNTIL(wd, calls_of(wd, "sbatch") == 2 &&
	    worker_is(wd, "a", nid, "job_id", "4102"));
	assert_true(worker_is(wd, "a", nid, "job_id", "4102"));
}


/* Instance a running one worker (*wid) on job 4101, which squeue lists
 * as pending again (Slurm requeued it); the scheduler answers drains with
 * answer. */
static struct instance *
requeued(struct world *wd, int (*answer)(void *, bool,
    struct dask_drain_info *), int *wid)
{
	int64_t t;
	struct worker *w;
	struct instance *in = deploy_running(wd, SPEC_A, 0, &t, &w);

	*wid = w->id;
	fake_conf.drain_answer = answer;
	squeue_lists_one(wd, 4101, "a", *wid, "PENDING", "BeginTime", "");
	return in;
}


/* The job of a registered worker is pending again (requeued): the
 * worker is drained and retired through the scheduler, then its job is
 * cancelled. */
static void
test_requeued_job_is_retired_then_cancelled(void **state)
{
	struct world *wd = *state;
	int wid;
	struct instance *in = requeued(wd, fake_drained_empty, &wid);

	PUMP_UNTIL(wd, has_event(wd, "a", "job_requeued"));
	ctl_event_has(wd->ctl, "a", "job_requeued", "(job 4101 on n1): Slurm "
	    "requeued its job (PENDING again, BeginTime); it is cancelled "
	    "once the worker is retired");
	PUMP_UNTIL(wd, calls_of(wd, "scancel") > 0);
	assert_int_equal(calls_of(wd, "scancel 4101"), 1);
	assert_true(fake_counts.drains >= 1);
	assert_int_equal(fake_counts.retires, 1);
	assert_false(has_event(wd, "a", "worker_lost"));
	/* the cancelled job ends: the worker is gone */
	squeue_lists_one(wd, 4101, "a", wid, "CANCELLED", "None", "");
	PUMP_UNTIL(wd, worker_by_id(in, wid) == NULL);
	assert_null(worker_by_id(in, wid));
	assert_true(has_event(wd, "a", "worker_gone"));
	/* every scancel was for that job (asked again only if it was still
	 * listed KILL_GRACE_MS later) */
	assert_int_equal(calls_of(wd, "scancel 4101"),
	    calls_of(wd, "scancel"));
}


/* A drain_answer: the scheduler removed the worker, which held one
 * result, only there. */
static int
drained_gone(void *arg, bool drain, struct dask_drain_info *di)
{
	(void)arg;
	(void)drain;
	di->gone = true;
	di->keys = 1;
	di->unique_keys = 1;
	di->bytes = 600;
	return 1;
}


/* A requeue that ended the worker before it could be drained (a
 * preemption without GraceTime): lost, with what it held as the scheduler
 * removed it; not retired, and its job cancelled all the same. */
static void
test_requeued_job_whose_worker_is_gone_is_a_loss(void **state)
{
	struct world *wd = *state;
	int wid;
	struct instance *in = requeued(wd, drained_gone, &wid);
	char *msg;

	PUMP_UNTIL(wd, has_event(wd, "a", "worker_lost"));
	msg = ctl_event_must(wd->ctl, "a", "worker_lost");
	assert_string_equal(msg, "worker w1 (a-w1) left the scheduler while "
	    "draining: stopping it; as the scheduler removed it, it held 1 "
	    "result (600 B), 1 of them nowhere else: the scheduler "
	    "recomputes those from their inputs");
	free(msg);
	assert_int_equal(in->lost_keys_only, 1);
	assert_int_equal(in->lost_keys_copied, 0);
	assert_int_equal(fake_counts.retires, 0);
	PUMP_UNTIL(wd, calls_of(wd, "scancel 4101") > 0);
	assert_int_equal(calls_of(wd, "scancel 4101"), 1);
}


int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_deploy_submits_then_runs_on_a_node, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_retired_worker_has_its_job_cancelled, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_refused_sbatch_fails_and_backs_off, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_job_gone_from_listing_loses_the_worker, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_requeued_job_whose_worker_is_gone_is_a_loss, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_requeued_job_is_retired_then_cancelled, setup,
		    teardown),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
