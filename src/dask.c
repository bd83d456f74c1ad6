/* dask: see dask.h. */
#include "dask.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

enum call_kind { CALL_HEALTH, CALL_METRICS, CALL_TARGET, CALL_IDENTITY,
    CALL_RETIRE, CALL_DRAIN, CALL_CHANGES };

struct call {
	struct dask	*d;
	enum call_kind	 kind;
	uint64_t	 req;
	void		*arg;		/* the user's */
	dask_health_cb	 health_cb;
	dask_retire_cb	 retire_cb;
	dask_drain_cb	 drain_cb;
	dask_changes_cb	 changes_cb;
	char		 address[DASK_ADDR_MAX];
	char		*body;		/* a retirement's, to ask again */
	int64_t		 timeout_ms;
	struct call	*next;
};

struct dask {
	struct http	*http;
	char		*base;
	struct call	*calls;
	/* the observation being gathered */
	bool		 observing;
	int		 obs_left;
	struct dask_obs	 obs;
	dask_obs_cb	 obs_cb;
	void		*obs_arg;
	/* where the workers come from: edask's preload route, or
	 * identity.json for a scheduler without it (HTTP 404) */
	bool		 identity_only;
	/* how workers are retired: through edask's preload, which keeps
	 * retirements and scatters apart, or Dask's own route (HTTP 404) */
	bool		 retire_plain;
};

#define WORKERS_PATH	"/api/v1/edask/workers"
#define IDENTITY_PATH	"/json/identity.json"
#define RETIRE_PATH	"/api/v1/edask/retire_workers"
#define RETIRE_PLAIN	"/api/v1/retire_workers"

struct dask *
dask_new(struct http *h, const char *base)
{
	struct dask *d = xcalloc(1, sizeof(*d));

	d->http = h;
	d->base = xstrdup(base);
	return d;
}

static void
call_free(struct call *c)
{
	free(c->body);
	free(c);
}

static void
call_unlink(struct dask *d, struct call *c)
{
	struct call **pp;

	for (pp = &d->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

static void
obs_reset(struct dask *d)
{
	free(d->obs.workers);
	free(d->obs.departed);
	memset(&d->obs, 0, sizeof(d->obs));
	d->observing = false;
}

void
dask_free(struct dask *d)
{
	if (d == NULL)
		return;
	while (d->calls != NULL) {
		struct call *c = d->calls;

		d->calls = c->next;
		http_cancel(d->http, c->req);
		call_free(c);
	}
	obs_reset(d);
	free(d->base);
	free(d);
}

static void on_reply(const struct http_reply *r, void *arg);

static struct call *
call_start(struct dask *d, enum call_kind kind, const char *path,
    const char *body, int64_t timeout_ms, void *arg)
{
	struct call *c = xcalloc(1, sizeof(*c));
	char *url = xasprintf("%s%s", d->base, path);

	c->d = d;
	c->kind = kind;
	c->arg = arg;
	c->next = d->calls;
	d->calls = c;
	c->req = http_request(d->http, url, body, timeout_ms, on_reply, c);
	free(url);
	return c;
}

void
dask_health(struct dask *d, int64_t timeout_ms, dask_health_cb cb, void *arg)
{
	struct call *c = call_start(d, CALL_HEALTH, "/health", NULL,
	    timeout_ms, arg);

	c->health_cb = cb;
}

int
dask_observe(struct dask *d, int64_t timeout_ms, dask_obs_cb cb, void *arg)
{
	if (d->observing)
		return -1;
	obs_reset(d);
	d->observing = true;
	d->obs.ok = true;
	d->obs_cb = cb;
	d->obs_arg = arg;
	d->obs_left = 3;
	call_start(d, CALL_METRICS, "/metrics", NULL, timeout_ms, arg);
	call_start(d, CALL_TARGET, "/api/v1/adaptive_target", NULL,
	    timeout_ms, arg);
	call_start(d, CALL_IDENTITY, d->identity_only ? IDENTITY_PATH :
	    WORKERS_PATH, NULL, timeout_ms, arg);
	return 0;
}

void
dask_retire(struct dask *d, const char *address, int64_t timeout_ms,
    dask_retire_cb cb, void *arg)
{
	json_t *body = json_pack("{s:[s]}", "workers", address);
	char *text = json_dumps(body, JSON_COMPACT);
	struct call *c;

	/* a scheduler without the preload's workers route has no
	 * retirement route either */
	c = call_start(d, CALL_RETIRE, d->retire_plain || d->identity_only ?
	    RETIRE_PLAIN : RETIRE_PATH, text, timeout_ms, arg);
	c->retire_cb = cb;
	c->body = text;
	c->timeout_ms = timeout_ms;
	strlcpy_(c->address, address, sizeof(c->address));
	json_decref(body);
}

void
dask_drain(struct dask *d, const char *address, bool drain,
    int64_t timeout_ms, dask_drain_cb cb, void *arg)
{
	json_t *body = json_pack("{s:[s],s:b}", "workers", address, "drain",
	    drain);
	char *text = json_dumps(body, JSON_COMPACT);
	struct call *c;

	c = call_start(d, CALL_DRAIN, "/api/v1/edask/drain", text, timeout_ms,
	    arg);
	c->drain_cb = cb;
	strlcpy_(c->address, address, sizeof(c->address));
	free(text);
	json_decref(body);
}

void
dask_changes(struct dask *d, int64_t since, int64_t wait_ms,
    dask_changes_cb cb, void *arg)
{
	char path[128];
	struct call *c;

	snprintf(path, sizeof(path), "/api/v1/edask/changes?since=%lld"
	    "&timeout=%.3f", (long long)since, (double)wait_ms / 1000.0);
	/* the HTTP timeout leaves the scheduler time to answer */
	c = call_start(d, CALL_CHANGES, path, NULL, wait_ms + 5000, arg);
	c->changes_cb = cb;
}

void
dask_cancel(struct dask *d, void *arg)
{
	struct call **pp = &d->calls;
	bool obs_cancelled = false;

	while (*pp != NULL) {
		struct call *c = *pp;

		if (c->arg == arg) {
			*pp = c->next;
			http_cancel(d->http, c->req);
			if (c->kind == CALL_METRICS || c->kind == CALL_TARGET ||
			    c->kind == CALL_IDENTITY)
				obs_cancelled = true;
			call_free(c);
		} else {
			pp = &c->next;
		}
	}
	if (obs_cancelled)
		obs_reset(d);
}

/* Records the first failure of an observation; later ones add nothing. */
static void
obs_fail(struct dask *d, const char *what, const char *why)
{
	if (!d->obs.ok)
		return;
	d->obs.ok = false;
	snprintf(d->obs.error, sizeof(d->obs.error), "%s: %s", what, why);
}

static void
obs_part(struct dask *d, enum call_kind kind, const struct http_reply *r)
{
	const char *path[] = {
		[CALL_METRICS] = "/metrics",
		[CALL_TARGET] = "/api/v1/adaptive_target",
		[CALL_IDENTITY] = d->identity_only ? IDENTITY_PATH :
		    WORKERS_PATH,
	};
	char err[200], why[96];
	int rc = 0;

	if (r->status == 0) {
		obs_fail(d, path[kind], r->error);
		return;
	}
	if (r->status == 404 && kind == CALL_IDENTITY && !d->identity_only) {
		/* a scheduler started without edask's preload: its workers
		 * from identity.json from the next observation on */
		d->identity_only = true;
		obs_fail(d, path[kind], "HTTP 404 (no edask preload); "
		    "reading " IDENTITY_PATH " from now on");
		return;
	}
	if (r->status != 200) {
		snprintf(why, sizeof(why), "HTTP %d", r->status);
		obs_fail(d, path[kind], why);
		return;
	}
	err[0] = '\0';
	switch (kind) {
	case CALL_METRICS:
		rc = dask_parse_metrics(r->body, r->len, &d->obs.metrics, err,
		    sizeof(err));
		break;
	case CALL_TARGET:
		rc = dask_parse_target(r->body, r->len, &d->obs.target, err,
		    sizeof(err));
		break;
	case CALL_IDENTITY:
		rc = d->identity_only ? dask_parse_identity(r->body, r->len,
		    &d->obs.workers, &d->obs.nworkers, err, sizeof(err)) :
		    dask_parse_workers(r->body, r->len, &d->obs.workers,
		    &d->obs.nworkers, &d->obs.departed, &d->obs.ndeparted, err,
		    sizeof(err));
		break;
	default:
		ASSERT(0);
	}
	if (rc != 0)
		obs_fail(d, path[kind], err);
}

static void
on_reply(const struct http_reply *r, void *arg)
{
	struct call *c = arg;
	struct dask *d = c->d;
	char msg[256];
	int rc;

	call_unlink(d, c);
	switch (c->kind) {
	case CALL_HEALTH:
		if (r->status == 200)
			c->health_cb(true, "", c->arg);
		else if (r->status == 0)
			c->health_cb(false, r->error, c->arg);
		else {
			snprintf(msg, sizeof(msg), "HTTP %d", r->status);
			c->health_cb(false, msg, c->arg);
		}
		break;
	case CALL_METRICS:
	case CALL_TARGET:
	case CALL_IDENTITY:
		obs_part(d, c->kind, r);
		if (--d->obs_left == 0) {
			dask_obs_cb cb = d->obs_cb;
			void *oarg = d->obs_arg;

			d->observing = false;
			cb(&d->obs, oarg);
		}
		break;
	case CALL_RETIRE:
		if (r->status == 404 && !d->retire_plain &&
		    !d->identity_only) {
			/* started without edask's preload: Dask's own route
			 * from now on */
			struct call *again;

			d->retire_plain = true;
			again = call_start(d, CALL_RETIRE, RETIRE_PLAIN,
			    c->body, c->timeout_ms, c->arg);
			again->retire_cb = c->retire_cb;
			again->body = c->body;
			again->timeout_ms = c->timeout_ms;
			strlcpy_(again->address, c->address,
			    sizeof(again->address));
			c->body = NULL;
			break;
		}
		if (r->status != 200) {
			if (r->status == 0)
				snprintf(msg, sizeof(msg), "%s", r->error);
			else
				snprintf(msg, sizeof(msg),
				    "scheduler answered HTTP %d", r->status);
			c->retire_cb(-1, msg, c->arg);
			break;
		}
		rc = dask_parse_retire(r->body, r->len, c->address, msg,
		    sizeof(msg));
		if (rc == 0)
			snprintf(msg, sizeof(msg), "the scheduler refused to "
			    "retire it (Dask refuses when no other worker can "
			    "take its data)");
		else if (rc == 1)
			msg[0] = '\0';
		c->retire_cb(rc, msg, c->arg);
		break;
	case CALL_CHANGES: {
		int64_t seq = 0;

		if (r->status != 200) {
			if (r->status == 0)
				snprintf(msg, sizeof(msg), "%s", r->error);
			else
				snprintf(msg, sizeof(msg), "scheduler answered "
				    "HTTP %d", r->status);
			c->changes_cb(r->status == 404 ? -2 : -1, 0, msg,
			    c->arg);
			break;
		}
		msg[0] = '\0';
		rc = dask_parse_changes(r->body, r->len, &seq, msg,
		    sizeof(msg));
		c->changes_cb(rc, seq, msg, c->arg);
		break;
	}
	case CALL_DRAIN: {
		struct dask_drain_info di;

		memset(&di, 0, sizeof(di));
		if (r->status != 200) {
			if (r->status == 0)
				snprintf(msg, sizeof(msg), "%s", r->error);
			else
				snprintf(msg, sizeof(msg), "scheduler answered "
				    "HTTP %d%s", r->status, r->status == 404 ?
				    " (started without edask's preload)" : "");
			c->drain_cb(r->status == 404 ? -2 : -1, &di, msg,
			    c->arg);
			break;
		}
		msg[0] = '\0';
		rc = dask_parse_drain(r->body, r->len, c->address, &di, msg,
		    sizeof(msg));
		c->drain_cb(rc, &di, msg, c->arg);
		break;
	}
	}
	call_free(c);
}
