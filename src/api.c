/* api: see api.h. */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console.h"
#include "events.h"
#include "instance.h"
#include "loop.h"
#include "request.h"
#include "spec.h"
#include "util.h"

#define EVENTS_LIMIT_DEFAULT	1000
#define EVENTS_LIMIT_MAX	10000
#define EVENTS_WAIT_MAX_S	60	/* longest long-poll */
#define WAIT_POLL_MS		100
/*
 * A request's header and body must arrive within this of its start (the
 * connection's accept, or the end of its previous request): MHD's own
 * timeout is one of inactivity, which a client that trickles a byte now
 * and then never meets.
 */
#define REQUEST_DEADLINE_MS	10000
#define SWEEP_MS		500
#define CONN_MAX		4096	/* open connections, fds allowing */
#define CONN_FDS_SPARE		256	/* fds kept for the rest */

/*
 * Per connection, from MHD's notify-connection callback: while a request
 * is being read (in_request), its start, for the deadline sweep.
 */
struct aconn {
	int		 fd;
	bool		 in_request;
	bool		 cut;		/* shut down by us */
	int64_t		 start_ms;
	struct aconn	*prev, *next;	/* oldest first */
};

/* Per request: the body so far, and the long-poll state. */
struct req {
	char		*body;
	size_t		 len;
	bool		 too_big;
	bool		 waiting;	/* suspended in a long-poll */
	bool		 resumed;
	bool		 authorized;	/* carried the token: secrets shown */
	uint64_t	 since;
	int64_t		 deadline_ms;
	struct MHD_Connection *conn;
	struct req	*next_wait;
};

struct api {
	struct loop	*loop;
	struct ctl	*ctl;
	struct MHD_Daemon *mhd;
	int		 lfd;
	int		 epfd;
	uint64_t	 timer;
	char		*token;		/* mutations need it */
	bool		 reads_need_token;
	char		 listen_host[256];	/* as bound, lower case */
	char		 hostname[256];		/* gethostname(), lower */
	struct req	*waits;		/* suspended long-polls */
	uint64_t	 wait_timer;
	struct aconn	*conns, *conns_tail;
	size_t		 nconns, conn_max;
	uint64_t	 sweep_timer;
};


int
api_parse_listen(const char *addr, char *host, size_t hostlen, int *port,
    char *err, size_t errlen)
{
	const char *colon, *h = addr;
	size_t hl;
	char *end;
	long p;

	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (rb == NULL || rb[1] != ':')
			goto bad;
		h = addr + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL)
			goto bad;
		hl = (size_t)(colon - addr);
	}
	if (hl == 0 || hl >= hostlen)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 0 ||
	    p > 65535)
		goto bad;
	*port = (int)p;
	return 0;
bad:
	return seterr(err, errlen, "bad listen address \"%s\" (use HOST:PORT, "
	    "e.g. 127.0.0.1:8780)", addr);
}

static void api_pump(struct api *a);

/* MHD's own timeout: run it, and again after its next one. */
static int64_t
on_timer(void *arg)
{
	struct api *a = arg;
	MHD_UNSIGNED_LONG_LONG to;

	MHD_run(a->mhd);
	if (MHD_get_timeout(a->mhd, &to) == MHD_YES)
		return (int64_t)to;
	a->timer = 0;
	return LOOP_NOMORE;
}

/* Runs MHD and re-arms its timeout. */
static void
api_pump(struct api *a)
{
	MHD_UNSIGNED_LONG_LONG to;

	MHD_run(a->mhd);
	loop_timer_clear(a->loop, &a->timer);
	if (MHD_get_timeout(a->mhd, &to) == MHD_YES)
		a->timer = loop_timer_add(a->loop, (int64_t)to, on_timer, a);
}

static void
on_epoll(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	api_pump(arg);
}

/*
 * A response of body (new: the response frees it) with its Content-Type;
 * no_store adds Cache-Control: no-store, which every reply but the
 * metrics carries.
 */
static struct MHD_Response *
response_new(char *body, const char *type, bool no_store)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", type);
	if (no_store)
		MHD_add_response_header(r, "Cache-Control", "no-store");
	return r;
}

/* Queues r with status; the connection keeps what it needs of r. */
static enum MHD_Result
reply_queue(struct MHD_Connection *conn, unsigned status,
    struct MHD_Response *r)
{
	enum MHD_Result ret = MHD_queue_response(conn, status, r);

	MHD_destroy_response(r);
	return ret;
}

/* doc (taken) as every JSON reply reads: indented, keys sorted, a newline
 * at the end. */
static struct MHD_Response *
json_response(json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS |
	    JSON_REAL_PRECISION(6));
	size_t len;

	json_decref(doc);
	if (text == NULL)
		text = xstrdup("{\"error\": \"cannot encode reply\"}");
	len = strlen(text);
	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	return response_new(text, "application/json", true);
}

static enum MHD_Result
reply_json(struct MHD_Connection *conn, unsigned status, json_t *doc)
{
	return reply_queue(conn, status, json_response(doc));
}

static enum MHD_Result
reply_unauthorized(struct MHD_Connection *conn)
{
	struct MHD_Response *r;

	r = json_response(json_pack("{s:s}", "error", "missing or wrong "
	    "token: send Authorization: Bearer <token>; the token is in the "
	    "state folder's token file (the CLI reads it, or $EDASK_TOKEN)"));
	MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
	return reply_queue(conn, 401, r);
}

static enum MHD_Result
reply_metrics(struct MHD_Connection *conn, struct api *a)
{
	return reply_queue(conn, 200, response_new(ctl_metrics_text(a->ctl),
	    "text/plain; version=0.0.4; charset=utf-8", false));
}

static enum MHD_Result
reply_html(struct MHD_Connection *conn, struct api *a, const char *url)
{
	int status;
	char *html = console_render(a->ctl, url, &status);

	return reply_queue(conn, (unsigned)status,
	    response_new(html, "text/html; charset=utf-8", true));
}

static enum MHD_Result
reply_error(struct MHD_Connection *conn, unsigned status, const char *fmt,
    ...) PRINTF(3, 4);

static enum MHD_Result
reply_error(struct MHD_Connection *conn, unsigned status, const char *fmt,
    ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply_json(conn, status, json_pack("{s:s}", "error", msg));
}

static void
wait_unlink(struct api *a, struct req *rq)
{
	struct req **pp;

	for (pp = &a->waits; *pp != NULL; pp = &(*pp)->next_wait) {
		if (*pp == rq) {
			*pp = rq->next_wait;
			break;
		}
	}
	rq->waiting = false;
}

/* Resumes the long-polls that have news or have waited long enough. */
static int64_t
on_wait_timer(void *arg)
{
	struct api *a = arg;
	uint64_t last = events_last_seq(ctl_events(a->ctl));
	int64_t now = mono_ms();
	struct req *rq, *next;

	for (rq = a->waits; rq != NULL; rq = next) {
		next = rq->next_wait;
		if (last > rq->since || now >= rq->deadline_ms) {
			wait_unlink(a, rq);
			rq->resumed = true;
			MHD_resume_connection(rq->conn);
		}
	}
	api_pump(a);
	if (a->waits != NULL)
		return WAIT_POLL_MS;
	a->wait_timer = 0;
	return LOOP_NOMORE;
}

static enum MHD_Result
route_events(struct api *a, struct MHD_Connection *conn, struct req *rq)
{
	const char *inst = MHD_lookup_connection_value(conn,
	    MHD_GET_ARGUMENT_KIND, "instance");
	uint64_t since, limit, wait;

	if (inst != NULL && inst[0] == '\0')
		inst = NULL;
	if (request_query_uint(MHD_lookup_connection_value(conn,
	    MHD_GET_ARGUMENT_KIND, "since"), 0, UINT64_MAX / 2, &since) == -1)
		return reply_error(conn, 400, "since must be an event "
		    "sequence number (a non-negative integer)");
	if (request_query_uint(MHD_lookup_connection_value(conn,
	    MHD_GET_ARGUMENT_KIND, "limit"), EVENTS_LIMIT_DEFAULT,
	    EVENTS_LIMIT_MAX, &limit) == -1 || limit == 0)
		return reply_error(conn, 400, "limit must be an integer from "
		    "1 to %d", EVENTS_LIMIT_MAX);
	if (request_query_uint(MHD_lookup_connection_value(conn,
	    MHD_GET_ARGUMENT_KIND, "wait"), 0, EVENTS_WAIT_MAX_S, &wait) == -1)
		return reply_error(conn, 400, "wait must be a number of seconds "
		    "from 0 to %d", EVENTS_WAIT_MAX_S);
	if (inst != NULL && !ctl_has_instance(a->ctl, inst))
		return reply_error(conn, 404, "no instance named \"%.64s\"",
		    inst);
	/* long-poll: nothing newer than since yet, so hold the request (the
	 * connection is suspended; the loop goes on) */
	if (wait > 0 && !rq->resumed &&
	    events_last_seq(ctl_events(a->ctl)) <= since) {
		rq->waiting = true;
		rq->since = since;
		rq->deadline_ms = mono_ms() + (int64_t)wait * 1000;
		rq->conn = conn;
		rq->next_wait = a->waits;
		a->waits = rq;
		MHD_suspend_connection(conn);
		if (a->wait_timer == 0)
			a->wait_timer = loop_timer_add(a->loop, WAIT_POLL_MS,
			    on_wait_timer, a);
		return MHD_YES;
	}
	return reply_json(conn, 200, events_to_json(ctl_events(a->ctl), inst,
	    since, (size_t)limit));
}

static bool
is_read(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static bool
is_console_page(const char *url)
{
	return strcmp(url, "/") == 0 || strncmp(url, "/instances/", 11) == 0;
}

static unsigned
ctl_status(int rc)
{
	switch (rc) {
	case CTL_ENOENT:
		return 404;
	case CTL_ECONFLICT:
		return 409;
	case CTL_ESHUTDOWN:
	case CTL_ESTORE:
		return 503;
	default:
		return 400;
	}
}

/* POST /v1/instances: the body is a spec, YAML or JSON (JSON is YAML). */
static enum MHD_Result
route_deploy(struct api *a, struct MHD_Connection *conn, struct req *rq)
{
	static const char *result[] = { "created", "unchanged", "updated" };
	enum ctl_deployed what;
	struct spec *spec;
	char err[1024], name[SPEC_NAME_MAX + 1];
	json_t *doc;
	int rc;

	if (rq->len == 0)
		return reply_error(conn, 400, "expected an instance spec (YAML "
		    "or JSON) as the request body");
	if (spec_parse(rq->body, rq->len, "request", &spec, err,
	    sizeof(err)) == -1)
		return reply_error(conn, 400, "%s", err);
	strlcpy_(name, spec->name, sizeof(name));
	rc = ctl_deploy(a->ctl, spec, &what, err, sizeof(err));
	if (rc != 0)
		return reply_error(conn, ctl_status(rc), "%s", err);
	doc = ctl_instance_json(a->ctl, name, rq->authorized);
	json_object_set_new(doc, "result", json_string(result[what]));
	return reply_json(conn, what == CTL_CREATED ? 201 : 200, doc);
}

static enum MHD_Result
route_instance(struct api *a, struct MHD_Connection *conn, struct req *rq,
    const char *method, const char *url)
{
	const char *name = url + 14, *slash = strchr(name, '/');
	char n[SPEC_NAME_MAX + 1], err[1024];
	struct request_scale sc;
	const char *action = NULL;
	bool removed;
	json_t *doc;
	int rc;

	if (slash != NULL) {
		action = slash + 1;
		if ((size_t)(slash - name) > SPEC_NAME_MAX ||
		    (strcmp(action, "start") != 0 &&
		    strcmp(action, "stop") != 0 &&
		    strcmp(action, "history") != 0))
			return reply_error(conn, 404, "no route %s %.200s",
			    method, url);
		snprintf(n, sizeof(n), "%.*s", (int)(slash - name), name);
		name = n;
	}
	if (strlen(name) > SPEC_NAME_MAX || !ctl_has_instance(a->ctl, name)) {
		if (action == NULL && strcmp(method, "DELETE") == 0 &&
		    spec_name_valid(name))
			return reply_json(conn, 200, json_pack("{s:s,s:s}",
			    "name", name, "result", "absent"));
		return reply_error(conn, 404, "no instance named \"%.64s\"",
		    name);
	}
	if (action != NULL && strcmp(action, "history") == 0) {
		uint64_t since;

		if (!is_read(method))
			return reply_error(conn, 405, "%s is not allowed on "
			    "%.200s", method, url);
		if (request_query_uint(MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "since_ms"), 0, INT64_MAX / 2,
		    &since) == -1)
			return reply_error(conn, 400, "since_ms must be a time "
			    "in milliseconds since the epoch");
		return reply_json(conn, 200, ctl_history_json(a->ctl, name,
		    (int64_t)since));
	}
	if (action != NULL) {
		if (strcmp(method, "POST") != 0)
			return reply_error(conn, 405, "%s is not allowed on "
			    "%.200s", method, url);
		rc = strcmp(action, "start") == 0 ?
		    ctl_start(a->ctl, name, err, sizeof(err)) :
		    ctl_stop(a->ctl, name, err, sizeof(err));
		if (rc != 0)
			return reply_error(conn, ctl_status(rc), "%s", err);
		return reply_json(conn, 200, ctl_instance_json(a->ctl, name,
		    rq->authorized));
	}
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return reply_json(conn, 200, ctl_instance_json(a->ctl, name,
		    rq->authorized));
	if (strcmp(method, "PATCH") == 0) {
		if (request_parse_scale(rq->body, rq->len, &sc, err,
		    sizeof(err)) == -1)
			return reply_error(conn, 400, "%s", err);
		rc = ctl_scale(a->ctl, name, sc.has_min, sc.min, sc.has_max,
		    sc.max, err, sizeof(err));
		if (rc != 0)
			return reply_error(conn, ctl_status(rc), "%s", err);
		return reply_json(conn, 200, ctl_instance_json(a->ctl, name,
		    rq->authorized));
	}
	if (strcmp(method, "DELETE") == 0) {
		rc = ctl_undeploy(a->ctl, name, &removed, err, sizeof(err));
		if (rc != 0)
			return reply_error(conn, ctl_status(rc), "%s", err);
		doc = json_pack("{s:s,s:s}", "name", name, "result",
		    removed ? "removed" : "removing");
		return reply_json(conn, removed ? 200 : 202, doc);
	}
	return reply_error(conn, 405, "%s is not allowed on %.200s", method,
	    url);
}

static enum MHD_Result
route(struct api *a, struct MHD_Connection *conn, struct req *rq,
    const char *method, const char *url)
{
	bool get = is_read(method);

	if (strcmp(url, "/healthz") == 0) {
		const char *why = ctl_degraded(a->ctl);

		if (!get)
			goto not_allowed;
		if (why != NULL)
			return reply_json(conn, 503, json_pack("{s:b,s:s,s:s}",
			    "ok", 0, "degraded", why, "version",
			    EDASK_VERSION));
		return reply_json(conn, 200, json_pack("{s:b,s:s}", "ok", 1,
		    "version", EDASK_VERSION));
	}
	if (strcmp(url, "/v1/instances") == 0) {
		if (strcmp(method, "POST") == 0)
			return route_deploy(a, conn, rq);
		if (!get)
			goto not_allowed;
		return reply_json(conn, 200, ctl_instances_json(a->ctl,
		    rq->authorized));
	}
	if (strncmp(url, "/v1/instances/", 14) == 0)
		return route_instance(a, conn, rq, method, url);
	if (strcmp(url, "/v1/pool") == 0) {
		if (!get)
			goto not_allowed;
		return reply_json(conn, 200, ctl_pool_json(a->ctl));
	}
	if (strcmp(url, "/v1/events") == 0) {
		if (!get)
			goto not_allowed;
		return route_events(a, conn, rq);
	}
	if (strcmp(url, "/metrics") == 0) {
		if (!get)
			goto not_allowed;
		return reply_metrics(conn, a);
	}
	if (strcmp(url, "/") == 0 || strncmp(url, "/instances/", 11) == 0) {
		if (!get)
			goto not_allowed;
		return reply_html(conn, a, url);
	}
	return reply_error(conn, 404, "no route %s %.200s", method, url);
not_allowed:
	return reply_error(conn, 405, "%s is not allowed on %.200s", method,
	    url);
}

/* The connection's record, NULL when MHD did not tell us of it. */
static struct aconn *
aconn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static void
aconn_unlink(struct api *a, struct aconn *ac)
{
	if (ac->prev != NULL)
		ac->prev->next = ac->next;
	else
		a->conns = ac->next;
	if (ac->next != NULL)
		ac->next->prev = ac->prev;
	else
		a->conns_tail = ac->prev;
	ac->prev = ac->next = NULL;
}

static void
aconn_append(struct api *a, struct aconn *ac)
{
	ac->prev = a->conns_tail;
	ac->next = NULL;
	if (a->conns_tail != NULL)
		a->conns_tail->next = ac;
	else
		a->conns = ac;
	a->conns_tail = ac;
}

/* A request starts: headers and body are due within the deadline.  The
 * list stays in order of start, oldest first. */
static void
aconn_request_starts(struct api *a, struct aconn *ac, int64_t now)
{
	ac->in_request = true;
	ac->start_ms = now;
	aconn_unlink(a, ac);
	aconn_append(a, ac);
}

/* Shuts the socket down under MHD, which then reads its end and closes
 * the connection as one the client dropped. */
static void
aconn_cut(struct aconn *ac)
{
	if (ac->cut || ac->fd < 0)
		return;
	ac->cut = true;
	shutdown(ac->fd, SHUT_RDWR);
}

static int64_t
on_sweep(void *arg)
{
	struct api *a = arg;
	int64_t now = mono_ms();
	struct aconn *ac;
	size_t ncut = 0;

	for (ac = a->conns; ac != NULL; ac = ac->next) {
		if (ac->in_request && !ac->cut &&
		    now - ac->start_ms >= REQUEST_DEADLINE_MS) {
			aconn_cut(ac);
			ncut++;
		}
	}
	if (ncut > 0)
		log_debug("api: closed %zu connection(s) whose request did not "
		    "arrive within %d s", ncut, REQUEST_DEADLINE_MS / 1000);
	api_pump(a);
	if (a->conns != NULL)
		return SWEEP_MS;
	a->sweep_timer = 0;
	return LOOP_NOMORE;
}

/*
 * MHD tells of each connection.  When nearly every slot is taken, the
 * oldest connection still sending its request gives its place up: a
 * client that opens sockets and trickles into them cannot keep a new
 * one, such as a health check, out.
 */
static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct api *a = cls;
	const union MHD_ConnectionInfo *ci;
	struct aconn *ac, *old;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		ac = *socket_context;
		if (ac != NULL) {
			aconn_unlink(a, ac);
			a->nconns--;
			free(ac);
			*socket_context = NULL;
		}
		return;
	}
	ac = xcalloc(1, sizeof(*ac));
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	ac->fd = ci != NULL ? ci->connect_fd : -1;
	ac->in_request = true;
	ac->start_ms = mono_ms();
	aconn_append(a, ac);
	a->nconns++;
	*socket_context = ac;
	if (a->nconns + 8 > a->conn_max) {
		for (old = a->conns; old != NULL; old = old->next)
			if (old != ac && old->in_request && !old->cut)
				break;
		if (old != NULL)
			aconn_cut(old);
	}
	if (a->sweep_timer == 0)
		a->sweep_timer = loop_timer_add(a->loop, SWEEP_MS, on_sweep, a);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct api *a = cls;
	struct req *rq = *con_cls;
	struct aconn *ac;
	const char *host;
	bool authorized;

	(void)version;
	if (rq == NULL) {
		rq = xcalloc(1, sizeof(*rq));
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!rq->too_big) {
			if (rq->len + *upload_data_size > API_BODY_MAX) {
				rq->too_big = true;
			} else {
				rq->body = xrealloc(rq->body,
				    rq->len + *upload_data_size + 1);
				memcpy(rq->body + rq->len, upload_data,
				    *upload_data_size);
				rq->len += *upload_data_size;
				rq->body[rq->len] = '\0';
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* the whole request is in: no deadline while it is answered */
	if ((ac = aconn_of(conn)) != NULL)
		ac->in_request = false;
	if (rq->too_big)
		return reply_error(conn, 413, "request body larger than %u "
		    "bytes", API_BODY_MAX);
	host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	if (!request_host_allowed(host, a->listen_host, a->hostname))
		return reply_error(conn, 403, "Host \"%.100s\" is not a name "
		    "of this API: use its address, localhost or this "
		    "machine's host name (other names are refused against DNS "
		    "rebinding)", host);
	if (a->ctl == NULL)
		return reply_error(conn, 503, "starting");
	/* every change needs the token; reads too when the API listens
	 * beyond loopback, but for the health check and the console's page,
	 * which holds no data (a browser cannot send a header when it opens
	 * a page; the page asks for the token and sends it itself) */
	authorized = request_auth_ok(MHD_lookup_connection_value(conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), a->token);
	if ((!is_read(method) || (a->reads_need_token &&
	    strcmp(url, "/healthz") != 0 && !is_console_page(url))) &&
	    !authorized)
		return reply_unauthorized(conn);
	rq->authorized = authorized;
	return route(a, conn, rq, method, url);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct api *a = cls;
	struct req *rq = *con_cls;
	struct aconn *ac = aconn_of(conn);

	(void)toe;
	/* kept alive: the next request is due within the deadline too */
	if (ac != NULL)
		aconn_request_starts(a, ac, mono_ms());
	if (rq != NULL) {
		if (rq->waiting)
			wait_unlink(a, rq);
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

static bool
url_is_loopback(const char *url)
{
	return strncmp(url, "http://127.", 11) == 0 ||
	    strncmp(url, "http://[::1]", 12) == 0;
}

static int
bind_listen(const char *addr, char *url, size_t urllen, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], portstr[16], bound[INET6_ADDRSTRLEN];
	int port, fd, one = 1, rc;

	if (api_parse_listen(addr, host, sizeof(host), &port, err,
	    errlen) == -1)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0)
		return seterr(err, errlen, "listen %s: %s", addr,
		    gai_strerror(rc));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1) {
		freeaddrinfo(res);
		return seterr(err, errlen, "listen %s: %s", addr,
		    strerror(errno));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 128) == -1) {
		int e = errno;

		close(fd);
		freeaddrinfo(res);
		return seterr(err, errlen, "cannot listen on %s: %s%s", addr,
		    strerror(e), e == EADDRINUSE ? " (another edask or "
		    "program uses that port; choose one with --listen)" : "");
	}
	freeaddrinfo(res);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, bound, sizeof(bound));
		snprintf(url, urllen, "http://[%s]:%d", bound,
		    ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, bound, sizeof(bound));
		snprintf(url, urllen, "http://%s:%d", bound,
		    ntohs(s4->sin_port));
	}
	return fd;
}

/*
 * As many connections as CONN_MAX, the soft limit on open files allowing
 * (raised to the hard one first): every slow client holds a descriptor.
 */
static size_t
conn_limit(void)
{
	struct rlimit rl;
	rlim_t want = CONN_MAX + CONN_FDS_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 512;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return CONN_MAX;
	if (rl.rlim_cur < 2 * CONN_FDS_SPARE)
		return (size_t)rl.rlim_cur / 2;
	return (size_t)(rl.rlim_cur - CONN_FDS_SPARE);
}

struct api *
api_new(struct loop *l, struct ctl *c, const char *listen_addr,
    const char *token, bool open_reads, char *url, size_t urllen, char *err,
    size_t errlen)
{
	const union MHD_DaemonInfo *info;
	struct api *a;
	int fd, port;
	size_t i;

	fd = bind_listen(listen_addr, url, urllen, err, errlen);
	if (fd == -1)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	a->loop = l;
	a->ctl = c;
	a->lfd = fd;
	a->token = xstrdup(token);
	if (api_parse_listen(listen_addr, a->listen_host,
	    sizeof(a->listen_host), &port, NULL, 0) == -1)
		a->listen_host[0] = '\0';
	if (gethostname(a->hostname, sizeof(a->hostname)) == -1)
		a->hostname[0] = '\0';
	a->hostname[sizeof(a->hostname) - 1] = '\0';
	for (i = 0; a->hostname[i] != '\0'; i++)
		if (a->hostname[i] >= 'A' && a->hostname[i] <= 'Z')
			a->hostname[i] = (char)(a->hostname[i] - 'A' + 'a');
	a->reads_need_token = !open_reads || !url_is_loopback(url);
	if (!url_is_loopback(url))
		log_warnx("the API listens on %s, beyond loopback: every request "
		    "but /healthz needs the token", url);
	else if (!open_reads)
		log_info("api: open_reads is false: every request but /healthz "
		    "needs the token");
	a->conn_max = conn_limit();
	a->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
	    MHD_ALLOW_SUSPEND_RESUME, 0, NULL,
	    NULL, on_request, a,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, a,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)a->conn_max,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
	    MHD_OPTION_END);
	if (a->mhd == NULL) {
		close(fd);
		free(a->token);
		free(a);
		seterr(err, errlen, "cannot start the HTTP server on %s",
		    listen_addr);
		return NULL;
	}
	info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	a->epfd = info->epoll_fd;
	if (loop_fd_add(l, a->epfd, EPOLLIN, on_epoll, a) == -1)
		fatal("api: epoll");
	api_pump(a);
	return a;
}

void
api_set_ctl(struct api *a, struct ctl *c)
{
	a->ctl = c;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	loop_timer_clear(a->loop, &a->timer);
	loop_timer_clear(a->loop, &a->wait_timer);
	loop_timer_clear(a->loop, &a->sweep_timer);
	while (a->waits != NULL) {
		struct req *rq = a->waits;

		wait_unlink(a, rq);
		MHD_resume_connection(rq->conn);
	}
	loop_fd_del(a->loop, a->epfd);
	MHD_stop_daemon(a->mhd);
	while (a->conns != NULL) {	/* MHD said CLOSED to each, normally */
		struct aconn *ac = a->conns;

		aconn_unlink(a, ac);
		free(ac);
	}
	close(a->lfd);
	free(a->token);
	free(a);
}
