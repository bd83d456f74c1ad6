/* instance.c: see ctl_int.h. */
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

static void instance_kick(struct instance *in);
static void
pending_event(struct instance *in, const char *fmt, ...) PRINTF(2, 3);
static void change_watch(struct instance *in);
static void instance_continue_stop(struct instance *in);

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


/* The idle timeout in force: the spec's, or, with idle_timeout: auto, the
 * one learned from what this instance's workers took to start
 * (scaler_auto_idle_ms). */
int64_t
instance_idle_timeout(const struct instance *in)
{
	if (in->spec->scaling.idle_timeout_ms != SPEC_AUTO_MS)
		return in->spec->scaling.idle_timeout_ms;
	return scaler_auto_idle_ms(in->start_ms, SCALER_START_COSTS);
}


/* A worker registered start_ms after its launch: one more sample of what
 * a new worker costs. */
void
instance_note_start(struct instance *in, int64_t start_ms)
{
	in->start_ms[in->start_next] = start_ms;
	in->start_next = (in->start_next + 1) % SCALER_START_COSTS;
}


/* What a flap is measured by, and the scale-down's memory of demand: the
 * idle timeout and the scale-down delay; with idle_timeout: auto, the
 * learned idle timeout alone (a worker that is cheap to start again is
 * not held against a burst that may not come). */
static int64_t
flap_window_ms(const struct instance *in)
{
	int64_t idle = instance_idle_timeout(in);

	return in->spec->scaling.idle_timeout_ms == SPEC_AUTO_MS ? idle :
	    idle + in->spec->scaling.scale_down_delay_ms;
}


/*
 * The highest desired of the samples within flap_window_ms() (this
 * decision not yet among them), and when (the newest of equal ones); 0
 * when none.  One sample per decision, 15 minutes at 1 s ticks: a longer
 * window sees what the history holds.  On the decisions' own clock
 * (now_mono).  The samples are read from the newest back to the first
 * outside the window, not all 900 of them every tick (43 KiB an
 * instance, which a fleet of hundreds does not keep in cache), unless
 * one was ever recorded out of time order: then all of them.
 */
void
instance_recent_peak(const struct instance *in, int64_t now_mono, int *peak,
    int64_t *at_mono)
{
	int64_t from = now_mono - flap_window_ms(in);
	size_t i, k, first;
	bool found = false;

	*peak = 0;
	*at_mono = now_mono;
	if (in->history == NULL)
		return;
	if (in->history_unordered) {
		first = (in->history_next + HISTORY_LEN - in->nhistory) %
		    HISTORY_LEN;
		for (i = 0; i < in->nhistory; i++) {
			const struct sample *s =
			    &in->history[(first + i) % HISTORY_LEN];

			if (s->t_mono >= from && s->desired >= *peak) {
				*peak = s->desired;
				*at_mono = s->t_mono;
			}
		}
		return;
	}
	for (i = 0; i < in->nhistory; i++) {
		const struct sample *s;

		k = (in->history_next + HISTORY_LEN - 1 - i) % HISTORY_LEN;
		s = &in->history[k];
		if (s->t_mono < from)
			break;
		if (s->desired > *peak || (!found && s->desired >= *peak)) {
			*peak = s->desired;
			*at_mono = s->t_mono;
			found = true;
		}
	}
}


/* Records this tick for the chart; the oldest samples fall off. */
static void
history_add(struct instance *in, int64_t now)
{
	struct sample *s;

	if (in->history == NULL)
		in->history = xcalloc(HISTORY_LEN, sizeof(*in->history));
	if (in->nhistory > 0 && now < in->history[(in->history_next +
	    HISTORY_LEN - 1) % HISTORY_LEN].t_mono)
		in->history_unordered = true;
	s = &in->history[in->history_next];
	in->history_next = (in->history_next + 1) % HISTORY_LEN;
	if (in->nhistory < HISTORY_LEN)
		in->nhistory++;
	s->t_ms = wall_ms();
	s->t_mono = now;
	s->running = (int)instance_count(in, W_RUNNING);
	s->launching = (int)instance_count(in, W_LAUNCHING);
	s->retiring = (int)(instance_count(in, W_RETIRING) +
	    instance_count(in, W_STOPPING) + instance_count(in, W_DRAINING));
	s->desired = in->desired;
	s->queued = in->metrics.queued;
	s->processing = in->metrics.processing;
	s->no_worker = in->metrics.no_worker;
}


static void
instance_decide(struct instance *in, int64_t now)
{
	struct scaler_worker *sw;
	struct scaler_input si;
	struct scaler_decision d;
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
	si.idle_timeout_ms = instance_idle_timeout(in);
	si.scale_down_delay_ms = in->spec->scaling.scale_down_delay_ms;
	si.peak_window_ms = flap_window_ms(in);
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
	instance_recent_peak(in, now, &si.recent_peak, &si.recent_peak_ms);
	si.nworkers = in->nworkers;
	si.workers = sw;
	scaler_decide(&si, &d);
	in->demand = d.demand;
	in->desired = d.desired;
	in->decided = true;
	instance_drains(in);
	if (d.launch > 0) {
		int allowed = instance_free_slots(in, now);

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
	history_add(in, now);
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
		int taken = instance_reclaim(in, now, why, sizeof(why));
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
	if (in->cp->ops->trim != NULL)
		in->cp->ops->trim(in, d.desired, now);
	scaler_decision_free(&d);
	free(sw);
}


/* Nothing to do until something changes: no task in the scheduler,
 * every worker running and seen, no worker wanted, none held above
 * desired for a while (the scale-down delay, the recent peak, an idle
 * timeout not over: the decision will change when that time is up), and
 * a change signal that wakes the instance when a graph comes or a worker
 * comes or goes.  Its ticks may then come every QUIET_POLL_MS. */
static bool
observation_quiet(const struct instance *in)
{
	size_t i;

	if (!in->observed || !in->change_signal || in->pending > 0 ||
	    in->hold[0] != '\0' ||
	    in->metrics.queued > 0 || in->metrics.processing > 0 ||
	    in->metrics.no_worker > 0 || in->metrics.waiting > 0)
		return false;
	for (i = 0; i < in->nworkers; i++)
		if (in->workers[i]->state != W_RUNNING ||
		    in->workers[i]->missing > 0)
			return false;
	return true;
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
	instance_observed(arg, obs, mono_ms());
}


/*
 * One observation of the scheduler, answered at now (monotonic ms): the
 * workers' state follows it, then the decision.  The tick's work with time
 * passed in: the unit tests and a simulator call it with their own clock.
 */
void
instance_observed(struct instance *in, const struct dask_obs *obs,
    int64_t now)
{
	struct timespec t0, t1;
	int64_t age = now - in->observe_sent_ms;
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
		observe_workers(in, obs, now);
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
	losses_settle(in, obs->ok && !stale ? obs : NULL, now);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	instance_decide(in, now);
	in->quiet = observation_quiet(in) ? in->quiet + 1 : 0;
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


/* Something changed outside a tick (a worker's state, a worker gone): a
 * quiet instance ticks at once instead of at its slow pace. */
void
instance_wake(struct instance *in)
{
	if (in->quiet >= QUIET_AFTER)
		instance_kick(in);
}


/* Brings the next tick forward to now. */
static void
instance_kick(struct instance *in)
{
	if (in->state != I_STARTED)
		return;
	loop_timer_clear(in->ctl->loop, &in->timer);
	in->kicked = true;
	in->kicks++;
	in->quiet = 0;
	in->timer = loop_timer_add(in->ctl->loop, 0, instance_tick, in);
}


static int64_t
on_change_retry(void *arg)
{
	struct instance *in = arg;

	in->change_timer = 0;
	change_watch(in);
	return LOOP_NOMORE;
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
	if (in->change_watching || !in->change_signal ||
	    sched_client(in->sched) == NULL || in->state != I_STARTED ||
	    in->change_timer != 0)
		return;
	in->change_watching = true;
	in->ctl->engine->changes(sched_client(in->sched), in->change_seq,
	    CHANGE_WAIT_MS, on_changes, in);
}


int64_t
instance_tick(void *arg)
{
	struct instance *in = arg;
	int64_t delay;
	bool kicked = in->kicked;

	in->kicked = false;
	if (in->state != I_STARTED) {
		in->timer = 0;
		return LOOP_NOMORE;
	}
	change_watch(in);
	/* while workers launch, look more often: registration is what
	 * starts their work, and what the user waits for */
	delay = in->spec->scaling.interval_ms;
	if (instance_count(in, W_LAUNCHING) > 0 && delay > LAUNCH_POLL_MS)
		delay = LAUNCH_POLL_MS;
	else if (in->quiet >= QUIET_AFTER && delay < QUIET_POLL_MS)
		delay = QUIET_POLL_MS;
	/* an observation still in flight (slow scheduler) skips this tick;
	 * one brought forward by a change is done once that one is back */
	if (in->ctl->engine->observe(sched_client(in->sched),
	    OBSERVE_TIMEOUT_MS, on_observed, in) == 0)
		in->observe_sent_ms = mono_ms();
	else if (kicked)
		in->tick_again = true;
	return delay;
}


/* ------------------------------------------------ the scheduler (sched.h) */

/* Routes the scheduler serves: Dask's defaults plus the HTTP API
 * (docs/design.md §2; the value must be a quoted Python literal). */
#define SCHEDULER_ROUTES						\
	"[\"distributed.http.scheduler.prometheus\","			\
	"\"distributed.http.scheduler.info\","				\
	"\"distributed.http.scheduler.json\","				\
	"\"distributed.http.health\","					\
	"\"distributed.http.proxy\","					\
	"\"distributed.http.statics\","					\
	"\"distributed.http.scheduler.api\"]"

static void write_client_config(struct instance *in);

/* Where the scheduler listens: its backend says (its workers may come
 * from other machines). */
const char *
sched_host(const struct instance *in)
{
	return in->cp->ops->sched_host(in);
}


/*
 * How long the scheduler may take to answer /health: start_timeout, but
 * never less than SCHED_START_MIN_MS.  start_timeout is sized for workers
 * (a forked one registers in half a second); today's scheduler imports
 * bokeh and more, and takes 1-3 s on a small machine.
 */
int64_t
sched_start_timeout(const struct instance *in)
{
	int64_t t = in->spec->scaling.start_timeout_ms;

	return t < SCHED_START_MIN_MS ? SCHED_START_MIN_MS : t;
}


static void
on_sched(enum sched_what what, const char *msg, void *arg)
{
	struct instance *in = arg;
	char tail[600];

	switch (what) {
	case SCHED_READY:
		if (in->state != I_STARTING)
			return;
		instance_set_state(in, I_STARTED);
		in->ever_started = true;
		write_client_config(in);
		ev(in, "started", "scheduler up: dask_scheduler_address=%s "
		    "dask_scheduler_dashboard_address=%s console_url=%s",
		    sched_address(in->sched), sched_dashboard(in->sched),
		    in->console_url);
		in->timer = loop_timer_add(in->ctl->loop, 0, instance_tick,
		    in);
		notebook_begin(in);
		return;
	case SCHED_TIMEOUT:
		if (in->state == I_STARTING)
			instance_fail(in, "%s", msg);
		return;
	case SCHED_KILLED:
		ev(in, "kill", "%s", msg);
		return;
	case SCHED_EXITED:
		break;
	}
	persist_instance(in);
	if (in->state == I_STOPPING) {
		instance_set_state(in, I_STOPPED);
		ev(in, "stopped", "scheduler stopped; instance stopped");
		return;
	}
	if (in->state == I_ERROR)
		return;
	launch_log_tail(in->sched_log, tail, sizeof(tail));
	instance_fail(in, "scheduler %s%s; log %s%s%s", msg,
	    in->state == I_STARTING ? " while starting" : "", in->sched_log,
	    tail[0] != '\0' ? "; it ends with: " : "", tail);
}


/*
 * The supervisor of this run's scheduler: its command line is Dask's
 * scheduler with edask's routes and preload, on the backend's address
 * (docs/design.md §2).
 */
struct sched *
sched_for(struct instance *in)
{
	struct sched_params p;
	struct sched *s;
	char **argv = NULL, **env;
	size_t argc = 0;
	char buf[300];

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
	memset(&p, 0, sizeof(p));
	p.name = in->spec->name;
	p.argv = argv;
	p.env = env;
	p.log_path = in->sched_log;
	p.cwd = in->dir;
	p.sched_file = in->sched_file;
	p.host = sched_host(in);
	p.tls = in->tls;
	p.start_timeout_ms = sched_start_timeout(in);
	p.grace_ms = KILL_GRACE_MS;
	p.health_timeout_ms = HEALTH_TIMEOUT_MS;
	p.engine = in->ctl->engine;
	s = sched_new(in->ctl->loop, in->ctl->http, &p, on_sched, in);
	launch_argv_free(argv);
	launch_argv_free(env);
	return s;
}


int
write_preload(struct instance *in, char *err, size_t errlen)
{
	return util_write_file(in->preload, sched_preload_py,
	    (size_t)(sched_preload_py_end - sched_preload_py), 0600, err,
	    errlen);
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
int
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
		    in->cp->ops->remote ? " and of the cluster's network" :
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
		    in->client_config, sched_address(in->sched), in->tls_cert,
		    in->tls_cert, in->tls_key);
	else
		text = xasprintf("# edask: instance %s, this run (no TLS); use "
		    "as\n#   DASK_CONFIG=%s python ...\n"
		    "scheduler-address: \"%s\"\n", in->spec->name,
		    in->client_config, sched_address(in->sched));
	if (util_write_file(in->client_config, text, strlen(text), 0600, err,
	    sizeof(err)) == -1)
		log_warnx("[%s] %s", in->spec->name, err);
	free(text);
}


/* ------------------------------------------------------------ notebook */

/* The notebook's row follows its process: written when one starts or
 * exits, deleted once it is stopped for good. */
void
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


struct notebook *
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
	p.sched_addr = sched_address(in->sched);
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
void
notebook_begin(struct instance *in)
{
	char err[512];

	if (!in->spec->notebook.enabled || in->nb != NULL ||
	    in->state != I_STARTED || sched_address(in->sched) == NULL)
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
void
notebook_end(struct instance *in)
{
	if (in->nb != NULL)
		notebook_stop(in->nb);
}


void
workers_terminate_all(struct instance *in)
{
	size_t i;

	for (i = 0; i < in->nworkers; i++)
		if (!in->workers[i]->term_sent)
			worker_terminate(in->workers[i], 0);
}


void
instance_fail(struct instance *in, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(in->error, sizeof(in->error), fmt, ap);
	va_end(ap);
	instance_set_state(in, I_ERROR);
	loop_timer_clear(in->ctl->loop, &in->timer);
	ev(in, "error", "%s", in->error);
	pool_unreserve(in->cp->pool, in->id);
	workers_terminate_all(in);
	notebook_end(in);
	forker_terminate(in);
	sched_stop(in->sched);
	if (!in->ever_started && in->fatal_start) {
		in->ctl->failed = true;
		if (!in->ctl->shutting_down)
			ctl_shutdown(in->ctl);
	}
}


void
instance_start(struct instance *in)
{
	char err[512];

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
	sched_free(in->sched);
	in->sched = sched_for(in);
	if (sched_start(in->sched, err, sizeof(err)) == -1) {
		instance_fail(in, "cannot start the scheduler: %s", err);
		return;
	}
	persist_instance(in);
	ev(in, "starting", "scheduler pid %d, log %s",
	    (int)sched_pid(in->sched), in->sched_log);
	forker_start(in);
}


/*
 * Stopping: retire running workers through the scheduler (bounded), stop
 * the rest, then the scheduler.  Called again as workers go; idempotent.
 */
void
instance_stop(struct instance *in)
{
	size_t i;

	if (in->state == I_STOPPED || in->state == I_ERROR) {
		return;
	}
	if (in->state != I_STOPPING) {
		instance_set_state(in, I_STOPPING);
		loop_timer_clear(in->ctl->loop, &in->timer);
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
	if (sched_pid(in->sched) > 0) {
		if (!sched_stopping(in->sched))
			sched_stop(in->sched);
		return;
	}
	instance_set_state(in, I_STOPPED);
	ev(in, "stopped", "instance stopped");
}


/* Where a stop waits for the notebook server, its end picks it up. */
static void
instance_continue_stop(struct instance *in)
{
	if (in->state == I_STOPPING) {
		instance_stop(in);
		return;
	}
}
