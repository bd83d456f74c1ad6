/*
 * scaler: per instance, from one tick's observations to a decision: how
 * many workers to launch and which to retire.  Pure: no I/O, no clock
 * (time is in the input), so unit tests and the simulator drive it.
 *
 * Scale up (docs/design.md §4): demand = max(adaptive_target, workers
 * that the queued + processing tasks need at `threads` per worker, plus
 * the `no-worker` tasks when this instance's workers offer GPUs — a
 * CPU-only worker would not make them runnable).  Desired = demand
 * clamped to [min, max].  Launching workers count as capacity; the launch
 * count is further clamped to the free slots the caller grants.
 *
 * Scale down: only running workers idle for idle_timeout (and, where a GPU
 * utilization is known, under gpu_idle_util), least data first, never below
 * max(desired, min, recent_peak), never within scale_down_delay of the last
 * scale up.  recent_peak (the highest desired of the last idle_timeout +
 * scale_down_delay; of the learned idle_timeout alone with "auto") is what
 * keeps a periodic load from retiring a worker between two of its bursts
 * and launching one at the next.
 */
#ifndef EDASK_SCALER_H
#define EDASK_SCALER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum scaler_wstate {
	SCALER_W_LAUNCHING,	/* started, not registered yet */
	SCALER_W_RUNNING,	/* registered with the scheduler */
	SCALER_W_RETIRING,	/* retirement asked; not counted as capacity */
};

struct scaler_worker {
	int		 id;
	enum scaler_wstate state;
	int64_t		 idle_since_ms;	/* -1: busy now (or never seen idle) */
	int64_t		 bytes;		/* data held */
	int		 gpu_util;	/* percent; -1 unknown */
};

struct scaler_input {
	int64_t		 now_ms;
	/* spec */
	int		 min, max;	/* max already resolved (>= 1) */
	int		 threads;	/* per worker, >= 1 */
	int		 gpus;		/* per worker */
	int64_t		 idle_timeout_ms;	/* resolved: never "auto" */
	int64_t		 scale_down_delay_ms;
	int64_t		 peak_window_ms;	/* of recent_peak, for the
					   hold message */
	int		 gpu_idle_util;
	/* scheduler, this tick; observed == false: scheduler not answering,
	 * then nothing is launched for demand and nothing retired */
	bool		 observed;
	int		 adaptive_target;
	int		 queued;	/* dask_scheduler_tasks{state=queued} */
	int		 processing;
	int		 no_worker;
	/* controller */
	int		 free_slots;	/* slots the caller may still grant */
	int64_t		 last_scale_up_ms;	/* -1: never */
	int		 recent_peak;	/* highest desired of the last
					   peak_window_ms, this decision's
					   excluded; 0: none */
	int64_t		 recent_peak_ms;	/* when it was, for the hold
					   message */
	size_t		 nworkers;
	const struct scaler_worker *workers;	/* borrowed */
};

#define SCALER_REASON_MAX 256

struct scaler_decision {
	int		 demand;	/* before clamping */
	int		 desired;	/* clamped to [min, max] */
	int		 launch;	/* workers to start now */
	int		 pending;	/* wanted but no free slot */
	size_t		 nretire;
	int		*retire;	/* worker ids, least data first; owned by
					   the decision, scaler_decision_free */
	char		 reason[SCALER_REASON_MAX];	/* "queued=120
					   processing=4 no_worker=0 target=4" */
	char		 hold[SCALER_REASON_MAX];	/* why workers above
					   desired are kept, or "" */
};

void scaler_decide(const struct scaler_input *in, struct scaler_decision *out);
void scaler_decision_free(struct scaler_decision *d);

/*
 * idle_timeout: auto.  Holding an idle worker costs a worker-second per
 * second; letting it go costs a start when demand comes back.  As in the
 * ski-rental problem, an idle worker is held for about what a new one
 * costs to start (SCALER_AUTO_IDLE_FACTOR times the median of the n most
 * recent launch-to-registered times in start_ms, negative entries
 * skipped, at most SCALER_START_COSTS read), within
 * [SCALER_AUTO_IDLE_MIN_MS, SCALER_AUTO_IDLE_MAX_MS]: a warm fork of a
 * fraction of a second releases at the next tick, a Slurm job that waits
 * in the queue is held for as long as the queue makes it wait.  With no
 * start measured yet, SCALER_AUTO_IDLE_NONE_MS.
 */
#define SCALER_AUTO_IDLE_FACTOR	2
#define SCALER_AUTO_IDLE_MIN_MS	1000	/* a tick: idleness is seen no finer */
#define SCALER_AUTO_IDLE_MAX_MS	600000
#define SCALER_AUTO_IDLE_NONE_MS	30000	/* the fixed default */
#define SCALER_START_COSTS	8	/* start times kept; more are not read */
int64_t scaler_auto_idle_ms(const int64_t *start_ms, size_t n);

#endif
