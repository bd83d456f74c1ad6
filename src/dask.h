/*
 * dask: asynchronous client of one Dask scheduler's HTTP endpoints
 * (dashboard port): health, observation (metrics + adaptive target +
 * workers) and retirement by address.  Replies are validated by dask_parse;
 * nothing here blocks.
 */
#ifndef EDASK_DASK_H
#define EDASK_DASK_H

#include <stdbool.h>
#include <stdint.h>

#include "dask_parse.h"

struct http;
struct dask;

/* One tick's view of the scheduler.  Borrowed by the callback. */
struct dask_obs {
	bool		 ok;		/* all of it arrived and parsed */
	char		 error[256];	/* why not, when !ok */
	int		 target;	/* adaptive_target */
	struct dask_metrics metrics;
	struct dask_worker_info *workers;
	size_t		 nworkers;
	struct dask_departure *departed;	/* by address (the preload) */
	size_t		 ndeparted;
};

typedef void (*dask_obs_cb)(const struct dask_obs *obs, void *arg);
typedef void (*dask_health_cb)(bool ok, const char *why, void *arg);
/* result: 1 retired, 0 refused (msg says why), -1 error (msg). */
typedef void (*dask_retire_cb)(int result, const char *msg, void *arg);

/* rc: 1 and *di for the worker, 0 when the scheduler no longer has it,
 * -1 error (msg), -2 a scheduler without edask's preload (HTTP 404). */
typedef void (*dask_drain_cb)(int rc, const struct dask_drain_info *di,
    const char *msg, void *arg);
/* rc: 0 and the scheduler's change count in seq, -1 error (msg), -2 a
 * scheduler without edask's preload (HTTP 404). */
typedef void (*dask_changes_cb)(int rc, int64_t seq, const char *msg,
    void *arg);
/* base: "http://127.0.0.1:8787" (copied). */
struct dask *dask_new(struct http *h, const char *base);
void dask_free(struct dask *d);		/* cancels everything; NULL: no-op */

void dask_health(struct dask *d, int64_t timeout_ms, dask_health_cb cb,
    void *arg);
/* Returns -1 (and does nothing) while an observation is in flight. */
int dask_observe(struct dask *d, int64_t timeout_ms, dask_obs_cb cb,
    void *arg);
void dask_retire(struct dask *d, const char *address, int64_t timeout_ms,
    dask_retire_cb cb, void *arg);
/*
 * Drain (drain true) or undrain one worker through edask's scheduler
 * preload (src/py/edask_preload.py): a draining worker gets no new tasks
 * but finishes those it has.  Idempotent: asking again reads its counts.
 */
void dask_drain(struct dask *d, const char *address, bool drain,
    int64_t timeout_ms, dask_drain_cb cb, void *arg);
/*
 * Waits, up to wait_ms, for the scheduler's change count (graphs
 * submitted, workers added or removed; edask's preload) to differ from
 * since, and reports it.  A long poll: the request stays open while
 * nothing happens.
 */
void dask_changes(struct dask *d, int64_t since, int64_t wait_ms,
    dask_changes_cb cb, void *arg);
/* Drops pending requests made with this arg; their callbacks never run. */
void dask_cancel(struct dask *d, void *arg);

#endif
