/* metrics: see metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
histogram_init(struct histogram *h, const double *bounds, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = n;
	h->counts = xcalloc(n + 1, sizeof(*h->counts));
}

void
histogram_observe(struct histogram *h, double v)
{
	size_t i = 0;

	if (!isfinite(v))
		return;
	while (i < h->nbounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}

void
histogram_free(struct histogram *h)
{
	free(h->counts);
	h->counts = NULL;
}

void
metrics_header(struct strbuf *b, const char *name, const char *type,
    const char *help)
{
	strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escape backslash, double quote and newline. */
static void
label_value(struct strbuf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			strbuf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			strbuf_printf(b, "\\n");
		else
			strbuf_printf(b, "%c", *v);
	}
}

static void
value(struct strbuf *b, double v)
{
	if (isnan(v))
		strbuf_printf(b, "NaN");
	else if (isinf(v))
		strbuf_printf(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == (double)(int64_t)v && fabs(v) < 1e15)
		strbuf_printf(b, "%lld", (long long)v);
	else
		strbuf_printf(b, "%.9g", v);
}

void
metrics_sample(struct strbuf *b, const char *name, const char *const *labels,
    double v)
{
	size_t i;

	strbuf_printf(b, "%s", name);
	if (labels != NULL && labels[0] != NULL) {
		strbuf_printf(b, "{");
		for (i = 0; labels[i] != NULL && labels[i + 1] != NULL;
		    i += 2) {
			strbuf_printf(b, "%s%s=\"", i > 0 ? "," : "", labels[i]);
			label_value(b, labels[i + 1]);
			strbuf_printf(b, "\"");
		}
		strbuf_printf(b, "}");
	}
	strbuf_printf(b, " ");
	value(b, v);
	strbuf_printf(b, "\n");
}

void
metrics_histogram(struct strbuf *b, const char *name, const struct histogram *h)
{
	uint64_t cum = 0;
	char le[64], bucket[128];
	size_t i;

	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	for (i = 0; i <= h->nbounds; i++) {
		const char *labels[] = { "le", le, NULL };

		cum += h->counts[i];
		if (i < h->nbounds)
			snprintf(le, sizeof(le), "%g", h->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		metrics_sample(b, bucket, labels, (double)cum);
	}
	strbuf_printf(b, "%s_sum ", name);
	value(b, h->sum);
	strbuf_printf(b, "\n%s_count %llu\n", name,
	    (unsigned long long)h->count);
}
