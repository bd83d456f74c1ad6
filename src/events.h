/*
 * events: the decision log.  Every decision edask takes is an event with a
 * wall-clock timestamp, the instance it concerns, a kind ("scale_up",
 * "retire", ...) and a human reason.  Kept in a bounded in-memory ring (the
 * oldest fall off), printed as they happen, served by GET /v1/events.
 */
#ifndef EDASK_EVENTS_H
#define EDASK_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define EVENT_MSG_MAX	512

struct event {
	uint64_t	 seq;		/* 1, 2, ... */
	int64_t		 ts_ms;		/* wall clock */
	char		 instance[40];	/* "" for the daemon itself */
	char		 kind[32];
	char		 message[EVENT_MSG_MAX];
};

struct events;

struct events *events_new(size_t capacity);
void events_free(struct events *e);		/* NULL: no-op */

/* Appends and logs "instance: kind: message"; returns the event
 * (borrowed, valid until EVENT capacity more are added). */
const struct event *events_add(struct events *e, const char *instance,
    const char *kind, const char *fmt, ...) PRINTF(4, 5);

uint64_t events_last_seq(const struct events *e);

/* Called with every event added from now on (e.g. to store it). */
typedef void (*events_sink)(const struct event *ev, void *arg);
void events_set_sink(struct events *e, events_sink fn, void *arg);
/* Seeds the ring with saved events, oldest first, without logging or
 * sinking them; events added later continue their numbering. */
void events_restore(struct events *e, const struct event *evs, size_t n);

/*
 * New JSON {"events": [...], "last_seq": N} of instance (NULL: all),
 * oldest first.  since > 0: the oldest `limit` events with seq > since
 * (page forward by passing the last seq seen); since 0: the newest
 * `limit`.
 */
json_t *events_to_json(const struct events *e, const char *instance,
    uint64_t since, size_t limit);
json_t *event_to_json(const struct event *ev);

#endif
