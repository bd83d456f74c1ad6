/*
 * fuzz_dask: libFuzzer target for every parser in dask_parse.c.  The first
 * input byte picks the parser (modulo 7: metrics, adaptive_target,
 * identity or edask/workers with its departures, retire_workers,
 * edask/drain, edask/changes, the forker's reply), the rest is the reply.
 * Besides crashes, it aborts when a parser reports success with output
 * that breaks its contract; seeds live in fuzz/corpus/dask/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dask_parse.h"
#include "fuzz.h"
#include "util.h"

#define RETIRE_ADDR	"tcp://127.0.0.1:35319"

/* err must come back terminated, whatever the parser wrote. */
static void
check_err(const char *err, size_t errlen)
{
	ASSERT(memchr(err, '\0', errlen) != NULL);
}

static void
check_worker(const struct dask_worker_info *w)
{
	ASSERT(memchr(w->address, '\0', sizeof(w->address)) != NULL);
	ASSERT(memchr(w->name, '\0', sizeof(w->name)) != NULL);
	ASSERT(strncmp(w->address, "tcp://", 6) == 0 ||
	    strncmp(w->address, "tls://", 6) == 0 ||
	    strncmp(w->address, "ucx://", 6) == 0 ||
	    strncmp(w->address, "inproc://", 9) == 0);
	ASSERT(w->nthreads >= 1);
	ASSERT(w->busy >= 0 && w->keys >= 0);
	ASSERT(w->bytes >= 0);
	ASSERT(w->rss >= -1);
	ASSERT(w->memory_limit == -1 || w->memory_limit > 0);
	ASSERT(w->unique_keys >= -1 && w->unique_keys <= w->keys);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dask_worker_info *w = NULL;
	struct dask_departure *d = NULL;
	struct dask_metrics m;
	struct dask_drain_info di;
	const char *buf;
	char err[128];
	size_t len, n = 0, nd = 0, i;
	int rc, t;

	if (!fuzz_split(data, size, &buf, &len, err, sizeof(err)))
		return 0;
	switch (data[0] % 7) {
	case 0:
		rc = dask_parse_metrics(buf, len, &m, err, sizeof(err));
		ASSERT(rc == 0 || rc == -1);
		if (rc == 0)
			ASSERT(m.queued >= 0 && m.processing >= 0 &&
			    m.no_worker >= 0 && m.waiting >= 0 &&
			    m.memory >= 0 && m.workers >= 0 &&
			    m.queued <= 1000000000 &&
			    m.processing <= 1000000000 &&
			    m.no_worker <= 1000000000 &&
			    m.waiting <= 1000000000 &&
			    m.memory <= 1000000000 &&
			    m.workers <= 1000000000);
		break;
	case 1:
		rc = dask_parse_target(buf, len, &t, err, sizeof(err));
		ASSERT(rc == 0 || rc == -1);
		if (rc == 0)
			ASSERT(t >= 0 && t <= 1000000);
		break;
	case 2:
		rc = dask_parse_workers(buf, len, &w, &n, &d, &nd, err,
		    sizeof(err));
		ASSERT(rc == 0 || rc == -1);
		if (rc == -1) {
			ASSERT(w == NULL && n == 0 && d == NULL && nd == 0);
			break;
		}
		ASSERT(w != NULL && n <= DASK_WORKERS_MAX);
		for (i = 0; i < n; i++) {
			check_worker(&w[i]);
			if (i > 0)
				ASSERT(strcmp(w[i - 1].address,
				    w[i].address) < 0);
		}
		ASSERT(nd <= DASK_WORKERS_MAX && (nd == 0 || d != NULL));
		for (i = 0; i < nd; i++) {
			ASSERT(memchr(d[i].address, '\0',
			    sizeof(d[i].address)) != NULL);
			ASSERT(d[i].keys >= 0 && d[i].unique_keys >= 0 &&
			    d[i].unique_keys <= d[i].keys && d[i].bytes >= 0);
			ASSERT(i == 0 || strcmp(d[i - 1].address,
			    d[i].address) < 0);
			ASSERT(dask_departure_find(d, nd, d[i].address) ==
			    &d[i]);
		}
		free(w);
		free(d);
		break;
	case 3:
		rc = dask_parse_retire(buf, len, RETIRE_ADDR, err,
		    sizeof(err));
		ASSERT(rc >= -1 && rc <= 1);
		break;
	case 6: {
		int pid = -1;

		rc = dask_parse_forked(buf, len, &pid, err, sizeof(err));
		ASSERT(rc == 0 || rc == -1);
		ASSERT(rc == -1 ? pid == 0 : pid > 1);
		break;
	}
	case 5: {
		int64_t seq = -1;

		rc = dask_parse_changes(buf, len, &seq, err, sizeof(err));
		ASSERT(rc == 0 || rc == -1);
		ASSERT(rc == -1 ? seq == 0 : seq >= 0);
		break;
	}
	default:
		rc = dask_parse_drain(buf, len, RETIRE_ADDR, &di, err,
		    sizeof(err));
		ASSERT(rc >= -1 && rc <= 1);
		if (rc == 1)
			ASSERT(di.processing >= 0 && di.keys >= 0 &&
			    di.unique_keys >= 0 && di.unique_keys <= di.keys &&
			    di.processing <= 1000000000 &&
			    di.keys <= 1000000000 && di.bytes >= -1 &&
			    !(di.draining && di.gone));
		else
			ASSERT(!di.draining && !di.gone && di.processing == 0 &&
			    di.keys == 0 && di.unique_keys == 0);
		break;
	}
	check_err(err, sizeof(err));
	return 0;
}
