/*
 * fake_ctl: the controller's surroundings, faked, for the programs that
 * drive the real controller without Python or Dask: its unit tests
 * (tests/unit/test_ctl.c and the backends' tests) and the simulator
 * (bench/sim/sim.c).
 * Test and bench code only: the daemon never links it.
 *
 *   - a fake engine (engine.h): a canned probe; a `sleep` that stands for
 *     the scheduler's process (one per scheduler, or one for all), with
 *     the scheduler file a real one writes; health, retire and drain
 *     answered by fake_answer() once their delay has passed; observe
 *     refused (the caller observes, with its own clock); no change signal.
 *   - a fake backend (backend.h): workers are rows, no processes.  A
 *     stopped worker is gone, through fake_exits(), once its exit delay
 *     has passed.
 *
 * Time is mono_ms() (a simulator that wraps it moves it).  The ops tables
 * carry no context, so the fakes' settings and counters are this
 * module's globals, one set per process: fake_reset() before a run,
 * fake_end() after it.
 */
#ifndef EDASK_FAKE_CTL_H
#define EDASK_FAKE_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "dask.h"
#include "engine.h"

struct ctl;
struct instance;
struct loop;
struct worker;

/* How the fakes behave.  fake_reset() sets the defaults (those of the
 * unit tests); a caller changes members after it. */
struct fake_conf {
	/* engine */
	int	 sched_life_s;		/* the stand-in process's sleep: 600 */
	bool	 one_scheduler;		/* one process for every scheduler */
	int64_t	 retire_delay_ms;	/* a retirement is answered this late */
	int64_t	 drain_delay_ms;	/* a drain (or undrain): this late */
	int	 retire_result;		/* 1 retired (the default), 0 refused
					   ("held") */
	/*
	 * A drain's answer for arg (the worker the controller asks about),
	 * drain as asked: returns the rc of dask_drain_cb and fills *di
	 * (zeroed).  NULL: rc 0 (the scheduler no longer has the worker),
	 * di->draining true.
	 */
	int	(*drain_answer)(void *arg, bool drain,
		    struct dask_drain_info *di);
	/* backend */
	size_t	 worker_size;		/* of each w->be, a struct fake_worker
					   first; 0: sizeof(fake_worker) */
	int64_t	 exit_delay_ms;		/* a stopped worker is gone this late */
	bool	 adopt_refuses;		/* a restart finds no worker alive */
	/* At each launch, w->be allocated (zeroed) and w's id and slot set,
	 * before the worker is named and saved.  NULL: nothing. */
	void	(*on_launch)(struct instance *in, struct worker *w);
	/* Before w->be is freed (never called with w->be NULL).  NULL:
	 * nothing. */
	void	(*on_free)(struct worker *w);
};

/* What the fakes were asked: zeroed by fake_reset(). */
struct fake_counts {
	uint64_t	 spawns;	/* scheduler starts */
	uint64_t	 retires;	/* retirements asked */
	uint64_t	 drains;	/* drains and undrains asked */
	uint64_t	 launches;
	uint64_t	 terminates;
	uint64_t	 kills;
	uint64_t	 adopts;	/* adoptions asked, refused or not */
	uint64_t	 exits;		/* workers fake_exits() removed */
};

/* The fake backend's part of a worker (w->be, owned by the fake backend;
 * a caller's larger struct starts with it, conf.worker_size). */
struct fake_worker {
	int64_t		 exit_ms;	/* stopped: gone from then on */
};

extern struct fake_conf fake_conf;
extern struct fake_counts fake_counts;

extern const struct engine_ops fake_engine_ops;
extern const struct backend_ops fake_backend_ops;

/* Defaults in fake_conf, counters and owed replies cleared. */
void	fake_reset(void);
/* Kills and reaps the stand-in scheduler processes, drops the replies
 * still owed (after ctl_free()). */
void	fake_end(void);

/*
 * A controller on the fakes: state in dir (exists), fake_engine_ops as its
 * engine, and one pool, `name`, of `gpus` simulated slots on
 * fake_backend_ops.  NULL with err.  The caller frees it with ctl_free().
 */
struct ctl *fake_ctl_new(struct loop *l, const char *dir, const char *name,
	    int gpus, char *err, size_t errlen);

struct config_pool;

/*
 * A controller on the fake engine whose one pool is the real Slurm backend
 * (backend_slurm.c) built from cfg (a slurm pool, borrowed for the ctl's
 * life): its sbatch, squeue and scancel are whatever PATH finds (a test
 * puts fakes first).  NULL with err.  The caller frees it with ctl_free().
 */
struct ctl *fake_ctl_new_slurm(struct loop *l, const char *dir,
	    const struct config_pool *cfg, char *err, size_t errlen);

/*
 * A controller on the fake engine whose one pool, `name`, is the real
 * local backend (backend_local.c) with `gpus` simulated slots: its
 * workers are real processes, started by exec or through the instance's
 * worker forker.  NULL with err.  The caller frees it with ctl_free().
 */
struct ctl *fake_ctl_new_local(struct loop *l, const char *dir,
	    const char *name, int gpus, char *err, size_t errlen);

/*
 * The scheduler's answer to an observation, at now, handed to
 * instance_observed(): every worker of in not stopping registered (at
 * tls://127.0.0.1:40000+id, 2 keys, 1000 bytes), each running busy_each
 * tasks, and `queued` tasks waiting.
 */
void	fake_scheduler_sees(struct instance *in, int64_t now, int queued,
	    int busy_each);
/* The same, idle, without `absent` (NULL: none), with a worker at `also`
 * that in no longer has (NULL: none), and with d (NULL: none) as the one
 * worker it removed lately. */
void	fake_scheduler_sees_but(struct instance *in, int64_t now,
	    const struct worker *absent, const char *also,
	    const struct dask_departure *d);

/* A drain_answer (struct fake_conf): the worker has nothing left to run
 * or to hand over. */
int	fake_drained_empty(void *arg, bool drain, struct dask_drain_info *di);

/* Answers what the fake scheduler owes by now (INT64_MAX: everything
 * owed): healthy; retired as conf.retire_result says; drained as
 * conf.drain_answer says.  What the callbacks ask waits for the next
 * call. */
void	fake_answer(int64_t now);
/* Replies owed, cancelled ones included. */
size_t	fake_owed(void);

/* The backend's part of a worker's end: every stopping worker of in whose
 * exit delay has passed by now (INT64_MAX: all) is removed
 * (worker_remove(), after_worker_gone()).  Returns how many. */
size_t	fake_exits(struct instance *in, int64_t now);

#endif
