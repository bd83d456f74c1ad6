/*
 * instance: the controller.  A `ctl` owns the pool, the events and every
 * instance; an instance runs one Dask scheduler and its workers through the
 * lifecycle of docs/design.md §4:
 *
 *   registered -> starting -> started -> stopping -> stopped, or error
 *   worker: launching -> running -> retiring -> stopping -> gone
 *   (draining: reclaimed for another instance, then retired)
 *
 * Each tick an instance observes its scheduler (dask), asks the scaler for
 * a decision, lets the pool bound it, and acts (launch, retire, stop).
 * Every decision is an event.
 */
#ifndef EDASK_INSTANCE_H
#define EDASK_INSTANCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct loop;
struct spec;
struct events;
struct ctl;
struct config_pool;
struct engine_ops;

struct ctl_config {
	const char	*state_dir;	/* exists, writable */
	const char	*api_url;	/* "http://127.0.0.1:8780", for outputs */
	int		 gpus;		/* -1: NVML, else N simulated slots */
	const char	*pool_name;	/* the local pool's name; NULL: the
					   daemon has none */
	/* slurm pools, borrowed for the ctl's life */
	const struct config_pool *slurm;
	size_t		 nslurm;
	/* Dask's side (engine.h); NULL: engine_dask, the real one */
	const struct engine_ops *engine;
	/* called once, when a shutdown (asked, or after a start failure)
	 * has left no process running */
	void		(*stopped)(void *arg);
	void		*stopped_arg;
};

/*
 * Opens the store (STATE/edask.db; a corrupt or newer database fails here
 * with a clear message), builds the local pool (NVML, simulated, or CPU
 * slots) and the slurm pools (their first squeue starts at once), and
 * reloads the events.
 */
struct ctl *ctl_new(struct loop *l, const struct ctl_config *cfg,
    char *err, size_t errlen);
/* NULL: no-op.  Processes still running are left running (a daemon that
 * detaches re-adopts them when it starts again). */
void ctl_free(struct ctl *c);

/* Errors of the control calls (negative; err says why). */
#define CTL_EINVAL	(-1)	/* cannot be done as asked (HTTP 400) */
#define CTL_ENOENT	(-2)	/* no such instance (404) */
#define CTL_ECONFLICT	(-3)	/* not in this state (409) */
#define CTL_ESHUTDOWN	(-4)	/* the daemon is shutting down (503) */
#define CTL_ESTORE	(-5)	/* the change could not be saved (503);
				 * nothing changed */

enum ctl_deployed { CTL_CREATED, CTL_UNCHANGED, CTL_UPDATED };

/*
 * Deploys spec (ownership passes to ctl, whatever the result).  A new
 * name is registered and started (CTL_CREATED).  The same content again
 * is a no-op (CTL_UNCHANGED).  A changed spec updates the instance
 * (CTL_UPDATED): min, max, scaling and sharing apply live; changing other
 * fields of a running instance is CTL_ECONFLICT, naming them (stop it
 * first).  CTL_EINVAL: a pool, command or python this daemon cannot run.
 */
int ctl_deploy(struct ctl *c, struct spec *spec, enum ctl_deployed *what,
    char *err, size_t errlen);
/* `up`: if this instance fails before it ever started, the daemon stops
 * (and exits 1); for the specs given on the command line. */
void ctl_fatal_start(struct ctl *c, const char *name);
/* Starts a stopped instance (or one in error); no-op when running. */
int ctl_start(struct ctl *c, const char *name, char *err, size_t errlen);
/* Retires the workers, then stops the scheduler; no-op when stopped. */
int ctl_stop(struct ctl *c, const char *name, char *err, size_t errlen);
/* Stops the instance, then removes it and its state folder; *removed
 * tells whether that happened already or follows the stop. */
int ctl_undeploy(struct ctl *c, const char *name, bool *removed, char *err,
    size_t errlen);
/* Changes min and/or max live. */
int ctl_scale(struct ctl *c, const char *name, bool has_min, int min,
    bool has_max, int max, char *err, size_t errlen);

/*
 * After a restart: reloads the instances from the store and re-adopts the
 * schedulers and workers still alive (pid plus process start time), cleans
 * up those that died meanwhile, kills processes of an instance that no
 * record claims (a launch the crash interrupted), finishes interrupted
 * retirements, and resumes ticking.  0, or -1 with err.
 */
int ctl_restore(struct ctl *c, char *err, size_t errlen);

/*
 * Stops every instance (workers retired, then scheduler) and calls the
 * config's stopped() once no process is left.  A second call kills
 * everything at once.  Hard deadlines: 90 s, then everything is killed;
 * 10 s after a kill, stopped() is called whatever is left (ctl_idle()
 * tells).
 */
void ctl_shutdown(struct ctl *c);
/* The last store write's error while writes fail (borrowed), else NULL. */
const char *ctl_degraded(const struct ctl *c);
/* True when no process or Slurm command of the controller is left. */
bool ctl_idle(struct ctl *c);
/* True once an instance marked with ctl_fatal_start() failed to start. */
bool ctl_failed(const struct ctl *c);

struct events *ctl_events(struct ctl *c);	/* borrowed */

/*
 * New JSON documents for the API (docs/design.md §5, docs/api.md); NULL:
 * no such instance.
 * What grants access (the notebook URL's token) only where secrets is
 * true: for a request that carried the API token.
 */
json_t *ctl_instances_json(struct ctl *c, bool secrets);
json_t *ctl_instance_json(struct ctl *c, const char *name, bool secrets);
json_t *ctl_pool_json(struct ctl *c);
/* {"name", "samples": [{t_ms, running, launching, retiring, desired,
 * queued, processing, no_worker}]}: one sample per tick, the last 15
 * minutes (in memory), those after since_ms; NULL: no such instance. */
json_t *ctl_history_json(struct ctl *c, const char *name, int64_t since_ms);
/* New text: GET /metrics in Prometheus exposition format. */
char *ctl_metrics_text(struct ctl *c);
/* False when instance is given and not known. */
bool ctl_has_instance(struct ctl *c, const char *name);

#endif
