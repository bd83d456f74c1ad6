/*
 * backend: where an instance's workers run.  One ops table per backend
 * (backend_local.c: processes on this machine; backend_slurm.c: one Slurm
 * batch job per worker); the controller calls the table and never asks
 * which backend it has.  Each backend keeps its own worker state behind
 * worker->be and its own pool state behind cpool->be.
 *
 * A new backend (Kubernetes, a simulator) is one file that defines a
 * `struct backend_ops` and a constructor for its pool, called from
 * ctl_new() where the daemon config names such a pool.
 *
 * Lifecycle of a worker through the table (docs/design.md):
 *
 *   worker_launch():  slot taken, struct worker made  ->  ops->launch
 *   worker_terminate(): state stopping, persisted      ->  ops->terminate
 *   the start timeout of a launching worker            ->  ops->start_overdue
 *   a forced stop (reclaim grace over, shutdown kill)  ->  ops->kill
 *   restart: a stored row                              ->  ops->adopt
 *
 * The backend ends a worker by calling worker_remove() and
 * after_worker_gone() (ctl_int.h) once its process or job is gone.
 */
#ifndef EDASK_BACKEND_H
#define EDASK_BACKEND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cpool;
struct ctl;
struct instance;
struct worker;
struct store_worker;
struct config_pool;

#define BACKEND_OVERDUE	(-2)

struct backend_ops {
	const char	*name;		/* "local", "slurm": for messages */
	/* Workers run on other machines: no worker forker, no NVML view of
	 * their GPUs, and the node chooses their bind address and local
	 * folder. */
	bool		 remote;

	/*
	 * Starts w: a new worker holding its slot, with id, slot, gpu and
	 * state (launching) set.  On success w is in in->workers, its
	 * start timer armed, true.  On failure the slot is released, the
	 * failure counted and told, w freed; false.
	 */
	bool	(*launch)(struct instance *in, struct worker *w);
	/*
	 * Stops w (its state is stopping already): after wait_ms for it to
	 * exit by itself, then as the backend stops things; arms w's kill
	 * timer until it is gone.
	 */
	void	(*terminate)(struct worker *w, int64_t wait_ms);
	/* Stops w now, without grace (a forced reclaim, a forced shutdown:
	 * forget says the worker is dropped right after the call). */
	void	(*kill)(struct worker *w, bool forget);
	/*
	 * w did not register within start_timeout: BACKEND_OVERDUE, a
	 * failure (the caller stops it), or the backend keeps waiting (a job
	 * still queued is Slurm's business): a delay in ms to ask again
	 * after, or LOOP_NOMORE (the backend re-arms w->start_timer itself
	 * when the wait is over).  NULL: BACKEND_OVERDUE.
	 */
	int64_t	(*start_overdue)(struct worker *w);
	/*
	 * A worker read back from the store at a restart (w's common fields
	 * set from sw).  False: it is gone (told as an event); the caller
	 * forgets it.  True: w is kept and followed again.
	 */
	bool	(*adopt)(struct worker *w, const struct store_worker *sw);
	/* Fills the backend's columns of w's store row. */
	void	(*save)(const struct worker *w, struct store_worker *sw);
	/* After each observation of the scheduler (at now): what the
	 * backend itself sees of the workers (a GPU's utilization).  NULL:
	 * nothing. */
	void	(*observe)(struct instance *in, int64_t now);
	/* The decision asks for `desired` workers at `now` (monotonic): a
	 * backend may first drop launches that cost nothing to drop.  NULL:
	 * nothing to do. */
	void	(*trim)(struct instance *in, int desired, int64_t now);
	/* Bytes of memory a worker may use; 0: "auto" (Dask reads it where
	 * the worker runs). */
	int64_t	(*worker_memory)(const struct instance *in);
	/* The GPU count in a worker's `--resources GPU=`. */
	int	(*worker_gpus)(const struct instance *in);
	/* Adds the backend's own options to a worker's command line.  NULL:
	 * none. */
	void	(*worker_args)(const struct instance *in, char ***argv,
		    size_t *argc);
	/* The address the scheduler listens on, for its workers. */
	const char *(*sched_host)(const struct instance *in);
	/* Where a worker runs, for events ("job 6 on node3"); may be NULL
	 * (a local worker's name says it). */
	void	(*where)(const struct worker *w, char *buf, size_t len);
	/* The backend's members of a worker's JSON, and of a pool slot's
	 * (w: its worker, NULL when free), and of the pool's. */
	void	(*worker_json)(const struct worker *w, json_t *o);
	void	(*slot_json)(const struct cpool *cp, int slot,
		    const struct worker *w, json_t *o);
	void	(*pool_json)(const struct cpool *cp, json_t *o);
	/* Frees w->be (w is being freed). */
	void	(*worker_free)(struct worker *w);
	/* Frees cp->be. */
	void	(*pool_free)(struct cpool *cp);
	/* True while the backend has a command of its own in flight (the
	 * daemon is not idle).  NULL: never. */
	bool	(*busy)(const struct cpool *cp);
};

extern const struct backend_ops backend_local;
extern const struct backend_ops backend_slurm;

/* The local pool (NVML, simulated or CPU slots); NULL with err. */
struct cpool *backend_local_pool_new(struct ctl *c, const char *name,
    int gpus, char *err, size_t errlen);
/* A slurm pool of the daemon config (borrowed for the ctl's life); its
 * first job listing starts at once. */
struct cpool *backend_slurm_pool_new(struct ctl *c,
    const struct config_pool *sp);

#endif
