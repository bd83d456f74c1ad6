/* cli: see cli.h. */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spec.h"
#include "util.h"

#define CLI_TIMEOUT_MS	10000
#define CLI_BODY_MAX	(64u << 20)

struct opts {
	const char	*addr;
	bool		 json;
	const char	*since;
	const char	*arg;		/* the one positional argument */
};

struct buf {
	char	*p;
	size_t	 len;
	bool	 too_big;
};

static const char *commands[] = { "ls", "show", "pool", "events" };

bool
cli_is_command(const char *cmd)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(commands); i++)
		if (strcmp(cmd, commands[i]) == 0)
			return true;
	return false;
}

static int
usage(const char *cmd)
{
	if (strcmp(cmd, "ls") == 0)
		fprintf(stderr, "usage: edask ls [--json] [--addr HOST:PORT]\n");
	else if (strcmp(cmd, "show") == 0)
		fprintf(stderr, "usage: edask show NAME [--json] "
		    "[--addr HOST:PORT]\n");
	else if (strcmp(cmd, "pool") == 0)
		fprintf(stderr, "usage: edask pool [--json] "
		    "[--addr HOST:PORT]\n");
	else
		fprintf(stderr, "usage: edask events [NAME] [--since SEQ] "
		    "[--json] [--addr HOST:PORT]\n");
	return 2;
}

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > CLI_BODY_MAX) {
		b->too_big = true;
		return 0;
	}
	b->p = xrealloc(b->p, b->len + n + 1);
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/*
 * GET path from the daemon; returns the parsed JSON (new) or NULL after
 * printing why.  *status gets the HTTP status (0: no answer).
 */
static json_t *
api_get(const struct opts *o, const char *path, long *status)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct buf b = { NULL, 0, false };
	json_error_t jerr;
	json_t *doc = NULL;
	CURLcode rc;
	CURL *c;
	char *url;

	*status = 0;
	if (strncmp(o->addr, "http://", 7) == 0 ||
	    strncmp(o->addr, "https://", 8) == 0)
		url = xasprintf("%s%s", o->addr, path);
	else
		url = xasprintf("http://%s%s", o->addr, path);
	c = curl_easy_init();
	if (c == NULL)
		fatalx("curl_easy_init failed");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)CLI_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "edask: cannot reach the daemon at %s: %s\n",
		    o->addr, b.too_big ? "reply too large" :
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		fprintf(stderr, "edask: is `edask up` running? Select another "
		    "daemon with --addr or EDASK_ADDR.\n");
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	doc = json_loadb(b.p != NULL ? b.p : "", b.len, 0, &jerr);
	if (doc == NULL)
		fprintf(stderr, "edask: %s%s answered HTTP %ld with invalid "
		    "JSON: %s\n", o->addr, path, *status, jerr.text);
	else if (*status != 200) {
		json_t *e = json_object_get(doc, "error");

		fprintf(stderr, "edask: %s\n", json_is_string(e) ?
		    json_string_value(e) : "request failed");
		json_decref(doc);
		doc = NULL;
	}
out:
	curl_easy_cleanup(c);
	free(url);
	free(b.p);
	return doc;
}

static int
print_json(json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS |
	    JSON_REAL_PRECISION(6));

	if (s != NULL) {
		puts(s);
		free(s);
	}
	json_decref(doc);
	return 0;
}

/* Borrowed string of a member, or def when absent / not a string. */
static const char *
jstr(const json_t *o, const char *key, const char *def)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : def;
}

static long long
jint(const json_t *o, const char *key, long long def)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (long long)json_real_value(v);
	return def;
}

static const char *
jnum_or_dash(const json_t *o, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, len, "-");
	return buf;
}

static int
cmd_ls(const struct opts *o)
{
	json_t *doc, *arr, *in;
	long status;
	size_t i;

	doc = api_get(o, "/v1/instances", &status);
	if (doc == NULL)
		return 1;
	if (o->json)
		return print_json(doc);
	arr = json_object_get(doc, "instances");
	printf("%-16s %-10s %-9s %-7s %-4s %-4s %s\n", "NAME", "STATE",
	    "WORKERS", "DESIRED", "MIN", "MAX", "SCHEDULER");
	json_array_foreach(arr, i, in) {
		char w[32];

		snprintf(w, sizeof(w), "%lld/%lld",
		    jint(in, "workers_running", 0),
		    jint(in, "workers_running", 0) +
		    jint(in, "workers_launching", 0));
		printf("%-16s %-10s %-9s %-7lld %-4lld %-4lld %s\n",
		    jstr(in, "name", "?"), jstr(in, "state", "?"), w,
		    jint(in, "desired", 0), jint(in, "min", 0),
		    jint(in, "max", 0),
		    jstr(json_object_get(in, "outputs"),
		    "dask_scheduler_address", "-"));
	}
	if (json_array_size(arr) == 0)
		printf("(no instances)\n");
	json_decref(doc);
	return 0;
}

static int
cmd_show(const struct opts *o)
{
	json_t *doc, *outputs, *sched, *workers, *w;
	char *path, a[32], b[32];
	long status;
	size_t i;

	if (o->arg == NULL)
		return usage("show");
	if (!spec_name_valid(o->arg)) {
		fprintf(stderr, "edask show: \"%s\" is not an instance name\n",
		    o->arg);
		return 2;
	}
	path = xasprintf("/v1/instances/%s", o->arg);
	doc = api_get(o, path, &status);
	free(path);
	if (doc == NULL)
		return 1;
	if (o->json)
		return print_json(doc);
	outputs = json_object_get(doc, "outputs");
	sched = json_object_get(doc, "scheduler");
	printf("name:       %s\n", jstr(doc, "name", "?"));
	printf("state:      %s\n", jstr(doc, "state", "?"));
	if (jstr(doc, "error", NULL) != NULL)
		printf("error:      %s\n", jstr(doc, "error", ""));
	printf("workers:    %lld running, %lld launching; desired %lld "
	    "(min %lld, max %lld)\n", jint(doc, "workers_running", 0),
	    jint(doc, "workers_launching", 0), jint(doc, "desired", 0),
	    jint(doc, "min", 0), jint(doc, "max", 0));
	printf("demand:     %s\n", jstr(doc, "reason", ""));
	if (jstr(doc, "hold", "")[0] != '\0')
		printf("held:       %s\n", jstr(doc, "hold", ""));
	if (jint(doc, "pending", 0) > 0)
		printf("pending:    %lld worker(s) wait for a free slot\n",
		    jint(doc, "pending", 0));
	printf("scheduler:  %s\n", jstr(outputs, "dask_scheduler_address",
	    "-"));
	printf("dashboard:  %s\n", jstr(outputs,
	    "dask_scheduler_dashboard_address", "-"));
	printf("console:    %s\n", jstr(outputs, "console_url", "-"));
	printf("log:        %s\n", jstr(sched, "log", "-"));
	workers = json_object_get(doc, "workers");
	if (json_array_size(workers) > 0)
		printf("\n%-5s %-10s %-4s %-4s %-8s %-24s %-8s %-10s %s\n",
		    "ID", "STATE", "SLOT", "GPU", "PID", "ADDRESS", "UPTIME",
		    "MEMORY", "DATA");
	json_array_foreach(workers, i, w) {
		char up[32], mem[32], data[32];
		const json_t *m = json_object_get(w, "memory");

		printf("%-5s %-10s %-4lld %-4s %-8s %-24s %-8s %-10s %s\n",
		    jstr(w, "id", "?"), jstr(w, "state", "?"),
		    jint(w, "slot", -1), jnum_or_dash(w, "gpu", a, sizeof(a)),
		    jnum_or_dash(w, "pid", b, sizeof(b)),
		    jstr(w, "address", "-"),
		    fmt_duration(jint(w, "uptime_s", 0) * 1000, up,
		    sizeof(up)),
		    json_is_integer(m) ? fmt_bytes(json_integer_value(m), mem,
		    sizeof(mem)) : "-",
		    fmt_bytes(jint(w, "bytes", 0), data, sizeof(data)));
	}
	json_decref(doc);
	return 0;
}

static int
cmd_pool(const struct opts *o)
{
	json_t *doc, *slots, *s;
	long status;
	size_t i;

	doc = api_get(o, "/v1/pool", &status);
	if (doc == NULL)
		return 1;
	if (o->json)
		return print_json(doc);
	printf("pool %s: %lld %s slots, %lld free\n\n", jstr(doc, "name", "?"),
	    jint(doc, "size", 0), jstr(doc, "kind", "?"), jint(doc, "free", 0));
	printf("%-5s %-4s %-16s %-7s %-10s %s\n", "SLOT", "GPU", "INSTANCE",
	    "WORKER", "STATE", "UTIL");
	slots = json_object_get(doc, "slots");
	json_array_foreach(slots, i, s) {
		char g[32], u[32];
		const json_t *util = json_object_get(s, "util");

		if (json_is_integer(util))
			snprintf(u, sizeof(u), "%lld%%",
			    (long long)json_integer_value(util));
		else
			snprintf(u, sizeof(u), "-");
		printf("%-5lld %-4s %-16s %-7s %-10s %s\n", jint(s, "slot", -1),
		    jnum_or_dash(s, "gpu", g, sizeof(g)),
		    jstr(s, "instance", "(free)"), jstr(s, "worker", "-"),
		    jstr(s, "worker_state", "-"), u);
	}
	json_decref(doc);
	return 0;
}

static int
cmd_events(const struct opts *o)
{
	json_t *doc, *arr, *e;
	char *path, *q = NULL;
	long status;
	size_t i;

	if (o->since != NULL) {
		char *end;

		errno = 0;
		strtoull(o->since, &end, 10);
		if (o->since[0] < '0' || o->since[0] > '9' || *end != '\0' ||
		    errno != 0) {
			fprintf(stderr, "edask: --since takes an event "
			    "sequence number\n");
			return 2;
		}
	}
	if (o->arg != NULL) {
		char *esc = curl_easy_escape(NULL, o->arg, 0);

		q = xasprintf("instance=%s", esc != NULL ? esc : "");
		curl_free(esc);
	}
	path = xasprintf("/v1/events?since=%s%s%s",
	    o->since != NULL ? o->since : "0", q != NULL ? "&" : "",
	    q != NULL ? q : "");
	free(q);
	doc = api_get(o, path, &status);
	free(path);
	if (doc == NULL)
		return 1;
	if (o->json)
		return print_json(doc);
	arr = json_object_get(doc, "events");
	json_array_foreach(arr, i, e) {
		char stamp[32];
		time_t t = (time_t)(jint(e, "ts_ms", 0) / 1000);
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		printf("%s %-4lld %-12s %-14s %s\n", stamp, jint(e, "seq", 0),
		    jstr(e, "instance", "")[0] != '\0' ?
		    jstr(e, "instance", "") : "-", jstr(e, "kind", "?"),
		    jstr(e, "message", ""));
	}
	json_decref(doc);
	return 0;
}

int
cli_main(int argc, char **argv)
{
	const char *cmd = argv[0];
	struct opts o;
	int i, rc;

	memset(&o, 0, sizeof(o));
	o.addr = getenv("EDASK_ADDR");
	if (o.addr == NULL || o.addr[0] == '\0')
		o.addr = CLI_DEFAULT_ADDR;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--json") == 0) {
			o.json = true;
		} else if (strcmp(a, "--addr") == 0 && i + 1 < argc) {
			o.addr = argv[++i];
		} else if (strncmp(a, "--addr=", 7) == 0) {
			o.addr = a + 7;
		} else if (strcmp(cmd, "events") == 0 &&
		    strcmp(a, "--since") == 0 && i + 1 < argc) {
			o.since = argv[++i];
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(cmd);
			return 0;
		} else if (a[0] == '-') {
			fprintf(stderr, "edask %s: unknown option %s\n", cmd, a);
			return usage(cmd);
		} else if (o.arg == NULL && (strcmp(cmd, "show") == 0 ||
		    strcmp(cmd, "events") == 0)) {
			o.arg = a;
		} else {
			fprintf(stderr, "edask %s: unexpected argument %s\n",
			    cmd, a);
			return usage(cmd);
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(cmd, "ls") == 0)
		rc = cmd_ls(&o);
	else if (strcmp(cmd, "show") == 0)
		rc = cmd_show(&o);
	else if (strcmp(cmd, "pool") == 0)
		rc = cmd_pool(&o);
	else
		rc = cmd_events(&o);
	curl_global_cleanup();
	return rc;
}
