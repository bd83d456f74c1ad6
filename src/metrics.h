/*
 * metrics: Prometheus text exposition (format 0.0.4) for GET /metrics:
 * a growable text buffer, HELP/TYPE headers, samples with escaped label
 * values, and fixed-bucket histograms.
 */
#ifndef EDASK_METRICS_H
#define EDASK_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct histogram {
	const double	*bounds;	/* ascending upper bounds, borrowed */
	size_t		 nbounds;
	uint64_t	*counts;	/* per bucket, not cumulative; +1 for
					   +Inf */
	double		 sum;
	uint64_t	 count;
};

void histogram_init(struct histogram *h, const double *bounds, size_t n);
void histogram_observe(struct histogram *h, double v);
void histogram_free(struct histogram *h);

/* "# HELP name help" and "# TYPE name type" */
void metrics_header(struct strbuf *b, const char *name, const char *type,
    const char *help);
/* name{k1="v1",...} value; labels: NULL-terminated key, value pairs. */
void metrics_sample(struct strbuf *b, const char *name,
    const char *const *labels, double value);
void metrics_histogram(struct strbuf *b, const char *name,
    const struct histogram *h);

#endif
