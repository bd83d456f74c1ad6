/*
 * ctl_int.h: the controller's private index.  The structs every module of
 * the controller shares, and one block per module: what it owns, then its
 * functions that the others call.  instance.h is the public contract;
 * backend.h is where workers run (one ops table per backend), engine.h
 * is Dask's side (one table: the real one, or a test's).  The layout is
 * drawn in docs/design.md §3.
 */
#ifndef EDASK_CTL_INT_H
#define EDASK_CTL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "dask.h"
#include "engine.h"
#include "events.h"
#include "instance.h"
#include "launch.h"
#include "metrics.h"
#include "pool.h"
#include "pyprobe.h"
#include "scaler.h"
#include "slurm.h"
#include "spec.h"
#include "util.h"

struct child;
struct notebook;

#define OBSERVE_TIMEOUT_MS	5000
#define LAUNCH_POLL_MS		200
/* A quiet instance (no task anywhere, every worker running, nothing
 * pending, no worker held above desired, a change signal to wake it) is
 * observed every QUIET_POLL_MS once QUIET_AFTER observations in a row
 * were quiet: nothing can change its decision without the change signal
 * telling, or a worker's state changing (instance_wake). */
#define QUIET_AFTER		3
#define QUIET_POLL_MS		10000
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
#define EVENTS_KEPT		10000
#define MISSING_TICKS		3	/* a running worker absent this often
					   from the scheduler has left it */
#define LOSS_WAIT_MS		15000	/* a lost worker's loss waits this long
					   for the scheduler's departure */

enum istate { I_REGISTERED, I_STARTING, I_STARTED, I_STOPPING, I_STOPPED,
    I_ERROR };
/* W_DRAINING: reclaimed for another instance; the scheduler gives it no
 * new tasks, and it is retired once those it has are done. */
enum wstate { W_LAUNCHING, W_RUNNING, W_RETIRING, W_STOPPING, W_DRAINING };

extern const char *const istate_name[I_ERROR + 1];	/* by enum istate */
extern const char *const wstate_name[W_DRAINING + 1];	/* by enum wstate */

struct instance;

/* What a lost worker held (worker.c, losses). */
struct held {
	int		 keys;		/* -1 unknown: not observed since a
					   restart */
	int		 unique_keys;	/* -1 unknown */
	int64_t		 bytes;
	bool		 departed;	/* as the scheduler removed it, not as
					   last observed */
};

/* A loss told once the scheduler says what the worker held when it
 * removed it, or at until_ms (monotonic) as last observed; kept in the
 * store until told (a restart tells it). */
struct pending_loss {
	int		 id;		/* the worker's */
	char		*head;		/* the event, before what it held */
	char		*tail;		/* and after */
	char		 address[DASK_ADDR_MAX];
	struct held	 held;
	int64_t		 until_ms;
};

struct worker {
	struct instance	*inst;
	int		 id;
	int		 slot;
	int		 gpu;		/* GPU index, -1 for a CPU slot */
	enum wstate	 state;		/* worker_set_state() */
	pid_t		 pid;		/* on this machine; 0: none (reaped,
					   or a remote backend's) */
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
	bool		 departed;	/* keys, unique_keys and bytes are what
					   it held when the scheduler removed
					   it (edask's preload) */
	bool		 observed;	/* they are from an observation; not
					   yet, for a worker re-adopted after
					   a restart */
	int		 gpu_util;
	uint64_t	 start_timer;
	uint64_t	 kill_timer;	/* a backend's follow-up of a stop (scancel
					   again) */
	bool		 term_sent;	/* asked to stop, or killed */
	int		 missing;	/* observations without it, running */
	int64_t		 retire_wall_ms;
	/* reclaim: its slot goes to another instance */
	int		 reclaim_for;	/* that instance's id, or -1 */
	int64_t		 reclaim_deadline_wall_ms;
	int64_t		 expires_wall_ms;	/* draining before its job's
						   time limit (then), or 0 */
	uint64_t	 reclaim_timer;	/* grace: forced after it */
	bool		 drain_busy;	/* a drain request in flight */
	int64_t		 retire_retry_ms;	/* monotonic: after a refusal */
	bool		 refusal_told;	/* its "held" event is out */
	struct dask_drain_info drain;	/* the scheduler's last answer */
	char		 reclaim_restored[SPEC_NAME_MAX + 1];	/* from the
					   store, until resolved to an id */
	void		*be;		/* the backend's (backend.h) */
	bool		 listed;	/* in its instance's workers */
	bool		 lockable;	/* in its instance's by_launch */
};

/* One pool of the daemon: its slots, and its backend. */
struct cpool {
	struct ctl	*ctl;
	struct pool	*pool;
	const struct backend_ops *ops;
	void		*be;		/* the backend's */
};

/* One tick's numbers, for the console's chart (GET .../history). */
struct sample {
	int64_t		 t_ms;		/* wall clock: the chart's */
	int64_t		 t_mono;	/* the decision's clock */
	int		 running, launching, retiring;
	int		 desired;
	int		 queued, processing, no_worker;
};

#define HISTORY_LEN	900
#define SCHED_START_MIN_MS	30000	/* 15 minutes at 1 s ticks */


struct instance {
	struct ctl	*ctl;
	struct cpool	*cp;		/* its pool */
	struct sample	*history;	/* ring of HISTORY_LEN */
	size_t		 nhistory;	/* samples kept, <= HISTORY_LEN */
	size_t		 history_next;
	bool		 history_unordered;	/* a sample was ever older
						   than the one before it */
	int		 id;
	struct spec	*spec;
	enum istate	 state;
	char		 error[1024];
	char		*dir;
	char		*sched_log;
	char		*sched_file;
	char		*work_dir;
	struct sched	*sched;		/* this run's scheduler (sched.h):
					   pid, address, API client; NULL
					   before the first start */
	char		*console_url;
	uint64_t	 timer;		/* the tick */
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
	/* its workers launching or running and not reclaimed, by
	 * launched_ms: those launched less than scale_down_delay ago are
	 * locked (instance_locked), found without reading every worker */
	struct worker	**by_launch;
	size_t		 nby_launch;
	size_t		 expiring;	/* workers with expires_wall_ms set */
	bool		 ever_started;
	int64_t		 created_ms;
	bool		 undeploy;	/* remove once stopped */
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
	int		 quiet;		/* quiet observations in a row */
	bool		 decided;	/* a tick has decided since this daemon
					   started it or took it over */
	uint64_t	 reclaims;	/* its workers reclaimed by others */
	uint64_t	 forced_reclaims;	/* of those, stopped at grace */
	struct notebook	*nb;		/* NULL: no notebook server */
	char		*nb_dir;	/* folder it serves */
	char		*nb_log;
	char		*nb_runtime;
	char		*preload;	/* the scheduler's preload file */
	/* the worker forker (src/py/edask_forker.py) */
	char		*forker_py;
	char		*forker_sock;
	char		*forker_log;
	char		*forker_pidfile;	/* "PID STARTTIME": restart */
	bool		 tls;		/* this run is tls:// (tls.h) */
	/* workers that died while running, and the keys they held as last
	 * observed: with a copy elsewhere, or not (counters) */
	uint64_t	 lost_workers;
	/* a launch within idle_timeout + scale_down_delay of a retirement
	 * (a flap: the retired worker was wanted again) */
	uint64_t	 flaps;
	int64_t		 last_retire_ms;	/* monotonic, -1: none */
	/* launch to registered of the most recent workers, ms (a ring;
	 * -1: empty), for idle_timeout: auto (instance_idle_timeout) */
	int64_t		 start_ms[SCALER_START_COSTS];
	size_t		 start_next;
	int64_t		 observe_sent_ms;	/* the observation in flight */
	uint64_t	 stale_observations;	/* answers too late to use */
	uint64_t	 lost_keys_copied;
	uint64_t	 lost_keys_only;
	uint64_t	 lost_keys_unknown;	/* no preload to tell */
	struct pending_loss *losses;	/* not told yet, oldest first */
	size_t		 nlosses;
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
	struct launch_term forker_term;	/* its stop */
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
	const struct engine_ops *engine;	/* engine.h */
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
	/* the last store write failed: degraded until one succeeds */
	bool		 store_degraded;
	char		 store_error[256];
	uint64_t	 store_failures;	/* writes that failed, ever */
};


/* ctl.c: the control calls (deploy, start, stop, undeploy, scale, shutdown),
 * the store glue and the daemon-wide state */
void ev(struct instance *in, const char *kind, const char *fmt, ...)
    PRINTF(3, 4);
void store_result(struct ctl *c, int rc, const char *err);
void instance_set_state(struct instance *in, enum istate st);
void persist_instance(struct instance *in);
const char *reclaim_name(const struct worker *w);
void persist_worker(struct worker *w);
void forget_worker(struct worker *w);
int daemon_id(struct ctl *c, char *err, size_t errlen);
void worker_free(struct worker *w);
void ctl_pool_add(struct ctl *c, struct cpool *cp);
struct instance *ctl_find(struct ctl *c, const char *name);
struct cpool *ctl_pool(struct ctl *c, const char *name);
enum spec_worker_type resolve_wtype(const struct spec *spec,
    const struct cpool *cp, const struct pyprobe *p);
int instance_probe(struct instance *in, char *err, size_t errlen);
struct instance *instance_new(struct ctl *c, struct spec *spec);
struct instance *ctl_by_id(struct ctl *c, int id);
/* Defined in instance_assets.S: each file's bytes, then a NUL. */
extern const char sched_preload_py[], sched_preload_py_end[];
extern const char worker_forker_py[], worker_forker_py_end[];

/* instance.c: one instance's lifecycle and decision tick, the change
 * signal, the notebook glue */
int64_t instance_tick(void *arg);
void instance_observed(struct instance *in, const struct dask_obs *obs,
    int64_t now);
int64_t instance_idle_timeout(const struct instance *in);
/* The highest desired of the history within the flap window before
 * now_mono, and when (recent_peak of scaler.h). */
void instance_recent_peak(const struct instance *in, int64_t now_mono,
    int *peak, int64_t *at_mono);
void instance_wake(struct instance *in);
void instance_note_start(struct instance *in, int64_t start_ms);
void persist_notebook(struct instance *in);
struct notebook *notebook_for(struct instance *in);
void notebook_begin(struct instance *in);
void notebook_end(struct instance *in);
void workers_terminate_all(struct instance *in);
void instance_fail(struct instance *in, const char *fmt, ...)
    PRINTF(2, 3);
void instance_start(struct instance *in);
void instance_stop(struct instance *in);

/* worker.c: the worker lifecycle: launch, exit, retirement, observation */
size_t instance_count(const struct instance *in, enum wstate st);
/* Adds w to its instance's workers (after launched_ms and state are
 * set); worker_remove() takes it out.  worker_index() keeps by_launch
 * right after w's state or reclaim_for changed (worker_set_state() does
 * it). */
void worker_add(struct worker *w);
void worker_index(struct worker *w);
/* Its workers launching or running, not reclaimed, and launched less
 * than its scale_down_delay before now. */
int instance_locked(const struct instance *in, int64_t now);
struct worker *worker_by_id(struct instance *in, int id);
void worker_remove(struct worker *w);
void worker_terminate(struct worker *w, int64_t wait_ms);
void worker_kill(struct worker *w);
int64_t backoff_ms(int failures);
void count_failure(struct instance *in);
void after_worker_gone(struct instance *in);
/* A registered worker's process ended on its own: worker_loss_later. */
void worker_lost(struct worker *w, const char *how);
/*
 * w is lost: the "worker_lost" event is head, what it held, tail, and its
 * results are counted.  worker_loss tells at once, with what it held as
 * the scheduler removed it when an observation brought that, else as last
 * observed.  worker_loss_later is for a loss edask sees before the
 * scheduler may have (its process exited, its job ended): told once an
 * observation brings the scheduler's count, LOSS_WAIT_MS at most; w may be
 * freed at once.  losses_settle does that at each observation (NULL: none
 * came); losses_flush tells all those waiting (the instance stops).
 * Waiting, a loss is in the store in place of its worker:
 * losses_restore takes them back after a restart, and losses_drop lets
 * go of them without telling (the daemon exits; the next one tells).
 */
void worker_loss(struct worker *w, const char *head, const char *tail);
/* What w held as the scheduler removed it (bytes -1: not told). */
void worker_departed(struct worker *w, int keys, int unique_keys,
    int64_t bytes);
void worker_loss_later(struct worker *w, const char *head, const char *tail);
void losses_settle(struct instance *in, const struct dask_obs *obs,
    int64_t now);
void losses_flush(struct instance *in);
void losses_restore(struct instance *in);
void losses_drop(struct instance *in);
const char *worker_log_last(const struct worker *w, char *buf, size_t len);
int64_t on_start_timeout(void *arg);
void tls_argv(const struct instance *in, char ***argv, size_t *argc);
char **worker_argv(struct instance *in, struct worker *w, char *err,
    size_t errlen);
char **spec_envv(const struct spec *s, const char *first, const char *second);
bool worker_launch(struct instance *in);
/* For the backends: w started (added to its instance, start timer armed);
 * w could not start (slot released, failure counted and told, w freed);
 * a stored w takes its slot again (false: the record is bad, or the slot
 * is someone else's). */
void worker_launched(struct worker *w);
void worker_launch_failed(struct worker *w, const char *fmt, ...)
    PRINTF(2, 3);
bool worker_take_slot(struct worker *w);
/* Sets w's state and saves it: the one way a state changes. */
void worker_set_state(struct worker *w, enum wstate st);
void worker_retire(struct worker *w, int64_t timeout_ms);
void observe_workers(struct instance *in, const struct dask_obs *obs,
    int64_t now);

/* forker.c: the worker forker (src/py/edask_forker.py) */
void forker_start(struct instance *in);
void forker_adopt(struct instance *in);
void forker_terminate(struct instance *in);
struct fork_req;
/* A fork request's answer: the worker's pid, or -1 and why. */
typedef void (*forker_cb)(pid_t pid, const char *why, void *arg);
struct fork_req *forker_fork(struct instance *in, char **argv, char **env,
    const char *log, forker_cb cb, void *arg, char *err, size_t errlen);
void forker_fork_cancel(struct fork_req *r);

/* instance.c, the scheduler's side (the process itself is sched.h's): its
 * command line, files and credentials, and what its news mean */
struct sched *sched_for(struct instance *in);
const char *sched_host(const struct instance *in);
int write_preload(struct instance *in, char *err, size_t errlen);
int64_t sched_start_timeout(const struct instance *in);
int instance_tls(struct instance *in, char *err, size_t errlen);

/* reclaim.c: sharing: claims, drains and reclaims across instances */
size_t pool_claims(struct ctl *c, struct cpool *cp, struct instance *me,
    int64_t now, struct pool_claim *claims, struct instance **who);
int instance_free_slots(struct instance *in, int64_t now);
void arm_reclaim_deadline(struct worker *w);
void instance_drains(struct instance *in);
void worker_expire(struct worker *w, int64_t end_wall_ms, const char *kind,
    const char *why);
int instance_reclaim(struct instance *in, int64_t now, char *why,
    size_t whylen);

/* restore.c: re-adoption after a restart, orphans */
void kill_orphans(struct instance *in);
/* True when pid is still the process that started at start (clock ticks
 * since boot): a pid alone may have been reused. */
bool proc_alive(pid_t pid, uint64_t start);

/* ctl_json.c: the JSON and metrics views (their functions are
 * instance.h's: ctl_*_json, ctl_metrics_text) */

#endif
