/*
 * dask_parse: validation of the Dask scheduler's HTTP replies.  Every reply
 * is untrusted input: these parsers bound sizes, check types and never
 * crash (fuzzed by fuzz/fuzz_dask.c).  Pure: no I/O.
 */
#ifndef EDASK_DASK_PARSE_H
#define EDASK_DASK_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DASK_ADDR_MAX	128	/* "tcp://host:port", longest accepted */
#define DASK_WORKERS_MAX 4096	/* more workers in one reply is an error */

/* From GET /metrics (Prometheus text). */
struct dask_metrics {
	bool	have_tasks;	/* any dask_scheduler_tasks sample seen */
	int	queued;
	int	processing;
	int	no_worker;
	int	waiting;
	int	memory;		/* tasks in memory */
	int	workers;	/* dask_scheduler_workers: {state="connected"}
				   (2022.12), else the sum of its states */
};

/* One worker from GET /json/identity.json. */
struct dask_worker_info {
	char	 address[DASK_ADDR_MAX];
	char	 name[DASK_ADDR_MAX];	/* "" when the worker has none */
	int	 nthreads;
	int	 busy;		/* executing + long-running + ready + constrained
				   + waiting + fetch + flight + missing */
	int	 keys;		/* task_counts.memory */
	int64_t	 bytes;		/* metrics.managed_bytes */
	int64_t	 rss;		/* metrics.memory, -1 unknown */
	int64_t	 memory_limit;	/* -1 unknown */
	int	 unique_keys;	/* of keys, held by no other worker (edask's
				   preload only); -1 unknown */
};

/*
 * What a worker held at the moment the scheduler removed it: "departed"
 * of edask's preload route GET /api/v1/edask/workers.  Exact where the
 * last observation of the worker may not be (results made or released
 * since).
 */
struct dask_departure {
	char	 address[DASK_ADDR_MAX];
	int	 keys;		/* results it held */
	int	 unique_keys;	/* of keys, held by no other worker: lost */
	int64_t	 bytes;
};

int dask_parse_metrics(const char *buf, size_t len, struct dask_metrics *out,
    char *err, size_t errlen);
/* {"workers": N} from GET /api/v1/adaptive_target; N >= 0. */
int dask_parse_target(const char *buf, size_t len, int *target, char *err,
    size_t errlen);
/* New array in *workers (free with free()), count in *n. */
int dask_parse_identity(const char *buf, size_t len,
    struct dask_worker_info **workers, size_t *n, char *err, size_t errlen);
/* The same from edask's GET /api/v1/edask/workers, with its optional
 * "departed" in a new array in *departed (sorted by address; free with
 * free()), count in *ndeparted. */
int dask_parse_workers(const char *buf, size_t len,
    struct dask_worker_info **workers, size_t *n,
    struct dask_departure **departed, size_t *ndeparted, char *err,
    size_t errlen);
/* The departure of address among d's n (sorted by address, as
 * dask_parse_workers leaves them), or NULL. */
const struct dask_departure *dask_departure_find(
    const struct dask_departure *d, size_t n, const char *address);
/*
 * Reply of POST /api/v1/retire_workers: a JSON object keyed by the retired
 * workers' addresses.  Returns 1 when address is among them, 0 when it is
 * not (the scheduler refused, e.g. the worker holds the last copy of some
 * data: "{}"), -1 when the reply is malformed.
 */
int dask_parse_retire(const char *buf, size_t len, const char *address,
    char *err, size_t errlen);

/* One worker in the reply of edask's preload route POST
 * /api/v1/edask/drain (src/py/edask_preload.py). */
struct dask_drain_info {
	bool	 draining;	/* status is closing_gracefully */
	bool	 gone;		/* status is closed: the scheduler removed it,
				   and the counts are what it held then */
	int	 processing;	/* tasks assigned and not finished */
	int	 keys;		/* results it holds */
	int	 unique_keys;	/* results only it holds */
	int64_t	 bytes;		/* of its results; -1 not told */
};

/*
 * Reply of POST /api/v1/edask/drain: an object keyed by the addresses the
 * scheduler knows or removed lately.  Returns 1 and fills *out when address
 * is there, 0 when it is not (the worker left, its departure not known),
 * -1 when the reply is malformed.
 */
int dask_parse_drain(const char *buf, size_t len, const char *address,
    struct dask_drain_info *out, char *err, size_t errlen);

/* {"pid": N} or {"error": "..."} from edask's worker forker
 * (src/py/edask_forker.py): 0 and *pid > 1, or -1 with err (the forker's
 * own error included). */
int dask_parse_forked(const char *buf, size_t len, int *pid, char *err,
    size_t errlen);
/* {"seq": N} from GET /api/v1/edask/changes; N >= 0.  0 or -1. */
int dask_parse_changes(const char *buf, size_t len, int64_t *seq, char *err,
    size_t errlen);

#endif
