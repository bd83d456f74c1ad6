/*
 * instance: the controller.  A `ctl` owns the pool, the events and every
 * instance; an instance runs one Dask scheduler and its workers through the
 * lifecycle of DESIGN §4:
 *
 *   registered -> starting -> started -> stopping -> stopped, or error
 *   worker: launching -> running -> retiring -> gone, or failed
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

struct ctl_config {
	const char	*state_dir;	/* exists, writable */
	const char	*api_url;	/* "http://127.0.0.1:8780", for outputs */
	int		 gpus;		/* -1: NVML, else N simulated slots */
	bool		 stop_on_start_error;	/* `up`: a start failure
					   stops the daemon (exit 1) */
	/* called once, when a shutdown (asked, or after a start failure)
	 * has left no process running */
	void		(*stopped)(void *arg);
	void		*stopped_arg;
};

/* Builds the local pool (NVML, simulated, or CPU slots). */
struct ctl *ctl_new(struct loop *l, const struct ctl_config *cfg,
    char *err, size_t errlen);
void ctl_free(struct ctl *c);		/* NULL: no-op; processes must be gone */

/*
 * Registers an instance from spec (ownership passes to ctl) and starts it.
 * Fails (-1, err) on a duplicate name, a pool that cannot run it or a
 * worker command that does not exist.
 */
int ctl_deploy(struct ctl *c, struct spec *spec, char *err, size_t errlen);

/*
 * Stops every instance (workers retired, then scheduler) and calls the
 * config's stopped() once no process is left.  A second call kills
 * everything at once.
 */
void ctl_shutdown(struct ctl *c);
/* True once a start failure happened with stop_on_start_error. */
bool ctl_failed(const struct ctl *c);

struct events *ctl_events(struct ctl *c);	/* borrowed */

/* New JSON documents for the API (DESIGN §5); NULL: no such instance. */
json_t *ctl_instances_json(struct ctl *c);
json_t *ctl_instance_json(struct ctl *c, const char *name);
json_t *ctl_pool_json(struct ctl *c);
/* False when instance is given and not known. */
bool ctl_has_instance(struct ctl *c, const char *name);

#endif
