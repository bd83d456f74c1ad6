/* console: see console.h. */
#include "console.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "instance.h"
#include "util.h"

#define EVENTS_SHOWN	40

struct sb {
	char	*p;
	size_t	 len, cap;
};

static void sb_printf(struct sb *b, const char *fmt, ...) PRINTF(2, 3);

static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->p == NULL) {
		b->cap = 4096;
		b->p = xmalloc(b->cap);
	}
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, room, fmt, ap);
		va_end(ap);
		ASSERT(n >= 0);
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
}

/* Appends s with HTML's special characters escaped. */
static void
sb_esc(struct sb *b, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '<': sb_printf(b, "&lt;"); break;
		case '>': sb_printf(b, "&gt;"); break;
		case '&': sb_printf(b, "&amp;"); break;
		case '"': sb_printf(b, "&quot;"); break;
		case '\'': sb_printf(b, "&#39;"); break;
		default: sb_printf(b, "%c", *s);
		}
	}
}

static const char *
str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static long long
num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (long long)json_real_value(v);
	return -1;
}

static void
head(struct sb *b, const char *title)
{
	sb_printf(b, "<!doctype html><html><head><meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"2\">"
	    "<meta name=\"viewport\" content=\"width=device-width\">"
	    "<title>");
	sb_esc(b, title);
	sb_printf(b, " - edask</title><style>"
	    "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}"
	    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
	    "td,th{padding:.25em .8em;border-bottom:1px solid #ddd;"
	    "text-align:left}th{background:#f3f3f3}"
	    "code{background:#f3f3f3;padding:0 .3em}"
	    ".started{color:#080}.error{color:#b00}.note{color:#666}"
	    "</style></head><body><h1><a href=\"/\">edask</a>");
	if (strcmp(title, "edask") != 0) {
		sb_printf(b, " / ");
		sb_esc(b, title);
	}
	sb_printf(b, "</h1>");
}

static void
outputs(struct sb *b, const json_t *inst)
{
	const json_t *o = json_object_get(inst, "outputs");
	static const char *keys[] = { "dask_scheduler_address",
	    "dask_scheduler_dashboard_address", "console_url" };
	size_t i;

	sb_printf(b, "<table><tr><th>output</th><th>value</th></tr>");
	for (i = 0; i < ARRAY_LEN(keys); i++) {
		sb_printf(b, "<tr><td>%s</td><td><code>", keys[i]);
		sb_esc(b, str(o, keys[i]));
		sb_printf(b, "</code></td></tr>");
	}
	sb_printf(b, "</table>");
}

static void
events_table(struct sb *b, struct ctl *c, const char *instance)
{
	json_t *doc = events_to_json(ctl_events(c), instance, 0,
	    EVENTS_SHOWN);
	json_t *arr = json_object_get(doc, "events"), *e;
	size_t i;

	sb_printf(b, "<h2>Decisions</h2><table><tr><th>time</th>"
	    "<th>instance</th><th>event</th><th>reason</th></tr>");
	for (i = json_array_size(arr); i-- > 0;) {
		char stamp[32];
		time_t t;
		struct tm tm;

		e = json_array_get(arr, i);
		t = (time_t)(num(e, "ts_ms") / 1000);
		localtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		sb_printf(b, "<tr><td>%s</td><td>", stamp);
		sb_esc(b, str(e, "instance"));
		sb_printf(b, "</td><td>");
		sb_esc(b, str(e, "kind"));
		sb_printf(b, "</td><td>");
		sb_esc(b, str(e, "message"));
		sb_printf(b, "</td></tr>");
	}
	sb_printf(b, "</table>");
	json_decref(doc);
}

static void
page_index(struct sb *b, struct ctl *c)
{
	json_t *doc = ctl_instances_json(c), *pool = ctl_pool_json(c);
	json_t *arr = json_object_get(doc, "instances"), *in, *s;
	size_t i;

	head(b, "edask");
	sb_printf(b, "<h2>Instances</h2><table><tr><th>name</th>"
	    "<th>state</th><th>workers</th><th>desired</th><th>min</th>"
	    "<th>max</th><th>scheduler</th></tr>");
	json_array_foreach(arr, i, in) {
		sb_printf(b, "<tr><td><a href=\"/instances/");
		sb_esc(b, str(in, "name"));
		sb_printf(b, "\">");
		sb_esc(b, str(in, "name"));
		sb_printf(b, "</a></td><td class=\"%s\">%s</td>"
		    "<td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td>"
		    "<td><code>", str(in, "state"), str(in, "state"),
		    num(in, "workers_running"), num(in, "desired"),
		    num(in, "min"), num(in, "max"));
		sb_esc(b, str(json_object_get(in, "outputs"),
		    "dask_scheduler_address"));
		sb_printf(b, "</code></td></tr>");
	}
	sb_printf(b, "</table><h2>Pool ");
	sb_esc(b, str(pool, "name"));
	sb_printf(b, ": %lld %s slots, %lld free</h2><table><tr><th>slot</th>"
	    "<th>GPU</th><th>instance</th><th>worker</th><th>state</th>"
	    "<th>util</th></tr>", num(pool, "size"), str(pool, "kind"),
	    num(pool, "free"));
	json_array_foreach(json_object_get(pool, "slots"), i, s) {
		sb_printf(b, "<tr><td>%lld</td><td>", num(s, "slot"));
		if (num(s, "gpu") >= 0)
			sb_printf(b, "%lld", num(s, "gpu"));
		sb_printf(b, "</td><td>");
		sb_esc(b, str(s, "instance")[0] != '\0' ? str(s, "instance") :
		    "free");
		sb_printf(b, "</td><td>");
		sb_esc(b, str(s, "worker"));
		sb_printf(b, "</td><td>");
		sb_esc(b, str(s, "worker_state"));
		sb_printf(b, "</td><td>");
		if (num(s, "util") >= 0)
			sb_printf(b, "%lld%%", num(s, "util"));
		sb_printf(b, "</td></tr>");
	}
	sb_printf(b, "</table>");
	events_table(b, c, NULL);
	json_decref(doc);
	json_decref(pool);
}

static void
page_instance(struct sb *b, struct ctl *c, const json_t *in)
{
	const json_t *sched = json_object_get(in, "scheduler"), *w;
	size_t i;

	head(b, str(in, "name"));
	sb_printf(b, "<p>State <b class=\"%s\">%s</b>: %lld running, %lld "
	    "launching; desired %lld (min %lld, max %lld).</p>",
	    str(in, "state"), str(in, "state"), num(in, "workers_running"),
	    num(in, "workers_launching"), num(in, "desired"), num(in, "min"),
	    num(in, "max"));
	if (str(in, "error")[0] != '\0') {
		sb_printf(b, "<p class=\"error\">");
		sb_esc(b, str(in, "error"));
		sb_printf(b, "</p>");
	}
	sb_printf(b, "<p>Scheduler: queued %lld, processing %lld, no-worker "
	    "%lld, adaptive target %lld.", num(sched, "queued"),
	    num(sched, "processing"), num(sched, "no_worker"),
	    num(sched, "adaptive_target"));
	if (str(in, "hold")[0] != '\0') {
		sb_printf(b, " Held: ");
		sb_esc(b, str(in, "hold"));
		sb_printf(b, ".");
	}
	sb_printf(b, "</p>");
	outputs(b, in);
	sb_printf(b, "<p class=\"note\">Debian's Dask has no bokeh, so the "
	    "scheduler's own dashboard pages are empty; this page is the "
	    "instance's dashboard.</p>");
	sb_printf(b, "<h2>Workers</h2><table><tr><th>id</th><th>state</th>"
	    "<th>slot</th><th>GPU</th><th>pid</th><th>address</th>"
	    "<th>uptime</th><th>memory</th><th>data</th><th>busy tasks</th>"
	    "<th>GPU util</th></tr>");
	json_array_foreach(json_object_get(in, "workers"), i, w) {
		char up[32], mem[32], data[32];

		sb_printf(b, "<tr><td>%s</td><td>%s</td><td>%lld</td><td>",
		    str(w, "id"), str(w, "state"), num(w, "slot"));
		if (num(w, "gpu") >= 0)
			sb_printf(b, "%lld", num(w, "gpu"));
		sb_printf(b, "</td><td>%lld</td><td><code>", num(w, "pid"));
		sb_esc(b, str(w, "address"));
		sb_printf(b, "</code></td><td>%s</td><td>%s</td><td>%s</td>"
		    "<td>%lld</td><td>",
		    fmt_duration(num(w, "uptime_s") * 1000, up, sizeof(up)),
		    num(w, "memory") >= 0 ? fmt_bytes(num(w, "memory"), mem,
		    sizeof(mem)) : "", fmt_bytes(num(w, "bytes"), data,
		    sizeof(data)), num(w, "busy_tasks"));
		if (num(w, "gpu_util") >= 0)
			sb_printf(b, "%lld%%", num(w, "gpu_util"));
		sb_printf(b, "</td></tr>");
	}
	sb_printf(b, "</table>");
	events_table(b, c, str(in, "name"));
}

char *
console_render(struct ctl *c, const char *path, int *status)
{
	struct sb b = { NULL, 0, 0 };
	json_t *in;

	*status = 200;
	if (strcmp(path, "/") == 0) {
		page_index(&b, c);
	} else if (strncmp(path, "/instances/", 11) == 0 &&
	    (in = ctl_instance_json(c, path + 11)) != NULL) {
		page_instance(&b, c, in);
		json_decref(in);
	} else {
		*status = 404;
		head(&b, "not found");
		sb_printf(&b, "<p>No such page: <code>");
		sb_esc(&b, path);
		sb_printf(&b, "</code></p>");
	}
	sb_printf(&b, "</body></html>\n");
	return b.p;
}
