/* cli: see cli.h. */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "http.h"
#include "request.h"
#include "spec.h"
#include "token.h"
#include "util.h"
#include "yamlx.h"

#define CLI_TIMEOUT_MS	10000
#define EVENTS_PAGE	1000
#define CLI_BODY_MAX	(64u << 20)

struct opts {
	const char	*addr;
	bool		 json;
	bool		 follow;
	const char	*since;
	const char	*state_dir;
	const char	*arg;		/* the one positional argument */
	const char	*min, *max;	/* scale */
	char		 token[TOKEN_LEN + 1];
	int		 exit;		/* of a failed request: 1, or 2 (400) */
};

static const char *commands[] = { "ls", "show", "pool", "events", "deploy",
    "start", "stop", "undeploy", "scale" };

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
	static const struct {
		const char *cmd, *args;
	} more[] = {
		{ "deploy", "SPEC" }, { "start", "NAME" }, { "stop", "NAME" },
		{ "undeploy", "NAME" }, { "scale", "NAME [--min N] [--max N]" },
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(more); i++)
		if (strcmp(cmd, more[i].cmd) == 0) {
			fprintf(stderr, "usage: edask %s %s [--json] [--addr "
			    "HOST:PORT] [--state-dir DIR]\n", cmd,
			    more[i].args);
			return 2;
		}
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
		    "[--follow] [--json] [--addr HOST:PORT]\n");
	return 2;
}

/*
 * One request to the daemon: method, path, optional body.  Returns the
 * parsed JSON reply (new) of a 2xx answer, or NULL after printing why;
 * o->exit then says how the CLI exits (2 for a request the daemon found
 * invalid, else 1).  timeout_ms 0: the default.
 */
static json_t *
api_call(struct opts *o, const char *method, const char *path,
    const char *body, size_t blen, long timeout_ms)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct http_body b = { .max = CLI_BODY_MAX };
	struct curl_slist *hdr = NULL;
	json_error_t jerr;
	json_t *doc = NULL;
	long status = 0;
	CURLcode rc;
	CURL *c;
	char *url, *auth = NULL;

	o->exit = 1;
	if (strncmp(o->addr, "http://", 7) == 0 ||
	    strncmp(o->addr, "https://", 8) == 0)
		url = xasprintf("%s%s", o->addr, path);
	else
		url = xasprintf("http://%s%s", o->addr, path);
	c = curl_easy_init();
	if (c == NULL)
		fatalx("curl_easy_init failed");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms :
	    (long)CLI_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (o->token[0] != '\0') {
		auth = xasprintf("Authorization: Bearer %s", o->token);
		hdr = curl_slist_append(hdr, auth);
	}
	if (body != NULL) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "edask: cannot reach the daemon at %s: %s\n",
		    o->addr, b.too_big ? "reply too large" :
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		fprintf(stderr, "edask: is `edask up` running? Select another "
		    "daemon with --addr or EDASK_ADDR.\n");
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	doc = json_loadb(b.p != NULL ? b.p : "", b.len, 0, &jerr);
	if (doc == NULL) {
		fprintf(stderr, "edask: %s%s answered HTTP %ld with invalid "
		    "JSON: %s\n", o->addr, path, status, jerr.text);
	} else if (status < 200 || status > 299) {
		json_t *e = json_object_get(doc, "error");

		fprintf(stderr, "edask: %s\n", json_is_string(e) ?
		    json_string_value(e) : "request failed");
		if (status == 400)
			o->exit = 2;
		json_decref(doc);
		doc = NULL;
	}
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	free(auth);
	free(url);
	free(b.p);
	return doc;
}

static json_t *
api_get(struct opts *o, const char *path)
{
	return api_call(o, "GET", path, NULL, 0, 0);
}

/* Changes need the token: $EDASK_TOKEN, else the state folder's file. */
static int
find_token(struct opts *o, bool quiet)
{
	const char *env = getenv("EDASK_TOKEN");
	char *dir, err[512];
	int rc;

	if (o->token[0] != '\0')
		return 0;
	if (env != NULL && env[0] != '\0') {
		strlcpy_(o->token, env, sizeof(o->token));
		return 0;
	}
	dir = o->state_dir != NULL ? xstrdup(o->state_dir) :
	    cli_default_state_dir();
	rc = token_read(dir, o->token, sizeof(o->token), err, sizeof(err));
	/* serve's default state folder, when the user's has no token */
	if (rc == -1 && o->state_dir == NULL && getenv("EDASK_STATE_DIR") ==
	    NULL && token_read(CONFIG_DEFAULT_STATE_DIR, o->token,
	    sizeof(o->token), NULL, 0) == 0)
		rc = 0;
	if (rc == -1 && !quiet)
		fprintf(stderr, "edask: no API token: %s (set EDASK_TOKEN, or "
		    "point --state-dir or EDASK_STATE_DIR at the daemon's "
		    "state folder)\n", err);
	free(dir);
	return rc;
}

char *
cli_default_state_dir(void)
{
	const char *s = getenv("EDASK_STATE_DIR");
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (s != NULL && s[0] != '\0')
		return xstrdup(s);
	if (x != NULL && x[0] == '/')
		return xasprintf("%s/edask", x);
	if (home != NULL && home[0] == '/')
		return xasprintf("%s/.local/state/edask", home);
	return xstrdup("/var/lib/edask");
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

/*
 * GET path for a command that shows it: the document (new) to print as
 * text, or NULL when the command is done (the request failed, or --json
 * printed the document) with its exit code in *rc.
 */
static json_t *
get_to_show(struct opts *o, const char *path, int *rc)
{
	json_t *doc = api_get(o, path);

	if (doc == NULL)
		*rc = o->exit;
	else if (o->json)
		*rc = print_json(doc);
	else
		return doc;
	return NULL;
}

static int
cmd_ls(struct opts *o)
{
	json_t *doc, *arr, *in;
	size_t i;
	int rc;

	if ((doc = get_to_show(o, "/v1/instances", &rc)) == NULL)
		return rc;
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
cmd_show(struct opts *o)
{
	json_t *doc, *outputs, *sched, *workers, *w, *engine;
	char *path, a[32], b[32];
	bool slurm;
	size_t i;
	int rc;

	if (o->arg == NULL)
		return usage("show");
	if (!spec_name_valid(o->arg)) {
		fprintf(stderr, "edask show: \"%s\" is not an instance name\n",
		    o->arg);
		return 2;
	}
	path = xasprintf("/v1/instances/%s", o->arg);
	doc = get_to_show(o, path, &rc);
	free(path);
	if (doc == NULL)
		return rc;
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
	if (json_is_number(json_object_get(doc, "idle_timeout_s"))) {
		const json_t *sc = json_object_get(json_object_get(doc,
		    "spec"), "scaling");
		bool learned = strcmp(jstr(sc, "idle_timeout", ""),
		    "auto") == 0;
		char d[32];

		printf("idle:       workers idle %s go%s\n", fmt_duration(
		    (int64_t)(json_number_value(json_object_get(doc,
		    "idle_timeout_s")) * 1000.0), d, sizeof(d)),
		    learned ? " (idle_timeout: auto, learned from how long "
		    "new workers took to start)" : "");
	}
	if (jint(doc, "pending", 0) > 0)
		printf("pending:    %lld worker(s) wait for a free slot\n",
		    jint(doc, "pending", 0));
	if (jint(doc, "losses_waiting", 0) > 0)
		printf("lost:       %lld worker(s) lost; what they held is told "
		    "(edask events) once the scheduler counts it\n",
		    jint(doc, "losses_waiting", 0));
	printf("scheduler:  %s\n", jstr(outputs, "dask_scheduler_address",
	    "-"));
	printf("dashboard:  %s\n", jstr(outputs,
	    "dask_scheduler_dashboard_address", "-"));
	printf("console:    %s\n", jstr(outputs, "console_url", "-"));
	if (json_is_string(json_object_get(outputs, "dask_client_config"))) {
		printf("client:     DASK_CONFIG=%s python ...   (then "
		    "distributed.Client())\n", jstr(outputs,
		    "dask_client_config", "-"));
		printf("security:   %s\n", json_is_object(json_object_get(
		    outputs, "dask_tls")) ? "TLS with this instance's own "
		    "certificate (outputs.dask_tls; the key is its owner's "
		    "alone)" : "none: security.tls is off, anyone on this "
		    "machine can connect");
	}
	if (json_is_true(json_object_get(json_object_get(doc, "notebook"),
	    "enabled")))
		printf("notebook:   %s\n", jstr(outputs, "notebook_url",
		    "(starting)"));
	printf("log:        %s\n", jstr(sched, "log", "-"));
	engine = json_object_get(doc, "engine");
	if (json_is_object(engine))
		printf("engine:     distributed %s, Python %s, %s workers, %s\n",
		    jstr(engine, "distributed", "?"), jstr(engine, "python",
		    "?"), jstr(engine, "worker_type", "?"),
		    json_is_true(json_object_get(engine, "dashboard")) ?
		    "Dask dashboard (bokeh)" : "no bokeh: the console is the "
		    "dashboard");
	workers = json_object_get(doc, "workers");
	/* a slurm pool's workers (they carry job_id) have no GPU index
	 * nor local pid: their job, its state and node instead */
	slurm = json_object_get(json_array_get(workers, 0), "job_id") != NULL;
	if (json_array_size(workers) > 0 && slurm)
		printf("\n%-5s %-10s %-4s %-8s %-10s %-12s %-24s %-8s %-10s "
		    "%s\n", "ID", "STATE", "SLOT", "JOB", "JOB STATE", "NODE",
		    "ADDRESS", "UPTIME", "MEMORY", "DATA");
	else if (json_array_size(workers) > 0)
		printf("\n%-5s %-10s %-4s %-4s %-8s %-24s %-8s %-10s %s\n",
		    "ID", "STATE", "SLOT", "GPU", "PID", "ADDRESS", "UPTIME",
		    "MEMORY", "DATA");
	json_array_foreach(workers, i, w) {
		char up[32], mem[32], data[32];
		const json_t *m = json_object_get(w, "memory");

		fmt_duration(jint(w, "uptime_s", 0) * 1000, up, sizeof(up));
		if (json_is_integer(m))
			fmt_bytes(json_integer_value(m), mem, sizeof(mem));
		else
			snprintf(mem, sizeof(mem), "-");
		fmt_bytes(jint(w, "bytes", 0), data, sizeof(data));
		if (slurm)
			printf("%-5s %-10s %-4lld %-8s %-10s %-12s %-24s %-8s "
			    "%-10s %s\n", jstr(w, "id", "?"),
			    jstr(w, "state", "?"), jint(w, "slot", -1),
			    jnum_or_dash(w, "job_id", a, sizeof(a)),
			    jstr(w, "job_state", "-"), jstr(w, "node", "-"),
			    jstr(w, "address", "-"), up, mem, data);
		else
			printf("%-5s %-10s %-4lld %-4s %-8s %-24s %-8s %-10s "
			    "%s\n", jstr(w, "id", "?"), jstr(w, "state", "?"),
			    jint(w, "slot", -1),
			    jnum_or_dash(w, "gpu", a, sizeof(a)),
			    jnum_or_dash(w, "pid", b, sizeof(b)),
			    jstr(w, "address", "-"), up, mem, data);
	}
	json_decref(doc);
	return 0;
}

/*
 * One pool object of GET /v1/pool: its header, its slots, and the
 * instances that draw on it.  A slurm pool's slots have no GPU index and
 * no NVML reading; they show the job behind each slot instead.
 */
static void
print_pool(const json_t *p)
{
	bool slurm = strcmp(jstr(p, "kind", ""), "slurm") == 0;
	const json_t *slots, *s;
	size_t i;

	printf("pool %s: %lld %s slots, %lld free", jstr(p, "name", "?"),
	    jint(p, "size", 0), jstr(p, "kind", "?"), jint(p, "free", 0));
	if (slurm && jstr(p, "partition", NULL) != NULL)
		printf("; %lld GPU(s) per job, partition %s",
		    jint(p, "gpus_per_job", 1), jstr(p, "partition", ""));
	else if (slurm)
		printf("; %lld GPU(s) per job, default partition",
		    jint(p, "gpus_per_job", 1));
	printf("\n");
	if (jstr(p, "listing_error", NULL) != NULL)
		printf("listing error: %s\n", jstr(p, "listing_error", ""));
	printf("\n");
	if (slurm)
		printf("%-5s %-16s %-9s %-7s %-10s %-8s %-10s %-12s %-5s "
		    "%s\n", "SLOT", "INSTANCE", "HOLD", "WORKER", "STATE",
		    "JOB", "JOB STATE", "NODE", "GPUS", "RECLAIMED FOR");
	else
		printf("%-5s %-4s %-16s %-9s %-7s %-10s %-6s %s\n", "SLOT",
		    "GPU", "INSTANCE", "HOLD", "WORKER", "STATE", "UTIL",
		    "RECLAIMED FOR");
	slots = json_object_get(p, "slots");
	json_array_foreach(slots, i, s) {
		char g[32], u[32];
		const json_t *util = json_object_get(s, "util");
		const char *held = jstr(s, "instance", NULL) == NULL ? "-" :
		    json_is_true(json_object_get(s, "borrowed")) ? "borrowed" :
		    "owned";

		if (slurm) {
			printf("%-5lld %-16s %-9s %-7s %-10s %-8s %-10s %-12s "
			    "%-5s %s\n", jint(s, "slot", -1),
			    jstr(s, "instance", "(free)"), held,
			    jstr(s, "worker", "-"),
			    jstr(s, "worker_state", "-"),
			    jnum_or_dash(s, "job_id", g, sizeof(g)),
			    jstr(s, "job_state", "-"),
			    jstr(s, "node", "-"), jstr(s, "job_gpus", "-"),
			    jstr(s, "reserved_for", "-"));
			continue;
		}
		if (json_is_integer(util))
			snprintf(u, sizeof(u), "%lld%%",
			    (long long)json_integer_value(util));
		else
			snprintf(u, sizeof(u), "-");
		printf("%-5lld %-4s %-16s %-9s %-7s %-10s %-6s %s\n",
		    jint(s, "slot", -1), jnum_or_dash(s, "gpu", g, sizeof(g)),
		    jstr(s, "instance", "(free)"), held,
		    jstr(s, "worker", "-"), jstr(s, "worker_state", "-"), u,
		    jstr(s, "reserved_for", "-"));
	}
	slots = json_object_get(p, "instances");
	if (json_array_size(slots) > 0)
		printf("\n%-16s %-5s %-5s %-4s %-8s %-8s %-7s %s\n", "INSTANCE",
		    "OWNED", "SHARE", "HELD", "BORROWED", "ENTITLED", "DESIRED",
		    "COMING BACK");
	json_array_foreach(slots, i, s) {
		char e[32];

		printf("%-16s %-5lld %-5lld %-4lld %-8lld %-8s %-7lld %lld\n",
		    jstr(s, "name", "?"), jint(s, "owned", 0),
		    jint(s, "share", 1), jint(s, "held", 0),
		    jint(s, "borrowed", 0),
		    jnum_or_dash(s, "entitled", e, sizeof(e)),
		    jint(s, "desired", 0), jint(s, "reclaiming", 0));
	}
}

/*
 * Every pool in "pools", one after another; a daemon from before there
 * were several pools sends only the one, at the top level.
 */
static int
cmd_pool(struct opts *o)
{
	json_t *doc, *pools, *p;
	size_t i;
	int rc;

	if ((doc = get_to_show(o, "/v1/pool", &rc)) == NULL)
		return rc;
	pools = json_object_get(doc, "pools");
	if (!json_is_array(pools))
		print_pool(doc);
	else if (json_array_size(pools) == 0)
		printf("(no pools)\n");
	json_array_foreach(pools, i, p) {
		if (i > 0)
			printf("\n");
		print_pool(p);
	}
	json_decref(doc);
	return 0;
}

static void
print_event(const json_t *e)
{
	char stamp[32];
	time_t t = (time_t)(jint(e, "ts_ms", 0) / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	printf("%s %-4lld %-12s %-14s %s\n", stamp, jint(e, "seq", 0),
	    jstr(e, "instance", "")[0] != '\0' ? jstr(e, "instance", "") : "-",
	    jstr(e, "kind", "?"), jstr(e, "message", ""));
}

/*
 * The decision log.  --follow keeps asking for what came after the last
 * event seen, each request held by the daemon until there is news (a
 * long-poll), so events stream as they happen.
 */
static int
cmd_events(struct opts *o)
{
	unsigned long long since = 0;
	json_t *doc, *arr, *e;
	char *q = NULL, *path;
	size_t i;

	if (o->since != NULL) {
		char *end;

		errno = 0;
		since = strtoull(o->since, &end, 10);
		if (o->since[0] < '0' || o->since[0] > '9' || *end != '\0' ||
		    errno != 0 || since > (1ULL << 62)) {
			fprintf(stderr, "edask: --since takes an event "
			    "sequence number\n");
			return 2;
		}
	}
	if (o->arg != NULL) {
		if (!spec_name_valid(o->arg)) {
			fprintf(stderr, "edask events: \"%s\" is not an "
			    "instance name\n", o->arg);
			return 2;
		}
		q = xasprintf("&instance=%s", o->arg);
	}
	for (bool first = true;; first = false) {
		path = xasprintf("/v1/events?since=%llu&limit=%d%s%s", since,
		    EVENTS_PAGE, q != NULL ? q : "",
		    o->follow && !first ? "&wait=30" : "");
		doc = api_call(o, "GET", path, NULL, 0, 45000);
		free(path);
		if (doc == NULL) {
			free(q);
			return o->exit;
		}
		if (o->json && !o->follow) {
			free(q);
			return print_json(doc);
		}
		arr = json_object_get(doc, "events");
		json_array_foreach(arr, i, e) {
			if (o->json) {	/* --follow --json: a line each */
				char *line = json_dumps(e, JSON_COMPACT |
				    JSON_SORT_KEYS);

				if (line != NULL)
					puts(line);
				free(line);
			} else {
				print_event(e);
			}
			if ((unsigned long long)jint(e, "seq", 0) > since)
				since = (unsigned long long)jint(e, "seq", 0);
		}
		/* a page shorter than the limit covers everything up to
		 * last_seq, other instances' events included: skip them */
		if (json_array_size(arr) < EVENTS_PAGE &&
		    (unsigned long long)jint(doc, "last_seq", 0) > since)
			since = (unsigned long long)jint(doc, "last_seq", 0);
		json_decref(doc);
		fflush(stdout);
		if (!o->follow)
			break;
	}
	free(q);
	return 0;
}

static char *
instance_path(const char *name, const char *suffix)
{
	return xasprintf("/v1/instances/%s%s", name, suffix);
}

static int
check_name(const char *cmd, const char *name)
{
	if (name == NULL)
		return usage(cmd);
	if (!spec_name_valid(name)) {
		fprintf(stderr, "edask %s: \"%s\" is not an instance name\n",
		    cmd, name);
		return 2;
	}
	return 0;
}

/* Prints a changed instance: its state and workers, or the JSON. */
static int
print_result(struct opts *o, json_t *doc, const char *what)
{
	if (o->json)
		return print_json(doc);
	printf("%s: %s; state %s, %lld worker(s) running, desired %lld "
	    "(min %lld, max %lld)\n", jstr(doc, "name", "?"), what,
	    jstr(doc, "state", "?"), jint(doc, "workers_running", 0),
	    jint(doc, "desired", 0), jint(doc, "min", 0), jint(doc, "max", 0));
	json_decref(doc);
	return 0;
}

static int
cmd_deploy(struct opts *o)
{
	struct spec *spec;
	char err[1024], *text = NULL;
	size_t len = 0;
	json_t *doc;
	int rc;

	if (o->arg == NULL)
		return usage("deploy");
	/* read once, validated here: errors then name the user's file, and
	 * what is sent is what was checked */
	if (yamlx_read_file(o->arg, REQUEST_BODY_MAX, &text, &len, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (spec_parse(text, len, o->arg, &spec, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		free(text);
		return 2;
	}
	spec_free(spec);
	if (find_token(o, false) == -1) {
		free(text);
		return 2;
	}
	doc = api_call(o, "POST", "/v1/instances", text, len, 0);
	free(text);
	if (doc == NULL)
		return o->exit;
	rc = print_result(o, doc, jstr(doc, "result", "deployed"));
	return rc;
}

static int
cmd_action(struct opts *o, const char *cmd)
{
	char *path;
	json_t *doc;
	int rc;

	if ((rc = check_name(cmd, o->arg)) != 0)
		return rc;
	if (find_token(o, false) == -1)
		return 2;
	if (strcmp(cmd, "undeploy") == 0) {
		path = instance_path(o->arg, "");
		doc = api_call(o, "DELETE", path, NULL, 0, 0);
		free(path);
		if (doc == NULL)
			return o->exit;
		if (o->json)
			return print_json(doc);
		printf("%s: %s\n", o->arg, strcmp(jstr(doc, "result", ""),
		    "removing") == 0 ? "stopping, then removed" :
		    strcmp(jstr(doc, "result", ""), "absent") == 0 ?
		    "already absent" : "removed");
		json_decref(doc);
		return 0;
	}
	path = instance_path(o->arg, strcmp(cmd, "start") == 0 ? "/start" :
	    "/stop");
	doc = api_call(o, "POST", path, NULL, 0, 0);
	free(path);
	if (doc == NULL)
		return o->exit;
	return print_result(o, doc, strcmp(cmd, "start") == 0 ?
	    "start asked" : "stop asked");
}

static int
parse_count(const char *opt, const char *v, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno != 0 || n < 0 ||
	    n > 1024) {
		fprintf(stderr, "edask scale: %s takes an integer from 0 to "
		    "1024, got \"%s\"\n", opt, v);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int
cmd_scale(struct opts *o)
{
	json_t *body, *doc;
	char *text, *path;
	int rc, n;

	if ((rc = check_name("scale", o->arg)) != 0)
		return rc;
	if (o->min == NULL && o->max == NULL) {
		fprintf(stderr, "edask scale: give --min, --max or both\n");
		return 2;
	}
	body = json_object();
	if (o->min != NULL) {
		if (parse_count("--min", o->min, &n) == -1)
			goto bad;
		json_object_set_new(body, "min", json_integer(n));
	}
	if (o->max != NULL) {
		if (parse_count("--max", o->max, &n) == -1)
			goto bad;
		json_object_set_new(body, "max", json_integer(n));
	}
	if (find_token(o, false) == -1)
		goto bad;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	path = instance_path(o->arg, "");
	doc = api_call(o, "PATCH", path, text, strlen(text), 0);
	free(path);
	free(text);
	if (doc == NULL)
		return o->exit;
	return print_result(o, doc, "scaled");
bad:
	json_decref(body);
	return 2;
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
		} else if (strcmp(cmd, "events") == 0 &&
		    (strcmp(a, "--follow") == 0 || strcmp(a, "-f") == 0)) {
			o.follow = true;
		} else if (strcmp(a, "--state-dir") == 0 && i + 1 < argc) {
			o.state_dir = argv[++i];
		} else if (strcmp(cmd, "scale") == 0 &&
		    strcmp(a, "--min") == 0 && i + 1 < argc) {
			o.min = argv[++i];
		} else if (strcmp(cmd, "scale") == 0 &&
		    strcmp(a, "--max") == 0 && i + 1 < argc) {
			o.max = argv[++i];
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(cmd);
			return 0;
		} else if (a[0] == '-') {
			fprintf(stderr, "edask %s: unknown option %s\n", cmd, a);
			return usage(cmd);
		} else if (o.arg == NULL && strcmp(cmd, "ls") != 0 &&
		    strcmp(cmd, "pool") != 0) {
			o.arg = a;
		} else {
			fprintf(stderr, "edask %s: unexpected argument %s\n",
			    cmd, a);
			return usage(cmd);
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* reads need the token only beyond loopback: send it when known */
	(void)find_token(&o, true);
	if (strcmp(cmd, "ls") == 0)
		rc = cmd_ls(&o);
	else if (strcmp(cmd, "show") == 0)
		rc = cmd_show(&o);
	else if (strcmp(cmd, "pool") == 0)
		rc = cmd_pool(&o);
	else if (strcmp(cmd, "events") == 0)
		rc = cmd_events(&o);
	else if (strcmp(cmd, "deploy") == 0)
		rc = cmd_deploy(&o);
	else if (strcmp(cmd, "scale") == 0)
		rc = cmd_scale(&o);
	else
		rc = cmd_action(&o, cmd);
	curl_global_cleanup();
	return rc;
}
