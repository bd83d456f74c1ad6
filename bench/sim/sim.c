/*
 * sim: the controller at scale.  One controller (ctl_new, one pool of a
 * fake backend) with N GPU slots and M instances, driven through a
 * compressed day of bursty demand by the real decision code: each
 * instance's tick is instance_observed() (observation, scaler_decide(),
 * the pool's allocation and reclaim plan, launches, retirements, drains,
 * events and store writes), exactly as the daemon runs it.
 *
 * The seams are those of tests/unit/test_ctl.c (docs/design.md §3), and
 * so are the fakes, tests/fake/fake_ctl.h, set up for the simulator:
 *
 *   - a fake engine (engine.h): canned probe, one `sleep` standing for
 *     every scheduler, health, retire and drain answered by the simulated
 *     scheduler after a simulated delay (a drain with what the worker
 *     still runs and holds), observe refused (the simulator observes,
 *     with its own clock);
 *   - a fake backend (backend.h): workers are rows, no processes; a
 *     launched worker registers at the next observation, a stopped one
 *     exits a simulated moment later;
 *   - time passed in: instance_observed(in, obs, now).  The rest of the
 *     controller reads the clock too (launch times, reclaim graces, the
 *     loop's timers), so the link wraps mono_ms(), wall_ms() and the
 *     loop's timerfd_settime() (-Wl,--wrap): the whole controller runs on
 *     the simulated clock, which advances one interval (1 s) per round and
 *     never sleeps.  A timer due on the simulated clock fires at the next
 *     turn of the loop.
 *
 * Measured: the wall time (CLOCK_MONOTONIC, unwrapped) of each call of
 * instance_observed() (a tick), of each fleet round (every instance
 * once; its quantiles, and its mean, the work), and the process's peak
 * RSS (VmHWM).  --sweep runs the fleet at 100 to 8,000 GPUs (one child
 * process each, so that each has its own peak RSS), fits the growth of
 * the round p50 and of the round mean, writes bench/results/sim-*.md
 * and, through --plot, the plot;
 * the output ends with the full-size fleet's tick p99, tick max and RSS.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl_int.h"
#include "fake_ctl.h"
#include "loop.h"
#include "sched.h"
#include "store.h"

#define DEFAULT_GPUS		8000
#define DEFAULT_INSTANCES	200
#define DEFAULT_DURATION_S	3600	/* the compressed day */
#define DEFAULT_SWEEP_S		600	/* each size of the sweep */
#define DEFAULT_SEED		20261207ULL
#define GPUS_PER_INSTANCE	40	/* the sweep's M = N / 40 */
#define STEP_MS			1000	/* the instances' interval */
#define RETIRE_DELAY_MS		1000	/* the scheduler moves the data */
#define DRAIN_DELAY_MS		0	/* answered at the next round */
#define EXIT_MS			1000	/* a stopped worker is gone */
#define HIST_N			2048	/* 1% buckets from 100 ns */

/* ------------------------------------------------------------- clock */

int64_t __real_mono_ms(void);
int64_t __real_wall_ms(void);
int64_t __wrap_mono_ms(void);
int64_t __wrap_wall_ms(void);
int __real_timerfd_settime(int fd, int flags, const struct itimerspec *new,
    struct itimerspec *old);
int __wrap_timerfd_settime(int fd, int flags, const struct itimerspec *new,
    struct itimerspec *old);

static int64_t sim_mono;		/* the controller's monotonic ms */
static int64_t sim_wall_off;		/* wall = mono + this */

int64_t
__wrap_mono_ms(void)
{
	return sim_mono;
}


int64_t
__wrap_wall_ms(void)
{
	return sim_mono + sim_wall_off;
}


/*
 * The loop arms its one timerfd at the earliest due time, absolute on
 * the monotonic clock: here the simulated one.  Due now or before: it
 * fires at once; later: disarmed, since the simulated clock moves only
 * between turns, and each turn (pump()) arms a timer due now.
 */
int
__wrap_timerfd_settime(int fd, int flags, const struct itimerspec *new,
    struct itimerspec *old)
{
	struct itimerspec its;
	int64_t due;

	if (!(flags & TFD_TIMER_ABSTIME))
		return __real_timerfd_settime(fd, flags, new, old);
	memset(&its, 0, sizeof(its));
	due = (int64_t)new->it_value.tv_sec * 1000 +
	    new->it_value.tv_nsec / 1000000;
	if ((new->it_value.tv_sec != 0 || new->it_value.tv_nsec != 0) &&
	    due <= sim_mono)
		its.it_value.tv_nsec = 1;
	return __real_timerfd_settime(fd, 0, &its, old);
}


/* Real elapsed time for the measurements, in ns. */
static int64_t
real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* -------------------------------------------------------------- PRNG */

static uint64_t rng_state;

/* splitmix64: small, fast, and the same sequence everywhere. */
static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}


/* Uniform in [0, 1). */
static double
rng_unit(void)
{
	return (double)(rng_next() >> 11) * 0x1.0p-53;
}


/* Uniform integer in [lo, hi]. */
static int
rng_int(int lo, int hi)
{
	return lo + (int)(rng_unit() * (double)(hi - lo + 1));
}

/* --------------------------------------------------------- histograms */

/* Durations in 1% buckets from 100 ns: quantiles within 1%, in 8 KiB
 * whatever the count (a list of every tick would weigh on the RSS that
 * is measured). */
struct hist {
	uint32_t	 b[HIST_N];
	uint64_t	 n;
	int64_t		 max_ns;
	double		 sum_ns;
};

static void
hist_add(struct hist *h, int64_t ns)
{
	int i = 0;

	if (ns > 100)
		i = (int)(log((double)ns / 100.0) / log(1.01));
	if (i >= HIST_N)
		i = HIST_N - 1;
	h->b[i]++;
	h->n++;
	h->sum_ns += (double)ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}


/* The q-quantile in ms (the bucket's middle), 0 when empty. */
static double
hist_q(const struct hist *h, double q)
{
	uint64_t want, seen = 0;
	int i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want == 0)
		want = 1;
	for (i = 0; i < HIST_N; i++) {
		seen += h->b[i];
		if (seen >= want)
			break;
	}
	return 100.0 * pow(1.01, i + 0.5) / 1e6;
}

/* ------------------------------------------------------------ the world */

/* One simulated instance: its spec's numbers and its demand. */
struct simi {
	struct instance	*in;
	char		 name[24];
	int		 min, max, owned, share;
	int		 idle_s, delay_s, grace_s;
	double		 task_s;	/* mean task duration */
	double		 gap_s;		/* mean gap between bursts, at noon */
	double		 burst_s;	/* a burst's length at max workers */
	double		 phase;		/* of the day, its time zone */
	int64_t		 queue;		/* tasks waiting */
	uint64_t	 done;
	uint64_t	 bursts;
	struct dask_worker_info *wi;	/* this round's observation */
	size_t		 wicap;
	struct dask_obs	 obs;
};

/* One simulated worker (worker->be, the fake backend's). */
struct simw {
	struct fake_worker fw;		/* first: its exit time */
	struct simi	*si;
	int		 busy;		/* tasks running on it */
	int		 keys;		/* results it holds */
	int64_t		 seen_ms;	/* registered from then on */
	unsigned	 addr;
};

/* The event kinds counted apart; the rest count as EV_OTHER. */
enum ev_kind {
	EV_SCALE_UP, EV_RETIRE, EV_RETIRED, EV_RECLAIM, EV_FORCED,
	EV_CANCELLED, EV_PENDING, EV_LEND, EV_HELD, EV_REGISTERED, EV_LOST,
	EV_TIMEOUT, EV_OTHER, EV_COUNT
};

static const char *const ev_kind_name[EV_OTHER] = {
	[EV_SCALE_UP] = "scale_up",
	[EV_RETIRE] = "retire",
	[EV_RETIRED] = "retired",
	[EV_RECLAIM] = "reclaim",
	[EV_FORCED] = "forced_reclaim",
	[EV_CANCELLED] = "reclaim_cancelled",
	[EV_PENDING] = "pending",
	[EV_LEND] = "lend",
	[EV_HELD] = "held",
	[EV_REGISTERED] = "registered",
	[EV_LOST] = "worker_lost",
	[EV_TIMEOUT] = "start_timeout",
};

struct counts {
	struct fake_counts f;		/* launches, exits, retires, drains */
	uint64_t	 tasks, bursts;
	uint64_t	 ev[EV_COUNT], events;
	uint64_t	 pending_ticks;	/* ticks that left workers pending */
	int		 peak_workers, peak_busy, peak_pending;
};

struct opts {
	int		 gpus, instances;
	int		 duration_s;
	int		 day_s;		/* 0: the duration */
	uint64_t	 seed;
	const char	*parent;	/* of the state folder; NULL: default */
	bool		 disk;		/* also on a real disk */
	bool		 sweep;
	int		 sweep_s;
	const char	*plot;		/* command that draws the sweep */
	const char	*results;	/* folder of the .md */
	bool		 quiet;
};

/* What one run reports (also through a pipe, from a sweep's child). */
struct result {
	int		 gpus, instances, duration_s;
	char		 state[256];
	char		 fstype[32];
	uint64_t	 ticks, rounds;
	double		 tick_p50, tick_p99, tick_p999, tick_max, tick_mean;
	double		 round_p50, round_p99, round_max;
	double		 round_mean;	/* the work: all ticks / rounds */
	double		 rss_mib;	/* VmHWM */
	double		 setup_s, wall_s;
	struct counts	 c;
	int		 ok;
};

static struct {
	struct opts	 o;
	struct loop	*loop;
	struct ctl	*ctl;
	struct simi	*si;
	size_t		 nsi;
	struct simi	**byid;		/* by instance id */
	size_t		 nbyid;
	char		 dir[256];
	unsigned	 next_addr;
	struct counts	 c;
	struct hist	 tick, round;
} S;

static struct simi *
simi_of(const struct instance *in)
{
	ASSERT(in->id >= 0 && (size_t)in->id < S.nbyid &&
	    S.byid[in->id] != NULL);
	return S.byid[in->id];
}

/* ---------------------------------------------------- the fakes' hooks */

/*
 * The fake engine and backend are tests/fake/fake_ctl.h's; what is the
 * simulator's own is the work on its workers.  A launched worker
 * registers at the next observation and gets an address of its own.
 */
static void
sim_launch(struct instance *in, struct worker *w)
{
	struct simw *sw = w->be;

	sw->si = simi_of(in);
	sw->seen_ms = sim_mono + 1;	/* at the next observation */
	sw->addr = ++S.next_addr;
}


/* A worker that goes with tasks on it: they run again elsewhere. */
static void
sim_worker_free(struct worker *w)
{
	struct simw *sw = w->be;

	sw->si->queue += sw->busy;
}


/* A drain answers with the tasks the worker still runs and the results
 * it holds. */
static int
sim_drain_answer(void *arg, bool drain, struct dask_drain_info *di)
{
	struct worker *w = arg;
	struct simw *sw = w->be;

	di->draining = drain;
	di->processing = sw->busy;
	di->keys = sw->keys;
	di->unique_keys = sw->keys;
	return 1;
}

/* ------------------------------------------------------------- events */

/* The controller's own sink (ctl.c: each event to the store), plus a
 * count by kind. */
static void
on_event(const struct event *e, void *arg)
{
	struct ctl *c = arg;
	char err[256];
	int k;

	S.c.events++;
	for (k = 0; k < EV_OTHER; k++)
		if (strcmp(e->kind, ev_kind_name[k]) == 0)
			break;
	/* A reclaim counts once, as it starts ("taking ..."). */
	if (k != EV_RECLAIM || strncmp(e->message, "taking", 6) == 0)
		S.c.ev[k]++;
	store_result(c, store_event_add(c->store, e, EVENTS_KEPT, err,
	    sizeof(err)), err);
}

/* --------------------------------------------------------------- loop */

static int64_t
stop_loop(void *arg)
{
	loop_stop(arg);
	return LOOP_NOMORE;
}


/* One turn of the loop at the simulated now: every timer due by now. */
static void
pump(void)
{
	loop_timer_add(S.loop, 0, stop_loop, S.loop);
	loop_run(S.loop);
}

/* ------------------------------------------------------------- setup */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}


/* The state folder's parent: /dev/shm where there is one. */
static const char *
default_parent(void)
{
	struct stat st;

	return stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}


static const char *
fs_name(const char *path, char *buf, size_t len)
{
	struct statfs sf;

	if (statfs(path, &sf) == -1)
		snprintf(buf, len, "?");
	else if (sf.f_type == 0x01021994)
		snprintf(buf, len, "tmpfs");
	else if (sf.f_type == 0xEF53)
		snprintf(buf, len, "ext4");
	else if (sf.f_type == 0x58465342)
		snprintf(buf, len, "xfs");
	else if (sf.f_type == 0x9123683E)
		snprintf(buf, len, "btrfs");
	else if (sf.f_type == 0x794c7630)
		snprintf(buf, len, "overlayfs");
	else
		snprintf(buf, len, "0x%lx", (unsigned long)sf.f_type);
	return buf;
}


/*
 * Each instance's spec from the seeded PRNG.  The fair share is N / M
 * slots; max is log-uniform from a quarter to four times it, so that the
 * sum of max is well above N and instances borrow; about 60% of the
 * instances own slots (half their fair share on average, at most half of
 * the pool in all), so that owners wake up to find their slots lent and
 * reclaim them.
 */
static void
draw_instances(void)
{
	double fair = (double)S.o.gpus / (double)S.o.instances;
	int owned_sum = 0, cap = S.o.gpus / 2;
	size_t i;

	S.nsi = (size_t)S.o.instances;
	S.si = xcalloc(S.nsi, sizeof(*S.si));
	for (i = 0; i < S.nsi; i++) {
		struct simi *s = &S.si[i];
		double lo = log(fair / 4.0), hi = log(fair * 4.0);

		snprintf(s->name, sizeof(s->name), "i%04zu", i);
		s->max = (int)lround(exp(lo + (hi - lo) * rng_unit()));
		if (s->max < 1)
			s->max = 1;
		if (s->max > S.o.gpus)
			s->max = S.o.gpus;
		s->owned = 0;
		if (rng_unit() < 0.6) {
			s->owned = (int)lround(fair * (0.2 + 0.6 * rng_unit()));
			if (s->owned > s->max)
				s->owned = s->max;
			if (owned_sum + s->owned > cap)
				s->owned = 0;
			owned_sum += s->owned;
		}
		s->min = rng_unit() < 0.6 ? 0 : rng_int(1, 3);
		if (s->min > s->max)
			s->min = s->max;
		s->share = rng_int(1, 4);
		s->idle_s = rng_int(20, 120);
		s->delay_s = rng_int(10, 60);
		s->grace_s = rng_int(20, 120);
		s->task_s = 5.0 + 55.0 * rng_unit();
		s->gap_s = 30.0 + 420.0 * rng_unit();
		s->burst_s = 120.0 + 780.0 * rng_unit();
		s->phase = 0.3 * rng_unit() - 0.15;
	}
}


static struct spec *
spec_of(const struct simi *s)
{
	struct spec *sp = NULL;
	char yaml[1024], err[512];

	snprintf(yaml, sizeof(yaml),
	    "name: %s\n"
	    "python: /bin/sh\n"
	    "pool: sim\n"
	    "security: {tls: false}\n"
	    "scaling: {interval: 1s, idle_timeout: %ds, "
	    "scale_down_delay: %ds}\n"
	    "workers: {min: %d, max: %d, gpus: 1, threads: 1}\n"
	    "sharing: {owned: %d, share: %d, reclaim_grace: %ds}\n",
	    s->name, s->idle_s, s->delay_s, s->min, s->max, s->owned,
	    s->share, s->grace_s);
	if (spec_parse(yaml, strlen(yaml), "sim.yaml", &sp, err,
	    sizeof(err)) != 0)
		fatalx("spec of %s: %s", s->name, err);
	return sp;
}


/* The controller, its pool of N simulated GPUs, and M instances deployed
 * and started (the scheduler "answers" through the fake engine). */
static void
setup(void)
{
	char err[512];
	size_t i, started = 0;
	int64_t end;

	snprintf(S.dir, sizeof(S.dir), "%s/edask-sim.XXXXXX",
	    S.o.parent != NULL ? S.o.parent : default_parent());
	if (mkdtemp(S.dir) == NULL)
		fatalx("mkdtemp %s: %s", S.dir, strerror(errno));
	S.loop = loop_new();
	fake_reset();
	fake_conf.sched_life_s = 86400;
	fake_conf.one_scheduler = true;
	fake_conf.retire_delay_ms = RETIRE_DELAY_MS;
	fake_conf.drain_delay_ms = DRAIN_DELAY_MS;
	fake_conf.drain_answer = sim_drain_answer;
	fake_conf.worker_size = sizeof(struct simw);
	fake_conf.exit_delay_ms = EXIT_MS;
	fake_conf.on_launch = sim_launch;
	fake_conf.on_free = sim_worker_free;
	if ((S.ctl = fake_ctl_new(S.loop, S.dir, "sim", S.o.gpus, err,
	    sizeof(err))) == NULL)
		fatalx("ctl_new: %s", err);
	events_set_sink(S.ctl->events, on_event, S.ctl);
	draw_instances();
	S.nbyid = S.nsi + 2;
	S.byid = xcalloc(S.nbyid, sizeof(*S.byid));
	for (i = 0; i < S.nsi; i++) {
		enum ctl_deployed what;
		struct instance *in;

		if (ctl_deploy(S.ctl, spec_of(&S.si[i]), &what, err,
		    sizeof(err)) != 0)
			fatalx("deploy %s: %s", S.si[i].name, err);
		in = ctl_find(S.ctl, S.si[i].name);
		ASSERT(in != NULL && (size_t)in->id < S.nbyid);
		S.si[i].in = in;
		S.byid[in->id] = &S.si[i];
	}
	/* the schedulers answer /health within a few simulated polls */
	end = sim_mono + 60000;
	while (sim_mono < end) {
		sim_mono += 100;
		pump();
		fake_answer(sim_mono);
		for (i = 0, started = 0; i < S.nsi; i++)
			if (S.si[i].in->state == I_STARTED)
				started++;
		if (started == S.nsi)
			break;
	}
	if (started != S.nsi)
		fatalx("only %zu of %zu instances started", started, S.nsi);
}


static void
teardown(void)
{
	size_t i;

	ctl_free(S.ctl);
	loop_free(S.loop);
	fake_end();
	nftw(S.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (i = 0; i < S.nsi; i++)
		free(S.si[i].wi);
	free(S.si);
	free(S.byid);
}

/* -------------------------------------------------------------- demand */

/* The day's swell, 0.08 at night to 1 at noon, at this instance's time
 * zone. */
static double
diurnal(const struct simi *s, int64_t t_ms, int64_t day_ms)
{
	double x = (double)t_ms / (double)day_ms + s->phase;

	return 0.08 + 0.92 * (0.5 - 0.5 * cos(2.0 * M_PI * x));
}


/* A worker the scheduler lists: registered, not stopped. */
static bool
listed(const struct worker *w)
{
	const struct simw *sw = w->be;

	return w->state != W_STOPPING && sim_mono >= sw->seen_ms;
}


/*
 * One interval of an instance's work: a burst may arrive (more often at
 * noon), tasks finish on the workers (each after task_s on average, its
 * result held until the client gathers it), and the queue feeds the
 * running workers; draining and retiring ones get nothing new.
 */
static void
demand_step(struct simi *s, int64_t t_ms, int64_t day_ms)
{
	struct instance *in = s->in;
	double p_done = 1.0 / s->task_s;
	size_t k;

	if (rng_unit() < diurnal(s, t_ms, day_ms) / s->gap_s) {
		int64_t n = (int64_t)ceil((double)s->max * s->burst_s /
		    s->task_s * (0.5 + rng_unit()));

		s->queue += n;
		s->bursts++;
		S.c.bursts++;
	}
	for (k = 0; k < in->nworkers; k++) {
		struct worker *w = in->workers[k];
		struct simw *sw = w->be;
		int j, busy = sw->busy;

		if (!listed(w))
			continue;
		for (j = 0; j < busy; j++) {
			if (rng_unit() < p_done) {
				sw->busy--;
				sw->keys++;
				s->done++;
				S.c.tasks++;
			}
		}
		/* results gathered by the client, a tenth at a time */
		if (sw->keys > 0 && rng_unit() < 0.2)
			sw->keys -= (sw->keys + 9) / 10;
	}
	for (k = 0; k < in->nworkers && s->queue > 0; k++) {
		struct worker *w = in->workers[k];
		struct simw *sw = w->be;

		if (!listed(w) || (w->state != W_RUNNING &&
		    w->state != W_LAUNCHING))
			continue;
		while (sw->busy < in->spec->workers.threads && s->queue > 0) {
			sw->busy++;
			s->queue--;
		}
	}
}


/* What the scheduler answers this round: its workers and task counts. */
static void
build_obs(struct simi *s)
{
	struct instance *in = s->in;
	struct dask_obs *o = &s->obs;
	size_t k, n = 0;
	int keys = 0;

	if (s->wicap < in->nworkers) {
		s->wicap = in->nworkers + 16;
		s->wi = xrealloc(s->wi, s->wicap * sizeof(*s->wi));
	}
	memset(o, 0, sizeof(*o));
	o->ok = true;
	o->metrics.have_tasks = true;
	for (k = 0; k < in->nworkers; k++) {
		struct worker *w = in->workers[k];
		struct simw *sw = w->be;
		struct dask_worker_info *wi = &s->wi[n];

		if (!listed(w))
			continue;
		memset(wi, 0, sizeof(*wi));
		snprintf(wi->address, sizeof(wi->address),
		    "tcp://10.%u.%u.%u:4%04u", (sw->addr >> 16) & 255,
		    (sw->addr >> 8) & 255, sw->addr & 255, sw->addr % 10000);
		strlcpy_(wi->name, w->name, sizeof(wi->name));
		wi->nthreads = in->spec->workers.threads;
		wi->busy = sw->busy;
		wi->keys = sw->keys;
		wi->bytes = (int64_t)sw->keys << 26;	/* 64 MiB a result */
		wi->rss = -1;
		wi->memory_limit = -1;
		wi->unique_keys = sw->keys;
		o->metrics.processing += sw->busy;
		keys += sw->keys;
		n++;
	}
	o->metrics.queued = s->queue > INT32_MAX ? INT32_MAX : (int)s->queue;
	o->metrics.memory = keys;
	o->metrics.workers = (int)n;
	o->workers = s->wi;
	o->nworkers = n;
}


/* The backend's part of a worker's end: its process is gone. */
static void
exits(void)
{
	size_t i;

	for (i = 0; i < S.nsi; i++)
		fake_exits(S.si[i].in, sim_mono);
}

/* ---------------------------------------------------------------- run */

static double
vm_hwm_mib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib < 0 ? -1 : (double)kib / 1024.0;
}


static void
run(struct result *r)
{
	int64_t day_ms, t0, t_end, w0, s0;
	size_t i;

	memset(&S.c, 0, sizeof(S.c));
	memset(&S.tick, 0, sizeof(S.tick));
	memset(&S.round, 0, sizeof(S.round));
	rng_state = S.o.seed;
	sim_mono = __real_mono_ms();
	sim_wall_off = __real_wall_ms() - sim_mono;
	s0 = real_ns();
	setup();
	w0 = real_ns();
	day_ms = (int64_t)(S.o.day_s > 0 ? S.o.day_s : S.o.duration_s) * 1000;
	t0 = sim_mono;
	t_end = t0 + (int64_t)S.o.duration_s * 1000;
	while (sim_mono < t_end) {
		int64_t r0, r1;
		int workers = 0, busy = 0, pending = 0;

		sim_mono += STEP_MS;
		pump();
		fake_answer(sim_mono);
		exits();
		for (i = 0; i < S.nsi; i++) {
			demand_step(&S.si[i], sim_mono - t0, day_ms);
			build_obs(&S.si[i]);
		}
		r0 = real_ns();
		for (i = 0; i < S.nsi; i++) {
			struct instance *in = S.si[i].in;
			int64_t a, b;

			in->observe_sent_ms = sim_mono;
			a = real_ns();
			instance_observed(in, &S.si[i].obs, sim_mono);
			b = real_ns();
			hist_add(&S.tick, b - a);
		}
		r1 = real_ns();
		hist_add(&S.round, r1 - r0);
		for (i = 0; i < S.nsi; i++) {
			struct instance *in = S.si[i].in;

			workers += (int)in->nworkers;
			busy += S.si[i].obs.metrics.processing;
			pending += in->pending;
			if (in->pending > 0)
				S.c.pending_ticks++;
		}
		if (workers > S.c.peak_workers)
			S.c.peak_workers = workers;
		if (busy > S.c.peak_busy)
			S.c.peak_busy = busy;
		if (pending > S.c.peak_pending)
			S.c.peak_pending = pending;
		if (!S.o.quiet && (sim_mono - t0) % 600000 == 0) {
			printf("  t=%5llds workers %d busy %d "
			    "pending %d queued-bursts %llu round p99 %.2f ms\n",
			    (long long)((sim_mono - t0) / 1000), workers, busy,
			    pending, (unsigned long long)S.c.bursts,
			    hist_q(&S.round, 0.99));
			fflush(stdout);
		}
	}
	memset(r, 0, sizeof(*r));
	r->gpus = S.o.gpus;
	r->instances = S.o.instances;
	r->duration_s = S.o.duration_s;
	strlcpy_(r->state, S.dir, sizeof(r->state));
	fs_name(S.dir, r->fstype, sizeof(r->fstype));
	r->ticks = S.tick.n;
	r->rounds = S.round.n;
	r->tick_p50 = hist_q(&S.tick, 0.50);
	r->tick_p99 = hist_q(&S.tick, 0.99);
	r->tick_p999 = hist_q(&S.tick, 0.999);
	r->tick_max = (double)S.tick.max_ns / 1e6;
	r->tick_mean = S.tick.n > 0 ? S.tick.sum_ns / (double)S.tick.n / 1e6 :
	    0;
	r->round_p50 = hist_q(&S.round, 0.50);
	r->round_p99 = hist_q(&S.round, 0.99);
	r->round_max = (double)S.round.max_ns / 1e6;
	r->round_mean = S.round.n > 0 ? S.round.sum_ns / (double)S.round.n /
	    1e6 : 0;
	r->setup_s = (double)(w0 - s0) / 1e9;
	r->wall_s = (double)(real_ns() - w0) / 1e9;
	r->rss_mib = vm_hwm_mib();
	S.c.f = fake_counts;
	r->c = S.c;
	r->ok = 1;
	teardown();
}

/* ------------------------------------------------------------- report */

static void
print_result(FILE *f, const struct result *r)
{
	const struct counts *c = &r->c;

	fprintf(f, "fleet: %d GPUs, %d instances, %d s simulated in %.1f s "
	    "(setup %.1f s)\n", r->gpus, r->instances, r->duration_s,
	    r->wall_s, r->setup_s);
	fprintf(f, "state: %s (%s; removed)\n", r->state, r->fstype);
	fprintf(f, "moved: %llu bursts, %llu tasks done; %llu launches, "
	    "%llu registered, %llu scale-ups, %llu retire decisions, "
	    "%llu retired, %llu exits\n",
	    (unsigned long long)c->bursts, (unsigned long long)c->tasks,
	    (unsigned long long)c->f.launches,
	    (unsigned long long)c->ev[EV_REGISTERED],
	    (unsigned long long)c->ev[EV_SCALE_UP],
	    (unsigned long long)c->ev[EV_RETIRE],
	    (unsigned long long)c->ev[EV_RETIRED], (unsigned long long)c->f.exits);
	fprintf(f, "shared: %llu lends, %llu reclaims (%llu drains asked, "
	    "%llu forced, %llu cancelled), %llu pending events, %llu "
	    "pending ticks; %llu held, %llu lost, %llu start timeouts\n",
	    (unsigned long long)c->ev[EV_LEND],
	    (unsigned long long)c->ev[EV_RECLAIM],
	    (unsigned long long)c->f.drains,
	    (unsigned long long)c->ev[EV_FORCED],
	    (unsigned long long)c->ev[EV_CANCELLED],
	    (unsigned long long)c->ev[EV_PENDING],
	    (unsigned long long)c->pending_ticks,
	    (unsigned long long)c->ev[EV_HELD], (unsigned long long)c->ev[EV_LOST],
	    (unsigned long long)c->ev[EV_TIMEOUT]);
	fprintf(f, "peak: %d workers, %d busy, %d pending; %llu events\n",
	    c->peak_workers, c->peak_busy, c->peak_pending,
	    (unsigned long long)c->events);
	fprintf(f, "tick (instance_observed): %llu, p50 %.3f ms, p99 %.3f ms, "
	    "p99.9 %.3f ms, max %.3f ms, mean %.3f ms\n",
	    (unsigned long long)r->ticks, r->tick_p50, r->tick_p99,
	    r->tick_p999, r->tick_max, r->tick_mean);
	fprintf(f, "round (all instances once): %llu, p50 %.2f ms, p99 %.2f "
	    "ms, max %.2f ms, mean %.2f ms\n", (unsigned long long)r->rounds,
	    r->round_p50, r->round_p99, r->round_max, r->round_mean);
	fprintf(f, "rss: %.1f MiB (VmHWM)\n", r->rss_mib);
}


static void
final_lines(const struct result *r)
{
	printf("tick p99=%.3f ms\n", r->tick_p99);
	printf("tick max=%.3f ms\n", r->tick_max);
	printf("rss=%.1f MiB\n", r->rss_mib);
}


/* One run in a child process: its own heap, its own peak RSS. */
static int
run_child(const struct opts *o, struct result *r)
{
	int fd[2], status;
	ssize_t got;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	if (pipe(fd) == -1)
		fatalx("pipe: %s", strerror(errno));
	if ((pid = fork()) == -1)
		fatalx("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fd[0]);
		S.o = *o;
		run(r);
		if (write(fd[1], r, sizeof(*r)) != (ssize_t)sizeof(*r))
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	got = read(fd[0], r, sizeof(*r));
	close(fd[0]);
	waitpid(pid, &status, 0);
	if (got != (ssize_t)sizeof(*r) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

/* What a growth exponent is fitted to. */
enum fit { FIT_TICK_P50, FIT_TICK_P99, FIT_ROUND_P50, FIT_ROUND_MEAN };

/*
 * Least squares slope of log(y) on log(x): the exponent of the growth
 * (1: linear).
 */
static double
fit_exponent(const struct result *r, size_t n, enum fit what)
{
	double sx = 0, sy = 0, sxx = 0, sxy = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		double x = log((double)r[i].gpus);
		double y = log(what == FIT_TICK_P50 ? r[i].tick_p50 :
		    what == FIT_TICK_P99 ? r[i].tick_p99 :
		    what == FIT_ROUND_P50 ? r[i].round_p50 : r[i].round_mean);

		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
	}
	return ((double)n * sxy - sx * sy) / ((double)n * sxx - sx * sx);
}


static void
table(FILE *f, const struct result *r, size_t n, bool md)
{
	size_t i;

	if (md) {
		fprintf(f, "| GPUs | instances | sim s | ticks | tick p50 (ms) "
		    "| tick p99 (ms) | tick max (ms) | round p50 (ms) | "
		    "round p99 (ms) | round p99 per GPU (µs) | round mean (ms) "
		    "| round mean per GPU (µs) | RSS (MiB) | launches | "
		    "reclaims | pending events |\n");
		fprintf(f, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
		    "|---:|---:|---:|---:|---:|---:|\n");
	} else {
		fprintf(f, "%6s %5s %6s %8s %9s %9s %9s %9s %9s %10s %9s %8s "
		    "%8s\n", "GPUs", "inst", "sim_s", "ticks", "tick_p50",
		    "tick_p99", "tick_max", "round_p99", "us/GPU",
		    "round_mean", "mean_us/GPU", "RSS_MiB", "reclaims");
	}
	for (i = 0; i < n; i++) {
		const struct result *x = &r[i];

		if (md)
			fprintf(f, "| %d | %d | %d | %llu | %.3f | %.3f | %.3f "
			    "| %.2f | %.2f | %.2f | %.3f | %.3f | %.1f | "
			    "%llu | %llu | %llu |\n", x->gpus, x->instances,
			    x->duration_s, (unsigned long long)x->ticks,
			    x->tick_p50, x->tick_p99, x->tick_max,
			    x->round_p50, x->round_p99,
			    x->round_p99 * 1000.0 / x->gpus, x->round_mean,
			    x->round_mean * 1000.0 / x->gpus,
			    x->rss_mib, (unsigned long long)x->c.f.launches,
			    (unsigned long long)x->c.ev[EV_RECLAIM],
			    (unsigned long long)x->c.ev[EV_PENDING]);
		else
			fprintf(f, "%6d %5d %6d %8llu %9.3f %9.3f %9.3f %9.2f "
			    "%9.2f %10.3f %11.3f %8.1f %8llu\n", x->gpus,
			    x->instances, x->duration_s,
			    (unsigned long long)x->ticks, x->tick_p50,
			    x->tick_p99, x->tick_max, x->round_p99,
			    x->round_p99 * 1000.0 / x->gpus, x->round_mean,
			    x->round_mean * 1000.0 / x->gpus, x->rss_mib,
			    (unsigned long long)x->c.ev[EV_RECLAIM]);
	}
}


static void
growth(FILE *f, const struct result *r, size_t n, bool md)
{
	double er = fit_exponent(r, n, FIT_ROUND_P50);
	double et = fit_exponent(r, n, FIT_TICK_P50);
	double em, em1;
	double per0 = r[0].round_p99 / r[0].gpus;
	double per1 = r[n - 1].round_p99 / r[n - 1].gpus;

	fprintf(f, "%sgrowth: fleet round p50 ~ GPUs^%.2f, tick p50 ~ "
	    "GPUs^%.2f (least squares on log-log, %zu sizes); round p99 per "
	    "GPU at %d GPUs is %.2fx that at %d: %s\n", md ? "- " : "", er,
	    et, n, r[n - 1].gpus, per1 / per0, r[0].gpus,
	    er <= 1.05 ? "at most linear" : "FASTER THAN LINEAR");
	/* the small fleets rarely fill their pool: from 1,000 GPUs on,
	 * every size pends and reclaims */
	if (n > 4 && r[3].gpus == 1000) {
		er = fit_exponent(r + 3, n - 3, FIT_ROUND_P50);
		per0 = r[3].round_p99 / r[3].gpus;
		fprintf(f, "%sfrom %d GPUs on (every size contended): round p50 "
		    "~ GPUs^%.2f; round p99 per GPU at %d is %.2fx that at "
		    "%d\n", md ? "- " : "", r[3].gpus, er, r[n - 1].gpus,
		    per1 / per0, r[3].gpus);
	}
	/*
	 * The work itself: a round's mean (all ticks over rounds).  A
	 * round's median is that of a sum of many cheap ticks and a few
	 * dear ones (launches, reclaims, their store writes); a small fleet
	 * has rounds without any dear one, and its median falls below its
	 * mean, so the p50 fit grows faster than the work while fleets are
	 * small.
	 */
	if (n > 4 && r[3].gpus == 1000) {
		em = fit_exponent(r, n, FIT_ROUND_MEAN);
		em1 = fit_exponent(r + 3, n - 3, FIT_ROUND_MEAN);
		per0 = r[3].round_mean / r[3].gpus;
		per1 = r[n - 1].round_mean / r[n - 1].gpus;
		fprintf(f, "%swork: fleet round mean ~ GPUs^%.2f (%zu sizes), "
		    "^%.2f from %d GPUs on; round mean per GPU at %d is %.2fx "
		    "that at %d: %s\n", md ? "- " : "", em, n, em1,
		    r[3].gpus, r[n - 1].gpus, per1 / per0, r[3].gpus,
		    em1 <= 1.05 ? "at most linear" : "FASTER THAN LINEAR");
	}
}


static void
write_md(const char *path, const struct opts *o, const struct result *r,
    size_t n, const struct result *full, const char *png, const char *cmd,
    const char *started, double wall_s)
{
	struct utsname u;
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		fatalx("%s: %s", path, strerror(errno));
	uname(&u);
	fprintf(f, "# Controller at scale: simulated fleet (bench/sim)\n\n");
	fprintf(f, "Run %s on `%s` (%ld cores), `%s`, %.0f s wall.\n\n",
	    started, u.nodename, sysconf(_SC_NPROCESSORS_ONLN), cmd, wall_s);
	fprintf(f, "One controller (`ctl_new`, one pool of a fake backend) "
	    "drives M instances over N GPU slots through the real decision "
	    "code; a tick is one `instance_observed()` call (observation, "
	    "decision, allocation and reclaim plan, launches and "
	    "retirements, events, store writes). Simulated time: one 1 s "
	    "interval per round, never slept. Instances drawn from seed %llu "
	    "(max log-uniform in [N/M/4, 4N/M], ~60%% own slots, share 1-4); "
	    "each has bursts of tasks with idle gaps and a diurnal swell. "
	    "State folder: a fresh one under %s. See bench/README.md.\n\n",
	    (unsigned long long)o->seed, r[0].fstype);
	fprintf(f, "## Growth, %d s simulated per size (M = N/%d)\n\n",
	    o->sweep_s, GPUS_PER_INSTANCE);
	table(f, r, n, true);
	fprintf(f, "\n");
	growth(f, r, n, true);
	fprintf(f, "\n![tick p99 and fleet round p99 against GPUs](%s)\n\n",
	    png);
	fprintf(f, "## Full-size fleet, a day compressed into %d s\n\n```\n",
	    full->duration_s);
	print_result(f, full);
	fprintf(f, "```\n\n## Targets\n\n");
	fprintf(f, "- **%s** tick p99 <= 5 ms: %.3f ms\n",
	    full->tick_p99 <= 5.0 ? "PASS" : "FAIL", full->tick_p99);
	fprintf(f, "- **%s** RSS <= 64 MiB: %.1f MiB\n",
	    full->rss_mib <= 64.0 ? "PASS" : "FAIL", full->rss_mib);
	fprintf(f, "- **%s** an instance's tick grows at most linearly: "
	    "tick p50 ~ GPUs^%.2f, p99 ~ GPUs^%.2f\n",
	    fit_exponent(r, n, FIT_TICK_P50) <= 1.05 &&
	    fit_exponent(r, n, FIT_TICK_P99) <= 1.05 ? "PASS" : "FAIL",
	    fit_exponent(r, n, FIT_TICK_P50),
	    fit_exponent(r, n, FIT_TICK_P99));
	fprintf(f, "- **%s** the fleet's round (every instance once; the "
	    "instances grow with the GPUs) at most linear: round p50 ~ "
	    "GPUs^%.2f\n",
	    fit_exponent(r, n, FIT_ROUND_P50) <= 1.05 ? "PASS" : "FAIL",
	    fit_exponent(r, n, FIT_ROUND_P50));
	if (n > 4 && r[3].gpus == 1000)
		fprintf(f, "- **%s** the work grows at most linearly: round "
		    "mean ~ GPUs^%.2f from %d GPUs on (^%.2f over all %zu "
		    "sizes)\n", fit_exponent(r + 3, n - 3, FIT_ROUND_MEAN) <=
		    1.05 ? "PASS" : "FAIL", fit_exponent(r + 3, n - 3,
		    FIT_ROUND_MEAN), r[3].gpus, fit_exponent(r, n,
		    FIT_ROUND_MEAN), n);
	fprintf(f, "\nShared, noisy machine: ticks are wall time on a "
	    "2-core box where other work runs; compare sizes of one run.\n");
	fclose(f);
}


static void
write_tsv(const char *path, const struct result *r, size_t n)
{
	FILE *f;
	size_t i;

	if ((f = fopen(path, "w")) == NULL)
		fatalx("%s: %s", path, strerror(errno));
	fprintf(f, "gpus\tinstances\ttick_p50\ttick_p99\ttick_max\t"
	    "round_p50\tround_p99\tround_mean\trss_mib\n");
	for (i = 0; i < n; i++)
		fprintf(f, "%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t"
		    "%.2f\n", r[i].gpus, r[i].instances, r[i].tick_p50,
		    r[i].tick_p99, r[i].tick_max, r[i].round_p50,
		    r[i].round_p99, r[i].round_mean, r[i].rss_mib);
	fclose(f);
}


static void
sweep(const struct opts *o, const char *cmd)
{
	static const int sizes[] = { 100, 250, 500, 1000, 2000, 4000, 8000 };
	struct result r[ARRAY_LEN(sizes)], full;
	char started[64], stamp[32], path[512], tsv[512], png[128];
	char *plot;
	time_t now = time(NULL);
	int64_t w0 = real_ns();
	size_t i;

	strftime(started, sizeof(started), "%Y-%m-%d %H:%M:%S",
	    localtime(&now));
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&now));
	printf("sweep: %d s simulated per size, instances = GPUs / %d, seed "
	    "%llu\n", o->sweep_s, GPUS_PER_INSTANCE,
	    (unsigned long long)o->seed);
	for (i = 0; i < ARRAY_LEN(sizes); i++) {
		struct opts so = *o;

		so.gpus = sizes[i];
		so.instances = sizes[i] / GPUS_PER_INSTANCE;
		if (so.instances < 1)
			so.instances = 1;
		so.duration_s = o->sweep_s;
		so.day_s = o->sweep_s;
		if (run_child(&so, &r[i]) == -1)
			fatalx("the run at %d GPUs failed", sizes[i]);
		printf("  %d GPUs, %d instances: tick p99 %.3f ms, round p99 "
		    "%.2f ms, rss %.1f MiB, %.0f s\n", r[i].gpus,
		    r[i].instances, r[i].tick_p99, r[i].round_p99,
		    r[i].rss_mib, r[i].wall_s);
		fflush(stdout);
	}
	printf("\n");
	table(stdout, r, ARRAY_LEN(sizes), false);
	growth(stdout, r, ARRAY_LEN(sizes), false);
	printf("\nfull-size fleet, a day compressed into %d s:\n",
	    o->duration_s);
	if (run_child(o, &full) == -1)
		fatalx("the full-size run failed");
	print_result(stdout, &full);
	snprintf(tsv, sizeof(tsv), "%s/sim-%s.tsv", o->results, stamp);
	write_tsv(tsv, r, ARRAY_LEN(sizes));
	snprintf(png, sizeof(png), "sim-%s.png", stamp);
	if (o->plot != NULL) {
		plot = xasprintf("%s %s %s/%s %s/sim-latest.png", o->plot, tsv,
		    o->results, png, o->results);
		if (system(plot) != 0)
			log_warnx("the plot failed: %s", plot);
		free(plot);
	}
	unlink(tsv);
	snprintf(path, sizeof(path), "%s/sim-%s.md", o->results, stamp);
	write_md(path, o, r, ARRAY_LEN(sizes), &full, png, cmd, started,
	    (double)(real_ns() - w0) / 1e9);
	printf("wrote %s", path);
	snprintf(path, sizeof(path), "%s/sim-latest.md", o->results);
	write_md(path, o, r, ARRAY_LEN(sizes), &full, "sim-latest.png", cmd,
	    started, (double)(real_ns() - w0) / 1e9);
	printf(" and %s%s\n", path, o->plot != NULL ? " (and .png)" : "");
	final_lines(&full);
}


static void
usage(void)
{
	fprintf(stderr, "usage: sim [--gpus N] [--instances M] [--duration S] "
	    "[--day S] [--seed X]\n"
	    "           [--state-in DIR] [--disk DIR] [--quiet]\n"
	    "       sim --sweep [--sweep-duration S] [--results DIR] "
	    "[--plot CMD] ...\n");
	exit(2);
}


int
main(int argc, char **argv)
{
	struct opts o;
	struct result r;
	struct strbuf cmd = { 0 };
	const char *disk = NULL;
	int i;

	memset(&o, 0, sizeof(o));
	o.gpus = DEFAULT_GPUS;
	o.instances = DEFAULT_INSTANCES;
	o.duration_s = DEFAULT_DURATION_S;
	o.sweep_s = DEFAULT_SWEEP_S;
	o.seed = DEFAULT_SEED;
	o.results = "bench/results";
	for (i = 0; i < argc; i++)
		strbuf_printf(&cmd, "%s%s", i > 0 ? " " : "", argv[i]);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--sweep") == 0) {
			o.sweep = true;
			continue;
		}
		if (strcmp(a, "--quiet") == 0) {
			o.quiet = true;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--gpus") == 0)
			o.gpus = atoi(v);
		else if (strcmp(a, "--instances") == 0)
			o.instances = atoi(v);
		else if (strcmp(a, "--duration") == 0)
			o.duration_s = atoi(v);
		else if (strcmp(a, "--day") == 0)
			o.day_s = atoi(v);
		else if (strcmp(a, "--seed") == 0)
			o.seed = strtoull(v, NULL, 0);
		else if (strcmp(a, "--state-in") == 0)
			o.parent = v;
		else if (strcmp(a, "--disk") == 0)
			disk = v;
		else if (strcmp(a, "--sweep-duration") == 0)
			o.sweep_s = atoi(v);
		else if (strcmp(a, "--results") == 0)
			o.results = v;
		else if (strcmp(a, "--plot") == 0)
			o.plot = v;
		else
			usage();
	}
	if (o.gpus < 1 || o.instances < 1 || o.duration_s < 1 ||
	    o.sweep_s < 1)
		usage();
	log_set_level(LOG_LEVEL_WARN);
	if (o.sweep) {
		sweep(&o, cmd.p);
		free(cmd.p);
		return 0;
	}
	printf("seed %llu; state folder under %s\n",
	    (unsigned long long)o.seed,
	    o.parent != NULL ? o.parent : default_parent());
	if (run_child(&o, &r) == -1)
		fatalx("the run failed");
	print_result(stdout, &r);
	if (disk != NULL) {
		struct result rd;
		struct opts od = o;

		od.parent = disk;
		printf("\nagain with the state folder on %s:\n", disk);
		if (run_child(&od, &rd) == -1)
			fatalx("the run on %s failed", disk);
		print_result(stdout, &rd);
	}
	final_lines(&r);
	free(cmd.p);
	return 0;
}
