/* sched: see sched.h. */
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dask.h"
#include "engine.h"
#include "launch.h"
#include "loop.h"
#include "sched.h"
#include "util.h"

#define POLL_MS		200	/* scheduler file and /health, while starting */

struct sched {
	struct loop	*loop;
	struct http	*http;
	const struct engine_ops *engine;
	sched_cb	 cb;
	void		*arg;
	char		*name;
	char		**argv;
	char		**env;
	char		*log_path;
	char		*cwd;
	char		*sched_file;
	char		*host;
	bool		 tls;
	int64_t		 start_timeout_ms;
	int64_t		 grace_ms;
	int64_t		 health_timeout_ms;

	pid_t		 pid;		/* 0: none */
	uint64_t	 start_time;	/* /proc start time of pid */
	uint64_t	 watch;		/* loop_pid_watch() id */
	struct launch_term term;	/* sched_stop()'s */
	uint64_t	 poll_timer;	/* while starting */
	int64_t		 deadline_ms;	/* of the start */
	char		*addr;		/* tcp://, tls:// */
	char		*dash_url;	/* http://host:port */
	struct dask	*dask;
};

static void notify(struct sched *s, enum sched_what what, const char *fmt,
    ...) PRINTF(3, 4);

static void
notify(struct sched *s, enum sched_what what, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->cb(what, msg, s->arg);
}

struct sched *
sched_new(struct loop *l, struct http *h, const struct sched_params *p,
    sched_cb cb, void *arg)
{
	struct sched *s = xcalloc(1, sizeof(*s));

	s->loop = l;
	s->http = h;
	s->engine = p->engine;
	s->cb = cb;
	s->arg = arg;
	s->name = xstrdup(p->name);
	s->argv = launch_argv_dup(p->argv);
	s->env = launch_argv_dup(p->env);
	s->log_path = xstrdup(p->log_path);
	s->cwd = p->cwd != NULL ? xstrdup(p->cwd) : NULL;
	s->sched_file = xstrdup(p->sched_file);
	s->host = xstrdup(p->host);
	s->tls = p->tls;
	s->start_timeout_ms = p->start_timeout_ms;
	s->grace_ms = p->grace_ms;
	s->health_timeout_ms = p->health_timeout_ms;
	return s;
}

void
sched_free(struct sched *s)
{
	if (s == NULL)
		return;
	loop_timer_cancel(s->loop, s->poll_timer);
	launch_term_cancel(&s->term);
	loop_pid_unwatch(s->loop, s->watch);
	s->engine->client_free(s->dask);
	free(s->name);
	launch_argv_free(s->argv);
	launch_argv_free(s->env);
	free(s->log_path);
	free(s->cwd);
	free(s->sched_file);
	free(s->host);
	free(s->addr);
	free(s->dash_url);
	free(s);
}

/* ------------------------------------------------------------- its exit */

static void
on_exit_cb(pid_t pid, int status, void *arg)
{
	struct sched *s = arg;
	char how[64];

	(void)pid;
	s->pid = 0;
	s->start_time = 0;
	s->watch = 0;
	loop_timer_clear(s->loop, &s->poll_timer);
	launch_term_cancel(&s->term);
	notify(s, SCHED_EXITED, "%s", util_exit_text(status, how,
	    sizeof(how)));
}

static void
watch(struct sched *s)
{
	if ((s->watch = loop_pid_watch(s->loop, s->pid, on_exit_cb, s)) == 0)
		log_warn("pidfd for scheduler pid %d", (int)s->pid);
}

/* ------------------------------------------------------------ the start */

/* The dashboard URL and the client of its API. */
static void
set_dashboard(struct sched *s, const char *url)
{
	free(s->dash_url);
	s->dash_url = xstrdup(url);
	s->engine->client_free(s->dask);
	s->dask = s->engine->client_new(s->http, url);
}

/* Reads the scheduler file: address and dashboard port; 0 once both are
 * there and valid, -1 while not yet written. */
static int
read_sched_file(struct sched *s)
{
	json_t *root, *addr, *dash;
	json_error_t jerr;
	const char *a, *host;
	json_int_t port;
	char url[300];

	root = json_load_file(s->sched_file, 0, &jerr);
	if (root == NULL)
		return -1;
	addr = json_object_get(root, "address");
	dash = json_object_get(json_object_get(root, "services"), "dashboard");
	if (!json_is_string(addr) || !json_is_integer(dash)) {
		json_decref(root);
		return -1;
	}
	a = json_string_value(addr);
	port = json_integer_value(dash);
	if (strncmp(a, s->tls ? "tls://" : "tcp://", 6) != 0 ||
	    strlen(a) >= DASK_ADDR_MAX || port <= 0 || port > 65535) {
		json_decref(root);
		return -1;
	}
	free(s->addr);
	s->addr = xstrdup(a);
	host = s->host;
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		host = "127.0.0.1";
	snprintf(url, sizeof(url), "http://%s:%lld", host, (long long)port);
	set_dashboard(s, url);
	json_decref(root);
	return 0;
}

static void
on_health(bool ok, const char *why, void *arg)
{
	struct sched *s = arg;

	if (s->poll_timer == 0)
		return;		/* answered already, or stopped */
	if (!ok) {
		log_debug("[%s] /health: %s", s->name, why);
		return;		/* the poll asks again */
	}
	loop_timer_clear(s->loop, &s->poll_timer);
	notify(s, SCHED_READY, "scheduler up: %s, dashboard %s", s->addr,
	    s->dash_url);
}

/* Every POLL_MS until the scheduler answers /health, or the deadline. */
static int64_t
poll_cb(void *arg)
{
	struct sched *s = arg;
	char d[32];

	if (mono_ms() > s->deadline_ms) {
		s->poll_timer = 0;
		notify(s, SCHED_TIMEOUT, "scheduler did not answer /health "
		    "within %s; log %s", fmt_duration(s->start_timeout_ms, d,
		    sizeof(d)), s->log_path);
		return LOOP_NOMORE;
	}
	if (s->addr == NULL || s->dask == NULL)
		(void)read_sched_file(s);
	if (s->dask != NULL)
		s->engine->health(s->dask, s->health_timeout_ms, on_health, s);
	return POLL_MS;
}

static void
wait_ready(struct sched *s, int64_t first_ms)
{
	s->deadline_ms = mono_ms() + s->start_timeout_ms;
	s->poll_timer = loop_timer_add(s->loop, first_ms, poll_cb, s);
}

int
sched_start(struct sched *s, char *err, size_t errlen)
{
	struct launch_cmd cmd;

	ASSERT(s->pid == 0);
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = s->argv;
	cmd.env = s->env;
	cmd.log_path = s->log_path;
	cmd.cwd = s->cwd;
	if ((s->pid = s->engine->spawn_scheduler(&cmd, err, errlen)) == -1) {
		s->pid = 0;
		return -1;
	}
	s->start_time = launch_start_time(s->pid);
	watch(s);
	wait_ready(s, 100);
	return 0;
}

int
sched_adopt(struct sched *s, pid_t pid, uint64_t start_time,
    const char *addr, const char *dash_url, bool starting)
{
	ASSERT(s->pid == 0);
	if (pid <= 0 || start_time == 0 || launch_start_time(pid) !=
	    start_time)
		return -1;
	s->pid = pid;
	s->start_time = start_time;
	if (addr != NULL && addr[0] != '\0')
		s->addr = xstrdup(addr);
	if (dash_url != NULL && dash_url[0] != '\0')
		set_dashboard(s, dash_url);
	watch(s);
	if (starting)
		wait_ready(s, 0);
	return 0;
}

/* ------------------------------------------------------------- its stop */

static void
on_signal(pid_t pid, int sig, void *arg)
{
	struct sched *s = arg;
	char g[32];

	if (sig == SIGKILL)
		notify(s, SCHED_KILLED, "scheduler (pid %d) still running %s "
		    "after SIGTERM: SIGKILL", (int)pid, fmt_duration(s->grace_ms,
		    g, sizeof(g)));
}

void
sched_stop(struct sched *s)
{
	if (s == NULL || s->pid == 0)
		return;
	loop_timer_clear(s->loop, &s->poll_timer);
	launch_term_start(&s->term, s->loop, s->pid, true, 0, s->grace_ms,
	    on_signal, s);
}

/* ------------------------------------------------------------ accessors */

pid_t
sched_pid(const struct sched *s)
{
	return s != NULL ? s->pid : 0;
}

uint64_t
sched_start_time(const struct sched *s)
{
	return s != NULL ? s->start_time : 0;
}

bool
sched_stopping(const struct sched *s)
{
	return s != NULL && s->pid != 0 && launch_term_active(&s->term);
}

const char *
sched_address(const struct sched *s)
{
	return s != NULL ? s->addr : NULL;
}

const char *
sched_dashboard(const struct sched *s)
{
	return s != NULL ? s->dash_url : NULL;
}

struct dask *
sched_client(const struct sched *s)
{
	return s != NULL ? s->dask : NULL;
}
