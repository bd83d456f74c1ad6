/* events: see events.h. */
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct events {
	struct event	*ring;
	size_t		 cap;
	size_t		 count;
	uint64_t	 seq;
	events_sink	 sink;
	void		*sink_arg;
};

struct events *
events_new(size_t capacity)
{
	struct events *e = xcalloc(1, sizeof(*e));

	ASSERT(capacity > 0);
	e->cap = capacity;
	e->ring = xcalloc(capacity, sizeof(*e->ring));
	return e;
}

void
events_free(struct events *e)
{
	if (e == NULL)
		return;
	free(e->ring);
	free(e);
}

const struct event *
events_add(struct events *e, const char *instance, const char *kind,
    const char *fmt, ...)
{
	struct event *ev;
	va_list ap;

	e->seq++;
	ev = &e->ring[(e->seq - 1) % e->cap];
	memset(ev, 0, sizeof(*ev));
	ev->seq = e->seq;
	ev->ts_ms = wall_ms();
	strlcpy_(ev->instance, instance != NULL ? instance : "",
	    sizeof(ev->instance));
	strlcpy_(ev->kind, kind, sizeof(ev->kind));
	va_start(ap, fmt);
	vsnprintf(ev->message, sizeof(ev->message), fmt, ap);
	va_end(ap);
	/* messages quote outside text (a log's last line, what sbatch or
	 * squeue printed on stderr), and the cut may split a character:
	 * the API's JSON needs valid UTF-8 */
	utf8_scrub(ev->message);
	if (e->count < e->cap)
		e->count++;
	if (ev->instance[0] != '\0')
		log_info("[%s] %s: %s", ev->instance, ev->kind, ev->message);
	else
		log_info("%s: %s", ev->kind, ev->message);
	if (e->sink != NULL)
		e->sink(ev, e->sink_arg);
	return ev;
}

void
events_set_sink(struct events *e, events_sink fn, void *arg)
{
	e->sink = fn;
	e->sink_arg = arg;
}

void
events_restore(struct events *e, const struct event *evs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (evs[i].seq <= e->seq)
			continue;	/* out of order: keep the ring sorted */
		e->seq = evs[i].seq;
		e->ring[(e->seq - 1) % e->cap] = evs[i];
		if (e->count < e->cap)
			e->count++;
	}
}

uint64_t
events_last_seq(const struct events *e)
{
	return e->seq;
}

json_t *
event_to_json(const struct event *ev)
{
	char iso[96];
	time_t t = (time_t)(ev->ts_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(iso, sizeof(iso), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ev->ts_ms % 1000));
	return json_pack("{s:I,s:s,s:I,s:s,s:s,s:s}",
	    "seq", (json_int_t)ev->seq, "time", iso,
	    "ts_ms", (json_int_t)ev->ts_ms,
	    "instance", ev->instance, "kind", ev->kind,
	    "message", ev->message);
}

/*
 * Event seq s when the ring still holds it and it is instance's (any
 * instance's for NULL); NULL for a gap or another instance's event.
 */
static const struct event *
ring_event(const struct events *e, uint64_t s, const char *instance)
{
	const struct event *ev = &e->ring[(s - 1) % e->cap];

	if (ev->seq != s || (instance != NULL &&
	    strcmp(ev->instance, instance) != 0))
		return NULL;
	return ev;
}

json_t *
events_to_json(const struct events *e, const char *instance, uint64_t since,
    size_t limit)
{
	json_t *arr = json_array();
	const struct event *ev;
	uint64_t first = e->seq - e->count + 1, s;
	size_t n = 0;

	if (since > 0) {
		/* paging forward: the oldest `limit` after since */
		for (s = since + 1 > first ? since + 1 : first;
		    s <= e->seq && n < limit; s++) {
			if ((ev = ring_event(e, s, instance)) == NULL)
				continue;
			json_array_append_new(arr, event_to_json(ev));
			n++;
		}
	} else {
		/* the latest: walk newest to oldest, then reverse */
		for (s = e->seq; s >= first && s > 0 && n < limit; s--) {
			if ((ev = ring_event(e, s, instance)) == NULL)
				continue;
			json_array_insert_new(arr, 0, event_to_json(ev));
			n++;
		}
	}
	return json_pack("{s:o,s:I}", "events", arr, "last_seq",
	    (json_int_t)e->seq);
}
