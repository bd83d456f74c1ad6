/* instance: see instance.h. */
#include "instance.h"

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
/* A shutdown's hard deadlines: the graceful stop (retire, then stop, each
 * with its own grace), then, everything killed, the wait for the exits. */
#define SHUTDOWN_GRACE_MS	90000
#define SHUTDOWN_KILL_MS	10000
#define RETIRED_EXIT_MS		3000	/* a retired worker exits by itself */
#define RECLAIM_RETRY_MS	2000	/* a refused reclaim retirement */
#define CHANGE_WAIT_MS		25000	/* one long poll of the change signal */
#define CHANGE_RETRY_MS		1000	/* after it failed */
#define FORKER_POLL_MS		100	/* until its socket answers */
#define FORKER_IO_MS		1000	/* one fork request, at most */
#define FORKER_REPLY_MAX	512
#define BACKOFF_MAX_MS		60000
#define SQUEUE_EVERY_MS		2000	/* a slurm pool's job listing */
#define SLURM_CMD_MS		30000	/* sbatch, squeue, scancel: at most */
#define EVENTS_KEPT		10000
#define MISSING_TICKS		3	/* a running worker absent this often
					   from the scheduler has left it */

enum istate { I_REGISTERED, I_STARTING, I_STARTED, I_STOPPING, I_STOPPED,
    I_ERROR };
/* W_DRAINING: reclaimed for another instance; the scheduler gives it no
 * new tasks, and it is retired once those it has are done. */
enum wstate { W_LAUNCHING, W_RUNNING, W_RETIRING, W_STOPPING, W_DRAINING };
enum { HOW_UNKNOWN, HOW_FORK, HOW_EXEC };

static const char *istate_name[] = { "registered", "starting", "started",
    "stopping", "stopped", "error" };
static const char *wstate_name[] = { "launching", "running", "retiring",
    "stopping", "draining" };

struct instance;

struct worker {
	struct instance	*inst;
	int		 id;
	int		 slot;
	int		 gpu;		/* GPU index, -1 for a CPU slot */
	enum wstate	 state;
	pid_t		 pid;
	uint64_t	 pid_watch;	/* loop_pid_watch() id */
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
	int		 unique_keys;	/* held nowhere else; -1 unknown */
	int		 gpu_util;
	uint64_t	 start_timer;
	uint64_t	 kill_timer;
	bool		 term_sent;
	uint64_t	 start_time;	/* /proc start time of pid */
	int		 missing;	/* observations without it, running */
	int64_t		 retire_wall_ms;
	/* reclaim: its slot goes to another instance */
	int		 reclaim_for;	/* that instance's id, or -1 */
	int64_t		 reclaim_deadline_wall_ms;
	uint64_t	 reclaim_timer;	/* grace: forced after it */
	bool		 drain_busy;	/* a drain request in flight */
	int64_t		 retire_retry_ms;	/* monotonic: after a refusal */
	bool		 refusal_told;	/* its "held" event is out */
	struct dask_drain_info drain;	/* the scheduler's last answer */
	int		 how;		/* HOW_FORK or HOW_EXEC; 0: unknown
					   (re-adopted) */
	char		 reclaim_restored[SPEC_NAME_MAX + 1];	/* from the
					   store, until resolved to an id */
	/* a worker of a slurm pool runs as a job: pid stays 0 */
	int64_t		 job_id;	/* 0: not known yet */
	struct child	*job_cmd;	/* sbatch or scancel in flight */
	bool		 cancel_wanted;	/* scancel once sbatch answers */
	bool		 cancel_failed;	/* a scancel failed: said once */
	int64_t		 submitted_ms;	/* monotonic: sbatch answered */
	int64_t		 job_running_ms;	/* monotonic: seen running */
	bool		 pending_told;	/* its "pending too long" event */
	bool		 job_listed;	/* in the latest listing */
	char		 job_state[SLURM_STATE_MAX];
	char		 job_reason[SLURM_REASON_MAX];
	char		 job_node[SLURM_NODE_MAX];
	char		 job_gpus[SLURM_GRES_MAX];
};

/*
 * One pool of the daemon: its slots, and for a slurm pool the config
 * (borrowed from ctl_config for the ctl's life) and the latest listing of
 * this daemon's jobs (squeue, every SQUEUE_EVERY_MS).
 */
struct cpool {
	struct ctl	*ctl;
	struct pool	*pool;
	const struct config_pool *slurm;	/* NULL: the local pool */
	struct child	*squeue;	/* in flight */
	int64_t		 squeue_started_ms;	/* monotonic */
	uint64_t	 squeue_timer;
	char		 squeue_error[256];	/* last failure, "" */
	bool		 listed;	/* a listing has succeeded since the
					   daemon started */
};

/* One tick's numbers, for the console's chart (GET .../history). */
struct sample {
	int64_t		 t_ms;		/* wall clock */
	int		 running, launching, retiring;
	int		 desired;
	int		 queued, processing, no_worker;
};

#define HISTORY_LEN	900
#define SCHED_START_MIN_MS	30000	/* 15 minutes at 1 s ticks */

static const double start_bounds[] = { 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64,
    128 };
static const double decide_bounds[] = { 0.00001, 0.0001, 0.001, 0.01, 0.1,
    1 };

struct instance {
	struct ctl	*ctl;
	struct cpool	*cp;		/* its pool */
	struct sample	*history;	/* ring of HISTORY_LEN */
	size_t		 nhistory;	/* samples kept, <= HISTORY_LEN */
	size_t		 history_next;
	int		 id;
	struct spec	*spec;
	enum istate	 state;
	char		 error[1024];
	char		*dir;
	char		*sched_log;
	char		*sched_file;
	char		*work_dir;
	pid_t		 sched_pid;
	uint64_t	 sched_watch;	/* loop_pid_watch() id */
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
	struct pyprobe	 probe;		/* its Python's Dask; see pyprobe.h */
	bool		 probed;
	enum spec_worker_type wtype;	/* resolved: DASK or DASK_CUDA */
	int64_t		 last_scale_up_ms;
	int		 failures;	/* consecutive, reset on registration */
	int64_t		 backoff_until_ms;
	int		 next_worker_id;
	struct worker	**workers;
	size_t		 nworkers;
	bool		 ever_started;
	uint64_t	 sched_start;	/* /proc start time of sched_pid */
	int64_t		 created_ms;
	bool		 undeploy;	/* remove once stopped */
	uint64_t	 reap_timer;
	bool		 fatal_start;	/* a start failure stops the daemon */
	uint64_t	 scale_ups;	/* scale_up events */
	uint64_t	 scale_downs;	/* retire decisions */
	int64_t		 change_seq;	/* the scheduler's change count seen */
	bool		 change_watching;	/* a long poll is open */
	bool		 change_signal;	/* the scheduler has one */
	uint64_t	 change_timer;	/* retry after a failed poll */
	bool		 kicked;	/* this tick was brought forward */
	bool		 tick_again;	/* a kick found an observation busy */
	uint64_t	 kicks;		/* ticks brought forward by a change */
	bool		 decided;	/* a tick has decided since this daemon
					   started it or took it over */
	uint64_t	 reclaims;	/* its workers reclaimed by others */
	uint64_t	 forced_reclaims;	/* of those, stopped at the grace */
	struct notebook	*nb;		/* NULL: no notebook server */
	char		*nb_dir;	/* folder it serves */
	char		*nb_log;
	char		*nb_runtime;
	char		*preload;	/* the scheduler's preload file */
	/* the worker forker (src/py/edask_forker.py) */
	char		*forker_py;
	char		*forker_sock;
	char		*forker_log;
	char		*forker_pidfile;	/* "PID STARTTIME", for a restart */
	bool		 tls;		/* this run is tls:// (tls.h) */
	/* workers that died while running, and the keys they held as last
	 * observed: with a copy elsewhere, or not (counters) */
	uint64_t	 lost_workers;
	/* a launch within idle_timeout + scale_down_delay of a retirement
	 * (a flap: the retired worker was wanted again) */
	uint64_t	 flaps;
	int64_t		 last_retire_ms;	/* monotonic, -1: none */
	int64_t		 observe_sent_ms;	/* the observation in flight */
	uint64_t	 stale_observations;	/* answers too late to use */
	uint64_t	 lost_keys_copied;
	uint64_t	 lost_keys_only;
	uint64_t	 lost_keys_unknown;	/* no preload to tell */
	char		*tls_dir;	/* its credentials */
	char		*tls_cert;
	char		*tls_key;
	char		*client_config;	/* DASK_CONFIG file for clients */
	pid_t		 forker_pid;
	uint64_t	 forker_watch;	/* loop_pid_watch() id */
	bool		 forker_ready;
	bool		 forker_stop;	/* asked to go */
	int64_t		 forker_deadline_ms;
	uint64_t	 forker_timer;	/* readiness poll, or a restart */
	int		 forker_failures;	/* exits since it was last
						   ready: backoff_ms() */
};

/*
 * A recent answer of pyprobe for one python and environment: a deploy and
 * the start right after it ask once, not twice.
 */
#define PROBE_MEMO_N	4
#define PROBE_MEMO_MS	5000
struct probe_memo {
	char		*key;		/* python, then the env, NUL-joined */
	size_t		 keylen;
	int64_t		 at_ms;		/* monotonic; 0: empty */
	int		 rc;		/* pyprobe_check's, or -1 */
	char		 msg[512];
	struct pyprobe	 probe;
};

struct ctl {
	struct loop	*loop;
	struct http	*http;
	struct events	*events;
	struct cpool	**pools;
	size_t		 npools;
	char		 daemon_id[SLURM_DAEMON_ID_LEN + 1];	/* job tags */
	struct store	*store;
	struct histogram start_hist;	/* launch to registered, s */
	struct histogram decide_hist;	/* one tick's decision, s */
	char		*state_dir;
	char		*api_url;
	bool		 nvml;		/* NVML answers for the pool's GPUs */
	bool		 failed;
	int64_t		 mem_total;
	uint64_t	 reclaim_restarted;	/* tasks of forced reclaims */
	uint64_t	 reclaim_lost_keys;	/* keys of forced reclaims */
	struct instance	**inst;
	size_t		 ninst;
	int		 next_inst_id;
	struct probe_memo probes[PROBE_MEMO_N];	/* recent Python probes */
	bool		 shutting_down;
	void		(*stopped)(void *);
	void		*stopped_arg;
	uint64_t	 shutdown_timer;	/* its hard deadline */
	bool		 shutdown_killed;	/* everything was killed */
	struct detached	**detached;	/* scancels no worker waits on */
	size_t		 ndetached;
	/* the last store write failed: degraded until one succeeds */
	bool		 store_degraded;
	char		 store_error[256];
	uint64_t	 store_failures;	/* writes that failed, ever */
};

/* A scancel of a job that no worker tracks any more. */
struct detached {
	struct ctl	*ctl;
	struct child	*cmd;
	int64_t		 job_id;
};

static void instance_tick(void *arg);
struct cpool;
struct worker;
static void slurm_poll(struct cpool *cp);
static void slurm_cancel(struct worker *w);
static int write_whole(const char *path, const char *data, size_t len,
    char *err, size_t errlen);
static void instance_kick(struct instance *in);
static void instance_stop(struct instance *in);
static void instance_fail(struct instance *in, const char *fmt, ...)
    PRINTF(2, 3);
static void ctl_check_shutdown(struct ctl *c);
static void instance_start(struct instance *in);
static int instance_probe(struct instance *in, char *err, size_t errlen);
static void maybe_reap(struct instance *in);
static void start_poll(void *arg);
static void sched_terminate(struct instance *in);
static void workers_terminate_all(struct instance *in);

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

/* --------------------------------------------------------- persistence */

static void persist_instance(struct instance *in);
static const char *sched_host(const struct instance *in);
static void write_client_config(struct instance *in);
/* Formats err and returns code: `return ctlerr(CTL_ENOENT, ...)`. */
static int ctlerr(int code, char *err, size_t errlen, const char *fmt, ...)
    PRINTF(4, 5);

/*
 * Every store write reports here.  A failure marks the daemon degraded
 * (GET /healthz answers 503, /metrics says so) until a write succeeds;
 * the change of state is an event either way.  The event's own write may
 * fail too: the flag is set first, so that reports nothing new.
 */
static void
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
static void
instance_set_state(struct instance *in, enum istate st)
{
	in->state = st;
	persist_instance(in);
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
	si.sched_addr = in->sched_addr != NULL ? in->sched_addr : "";
	si.dash_url = in->dash_url != NULL ? in->dash_url : "";
	si.sched_pid = in->sched_pid;
	si.sched_start = in->sched_start;
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

static void
persist_instance(struct instance *in)
{
	char err[256];

	(void)instance_record_put(in, in->spec, in->state, in->undeploy, err,
	    sizeof(err));
}

static struct instance *ctl_by_id(struct ctl *c, int id);

/* Name of the instance w is reclaimed for, "" when none (or gone). */
static const char *
reclaim_name(const struct worker *w)
{
	struct instance *to;

	if (w->reclaim_for < 0)
		return "";
	to = ctl_by_id(w->inst->ctl, w->reclaim_for);
	return to != NULL ? to->spec->name : "";
}

static void
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
	sw.start_time = w->start_time;
	sw.name = w->name;
	sw.address = w->address;
	sw.log = w->log;
	sw.launched_ms = w->launched_wall_ms;
	sw.retire_started_ms = w->state == W_RETIRING ? w->retire_wall_ms : 0;
	sw.reclaim_for = (char *)reclaim_name(w);
	sw.reclaim_deadline_ms = w->reclaim_for >= 0 ?
	    w->reclaim_deadline_wall_ms : 0;
	sw.job_id = w->job_id;
	store_result(w->inst->ctl, store_worker_put(w->inst->ctl->store, &sw,
	    err, sizeof(err)), err);
}

static void
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

/* ---------------------------------------------------------------- pool */

static int64_t
mem_total_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psize <= 0)
		return 0;
	return (int64_t)pages * psize;
}

/* The local pool: simulated slots, NVML's GPUs, or a CPU slot per core. */
static struct cpool *
local_pool_new(struct ctl *c, const struct ctl_config *cfg)
{
	struct cpool *cp = xcalloc(1, sizeof(*cp));
	char why[256];
	int n;

	cp->ctl = c;
	if (cfg->gpus > 0) {
		cp->pool = pool_new(cfg->pool_name, POOL_SIMULATED, cfg->gpus,
		    NULL);
		events_add(c->events, NULL, "pool", "pool %s: %d simulated GPU "
		    "slots (NVML not used)", cfg->pool_name, cfg->gpus);
	} else if ((n = gpu_open(why, sizeof(why))) > 0) {
		cp->pool = pool_new(cfg->pool_name, POOL_GPU, n, NULL);
		c->nvml = true;
		events_add(c->events, NULL, "pool", "pool %s: %d GPUs found "
		    "through NVML", cfg->pool_name, n);
	} else {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		if (cores < 1)
			cores = 1;
		if (n == 0)
			snprintf(why, sizeof(why), "NVML reports no device");
		cp->pool = pool_new(cfg->pool_name, POOL_CPU, (int)cores, NULL);
		events_add(c->events, NULL, "pool", "no GPU found (%s): pool %s "
		    "has %ld CPU slots, one per core", why, cfg->pool_name,
		    cores);
	}
	return cp;
}

/*
 * STATE/daemon.id: 16 random hex digits made once, in every Slurm job
 * this daemon submits (slurm.h), so that a restart finds its own jobs
 * and never takes another daemon's.
 */
static int
daemon_id(struct ctl *c, char *err, size_t errlen)
{
	char *path = xasprintf("%s/daemon.id", c->state_dir), buf[64];
	unsigned char raw[SLURM_DAEMON_ID_LEN / 2];
	FILE *f;
	size_t i, n = 0;
	int fd;

	if ((f = fopen(path, "re")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (strlen(buf) == SLURM_DAEMON_ID_LEN &&
		    strspn(buf, "0123456789abcdef") == SLURM_DAEMON_ID_LEN) {
			strlcpy_(c->daemon_id, buf, sizeof(c->daemon_id));
			free(path);
			return 0;
		}
	}
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd == -1 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
		seterr(err, errlen, "/dev/urandom: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		free(path);
		return -1;
	}
	close(fd);
	for (i = 0; i < sizeof(raw); i++)
		snprintf(c->daemon_id + 2 * i, 3, "%02x", raw[i]);
	snprintf(buf, sizeof(buf), "%s\n", c->daemon_id);
	if (write_whole(path, buf, strlen(buf), err, errlen) == -1) {
		free(path);
		return -1;
	}
	free(path);
	return 0;
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
	c->http = http_new(l);
	histogram_init(&c->start_hist, start_bounds, ARRAY_LEN(start_bounds));
	histogram_init(&c->decide_hist, decide_bounds,
	    ARRAY_LEN(decide_bounds));
	c->events = events_new(EVENTS_KEPT);
	c->state_dir = xstrdup(cfg->state_dir);
	c->api_url = xstrdup(cfg->api_url);
	c->stopped = cfg->stopped;
	c->stopped_arg = cfg->stopped_arg;
	c->mem_total = mem_total_bytes();
	ctl_events_restore(c);
	events_set_sink(c->events, on_event, c);
	if (daemon_id(c, err, errlen) == -1) {
		ctl_free(c);
		return NULL;
	}
	c->pools = xcalloc(cfg->nslurm + 1, sizeof(*c->pools));
	if (cfg->pool_name != NULL)
		c->pools[c->npools++] = local_pool_new(c, cfg);
	for (i = 0; i < cfg->nslurm; i++) {
		const struct config_pool *sp = &cfg->slurm[i];
		struct cpool *cp = xcalloc(1, sizeof(*cp));

		cp->slurm = sp;
		cp->pool = pool_new(sp->name, POOL_SLURM,
		    sp->slots / sp->gpus_per_job, NULL);
		c->pools[c->npools++] = cp;
		events_add(c->events, NULL, "pool", "pool %s: Slurm, up to %d "
		    "job(s) of %d GPU(s)%s%s; workers reach their schedulers "
		    "at %s", sp->name, pool_size(cp->pool), sp->gpus_per_job,
		    sp->partition != NULL ? " in partition " : "",
		    sp->partition != NULL ? sp->partition : "",
		    sp->scheduler_host);
		cp->ctl = c;
		slurm_poll(cp);
	}
	return c;
}

static void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	child_cancel(w->job_cmd);
	free(w->log);
	free(w);
}

static void
instance_free(struct instance *in)
{
	size_t i;

	if (in == NULL)
		return;
	if (in->change_timer != 0)
		loop_timer_cancel(in->ctl->loop, in->change_timer);
	if (in->forker_timer != 0)
		loop_timer_cancel(in->ctl->loop, in->forker_timer);
	loop_pid_unwatch(in->ctl->loop, in->forker_watch);
	loop_pid_unwatch(in->ctl->loop, in->sched_watch);
	for (i = 0; i < in->nworkers; i++)
		worker_free(in->workers[i]);
	free(in->workers);
	free(in->history);
	dask_free(in->dask);
	spec_free(in->spec);
	free(in->dir);
	free(in->sched_log);
	free(in->sched_file);
	free(in->work_dir);
	free(in->sched_addr);
	free(in->dash_url);
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
	for (i = 0; i < c->ninst; i++) {
		if (c->inst[i]->timer != 0)
			loop_timer_cancel(c->loop, c->inst[i]->timer);
		instance_free(c->inst[i]);
	}
	free(c->inst);
	for (i = 0; i < c->ndetached; i++) {
		child_cancel(c->detached[i]->cmd);
		free(c->detached[i]);
	}
	free(c->detached);
	http_free(c->http);
	events_free(c->events);
	for (i = 0; i < c->npools; i++) {
		child_cancel(c->pools[i]->squeue);
		loop_timer_cancel(c->loop, c->pools[i]->squeue_timer);
		pool_free(c->pools[i]->pool);
		free(c->pools[i]);
	}
	free(c->pools);
	for (i = 0; i < PROBE_MEMO_N; i++)
		free(c->probes[i].key);
	if (c->nvml)
		gpu_close();
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

static struct instance *
ctl_find(struct ctl *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->ninst; i++)
		if (strcmp(c->inst[i]->spec->name, name) == 0)
			return c->inst[i];
	return NULL;
}

/* The pool called name; NULL if the daemon has none. */
static struct cpool *
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
static void
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

/* What a worker's end may finish: its instance's stop, the daemon's
 * shutdown, an undeploy. */
static void
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
static void
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

static void
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
static void
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
static char **
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

/* Defined in instance_assets.S: each file's bytes, then a NUL. */
extern const char sched_preload_py[], sched_preload_py_end[];
extern const char worker_forker_py[], worker_forker_py_end[];

/* Writes path whole, through a rename, so that no reader sees half a
 * file. */
static int
write_whole(const char *path, const char *data, size_t len, char *err,
    size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd, rc = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (write(fd, data, len) != (ssize_t)len)
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
	else if (rename(tmp, path) == -1)
		seterr(err, errlen, "%s: %s", path, strerror(errno));
	else
		rc = 0;
	close(fd);
	if (rc == -1)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* ------------------------------------------------------------- forker */

/*
 * The worker forker: a Python process per instance that has imported
 * Dask's worker once and forks each new worker from there, warm
 * (src/py/edask_forker.py).  Workers are started by exec whenever it is
 * not ready: still starting, dead, or for a custom workers.command.
 */
static void forker_poll(void *arg);
static void forker_restart(void *arg);
static void instance_stop(struct instance *in);

static void
on_forker_exit(pid_t pid, int status, void *arg)
{
	struct instance *in = arg;
	char tail[300];

	(void)pid;
	(void)status;
	in->forker_pid = 0;
	in->forker_ready = false;
	if (in->forker_timer != 0) {
		loop_timer_cancel(in->ctl->loop, in->forker_timer);
		in->forker_timer = 0;
	}
	unlink(in->forker_sock);
	unlink(in->forker_pidfile);
	if (!in->forker_stop && (in->state == I_STARTED ||
	    in->state == I_STARTING)) {
		int64_t delay = backoff_ms(++in->forker_failures);

		launch_log_tail(in->forker_log, tail, sizeof(tail));
		ev(in, "forker", "the worker forker exited; workers start by "
		    "exec until it is back (in %llds); log %s%s%s",
		    (long long)delay / 1000, in->forker_log,
		    tail[0] != '\0' ? ": " : "", tail);
		in->forker_timer = loop_timer_add(in->ctl->loop, delay,
		    forker_restart, in);
	}
	if (in->state == I_STOPPING)
		instance_stop(in);
	else
		ctl_check_shutdown(in->ctl);
	maybe_reap(in);
}

/* Connects to the forker's socket; the fd, or -1. */
static int
forker_connect(struct instance *in, int flags)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(in->forker_sock) >= sizeof(sa.sun_path))
		return -1;
	strlcpy_(sa.sun_path, in->forker_sock, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
forker_poll(void *arg)
{
	struct instance *in = arg;
	int fd;

	in->forker_timer = 0;
	if (in->forker_pid <= 0 || in->forker_ready)
		return;
	/* a unix socket connects at once, or not at all */
	if ((fd = forker_connect(in, SOCK_NONBLOCK)) != -1) {
		close(fd);
		in->forker_ready = true;
		in->forker_failures = 0;
		log_info("[%s] worker forker ready (pid %d)", in->spec->name,
		    (int)in->forker_pid);
		return;
	}
	if (mono_ms() > in->forker_deadline_ms) {
		ev(in, "forker", "the worker forker (pid %d) did not open its "
		    "socket within %llds: stopped; workers start by exec; "
		    "log %s", (int)in->forker_pid,
		    (long long)in->spec->scaling.start_timeout_ms / 1000,
		    in->forker_log);
		in->forker_stop = true;
		launch_kill(in->forker_pid, SIGKILL);
		return;
	}
	in->forker_timer = loop_timer_add(in->ctl->loop, FORKER_POLL_MS,
	    forker_poll, in);
}

/* Starts the forker when the instance's workers can use it. */
static void
forker_start(struct instance *in)
{
	struct launch_cmd cmd;
	char **argv = NULL, **env;
	size_t argc = 0;
	char err[512];

	/* a slurm pool's workers start on other machines */
	if (in->forker_pid > 0 || in->cp->slurm != NULL ||
	    strcmp(in->spec->workers.command, "auto") != 0 ||
	    in->wtype == SPEC_WORKER_DASK_CUDA)
		return;
	if (write_whole(in->forker_py, worker_forker_py,
	    (size_t)(worker_forker_py_end - worker_forker_py), err,
	    sizeof(err)) == -1) {
		ev(in, "forker", "cannot write the worker forker: %s; workers "
		    "start by exec", err);
		return;
	}
	launch_argv_push(&argv, &argc, in->spec->python);
	launch_argv_push(&argv, &argc, "-u");
	launch_argv_push(&argv, &argc, in->forker_py);
	launch_argv_push(&argv, &argc, in->forker_sock);
	{
		/* workers.imports: "a, b.c" -> a b.c (validated by spec) */
		char *list = xstrdup(in->spec->workers.imports), *tok, *save;

		for (tok = strtok_r(list, ", ", &save); tok != NULL;
		    tok = strtok_r(NULL, ", ", &save))
			launch_argv_push(&argv, &argc, tok);
		free(list);
	}
	env = spec_envv(in->spec, "PYTHONUNBUFFERED=1", NULL);
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.env = env;
	cmd.log_path = in->forker_log;
	cmd.cwd = in->dir;
	in->forker_stop = false;
	in->forker_ready = false;
	in->forker_pid = launch_spawn(&cmd, err, sizeof(err));
	launch_argv_free(argv);
	launch_argv_free(env);
	if (in->forker_pid == -1) {
		in->forker_pid = 0;
		ev(in, "forker", "cannot start the worker forker: %s; workers "
		    "start by exec", err);
		return;
	}
	if ((in->forker_watch = loop_pid_watch(in->ctl->loop,
	    in->forker_pid, on_forker_exit, in)) == 0)
		log_warn("pidfd for forker pid %d", (int)in->forker_pid);
	snprintf(err, sizeof(err), "%d %llu\n", (int)in->forker_pid,
	    (unsigned long long)launch_start_time(in->forker_pid));
	if (write_whole(in->forker_pidfile, err, strlen(err), err,
	    sizeof(err)) == -1)
		log_warnx("%s", err);
	in->forker_deadline_ms = mono_ms() + in->spec->scaling.start_timeout_ms;
	in->forker_timer = loop_timer_add(in->ctl->loop, FORKER_POLL_MS,
	    forker_poll, in);
}

/*
 * After a controller restart: the forker of the instance's previous run,
 * found by its pid file, is taken over (warm, it keeps forking); a pid
 * file whose process is gone is removed.  Runs before kill_orphans().
 */
static void
forker_adopt(struct instance *in)
{
	unsigned long long start = 0;
	int pid = 0;
	FILE *f;

	if ((f = fopen(in->forker_pidfile, "r")) == NULL)
		return;
	if (fscanf(f, "%d %llu", &pid, &start) != 2)
		pid = 0;
	fclose(f);
	if (pid <= 1 || start == 0 || launch_start_time(pid) != start ||
	    (in->forker_watch = loop_pid_watch(in->ctl->loop, pid,
	    on_forker_exit, in)) == 0) {
		unlink(in->forker_pidfile);
		return;
	}
	in->forker_pid = pid;
	in->forker_stop = false;
	in->forker_ready = false;
	in->forker_deadline_ms = mono_ms() + in->spec->scaling.start_timeout_ms;
	in->forker_timer = loop_timer_add(in->ctl->loop, 0, forker_poll, in);
}

static void
forker_restart(void *arg)
{
	struct instance *in = arg;

	in->forker_timer = 0;
	if (in->state == I_STARTED || in->state == I_STARTING)
		forker_start(in);
}

static void
forker_terminate(struct instance *in)
{
	if (in->forker_timer != 0 && in->forker_pid <= 0) {
		loop_timer_cancel(in->ctl->loop, in->forker_timer);
		in->forker_timer = 0;	/* a pending restart */
	}
	if (in->forker_pid <= 0)
		return;
	in->forker_stop = true;
	in->forker_ready = false;
	launch_kill(in->forker_pid, SIGTERM);
}

/*
 * Asks the forker for one worker.  A local exchange with our own helper,
 * bounded by FORKER_IO_MS: the fork itself takes a few milliseconds.
 * Returns the pid, or -1 with err (the caller then execs).
 */
static pid_t
forker_fork(struct instance *in, char **argv, char **env, const char *log,
    char *err, size_t errlen)
{
	struct timeval tv = { FORKER_IO_MS / 1000, (FORKER_IO_MS % 1000) *
	    1000 };
	json_t *req = json_object(), *args = json_array(), *envo =
	    json_object();
	char reply[FORKER_REPLY_MAX], *text;
	size_t i, len, got = 0;
	ssize_t n;
	int fd, pid;

	/* argv is "PYTHON -m distributed.cli.dask_worker ARGS..." */
	json_array_append_new(args, json_string("dask-worker"));
	for (i = 3; argv[i] != NULL; i++)
		json_array_append_new(args, json_string(argv[i]));
	for (i = 0; env != NULL && env[i] != NULL; i++) {
		const char *eq = strchr(env[i], '=');

		if (eq != NULL) {
			char *k = xasprintf("%.*s", (int)(eq - env[i]),
			    env[i]);

			json_object_set_new(envo, k, json_string(eq + 1));
			free(k);
		}
	}
	json_object_set_new(req, "argv", args);
	json_object_set_new(req, "env", envo);
	json_object_set_new(req, "log", json_string(log));
	json_object_set_new(req, "cwd", json_string(in->dir));
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL)
		return seterr(err, errlen, "cannot encode the request");
	if ((fd = forker_connect(in, 0)) == -1) {
		free(text);
		return seterr(err, errlen, "cannot connect to %s: %s",
		    in->forker_sock, strerror(errno));
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	len = strlen(text);
	text[len] = '\0';
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		free(text);
		close(fd);
		return seterr(err, errlen, "cannot send the request: %s",
		    strerror(errno));
	}
	free(text);
	while (got < sizeof(reply) - 1 &&
	    (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0) {
		got += (size_t)n;
		if (memchr(reply, '\n', got) != NULL)
			break;
	}
	close(fd);
	reply[got] = '\0';
	if (got == 0)
		return seterr(err, errlen, "no answer within %dms",
		    FORKER_IO_MS);
	if (dask_parse_forked(reply, got, &pid, err, errlen) == -1)
		return -1;
	return (pid_t)pid;
}

/* ------------------------------------------------------- slurm workers */

/*
 * A worker of a slurm pool is one batch job (slurm.h for its tags):
 * submitted by sbatch, seen through the pool's squeue listing, stopped by
 * scancel.  It holds its pool slot from submission to the job's end, so a
 * pending job counts as capacity like a launching process.
 */

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
static char *
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
static void
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
static void
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
static bool
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

/* Starts one worker on a free slot; false when it could not. */
static bool
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

static void
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

/* ------------------------------------------------------------- sharing */

/*
 * The pool's view of each instance that takes part in the allocation
 * (started ones, and `me` whatever its state).  held counts what is
 * attributable to it: the slots it holds, less those reserved for someone
 * else (being reclaimed away), plus those reserved for it (free, or still
 * held by the instance they are reclaimed from).  locked counts the
 * workers it launched less than its scale_down_delay ago: a share-based
 * reclaim leaves those alone, so two busy instances do not trade a GPU
 * back and forth.
 */
static size_t
pool_claims(struct ctl *c, struct cpool *cp, struct instance *me,
    struct pool_claim *claims, struct instance **who)
{
	int64_t now = mono_ms();
	int slot, n = pool_size(cp->pool);
	size_t i, k, m = 0;

	for (i = 0; i < c->ninst; i++) {
		struct instance *o = c->inst[i];
		struct pool_claim *cl = &claims[m];

		if ((o->state != I_STARTED && o != me) || o->cp != cp)
			continue;
		memset(cl, 0, sizeof(*cl));
		cl->holder = o->id;
		for (slot = 0; slot < n; slot++) {
			int h = pool_slot_holder(cp->pool, slot);
			int r = pool_slot_reserved(cp->pool, slot);

			if (h == o->id && (r == POOL_FREE || r == o->id))
				cl->held++;
			else if (r == o->id)
				cl->held++;
		}
		/* until its first decision (a restarted daemon), an instance
		 * wants at least what it runs: else the first tick of
		 * another could reclaim everything from it */
		cl->demand = o->desired;
		if (!o->decided) {
			int have = (int)(instance_count(o, W_LAUNCHING) +
			    instance_count(o, W_RUNNING));

			if (cl->demand < have)
				cl->demand = have;
		}
		cl->max = o->max;
		cl->owned = o->spec->sharing.owned;
		cl->share = o->spec->sharing.share;
		for (k = 0; k < o->nworkers; k++) {
			struct worker *w = o->workers[k];

			if ((w->state == W_LAUNCHING || w->state == W_RUNNING) &&
			    w->reclaim_for < 0 && now - w->launched_ms <
			    o->spec->scaling.scale_down_delay_ms)
				cl->locked++;
		}
		who[m++] = o;
	}
	return m;
}

/* Slots this instance may take now, as the pool's allocation says: what
 * the allocation adds, plus the free slots already reserved for it. */
static int
instance_free_slots(struct instance *in)
{
	struct ctl *c = in->ctl;
	struct pool_claim *claims = xcalloc(c->ninst, sizeof(*claims));
	struct instance **who = xcalloc(c->ninst, sizeof(*who));
	int *grant = xcalloc(c->ninst, sizeof(*grant));
	int mine = 0, slot;
	size_t i, n;

	n = pool_claims(c, in->cp, in, claims, who);
	pool_allocate(pool_size(in->cp->pool), claims, n, grant);
	for (i = 0; i < n; i++)
		if (who[i] == in)
			mine = grant[i] - claims[i].held;
	if (mine < 0)
		mine = 0;
	for (slot = 0; slot < pool_size(in->cp->pool); slot++)
		if (pool_slot_holder(in->cp->pool, slot) == POOL_FREE &&
		    pool_slot_reserved(in->cp->pool, slot) == in->id)
			mine++;
	if (mine > pool_available(in->cp->pool, in->id))
		mine = pool_available(in->cp->pool, in->id);
	free(claims);
	free(who);
	free(grant);
	return mine;
}

static void on_drained(int rc, const struct dask_drain_info *di,
    const char *msg, void *arg);

/* Asks the scheduler to drain w (again: the answer says how far it is). */
static void
worker_drain_poll(struct worker *w)
{
	struct instance *in = w->inst;

	if (w->drain_busy || in->dask == NULL)
		return;
	w->drain_busy = true;
	dask_drain(in->dask, w->address, true, OBSERVE_TIMEOUT_MS, on_drained,
	    w);
}

static void
on_drained(int rc, const struct dask_drain_info *di, const char *msg,
    void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;
	int64_t left;

	w->drain_busy = false;
	if (w->state != W_DRAINING)
		return;
	if (rc == -1) {
		log_warnx("[%s] drain w%d: %s; asking again at the next tick",
		    in->spec->name, w->id, msg);
		return;
	} else if (rc == -2) {
		/* an older scheduler without the preload: no drain, so the
		 * retirement may restart its running tasks elsewhere */
		ev(in, "held", "worker w%d (%s) cannot be drained (%s): "
		    "retiring it as it is", w->id, w->name, msg);
		w->drain.processing = w->busy;
	} else if (rc == 0) {
		ev(in, "worker_lost", "worker w%d (%s) left the scheduler while "
		    "draining: stopping it", w->id, w->name);
		worker_terminate(w, 0);
		return;
	} else {
		w->drain = *di;
		if (di->processing > 0 || mono_ms() < w->retire_retry_ms)
			return;		/* asked again at the next tick */
	}
	left = w->reclaim_deadline_wall_ms - wall_ms();
	worker_retire(w, left > 1000 ? left : 1000);
}

static void
on_undrained(int rc, const struct dask_drain_info *di, const char *msg,
    void *arg)
{
	struct worker *w = arg;

	(void)di;
	w->drain_busy = false;
	if (rc == -1)
		log_warnx("[%s] undrain w%d: %s", w->inst->spec->name, w->id,
		    msg);
}

/*
 * The grace is over and the worker still holds its slot: it is stopped.
 * What it still ran is restarted elsewhere, and results only it held are
 * lost (Dask recomputes them if they are needed again).
 */
static void
on_reclaim_deadline(void *arg)
{
	struct worker *w = arg;
	struct instance *in = w->inst;

	w->reclaim_timer = 0;
	if (w->state != W_DRAINING && w->state != W_RETIRING)
		return;
	in->forced_reclaims++;
	ev(in, "forced_reclaim", "worker w%d (%s) on slot %d, reclaimed for "
	    "%s, still busy after the %llds grace: stopped; %d task(s) "
	    "restarted elsewhere, %d key(s) lost (held only there)", w->id,
	    w->name, w->slot, reclaim_name(w),
	    (long long)(ctl_by_id(in->ctl, w->reclaim_for) != NULL ?
	    ctl_by_id(in->ctl, w->reclaim_for)->spec->sharing.reclaim_grace_ms
	    / 1000 : 0), w->drain.processing, w->drain.unique_keys);
	in->ctl->reclaim_restarted += (uint64_t)w->drain.processing;
	in->ctl->reclaim_lost_keys += (uint64_t)w->drain.unique_keys;
	/* SIGKILL at once: a Dask worker that gets SIGTERM in the middle of
	 * a task can take the whole KILL_GRACE_MS to go, and the grace the
	 * recipient allowed is over */
	if (w->kill_timer != 0) {
		loop_timer_cancel(in->ctl->loop, w->kill_timer);
		w->kill_timer = 0;
	}
	w->state = W_STOPPING;
	w->term_sent = true;
	persist_worker(w);
	launch_kill(w->pid, SIGKILL);
}

static void
arm_reclaim_deadline(struct worker *w)
{
	int64_t left = w->reclaim_deadline_wall_ms - wall_ms();

	if (w->reclaim_timer != 0)
		loop_timer_cancel(w->inst->ctl->loop, w->reclaim_timer);
	w->reclaim_timer = loop_timer_add(w->inst->ctl->loop,
	    left > 0 ? left : 0, on_reclaim_deadline, w);
}

/*
 * Gives w's slot to instance `to`: the slot is reserved for it at once, so
 * that nobody else (w's own instance included) takes it once w is gone.  A
 * launching worker is simply stopped; a running one is drained (no new
 * tasks), then retired through the scheduler, which moves its data to the
 * instance's other workers first; after to's reclaim_grace it is stopped.
 */
static void
worker_reclaim(struct worker *w, struct instance *to, enum pool_why why)
{
	struct instance *in = w->inst;
	char bytes[32];

	pool_reserve(in->cp->pool, w->slot, to->id);
	w->reclaim_for = to->id;
	w->reclaim_deadline_wall_ms = wall_ms() +
	    to->spec->sharing.reclaim_grace_ms;
	in->reclaims++;
	ev(to, "reclaim", "taking slot %d back from %s (%s)", w->slot,
	    in->spec->name, why == POOL_WHY_OWNED ? "owned: below its owned "
	    "slots" : "share: below its fair share");
	if (w->state == W_LAUNCHING) {
		ev(in, "reclaim", "worker w%d (%s) on slot %d goes to %s (%s): "
		    "still launching, stopped", w->id, w->name, w->slot,
		    to->spec->name, why == POOL_WHY_OWNED ? "owned" : "share");
		worker_terminate(w, 0);
		return;
	}
	ev(in, "reclaim", "worker w%d (%s) on slot %d goes to %s (%s): %s, "
	    "%s in %d keys; draining, grace %llds", w->id, w->name, w->slot,
	    to->spec->name, why == POOL_WHY_OWNED ? "owned" : "share",
	    w->busy > 0 ? "busy" : "idle", fmt_bytes(w->bytes, bytes,
	    sizeof(bytes)), w->keys,
	    (long long)to->spec->sharing.reclaim_grace_ms / 1000);
	w->state = W_DRAINING;
	memset(&w->drain, 0, sizeof(w->drain));
	w->drain.processing = w->busy;
	w->drain.unique_keys = w->keys;
	persist_worker(w);
	arm_reclaim_deadline(w);
	worker_drain_poll(w);
}

/* Each tick of the donor: drains go on, or stop where the recipient no
 * longer wants the slot (its reservation was dropped). */
static void
instance_drains(struct instance *in)
{
	struct pool *p = in->cp->pool;
	size_t i;

	for (i = 0; i < in->nworkers; i++) {
		struct worker *w = in->workers[i];

		if (w->state != W_DRAINING)
			continue;
		if (w->reclaim_for < 0 ||
		    pool_slot_reserved(p, w->slot) != w->reclaim_for) {
			ev(in, "reclaim_cancelled", "worker w%d (%s) keeps slot "
			    "%d: %s no longer needs it", w->id, w->name,
			    w->slot, w->reclaim_for >= 0 ? reclaim_name(w) :
			    "its recipient");
			w->reclaim_for = -1;
			w->state = W_RUNNING;
			w->idle_since_ms = -1;
			if (w->reclaim_timer != 0) {
				loop_timer_cancel(in->ctl->loop,
				    w->reclaim_timer);
				w->reclaim_timer = 0;
			}
			persist_worker(w);
			if (in->dask != NULL) {
				w->drain_busy = true;
				dask_drain(in->dask, w->address, false,
				    OBSERVE_TIMEOUT_MS, on_undrained, w);
			}
			continue;
		}
		worker_drain_poll(w);
	}
}

/*
 * The worker of donor to give up for a reclaim: a launching one first
 * (nothing to lose), then an idle one, then the one with the least data.
 * For a share-based reclaim, workers younger than the donor's
 * scale_down_delay are left alone.  NULL when none qualifies.
 */
static struct worker *
reclaim_victim(struct instance *donor, bool share)
{
	struct pool *p = donor->cp->pool;
	int64_t now = mono_ms();
	struct worker *best = NULL;
	size_t serving = instance_count(donor, W_RUNNING), i;

	for (i = 0; i < donor->nworkers; i++) {
		struct worker *w = donor->workers[i];

		if ((w->state != W_LAUNCHING && w->state != W_RUNNING) ||
		    w->reclaim_for >= 0 ||
		    pool_slot_reserved(p, w->slot) != POOL_FREE)
			continue;
		/* its data would have nowhere to go: Dask refuses such a
		 * retirement, and the grace would end with it lost */
		if (w->state == W_RUNNING && serving <= 1 &&
		    donor->metrics.memory > 0)
			continue;
		if (share && now - w->launched_ms <
		    donor->spec->scaling.scale_down_delay_ms)
			continue;
		if (best == NULL) {
			best = w;
			continue;
		}
		if ((w->state == W_LAUNCHING) != (best->state == W_LAUNCHING)) {
			if (w->state == W_LAUNCHING)
				best = w;
			continue;
		}
		if (w->state == W_LAUNCHING) {
			if (w->launched_ms > best->launched_ms)
				best = w;	/* the newest: furthest from
						   serving */
			continue;
		}
		if ((w->busy > 0) != (best->busy > 0)) {
			if (w->busy == 0)
				best = w;
			continue;
		}
		if (w->bytes < best->bytes ||
		    (w->bytes == best->bytes && w->busy < best->busy))
			best = w;
	}
	return best;
}

/*
 * For an instance whose workers wait for a slot: the pool's reclaim plan,
 * and the moves meant for it carried out.  Returns how many slots it is
 * taking back now; *why says why none could be, when that is so.
 */
static int
instance_reclaim(struct instance *in, char *why, size_t whylen)
{
	struct ctl *c = in->ctl;
	struct pool_claim *claims = xcalloc(c->ninst, sizeof(*claims));
	struct instance **who = xcalloc(c->ninst, sizeof(*who));
	int *ent = xcalloc(c->ninst, sizeof(*ent));
	struct pool_move *moves;
	size_t i, n, nm, me = 0;
	int taken = 0;

	why[0] = '\0';
	n = pool_claims(c, in->cp, in, claims, who);
	/* a demand not known yet (a restarted daemon) is no ground for
	 * taking anything */
	for (i = 0; i < n; i++) {
		if (!who[i]->decided) {
			snprintf(why, whylen, "waiting for %s's first tick",
			    who[i]->spec->name);
			free(claims);
			free(who);
			free(ent);
			return 0;
		}
	}
	moves = xcalloc((size_t)pool_size(in->cp->pool) + 1, sizeof(*moves));
	nm = pool_reclaim_plan(pool_size(in->cp->pool), claims, n, moves,
	    (size_t)pool_size(in->cp->pool) + 1);
	for (i = 0; i < nm; i++) {
		struct worker *w;

		if (who[moves[i].to] != in)
			continue;
		w = reclaim_victim(who[moves[i].from],
		    moves[i].why == POOL_WHY_SHARE);
		if (w == NULL)
			continue;
		worker_reclaim(w, in, moves[i].why);
		taken++;
	}
	if (taken == 0) {
		pool_entitle(pool_size(in->cp->pool), claims, n, ent);
		for (i = 0; i < n; i++)
			if (who[i] == in)
				me = i;
		if (n > 1 && claims[me].held >= ent[me])
			snprintf(why, whylen, "at its fair share (%d of %d "
			    "slots; owned %d, share %d)", claims[me].held,
			    pool_size(in->cp->pool), in->spec->sharing.owned,
			    in->spec->sharing.share);
		else if (n > 1)
			snprintf(why, whylen, "the slots above others' shares "
			    "were taken less than their scale_down_delay ago");
	}
	free(moves);
	free(claims);
	free(who);
	free(ent);
	return taken;
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

/* Records this tick for the chart; the oldest samples fall off. */
/* What a flap is measured by, and the scale-down's memory of demand. */
static int64_t
flap_window_ms(const struct instance *in)
{
	return in->spec->scaling.idle_timeout_ms +
	    in->spec->scaling.scale_down_delay_ms;
}

/*
 * The highest desired of the samples within flap_window_ms() (this
 * decision not yet among them), and when; 0 when none.  The history is
 * on the wall clock, one sample per decision, 15 minutes at 1 s ticks:
 * a longer window sees what the history holds.
 */
static void
recent_peak(const struct instance *in, int64_t now_mono, int *peak,
    int64_t *at_mono)
{
	int64_t wall = wall_ms(), from = wall - flap_window_ms(in);
	size_t i, first;

	(void)now_mono;
	*peak = 0;
	*at_mono = now_mono;
	if (in->history == NULL)
		return;
	first = (in->history_next + HISTORY_LEN - in->nhistory) % HISTORY_LEN;
	for (i = 0; i < in->nhistory; i++) {
		const struct sample *s = &in->history[(first + i) % HISTORY_LEN];

		if (s->t_ms >= from && s->desired >= *peak) {
			*peak = s->desired;
			*at_mono = now_mono - (wall - s->t_ms);
		}
	}
}

static void
history_add(struct instance *in)
{
	struct sample *s;

	if (in->history == NULL)
		in->history = xcalloc(HISTORY_LEN, sizeof(*in->history));
	s = &in->history[in->history_next];
	in->history_next = (in->history_next + 1) % HISTORY_LEN;
	if (in->nhistory < HISTORY_LEN)
		in->nhistory++;
	s->t_ms = wall_ms();
	s->running = (int)instance_count(in, W_RUNNING);
	s->launching = (int)instance_count(in, W_LAUNCHING);
	s->retiring = (int)(instance_count(in, W_RETIRING) +
	    instance_count(in, W_STOPPING) + instance_count(in, W_DRAINING));
	s->desired = in->desired;
	s->queued = in->metrics.queued;
	s->processing = in->metrics.processing;
	s->no_worker = in->metrics.no_worker;
}

/*
 * Scale down on a slurm pool starts with the jobs still queued: cancelling
 * one loses nothing.  Workers beyond max(desired, min) whose job has not
 * started are cancelled, newest first, once scale_down_delay has passed
 * since the last scale up (as for retirements).
 */
static void
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
		/* a draining worker is on its way out: not capacity */
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
	si.free_slots = pool_free_count(in->cp->pool);
	si.last_scale_up_ms = in->last_scale_up_ms;
	recent_peak(in, now, &si.recent_peak, &si.recent_peak_ms);
	si.nworkers = in->nworkers;
	si.workers = sw;
	scaler_decide(&si, &d);
	in->demand = d.demand;
	in->desired = d.desired;
	in->decided = true;
	instance_drains(in);
	if (d.launch > 0) {
		int allowed = instance_free_slots(in);

		if (d.launch > allowed) {
			d.pending += d.launch - allowed;
			d.launch = allowed;
		}
	}
	/* slots reserved for it are kept only while it wants more */
	if (d.desired <= (int)(instance_count(in, W_LAUNCHING) +
	    instance_count(in, W_RUNNING)) + d.launch &&
	    pool_reserved_for(in->cp->pool, in->id) > 0)
		pool_unreserve(in->cp->pool, in->id);
	in->pending = d.pending;
	history_add(in);
	strlcpy_(in->reason, d.reason, sizeof(in->reason));
	strlcpy_(in->hold, d.hold, sizeof(in->hold));

	if (d.launch > 0 && now < in->backoff_until_ms) {
		pending_event(in, "%d worker(s) wanted; launches paused for %llds "
		    "after %d consecutive failure(s)", d.launch,
		    (long long)((in->backoff_until_ms - now + 999) / 1000),
		    in->failures);
		d.launch = 0;
	} else if (d.pending > 0) {
		char why[160];
		int taken = instance_reclaim(in, why, sizeof(why));
		int coming = pool_reserved_for(in->cp->pool, in->id);

		if (coming > 0)
			pending_event(in, "%d more worker(s) wanted: %d slot(s) "
			    "being reclaimed for it", d.pending, coming);
		else
			pending_event(in, "%d more worker(s) wanted: no free %s "
			    "in pool %s%s%s", d.pending,
			    pool_kind(in->cp->pool) == POOL_CPU ||
			    in->spec->workers.gpus == 0 ? "slot" : "GPU",
			    pool_name(in->cp->pool), why[0] != '\0' && taken == 0 ?
			    "; nothing to reclaim: " : "", taken == 0 ? why : "");
	} else {
		pending_event(in, "%s", "");
	}
	for (i = 0; i < d.launch; i++)
		if (worker_launch(in))
			launched++;
	if (launched > 0) {
		if (in->last_retire_ms >= 0 && now - in->last_retire_ms <
		    flap_window_ms(in)) {
			in->flaps++;
			log_info("[%s] flap: a launch %lldms after a retirement",
			    in->spec->name,
			    (long long)(now - in->last_retire_ms));
		}
		in->last_scale_up_ms = now;
		in->scale_ups++;
		ev(in, "scale_up", "+%d -> %zu workers, desired %d (%s)",
		    launched, instance_count(in, W_LAUNCHING) +
		    instance_count(in, W_RUNNING), d.desired, d.reason);
	}
	for (k = 0; k < d.nretire; k++) {
		struct worker *w = worker_by_id(in, d.retire[k]);
		char idle[32], bytes[32];

		if (w == NULL || w->state != W_RUNNING)
			continue;
		in->scale_downs++;
		in->last_retire_ms = now;
		ev(in, "retire", "worker w%d (%s) idle %s, %s in %d keys; "
		    "desired %d (%s)", w->id, w->name,
		    fmt_duration(now - w->idle_since_ms, idle, sizeof(idle)),
		    fmt_bytes(w->bytes, bytes, sizeof(bytes)), w->keys,
		    d.desired, d.reason);
		worker_retire(w, RETIRE_TIMEOUT_MS);
	}
	if (in->cp->slurm != NULL)
		slurm_trim_pending(in, d.desired, now);
	scaler_decision_free(&d);
	free(sw);
}

/* An observation is decided on only when its answer came within one
 * interval, but never less than a second (a small machine under load
 * takes a few hundred milliseconds). */
static int64_t
stale_after_ms(const struct instance *in)
{
	int64_t t = in->spec->scaling.interval_ms;

	return t < 1000 ? 1000 : t;
}

static void
on_observed(const struct dask_obs *obs, void *arg)
{
	struct instance *in = arg;
	struct timespec t0, t1;
	int64_t age = mono_ms() - in->observe_sent_ms;
	bool stale = obs->ok && age > stale_after_ms(in);

	if (in->state != I_STARTED)
		return;
	if (stale) {
		size_t i;

		/* asked before a pause (a stopped scheduler, a stalled
		 * machine): what it says may be long past, and its zeros
		 * would retire workers that the next answer wants back */
		log_info("[%s] an observation took %lldms, more than %lldms: "
		    "not decided on", in->spec->name, (long long)age,
		    (long long)stale_after_ms(in));
		in->observed = false;
		for (i = 0; i < in->nworkers; i++)
			in->workers[i]->idle_since_ms = -1;
		in->stale_observations++;
		in->tick_again = true;
	} else if (obs->ok) {
		if (!in->observed && in->obs_error[0] != '\0')
			ev(in, "observe", "scheduler answers again");
		in->observed = true;
		in->obs_error[0] = '\0';
		in->metrics = obs->metrics;
		in->target = obs->target;
		in->observed_wall_ms = wall_ms();
		observe_workers(in, obs);
	} else {
		size_t i;

		if (strcmp(in->obs_error, obs->error) != 0)
			ev(in, "observe", "scheduler not observed: %s; holding "
			    "the current size", obs->error);
		in->observed = false;
		strlcpy_(in->obs_error, obs->error, sizeof(in->obs_error));
		/* Idleness must be seen without a gap: a worker may have
		 * worked all through it, so its idle time starts again at
		 * the next observation that shows it idle. */
		for (i = 0; i < in->nworkers; i++)
			in->workers[i]->idle_since_ms = -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	instance_decide(in);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	histogram_observe(&in->ctl->decide_hist,
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (in->tick_again) {
		in->tick_again = false;
		instance_kick(in);
	}
}

/* ------------------------------------------------------ change signal */

static void change_watch(struct instance *in);

/* Brings the next tick forward to now. */
static void
instance_kick(struct instance *in)
{
	if (in->state != I_STARTED)
		return;
	if (in->timer != 0)
		loop_timer_cancel(in->ctl->loop, in->timer);
	in->kicked = true;
	in->kicks++;
	in->timer = loop_timer_add(in->ctl->loop, 0, instance_tick, in);
}

static void
on_change_retry(void *arg)
{
	struct instance *in = arg;

	in->change_timer = 0;
	change_watch(in);
}

/*
 * The scheduler's change count moved (work submitted, a worker came or
 * went): decide now rather than at the next interval.  A scheduler
 * without edask's preload (started by an older edask and re-adopted)
 * answers 404: its instance is polled at its interval only.
 */
static void
on_changes(int rc, int64_t seq, const char *msg, void *arg)
{
	struct instance *in = arg;

	in->change_watching = false;
	if (in->state != I_STARTED)
		return;
	if (rc == -2) {
		if (in->change_signal)
			log_info("[%s] the scheduler has no change signal "
			    "(%s): deciding every %lldms", in->spec->name, msg,
			    (long long)in->spec->scaling.interval_ms);
		in->change_signal = false;
		return;
	}
	if (rc == -1) {
		log_debug("[%s] change signal: %s", in->spec->name, msg);
		in->change_timer = loop_timer_add(in->ctl->loop,
		    CHANGE_RETRY_MS, on_change_retry, in);
		return;
	}
	if (seq != in->change_seq) {
		in->change_seq = seq;
		instance_kick(in);
	}
	change_watch(in);
}

static void
change_watch(struct instance *in)
{
	if (in->change_watching || !in->change_signal || in->dask == NULL ||
	    in->state != I_STARTED || in->change_timer != 0)
		return;
	in->change_watching = true;
	dask_changes(in->dask, in->change_seq, CHANGE_WAIT_MS, on_changes,
	    in);
}

static void
instance_tick(void *arg)
{
	struct instance *in = arg;
	int64_t delay;
	bool kicked = in->kicked;

	in->timer = 0;
	in->kicked = false;
	if (in->state != I_STARTED)
		return;
	change_watch(in);
	/* while workers launch, look more often: registration is what
	 * starts their work, and what the user waits for */
	delay = in->spec->scaling.interval_ms;
	if (instance_count(in, W_LAUNCHING) > 0 && delay > LAUNCH_POLL_MS)
		delay = LAUNCH_POLL_MS;
	in->timer = loop_timer_add(in->ctl->loop, delay, instance_tick, in);
	/* an observation still in flight (slow scheduler) skips this tick;
	 * one brought forward by a change is done once that one is back */
	if (dask_observe(in->dask, OBSERVE_TIMEOUT_MS, on_observed, in) == 0)
		in->observe_sent_ms = mono_ms();
	else if (kicked)
		in->tick_again = true;
}

/* ------------------------------------------------------------ notebook */

/* The notebook's row follows its process: written when one starts or
 * exits, deleted once it is stopped for good. */
static void
persist_notebook(struct instance *in)
{
	struct store_notebook sn;
	char err[256];
	int rc;

	if (in->nb == NULL) {
		rc = store_notebook_delete(in->ctl->store, in->spec->name, err,
		    sizeof(err));
	} else {
		memset(&sn, 0, sizeof(sn));
		sn.instance = in->spec->name;
		sn.pid = notebook_pid(in->nb);
		sn.start_time = notebook_start_time(in->nb);
		sn.port = notebook_port(in->nb);
		sn.token = (char *)notebook_token(in->nb);
		sn.log = (char *)notebook_log(in->nb);
		rc = store_notebook_put(in->ctl->store, &sn, err, sizeof(err));
	}
	store_result(in->ctl, rc, err);
}

static void instance_continue_stop(struct instance *in);

static void
on_notebook(enum notebook_what what, const char *msg, void *arg)
{
	struct instance *in = arg;

	switch (what) {
	case NOTEBOOK_STARTED:
		persist_notebook(in);
		ev(in, "notebook", "%s", msg);
		break;
	case NOTEBOOK_READY:
		ev(in, "notebook", "%s", msg);
		break;
	case NOTEBOOK_EXITED:
		persist_notebook(in);
		ev(in, "notebook_exited", "%s", msg);
		break;
	case NOTEBOOK_STOPPED:
		/* the last call notebook makes on in->nb: it returns at once */
		notebook_free(in->nb);
		in->nb = NULL;
		persist_notebook(in);
		ev(in, "notebook", "%s", msg);
		instance_continue_stop(in);
		break;
	}
}

static struct notebook *
notebook_for(struct instance *in)
{
	struct notebook_params p;
	/* a kernel's Client() finds the address and credentials there */
	char *cfg = xasprintf("DASK_CONFIG=%s", in->client_config);
	char **env = spec_envv(in->spec, cfg, NULL);
	struct notebook *nb;

	free(cfg);
	memset(&p, 0, sizeof(p));
	p.python = in->spec->python;
	p.dir = in->nb_dir;
	p.runtime_dir = in->nb_runtime;
	p.log_path = in->nb_log;
	p.sched_addr = in->sched_addr;
	p.port = in->spec->notebook.port;
	p.start_timeout_ms = in->spec->scaling.start_timeout_ms;
	p.server_app = in->probed &&
	    pyprobe_version_cmp(in->probe.notebook, "7") >= 0;
	p.env = env;
	nb = notebook_new(in->ctl->loop, in->ctl->http, &p, on_notebook, in);
	launch_argv_free(env);
	return nb;
}

/* Once the scheduler answers: the notebook server, if the spec asks. */
static void
notebook_begin(struct instance *in)
{
	char err[512];

	if (!in->spec->notebook.enabled || in->nb != NULL ||
	    in->state != I_STARTED || in->sched_addr == NULL)
		return;
	in->nb = notebook_for(in);
	if (notebook_start(in->nb, err, sizeof(err)) == -1) {
		ev(in, "notebook_exited", "cannot start the notebook server: "
		    "%s", err);
		notebook_free(in->nb);
		in->nb = NULL;
		persist_notebook(in);
	}
}

/* Stops the notebook server; NOTEBOOK_STOPPED carries on from there. */
static void
notebook_end(struct instance *in)
{
	if (in->nb != NULL)
		notebook_stop(in->nb);
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
	instance_set_state(in, I_ERROR);
	if (in->timer != 0) {
		loop_timer_cancel(in->ctl->loop, in->timer);
		in->timer = 0;
	}
	ev(in, "error", "%s", in->error);
	pool_unreserve(in->cp->pool, in->id);
	workers_terminate_all(in);
	notebook_end(in);
	forker_terminate(in);
	if (in->sched_pid > 0)
		sched_terminate(in);
	if (!in->ever_started && in->fatal_start) {
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
	in->sched_start = 0;
	persist_instance(in);
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
		instance_set_state(in, I_STOPPED);
		ev(in, "stopped", "scheduler stopped; instance stopped");
		ctl_check_shutdown(in->ctl);
		maybe_reap(in);
		return;
	}
	if (in->state == I_ERROR) {
		ctl_check_shutdown(in->ctl);
		maybe_reap(in);
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
	instance_set_state(in, I_STARTED);
	in->ever_started = true;
	write_client_config(in);
	ev(in, "started", "scheduler up: dask_scheduler_address=%s "
	    "dask_scheduler_dashboard_address=%s console_url=%s",
	    in->sched_addr, in->dash_url, in->console_url);
	in->timer = loop_timer_add(in->ctl->loop, 0, instance_tick, in);
	notebook_begin(in);
}

/* Reads the scheduler file: address and dashboard port; 0 once both are
 * there and valid, -1 while not yet written. */
/*
 * Where the scheduler listens.  The workers of a slurm pool come from
 * other machines, to the pool's scheduler_host; a spec that names a host
 * other than the default loopback keeps it.
 */
static const char *
sched_host(const struct instance *in)
{
	if (in->cp->slurm != NULL &&
	    strcmp(in->spec->scheduler.host, "127.0.0.1") == 0)
		return in->cp->slurm->scheduler_host;
	return in->spec->scheduler.host;
}

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
	if (strncmp(a, in->tls ? "tls://" : "tcp://", 6) != 0 ||
	    strlen(a) >= DASK_ADDR_MAX ||
	    port <= 0 || port > 65535) {
		json_decref(root);
		return -1;
	}
	free(in->sched_addr);
	in->sched_addr = xstrdup(a);
	host = sched_host(in);
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

static int
write_preload(struct instance *in, char *err, size_t errlen)
{
	return write_whole(in->preload, sched_preload_py,
	    (size_t)(sched_preload_py_end - sched_preload_py), err, errlen);
}

/*
 * How long the scheduler may take to answer /health: start_timeout, but
 * never less than SCHED_START_MIN_MS.  start_timeout is sized for workers
 * (a forked one registers in half a second); today's scheduler imports
 * bokeh and more, and takes 1-3 s on a small machine.
 */
static int64_t
sched_start_timeout(const struct instance *in)
{
	int64_t t = in->spec->scaling.start_timeout_ms;

	return t < SCHED_START_MIN_MS ? SCHED_START_MIN_MS : t;
}

/* This process's user, for messages. */
static const char *
user_name(void)
{
	static char buf[64];
	struct passwd *pw = getpwuid(geteuid());

	if (pw != NULL && pw->pw_name != NULL)
		return pw->pw_name;
	snprintf(buf, sizeof(buf), "uid %u", (unsigned)geteuid());
	return buf;
}

/*
 * Each run's credentials (tls.h), or, with security.tls off, a warning
 * that anyone on the machine can connect and run code as this user.
 */
static int
instance_tls(struct instance *in, char *err, size_t errlen)
{
	char why[512];

	in->tls = in->spec->security.tls;
	if (!in->tls) {
		unlink(in->tls_key);
		unlink(in->tls_cert);
		ev(in, "security", "security.tls is off: any user of this "
		    "machine%s can connect to the scheduler and its workers "
		    "and run code as %s; for a single-user machine only",
		    in->cp->slurm != NULL ? " and of the cluster's network" :
		    "", user_name());
		return 0;
	}
	if (tls_make_creds(in->tls_dir, in->spec->name, why,
	    sizeof(why)) == -1 ||
	    tls_check_creds(in->tls_dir, why, sizeof(why)) == -1)
		return seterr(err, errlen, "cannot make the instance's TLS "
		    "credentials: %s", why);
	return 0;
}

/* The DASK_CONFIG file of the outputs: the address and, with TLS, the
 * credentials, so that Client() connects as it is. */
static void
write_client_config(struct instance *in)
{
	char err[512], *text;

	if (in->tls)
		text = xasprintf("# edask: instance %s, this run; use as\n"
		    "#   DASK_CONFIG=%s python ...\n"
		    "scheduler-address: \"%s\"\n"
		    "distributed:\n"
		    "  comm:\n"
		    "    require-encryption: true\n"
		    "    tls:\n"
		    "      ca-file: \"%s\"\n"
		    "      client:\n"
		    "        cert: \"%s\"\n"
		    "        key: \"%s\"\n", in->spec->name,
		    in->client_config, in->sched_addr, in->tls_cert,
		    in->tls_cert, in->tls_key);
	else
		text = xasprintf("# edask: instance %s, this run (no TLS); use "
		    "as\n#   DASK_CONFIG=%s python ...\n"
		    "scheduler-address: \"%s\"\n", in->spec->name,
		    in->client_config, in->sched_addr);
	if (write_whole(in->client_config, text, strlen(text), err,
	    sizeof(err)) == -1)
		log_warnx("[%s] %s", in->spec->name, err);
	free(text);
}

static void
instance_start(struct instance *in)
{
	struct ctl *c = in->ctl;
	struct launch_cmd cmd;
	char **argv = NULL, **env;
	size_t argc = 0;
	char err[512], buf[300];

	instance_set_state(in, I_STARTING);
	in->error[0] = '\0';
	if (instance_probe(in, err, sizeof(err)) == -1) {
		instance_fail(in, "%s", err);
		return;
	}
	ev(in, "engine", "distributed %s (Python %s), %s workers%s%s",
	    in->probe.distributed, in->probe.python,
	    in->wtype == SPEC_WORKER_DASK_CUDA ? "dask-cuda" : "dask",
	    in->probe.bokeh[0] != '\0' ? ", dashboard with bokeh " :
	    ", no bokeh: no Dask dashboard (the console is the dashboard)",
	    in->probe.bokeh);
	if (mkdir_p(in->work_dir, 0700) == -1) {
		instance_fail(in, "cannot create %s: %s", in->work_dir,
		    strerror(errno));
		return;
	}
	unlink(in->sched_file);
	unlink(in->client_config);
	if (instance_tls(in, err, sizeof(err)) == -1) {
		instance_fail(in, "%s", err);
		return;
	}
	if (write_preload(in, err, sizeof(err)) == -1) {
		instance_fail(in, "cannot write the scheduler's preload: %s",
		    err);
		return;
	}
	launch_argv_push(&argv, &argc, in->spec->python);
	launch_argv_push(&argv, &argc, "-m");
	launch_argv_push(&argv, &argc, "distributed.cli.dask_scheduler");
	launch_argv_push(&argv, &argc, "--host");
	launch_argv_push(&argv, &argc, sched_host(in));
	launch_argv_push(&argv, &argc, "--port");
	snprintf(buf, sizeof(buf), "%d", in->spec->scheduler.port);
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--dashboard-address");
	snprintf(buf, sizeof(buf), "%s:%d", sched_host(in),
	    in->spec->scheduler.dashboard_port);
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--scheduler-file");
	launch_argv_push(&argv, &argc, in->sched_file);
	launch_argv_push(&argv, &argc, "--preload");
	launch_argv_push(&argv, &argc, in->preload);
	if (in->tls) {
		launch_argv_push(&argv, &argc, "--protocol");
		launch_argv_push(&argv, &argc, "tls");
	}
	tls_argv(in, &argv, &argc);
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
	if ((in->sched_watch = loop_pid_watch(c->loop, in->sched_pid,
	    on_sched_exit, in)) == 0)
		log_warn("pidfd for scheduler pid %d", (int)in->sched_pid);
	in->sched_start = launch_start_time(in->sched_pid);
	persist_instance(in);
	ev(in, "starting", "scheduler pid %d, log %s", (int)in->sched_pid,
	    in->sched_log);
	forker_start(in);
	in->start_deadline_ms = mono_ms() + sched_start_timeout(in);
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
		instance_set_state(in, I_STOPPING);
		if (in->timer != 0) {
			loop_timer_cancel(in->ctl->loop, in->timer);
			in->timer = 0;
		}
		ev(in, "stopping", "retiring %zu worker(s), then the scheduler",
		    in->nworkers);
		pool_unreserve(in->cp->pool, in->id);
		notebook_end(in);
		for (i = 0; i < in->nworkers; i++) {
			struct worker *w = in->workers[i];

			if (w->state == W_RUNNING || w->state == W_DRAINING)
				worker_retire(w, STOP_RETIRE_TIMEOUT_MS);
			else if (w->state == W_LAUNCHING)
				worker_terminate(w, 0);
		}
	}
	if (in->nworkers > 0 || in->nb != NULL)
		return;
	if (in->forker_pid > 0) {
		forker_terminate(in);	/* its exit comes back here */
		return;
	}
	if (in->sched_pid > 0) {
		if (in->sched_kill_timer == 0)
			sched_terminate(in);
		return;
	}
	instance_set_state(in, I_STOPPED);
	ev(in, "stopped", "instance stopped");
	ctl_check_shutdown(in->ctl);
	maybe_reap(in);
}

/* Where a stop waits for the notebook server, its end picks it up. */
static void
instance_continue_stop(struct instance *in)
{
	if (in->state == I_STOPPING) {
		instance_stop(in);
		return;
	}
	ctl_check_shutdown(in->ctl);
	maybe_reap(in);
}

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
	if (pyprobe_run(spec->python, env, c->state_dir, &m->probe, m->msg,
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
static enum spec_worker_type
resolve_wtype(const struct spec *spec, const struct cpool *cp,
    const struct pyprobe *p)
{
	int t = spec_worker_type(spec->workers.type);

	if (t == SPEC_WORKER_DASK || t == SPEC_WORKER_DASK_CUDA)
		return (enum spec_worker_type)t;
	if (p->dask_cuda[0] != '\0' && cp->slurm == NULL &&
	    pool_kind(cp->pool) == POOL_GPU && spec->workers.gpus > 0 &&
	    strcmp(spec->workers.command, "auto") == 0)
		return SPEC_WORKER_DASK_CUDA;
	return SPEC_WORKER_DASK;
}

/* Probes the instance's Python; -1 (err) when edask cannot drive it. */
static int
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
		bool found;

		launch_argv_split(spec->workers.command, &argv, &argc);
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
static struct instance *
instance_new(struct ctl *c, struct spec *spec)
{
	struct instance *in = xcalloc(1, sizeof(*in));

	in->ctl = c;
	in->cp = ctl_pool(c, spec->pool);
	ASSERT(in->cp != NULL);
	in->id = ++c->next_inst_id;
	in->spec = spec;
	in->state = I_REGISTERED;
	in->last_scale_up_ms = -1;
	in->last_retire_ms = -1;
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

/*
 * The fields of old that differ in new and that the running processes
 * cannot take without a restart, as "workers.threads, python", into buf
 * ("" when none).  min, max, scaling and sharing apply live.
 */
static void
spec_restart_fields(const struct spec *old, const struct spec *new,
    char *buf, size_t len)
{
	static const char *paths[] = { "workers.gpus", "workers.threads",
	    "workers.memory", "workers.command", "workers.imports",
	    "workers.type", "workers.device_memory_limit",
	    "workers.rmm_pool_size", "scheduler",
	    "notebook.port", "security", "pool", "python", "env" };
	json_t *a = spec_to_json(old), *b = spec_to_json(new);
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_LEN(paths); i++) {
		const char *dot = strchr(paths[i], '.');
		json_t *x, *y;

		if (dot != NULL) {
			char sect[32];

			snprintf(sect, sizeof(sect), "%.*s",
			    (int)(dot - paths[i]), paths[i]);
			x = json_object_get(json_object_get(a, sect), dot + 1);
			y = json_object_get(json_object_get(b, sect), dot + 1);
		} else {
			x = json_object_get(a, paths[i]);
			y = json_object_get(b, paths[i]);
		}
		if (!json_equal(x, y))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			    buf[0] != '\0' ? ", " : "", paths[i]);
	}
	json_decref(a);
	json_decref(b);
}

static bool
instance_running(const struct instance *in)
{
	return in->state == I_STARTING || in->state == I_STARTED ||
	    in->state == I_STOPPING;
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
	dask_free(in->dask);
	in->dask = NULL;
	free(in->sched_addr);
	in->sched_addr = NULL;
	free(in->dash_url);
	in->dash_url = NULL;
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
	struct instance *in = ctl_find(c, name);
	int rc;

	if (in == NULL)
		return ctlerr(CTL_ENOENT, err, errlen,
		    "no instance named \"%s\"",
		    name);
	if (c->shutting_down)
		return ctlerr(CTL_ESHUTDOWN, err, errlen,
		    "the daemon is shutting "
		    "down");
	if (in->undeploy || in->state == I_STOPPING ||
	    (in->state == I_ERROR && (in->nworkers > 0 || in->sched_pid > 0 ||
	    in->nb != NULL || in->forker_pid > 0)))
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
	struct instance *in = ctl_find(c, name);
	int rc;

	if (in == NULL)
		return ctlerr(CTL_ENOENT, err, errlen,
		    "no instance named \"%s\"",
		    name);
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
instance_reap(void *arg)
{
	struct instance *in = arg;
	struct ctl *c = in->ctl;
	char err[256];
	size_t i;

	in->reap_timer = 0;
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
	if (in->timer != 0)
		loop_timer_cancel(c->loop, in->timer);
	if (in->sched_kill_timer != 0)
		loop_timer_cancel(c->loop, in->sched_kill_timer);
	instance_free(in);
}

/* Once an instance marked for undeploy has no process left, remove it
 * (from the loop, not from inside the callback that noticed). */
static void
maybe_reap(struct instance *in)
{
	if (!in->undeploy || in->nworkers > 0 || in->sched_pid > 0 ||
	    in->nb != NULL || in->forker_pid > 0 || in->reap_timer != 0 ||
	    instance_running(in))
		return;
	in->reap_timer = loop_timer_add(in->ctl->loop, 0, instance_reap, in);
}

int
ctl_undeploy(struct ctl *c, const char *name, bool *removed, char *err,
    size_t errlen)
{
	struct instance *in = ctl_find(c, name);

	*removed = false;
	if (in == NULL)
		return ctlerr(CTL_ENOENT, err, errlen,
		    "no instance named \"%s\"",
		    name);
	/* one removed at once is gone from the database before the answer */
	if (!instance_running(in) && in->nworkers == 0 && in->sched_pid == 0 &&
	    in->nb == NULL && in->forker_pid == 0) {
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
	if (!instance_running(in) && in->nworkers == 0 && in->sched_pid == 0 &&
	    in->nb == NULL && in->forker_pid == 0) {
		if (in->reap_timer != 0)
			loop_timer_cancel(c->loop, in->reap_timer);
		instance_reap(in);
		*removed = true;
	}
	return 0;
}

int
ctl_scale(struct ctl *c, const char *name, bool has_min, int min,
    bool has_max, int max, char *err, size_t errlen)
{
	struct instance *in = ctl_find(c, name);
	struct spec *s;
	int rc;

	if (in == NULL)
		return ctlerr(CTL_ENOENT, err, errlen,
		    "no instance named \"%s\"",
		    name);
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

/* ------------------------------------------------------------- restore */

/* True when pid is still the process that started at start (clock ticks
 * since boot): a pid alone may have been reused. */
static bool
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
	if (in->sched_pid > 0 && sid == in->sched_pid)
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
static void
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
		    in->sched_addr != NULL) {
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
	w->start_time = sw->start_time;
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
	w->job_id = sw->job_id;
	if (in->cp->slurm != NULL) {
		/* its job is looked up in the pool's next listing: by id, or
		 * by its tag when sbatch's answer was lost */
		if (st < 0 || sw->slot < 0 ||
		    sw->slot >= pool_size(in->cp->pool) ||
		    pool_take(in->cp->pool, sw->slot, in->id) == -1) {
			ev(in, "worker_gone", "worker w%d (%s, job %lld): bad "
			    "record, forgotten; its job, if any, is cancelled",
			    w->id, w->name, (long long)w->job_id);
			if (store_worker_delete(c->store, in->spec->name,
			    w->id, NULL, 0) == -1)
				log_warnx("store: cannot delete worker w%d",
				    w->id);
			worker_free(w);
			return;
		}
		w->state = (enum wstate)st;
		in->workers = xrealloc(in->workers,
		    (in->nworkers + 1) * sizeof(*in->workers));
		in->workers[in->nworkers++] = w;
		return;
	}
	if (st < 0 || !proc_alive(w->pid, w->start_time) ||
	    sw->slot < 0 || sw->slot >= pool_size(in->cp->pool) ||
	    pool_take(in->cp->pool, sw->slot, in->id) == -1) {
		if (st >= 0 && proc_alive(w->pid, w->start_time))
			launch_kill(w->pid, SIGKILL);	/* slot clash */
		ev(in, "worker_gone", "worker w%d (%s, pid %d) %s while edask "
		    "was down", w->id, w->name, (int)w->pid, w->pid > 0 ?
		    "exited" : "was being launched");
		if (store_worker_delete(c->store, in->spec->name, w->id, NULL,
		    0) == -1)
			log_warnx("store: cannot delete worker w%d", w->id);
		worker_free(w);
		return;
	}
	w->state = (enum wstate)st;
	if ((w->pid_watch = loop_pid_watch(c->loop, w->pid, on_worker_exit,
	    w)) == 0)
		log_warn("pidfd for worker pid %d", (int)w->pid);
	in->workers = xrealloc(in->workers,
	    (in->nworkers + 1) * sizeof(*in->workers));
	in->workers[in->nworkers++] = w;
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
			w->state = W_RUNNING;
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
	in->sched_pid = (pid_t)si->sched_pid;
	in->sched_start = si->sched_start;
	if (si->sched_addr[0] != '\0')
		in->sched_addr = xstrdup(si->sched_addr);
	/* what the run was started with: its address says, or, before the
	 * scheduler wrote it, the spec (a change of security.tls needs a
	 * stop, so a running instance's spec is its run's) */
	in->tls = si->sched_addr[0] != '\0' ?
	    strncmp(si->sched_addr, "tls://", 6) == 0 : spec->security.tls;
	if (si->dash_url[0] != '\0')
		in->dash_url = xstrdup(si->dash_url);
	in->state = st;
	if (store_workers_load(c->store, spec->name, &sws, &n, err,
	    sizeof(err)) == -1)
		log_warnx("%s", err);
	for (i = 0; i < n; i++)
		restore_worker(in, &sws[i]);
	store_workers_free(sws, n);
	sched_alive = proc_alive(in->sched_pid, in->sched_start);
	if (sched_alive) {
		if ((in->sched_watch = loop_pid_watch(c->loop, in->sched_pid,
		    on_sched_exit, in)) == 0)
			log_warn("pidfd for scheduler pid %d",
			    (int)in->sched_pid);
	} else {
		in->sched_pid = 0;
		in->sched_start = 0;
	}
	restore_notebook(in, st, sched_alive);
	if (sched_alive && instance_probe(in, err, sizeof(err)) == -1) {
		/* it runs: keep it, and say why new workers may fail */
		ev(in, "engine", "%s", err);
		in->wtype = resolve_wtype(in->spec, in->cp, &in->probe);
	}
	if (sched_alive)
		forker_adopt(in);
	kill_orphans(in);
	if (in->dash_url != NULL && sched_alive)
		in->dask = dask_new(c->http, in->dash_url);
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
		if (!sched_alive || in->dask == NULL) {
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
			in->start_deadline_ms = mono_ms() +
			    sched_start_timeout(in);
			in->timer = loop_timer_add(c->loop, 0, start_poll, in);
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
		if (in->sched_pid > 0)
			sched_terminate(in);
		persist_instance(in);
		break;
	}
	maybe_reap(in);
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

static void
shutdown_kill_all(struct ctl *c)
{
	size_t i, j;

	for (i = 0; i < c->ninst; i++) {
		struct instance *in = c->inst[i];

		/* jobs: cancelled and forgotten, not waited for (Slurm may
		 * be what is not answering); one that survives has this
		 * daemon's tag and no record, and is cancelled as an orphan
		 * at the next start */
		while (in->cp->slurm != NULL && in->nworkers > 0) {
			struct worker *w = in->workers[in->nworkers - 1];

			if (w->job_id > 0)
				slurm_cancel_detached(c, w->job_id);
			ev(in, "worker_gone", "worker w%d (%s): job %lld "
			    "cancelled at a forced stop", w->id, w->name,
			    (long long)w->job_id);
			worker_remove(w);
		}
		for (j = 0; j < in->nworkers; j++)
			launch_kill(in->workers[j]->pid, SIGKILL);
		if (in->sched_pid > 0)
			launch_kill(in->sched_pid, SIGKILL);
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

	if (c->ndetached > 0)
		return false;
	for (i = 0; i < c->ninst; i++)
		if (c->inst[i]->nworkers > 0 || c->inst[i]->sched_pid > 0 ||
		    c->inst[i]->nb != NULL || c->inst[i]->forker_pid > 0)
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
		if (in->sched_pid > 0 && o < len)
			o += (size_t)snprintf(buf + o, len - o, "%sscheduler "
			    "pid %d", o > 0 ? ", " : "", (int)in->sched_pid);
	}
}

static void shutdown_deadline(void *arg);

static void
shutdown_kill_now(struct ctl *c)
{
	shutdown_kill_all(c);
	if (c->shutdown_timer != 0)
		loop_timer_cancel(c->loop, c->shutdown_timer);
	c->shutdown_killed = true;
	c->shutdown_timer = loop_timer_add(c->loop, SHUTDOWN_KILL_MS,
	    shutdown_deadline, c);
	ctl_check_shutdown(c);
}

/*
 * Nothing keeps a shutdown past its deadlines: after the graceful one
 * everything is killed; after the kill one the daemon leaves whatever it
 * did not hear exit, whose records stay for the next start to adopt or
 * clean up.
 */
static void
shutdown_deadline(void *arg)
{
	struct ctl *c = arg;
	void (*done)(void *);
	char left[512];

	c->shutdown_timer = 0;
	shutdown_left(c, left, sizeof(left));
	if (!c->shutdown_killed) {
		events_add(c->events, NULL, "shutdown", "not done after %d s "
		    "(%s): killing every worker and scheduler now",
		    SHUTDOWN_GRACE_MS / 1000, left[0] != '\0' ? left :
		    "Slurm jobs");
		shutdown_kill_now(c);
		return;
	}
	events_add(c->events, NULL, "shutdown", "%s not heard to exit %d s "
	    "after a kill: leaving; the next start adopts or ends them",
	    left[0] != '\0' ? left : "Slurm jobs", SHUTDOWN_KILL_MS / 1000);
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
		shutdown_kill_now(c);
		return;
	}
	c->shutting_down = true;
	events_add(c->events, NULL, "shutdown", "stopping %zu instance(s)",
	    c->ninst);
	c->shutdown_timer = loop_timer_add(c->loop, SHUTDOWN_GRACE_MS,
	    shutdown_deadline, c);
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
	json_object_set_new(o, "started_by", w->how == HOW_FORK ?
	    json_string("fork") : w->how == HOW_EXEC ? json_string("exec") :
	    json_null());
	json_object_set_new(o, "reclaim_for", reclaim_name(w)[0] != '\0' ?
	    json_string(reclaim_name(w)) : json_null());
	if (w->inst->cp->slurm != NULL) {
		json_object_set_new(o, "job_id", w->job_id > 0 ?
		    json_integer(w->job_id) : json_null());
		json_object_set_new(o, "job_state", w->job_state[0] != '\0' ?
		    json_string(w->job_state) : json_null());
		json_object_set_new(o, "job_reason", w->job_reason[0] != '\0' ?
		    json_string(w->job_reason) : json_null());
		json_object_set_new(o, "node", w->job_node[0] != '\0' ?
		    json_string(w->job_node) : json_null());
		json_object_set_new(o, "job_gpus", w->job_gpus[0] != '\0' ?
		    json_string(w->job_gpus) : json_null());
	}
	return o;
}

static json_t *
notebook_json(const struct instance *in)
{
	json_t *o = json_object();

	json_object_set_new(o, "enabled",
	    json_boolean(in->spec->notebook.enabled));
	json_object_set_new(o, "pid", json_integer(in->nb != NULL ?
	    notebook_pid(in->nb) : 0));
	json_object_set_new(o, "port", in->nb != NULL &&
	    notebook_port(in->nb) > 0 ? json_integer(notebook_port(in->nb)) :
	    json_null());
	json_object_set_new(o, "folder", json_string(in->nb_dir));
	json_object_set_new(o, "log", json_string(in->nb_log));
	return o;
}

/*
 * The notebook's URL; without secrets (a read that carried no token)
 * without its ?token=, which is code execution as the daemon's user.
 */
static json_t *
notebook_url_json(const struct instance *in, bool secrets)
{
	const char *u = in->state == I_STARTED && in->nb != NULL ?
	    notebook_url(in->nb) : NULL;
	const char *q;

	if (u == NULL)
		return json_null();
	if (secrets || (q = strchr(u, '?')) == NULL)
		return json_string(u);
	return json_stringn(u, (size_t)(q - u));
}

static json_t *
instance_json(const struct instance *in, bool secrets)
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
	json_object_set_new(outputs, "notebook_url",
	    notebook_url_json(in, secrets));
	/* how a client connects: paths only, the key file is 0600 */
	json_object_set_new(outputs, "dask_client_config",
	    in->state == I_STARTED ? json_string(in->client_config) :
	    json_null());
	json_object_set_new(outputs, "dask_tls", in->state == I_STARTED &&
	    in->tls ? json_pack("{s:s,s:s,s:s}", "ca_file", in->tls_cert,
	    "cert", in->tls_cert, "key", in->tls_key) : json_null());
	json_object_set_new(outputs, "dask_client_snippet",
	    in->state != I_STARTED ? json_null() : in->tls ? json_sprintf(
	    "from distributed import Client, Security; client = Client(\"%s\", "
	    "security=Security(tls_ca_file=\"%s\", tls_client_cert=\"%s\", "
	    "tls_client_key=\"%s\", require_encryption=True))",
	    in->sched_addr, in->tls_cert, in->tls_cert, in->tls_key) :
	    json_sprintf("from distributed import Client; client = "
	    "Client(\"%s\")", in->sched_addr));
	json_object_set_new(o, "outputs", outputs);
	json_object_set_new(o, "notebook", notebook_json(in));
	json_object_set_new(o, "forker", json_pack("{s:i,s:b,s:s}", "pid",
	    (int)in->forker_pid, "ready", in->forker_ready, "log",
	    in->forker_log));
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
	json_object_set_new(o, "engine", in->probed ? json_pack(
	    "{s:s,s:s,s:s?,s:s?,s:s,s:b}", "python", in->probe.python,
	    "distributed", in->probe.distributed, "dask_cuda",
	    in->probe.dask_cuda[0] != '\0' ? in->probe.dask_cuda : NULL,
	    "bokeh", in->probe.bokeh[0] != '\0' ? in->probe.bokeh : NULL,
	    "worker_type", in->wtype == SPEC_WORKER_DASK_CUDA ? "dask-cuda" :
	    "dask", "dashboard", in->probe.bokeh[0] != '\0') : json_null());
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
ctl_instances_json(struct ctl *c, bool secrets)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < c->ninst; i++)
		json_array_append_new(arr, instance_json(c->inst[i], secrets));
	return json_pack("{s:o}", "instances", arr);
}

/* The per-instance counters that are one uint64_t field each. */
static void
instance_counters(struct strbuf *b, struct ctl *c)
{
	static const struct {
		const char	*name;
		const char	*help;
		size_t		 off;
	} rows[] = {
		{ "edask_workers_lost_total", "Registered workers of an "
		    "instance that died while running (not launch failures).",
		    offsetof(struct instance, lost_workers) },
		{ "edask_instance_flaps_total", "Launches within idle_timeout + "
		    "scale_down_delay of a retirement of the same instance (the "
		    "retired worker was wanted again).",
		    offsetof(struct instance, flaps) },
		{ "edask_stale_observations_total", "Scheduler answers that "
		    "came more than an interval (at least 1 s) after the "
		    "question: not decided on.",
		    offsetof(struct instance, stale_observations) },
	};
	size_t r, i;

	for (r = 0; r < ARRAY_LEN(rows); r++) {
		metrics_header(b, rows[r].name, "counter", rows[r].help);
		for (i = 0; i < c->ninst; i++) {
			const char *l[] = { "instance", c->inst[i]->spec->name,
			    NULL };
			const uint64_t *v = (const uint64_t *)(const void *)
			    ((const char *)c->inst[i] + rows[r].off);

			metrics_sample(b, rows[r].name, l, (double)*v);
		}
	}
}

char *
ctl_metrics_text(struct ctl *c)
{
	static const char *wstates[] = { "launching", "running", "retiring",
	    "stopping", "draining" };
	struct strbuf b = { NULL, 0, 0 };
	size_t i, k;

	metrics_header(&b, "edask_store_degraded", "gauge",
	    "1 while the state database's writes fail (changes are refused "
	    "with 503), else 0.");
	metrics_sample(&b, "edask_store_degraded", NULL,
	    c->store_degraded ? 1 : 0);
	metrics_header(&b, "edask_store_write_failures_total", "counter",
	    "State database writes that failed.");
	metrics_sample(&b, "edask_store_write_failures_total", NULL,
	    (double)c->store_failures);
	metrics_header(&b, "edask_instance_workers", "gauge",
	    "Workers of an instance by state.");
	for (i = 0; i < c->ninst; i++)
		for (k = 0; k < ARRAY_LEN(wstates); k++) {
			const char *l[] = { "instance", c->inst[i]->spec->name,
			    "state", wstates[k], NULL };

			metrics_sample(&b, "edask_instance_workers", l,
			    (double)instance_count(c->inst[i],
			    (enum wstate)k));
		}
	instance_counters(&b, c);
	metrics_header(&b, "edask_lost_worker_keys_total", "counter",
	    "Results held by lost workers, as last observed: copied on "
	    "another worker (elsewhere), on none (none: recomputed), or not "
	    "known.");
	for (i = 0; i < c->ninst; i++) {
		const struct instance *in = c->inst[i];
		const char *copies[] = { "elsewhere", "none", "unknown" };
		const uint64_t n[] = { in->lost_keys_copied, in->lost_keys_only,
		    in->lost_keys_unknown };

		for (k = 0; k < ARRAY_LEN(copies); k++) {
			const char *l[] = { "instance", in->spec->name,
			    "copies", copies[k], NULL };

			metrics_sample(&b, "edask_lost_worker_keys_total", l,
			    (double)n[k]);
		}
	}
	metrics_header(&b, "edask_instance_desired_workers", "gauge",
	    "Workers the scaler wants for an instance.");
	for (i = 0; i < c->ninst; i++) {
		const char *l[] = { "instance", c->inst[i]->spec->name, NULL };

		metrics_sample(&b, "edask_instance_desired_workers", l,
		    c->inst[i]->desired);
	}
	metrics_header(&b, "edask_pool_slots", "gauge",
	    "Slots of a pool: free or held.");
	for (i = 0; i < c->npools; i++) {
		struct pool *p = c->pools[i]->pool;
		const char *f[] = { "pool", pool_name(p), "state", "free",
		    NULL };
		const char *h[] = { "pool", pool_name(p), "state", "held",
		    NULL };

		metrics_sample(&b, "edask_pool_slots", f, pool_free_count(p));
		metrics_sample(&b, "edask_pool_slots", h,
		    pool_size(p) - pool_free_count(p));
	}
	metrics_header(&b, "edask_instance_slots", "gauge",
	    "Slots of the pool an instance holds: owned (within its "
	    "sharing.owned) or borrowed (beyond it).");
	for (i = 0; i < c->ninst; i++) {
		int held = pool_held_by(c->inst[i]->cp->pool, c->inst[i]->id);
		int owned = c->inst[i]->spec->sharing.owned;
		const char *o[] = { "instance", c->inst[i]->spec->name,
		    "kind", "owned", NULL };
		const char *bo[] = { "instance", c->inst[i]->spec->name,
		    "kind", "borrowed", NULL };

		metrics_sample(&b, "edask_instance_slots", o,
		    held < owned ? held : owned);
		metrics_sample(&b, "edask_instance_slots", bo,
		    held > owned ? held - owned : 0);
	}
	metrics_header(&b, "edask_reclaims_total", "counter",
	    "Workers of an instance reclaimed for another instance, and of "
	    "those, how many were stopped when the grace ran out.");
	for (i = 0; i < c->ninst; i++) {
		const char *g[] = { "instance", c->inst[i]->spec->name,
		    "outcome", "all", NULL };
		const char *f[] = { "instance", c->inst[i]->spec->name,
		    "outcome", "forced", NULL };

		metrics_sample(&b, "edask_reclaims_total", g,
		    (double)c->inst[i]->reclaims);
		metrics_sample(&b, "edask_reclaims_total", f,
		    (double)c->inst[i]->forced_reclaims);
	}
	metrics_header(&b, "edask_reclaim_restarted_tasks_total", "counter",
	    "Tasks a forced reclaim cut short (Dask runs them again "
	    "elsewhere); 0 while every reclaim drains in time.");
	metrics_sample(&b, "edask_reclaim_restarted_tasks_total", NULL,
	    (double)c->reclaim_restarted);
	metrics_header(&b, "edask_reclaim_lost_keys_total", "counter",
	    "Results only a force-reclaimed worker held.");
	metrics_sample(&b, "edask_reclaim_lost_keys_total", NULL,
	    (double)c->reclaim_lost_keys);
	metrics_header(&b, "edask_scale_events_total", "counter",
	    "Scaling decisions since the daemon started: up (a scale_up "
	    "event) or down (a retirement).");
	for (i = 0; i < c->ninst; i++) {
		const char *u[] = { "instance", c->inst[i]->spec->name,
		    "direction", "up", NULL };
		const char *d[] = { "instance", c->inst[i]->spec->name,
		    "direction", "down", NULL };

		metrics_sample(&b, "edask_scale_events_total", u,
		    (double)c->inst[i]->scale_ups);
		metrics_sample(&b, "edask_scale_events_total", d,
		    (double)c->inst[i]->scale_downs);
	}
	metrics_header(&b, "edask_worker_start_seconds", "histogram",
	    "Seconds from a worker's launch to its registration with the "
	    "scheduler.");
	metrics_histogram(&b, "edask_worker_start_seconds", &c->start_hist);
	metrics_header(&b, "edask_decision_seconds", "histogram",
	    "Seconds one tick's scaling decision took.");
	metrics_histogram(&b, "edask_decision_seconds", &c->decide_hist);
	metrics_header(&b, "edask_scheduler_up", "gauge",
	    "1 when the instance's scheduler answers, else 0.");
	for (i = 0; i < c->ninst; i++) {
		const char *l[] = { "instance", c->inst[i]->spec->name, NULL };

		metrics_sample(&b, "edask_scheduler_up", l,
		    c->inst[i]->state == I_STARTED && c->inst[i]->observed);
	}
	return b.p;
}

json_t *
ctl_history_json(struct ctl *c, const char *name, int64_t since_ms)
{
	struct instance *in = ctl_find(c, name);
	json_t *arr;
	size_t i, first;

	if (in == NULL)
		return NULL;
	arr = json_array();
	first = (in->history_next + HISTORY_LEN - in->nhistory) % HISTORY_LEN;
	for (i = 0; i < in->nhistory; i++) {
		const struct sample *s = &in->history[(first + i) % HISTORY_LEN];

		if (s->t_ms <= since_ms)
			continue;
		json_array_append_new(arr, json_pack("{s:I,s:i,s:i,s:i,s:i,s:i,"
		    "s:i,s:i}", "t_ms", (json_int_t)s->t_ms,
		    "running", s->running, "launching", s->launching,
		    "retiring", s->retiring, "desired", s->desired,
		    "queued", s->queued, "processing", s->processing,
		    "no_worker", s->no_worker));
	}
	return json_pack("{s:s,s:o}", "name", name, "samples", arr);
}

json_t *
ctl_instance_json(struct ctl *c, const char *name, bool secrets)
{
	struct instance *in = ctl_find(c, name);

	return in != NULL ? instance_json(in, secrets) : NULL;
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

/* One pool of GET /api/v1/pool. */
static json_t *
pool_json(struct ctl *c, struct cpool *cp)
{
	json_t *slots = json_array(), *insts = json_array(), *top;
	int s, n = pool_size(cp->pool);
	struct pool_claim *claims = xcalloc(c->ninst + 1, sizeof(*claims));
	struct instance **who = xcalloc(c->ninst + 1, sizeof(*who));
	int *ent = xcalloc(c->ninst + 1, sizeof(*ent));
	int *left = xcalloc(c->ninst + 1, sizeof(*left));
	bool *lent = xcalloc((size_t)n + 1, sizeof(*lent));
	struct instance **owner = xcalloc((size_t)n + 1, sizeof(*owner));
	size_t i, j, nc;
	int pass;

	nc = pool_claims(c, cp, NULL, claims, who);
	pool_entitle(n, claims, nc, ent);
	/* Which held slots count as owned and which as borrowed: up to
	 * `owned` per instance are owned, those it keeps before those being
	 * reclaimed from it (pass 0, then pass 1), so that a reclaim shows
	 * as borrowed slots going back. */
	for (i = 0; i < c->ninst; i++)
		left[i] = c->inst[i]->cp == cp ?
		    c->inst[i]->spec->sharing.owned : 0;
	for (pass = 0; pass < 2; pass++) {
		for (s = 0; s < n; s++) {
			int h = pool_slot_holder(cp->pool, s);
			int r = pool_slot_reserved(cp->pool, s);
			bool going = r != POOL_FREE && r != h;

			if (h == POOL_FREE || going != (pass == 1))
				continue;
			for (i = 0; i < c->ninst; i++)
				if (c->inst[i]->id == h && c->inst[i]->cp == cp) {
					lent[s] = left[i]-- <= 0;
					if (!lent[s])
						owner[s] = c->inst[i];
				}
		}
	}
	/* Whose owned quota the other slots are: borrowed ones first, then
	 * free ones, to the instances (in deployment order) that hold less
	 * than they own; the rest belong to nobody. */
	for (pass = 0; pass < 2; pass++) {
		for (s = 0; s < n; s++) {
			int h = pool_slot_holder(cp->pool, s);

			if (owner[s] != NULL || (pass == 0) != (h != POOL_FREE))
				continue;
			for (i = 0; i < c->ninst; i++) {
				if (left[i] > 0 && c->inst[i]->id != h) {
					left[i]--;
					owner[s] = c->inst[i];
					break;
				}
			}
		}
	}
	for (s = 0; s < n; s++) {
		json_t *o = json_object();
		int holder = pool_slot_holder(cp->pool, s);
		struct instance *in = ctl_by_id(c, holder);
		struct instance *rin = ctl_by_id(c,
		    pool_slot_reserved(cp->pool, s));
		struct worker *w = NULL;
		struct gpu_info gi;
		bool borrowed = in != NULL && lent[s];

		json_object_set_new(o, "slot", json_integer(s));
		json_object_set_new(o, "gpu", pool_slot_gpu(cp->pool, s) >= 0 ?
		    json_integer(pool_slot_gpu(cp->pool, s)) : json_null());
		json_object_set_new(o, "instance", in != NULL ?
		    json_string(in->spec->name) : json_null());
		json_object_set_new(o, "borrowed", json_boolean(borrowed));
		json_object_set_new(o, "owner", owner[s] != NULL ?
		    json_string(owner[s]->spec->name) : json_null());
		json_object_set_new(o, "reserved_for", rin != NULL ?
		    json_string(rin->spec->name) : json_null());
		for (j = 0; in != NULL && j < in->nworkers; j++)
			if (in->workers[j]->slot == s)
				w = in->workers[j];
		json_object_set_new(o, "worker", w != NULL ?
		    json_sprintf("w%d", w->id) : json_null());
		json_object_set_new(o, "worker_state", w != NULL ?
		    json_string(wstate_name[w->state]) : json_null());
		if (cp->slurm != NULL) {
			json_object_set_new(o, "job_id", w != NULL &&
			    w->job_id > 0 ? json_integer(w->job_id) :
			    json_null());
			json_object_set_new(o, "job_state", w != NULL &&
			    w->job_state[0] != '\0' ?
			    json_string(w->job_state) : json_null());
			json_object_set_new(o, "node", w != NULL &&
			    w->job_node[0] != '\0' ?
			    json_string(w->job_node) : json_null());
		}
		if (c->nvml && gpu_query(pool_slot_gpu(cp->pool, s), &gi, NULL,
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
		int held = pool_held_by(cp->pool, in->id), e = -1, giving = 0;
		json_t *o;

		if (in->cp != cp)
			continue;
		for (j = 0; j < nc; j++)
			if (who[j] == in)
				e = ent[j];
		for (s = 0; s < n; s++)
			if (pool_slot_holder(cp->pool, s) == in->id &&
			    pool_slot_reserved(cp->pool, s) != POOL_FREE &&
			    pool_slot_reserved(cp->pool, s) != in->id)
				giving++;
		o = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}",
		    "name", in->spec->name, "state", istate_name[in->state],
		    "held", held, "owned", in->spec->sharing.owned,
		    "borrowed", held > in->spec->sharing.owned ?
		    held - in->spec->sharing.owned : 0,
		    "share", in->spec->sharing.share,
		    "demand", in->demand, "desired", in->desired,
		    "reclaiming", pool_reserved_for(cp->pool, in->id),
		    "giving_back", giving,
		    "reclaimed_from", (int)in->reclaims);
		json_object_set_new(o, "entitled", e >= 0 ? json_integer(e) :
		    json_null());
		json_array_append_new(insts, o);
	}
	free(claims);
	free(who);
	free(ent);
	free(left);
	free(lent);
	free(owner);
	top = json_pack("{s:s,s:s,s:i,s:i,s:o,s:o}",
	    "name", pool_name(cp->pool),
	    "kind", pool_kind_name(pool_kind(cp->pool)),
	    "size", n, "free", pool_free_count(cp->pool),
	    "slots", slots, "instances", insts);
	if (cp->slurm != NULL) {
		json_object_set_new(top, "gpus_per_job",
		    json_integer(cp->slurm->gpus_per_job));
		json_object_set_new(top, "partition",
		    cp->slurm->partition != NULL ?
		    json_string(cp->slurm->partition) : json_null());
		json_object_set_new(top, "listing_error",
		    cp->squeue_error[0] != '\0' ?
		    json_string(cp->squeue_error) : json_null());
	}
	return top;
}

/*
 * GET /api/v1/pool: the daemon's first pool (the local one where there is
 * one) at the top level, as before there were several, and every pool in
 * "pools".
 */
json_t *
ctl_pool_json(struct ctl *c)
{
	json_t *top, *all = json_array();
	size_t i;

	if (c->npools == 0)
		return json_pack("{s:o}", "pools", all);
	for (i = 0; i < c->npools; i++)
		json_array_append_new(all, pool_json(c, c->pools[i]));
	top = json_deep_copy(json_array_get(all, 0));
	json_object_set_new(top, "pools", all);
	return top;
}
