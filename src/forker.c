/* forker.c: see ctl_int.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "dask.h"
#include "events.h"
#include "gpu.h"
#include "http.h"
#include "launch.h"
#include "loop.h"
#include "metrics.h"
#include "notebook.h"
#include "pool.h"
#include "pyprobe.h"
#include "scaler.h"
#include "slurm.h"
#include "spec.h"
#include "store.h"
#include "tls.h"
#include "util.h"

#include "ctl_int.h"

static int64_t forker_poll(void *arg);
static int64_t forker_restart(void *arg);

/* ------------------------------------------------------------- forker */

/*
 * The worker forker: a Python process per instance that has imported
 * Dask's worker once and forks each new worker from there, warm
 * (src/py/edask_forker.py).  Workers are started by exec whenever it is
 * not ready: still starting, dead, or for a custom workers.command.
 */

static void
on_forker_exit(pid_t pid, int status, void *arg)
{
	struct instance *in = arg;
	char tail[300];

	(void)pid;
	(void)status;
	in->forker_pid = 0;
	in->forker_ready = false;
	launch_term_cancel(&in->forker_term);
	loop_timer_clear(in->ctl->loop, &in->forker_timer);
	unlink(in->forker_sock);
	unlink(in->forker_pidfile);
	if (!in->forker_stop && (in->state == I_STARTED ||
	    in->state == I_STARTING)) {
		int64_t delay = backoff_ms(++in->forker_failures);

		launch_log_tail(in->forker_log, tail, sizeof(tail));
		ev(in, "forker", "the worker forker exited; workers start by "
		    "exec until it is back (in %llds); log %s%s%s",
		    (long long)delay / 1000, in->forker_log,
		    tail[0] != '\0' ? ": " : "", tail);
		in->forker_timer = loop_timer_add(in->ctl->loop, delay,
		    forker_restart, in);
	}
	if (in->state == I_STOPPING)
		instance_stop(in);
}


/* Connects to the forker's socket; the fd, or -1. */
static int
forker_connect(struct instance *in, int flags)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(in->forker_sock) >= sizeof(sa.sun_path))
		return -1;
	strlcpy_(sa.sun_path, in->forker_sock, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}


static int64_t
forker_poll(void *arg)
{
	struct instance *in = arg;
	int fd;

	if (in->forker_pid <= 0 || in->forker_ready) {
		in->forker_timer = 0;
		return LOOP_NOMORE;
	}
	/* a unix socket connects at once, or not at all */
	if ((fd = forker_connect(in, SOCK_NONBLOCK)) != -1) {
		close(fd);
		in->forker_ready = true;
		in->forker_failures = 0;
		log_info("[%s] worker forker ready (pid %d)", in->spec->name,
		    (int)in->forker_pid);
		in->forker_timer = 0;
		return LOOP_NOMORE;
	}
	if (mono_ms() > in->forker_deadline_ms) {
		ev(in, "forker", "the worker forker (pid %d) did not open its "
		    "socket within %llds: stopped; workers start by exec; "
		    "log %s", (int)in->forker_pid,
		    (long long)in->spec->scaling.start_timeout_ms / 1000,
		    in->forker_log);
		in->forker_stop = true;
		launch_kill(in->forker_pid, SIGKILL);
		in->forker_timer = 0;
		return LOOP_NOMORE;
	}
	return FORKER_POLL_MS;		/* until its socket answers */
}


/* Starts the forker when the instance's workers can use it. */
void
forker_start(struct instance *in)
{
	struct launch_cmd cmd;
	char **argv = NULL, **env;
	size_t argc = 0;
	char err[512], line[64];

	/* a slurm pool's workers start on other machines */
	if (in->forker_pid > 0 || in->cp->ops->remote ||
	    strcmp(in->spec->workers.command, "auto") != 0 ||
	    in->wtype == SPEC_WORKER_DASK_CUDA)
		return;
	if (util_write_file(in->forker_py, worker_forker_py,
	    (size_t)(worker_forker_py_end - worker_forker_py), 0600, err,
	    sizeof(err)) == -1) {
		ev(in, "forker", "cannot write the worker forker: %s; workers "
		    "start by exec", err);
		return;
	}
	launch_argv_push(&argv, &argc, in->spec->python);
	launch_argv_push(&argv, &argc, "-u");
	launch_argv_push(&argv, &argc, in->forker_py);
	launch_argv_push(&argv, &argc, in->forker_sock);
	{
		/* workers.imports: "a, b.c" -> a b.c (validated by spec) */
		char *list = xstrdup(in->spec->workers.imports), *tok, *save;

		for (tok = strtok_r(list, ", ", &save); tok != NULL;
		    tok = strtok_r(NULL, ", ", &save))
			launch_argv_push(&argv, &argc, tok);
		free(list);
	}
	env = spec_envv(in->spec, "PYTHONUNBUFFERED=1", NULL);
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.env = env;
	cmd.log_path = in->forker_log;
	cmd.cwd = in->dir;
	in->forker_stop = false;
	in->forker_ready = false;
	in->forker_pid = launch_spawn(&cmd, err, sizeof(err));
	launch_argv_free(argv);
	launch_argv_free(env);
	if (in->forker_pid == -1) {
		in->forker_pid = 0;
		ev(in, "forker", "cannot start the worker forker: %s; workers "
		    "start by exec", err);
		return;
	}
	if ((in->forker_watch = loop_pid_watch(in->ctl->loop,
	    in->forker_pid, on_forker_exit, in)) == 0)
		log_warn("pidfd for forker pid %d", (int)in->forker_pid);
	snprintf(line, sizeof(line), "%d %llu\n", (int)in->forker_pid,
	    (unsigned long long)launch_start_time(in->forker_pid));
	if (util_write_file(in->forker_pidfile, line, strlen(line), 0600, err,
	    sizeof(err)) == -1)
		log_warnx("%s", err);
	in->forker_deadline_ms = mono_ms() + in->spec->scaling.start_timeout_ms;
	in->forker_timer = loop_timer_add(in->ctl->loop, FORKER_POLL_MS,
	    forker_poll, in);
}


/*
 * After a controller restart: the forker of the instance's previous run,
 * found by its pid file, is taken over (warm, it keeps forking); a pid
 * file whose process is gone is removed.  Runs before kill_orphans().
 */
void
forker_adopt(struct instance *in)
{
	unsigned long long start = 0;
	char line[64];
	int pid = 0;

	if (util_read_small(in->forker_pidfile, line, sizeof(line)) == -1)
		return;
	if (sscanf(line, "%d %llu", &pid, &start) != 2)
		pid = 0;
	if (pid <= 1 || start == 0 || launch_start_time(pid) != start ||
	    (in->forker_watch = loop_pid_watch(in->ctl->loop, pid,
	    on_forker_exit, in)) == 0) {
		unlink(in->forker_pidfile);
		return;
	}
	in->forker_pid = pid;
	in->forker_stop = false;
	in->forker_ready = false;
	in->forker_deadline_ms = mono_ms() + in->spec->scaling.start_timeout_ms;
	in->forker_timer = loop_timer_add(in->ctl->loop, 0, forker_poll, in);
}


static int64_t
forker_restart(void *arg)
{
	struct instance *in = arg;

	in->forker_timer = 0;
	if (in->state == I_STARTED || in->state == I_STARTING)
		forker_start(in);
	return LOOP_NOMORE;
}


/* Still there KILL_GRACE_MS after its SIGTERM. */
static void
on_forker_signal(pid_t pid, int sig, void *arg)
{
	if (sig == SIGKILL)
		ev(arg, "kill", "the worker forker (pid %d) still runs %ds after "
		    "SIGTERM: SIGKILL", (int)pid, KILL_GRACE_MS / 1000);
}


void
forker_terminate(struct instance *in)
{
	if (in->forker_pid <= 0) {
		/* a pending restart */
		loop_timer_clear(in->ctl->loop, &in->forker_timer);
		return;
	}
	in->forker_stop = true;
	in->forker_ready = false;
	/* its readiness poll */
	loop_timer_clear(in->ctl->loop, &in->forker_timer);
	launch_term_start(&in->forker_term, in->ctl->loop, in->forker_pid,
	    true, 0, KILL_GRACE_MS, on_forker_signal, in);
}


/*
 * One fork request in flight: its connection, the reply so far, and the
 * deadline.  The loop waits for the answer; nothing blocks on it, and
 * several may be in flight at once (one connection each).
 */
struct fork_req {
	struct instance	*in;
	int		 fd;
	uint64_t	 timer;
	char		 reply[FORKER_REPLY_MAX];
	size_t		 got;
	forker_cb	 cb;
	void		*arg;
};

static void
fork_req_free(struct fork_req *r)
{
	struct loop *l = r->in->ctl->loop;

	loop_fd_del(l, r->fd);
	close(r->fd);
	loop_timer_cancel(l, r->timer);
	free(r);
}


/* The request's end, one way or the other: its callback, once. */
static void
fork_req_done(struct fork_req *r, pid_t pid, const char *why)
{
	forker_cb cb = r->cb;
	void *arg = r->arg;

	fork_req_free(r);
	cb(pid, why, arg);
}


static int64_t
on_fork_timeout(void *arg)
{
	struct fork_req *r = arg;
	char why[64];

	r->timer = 0;
	snprintf(why, sizeof(why), "no answer within %dms", FORKER_IO_MS);
	fork_req_done(r, -1, why);
	return LOOP_NOMORE;
}


static void
on_fork_reply(int fd, uint32_t events, void *arg)
{
	struct fork_req *r = arg;
	char err[256];
	ssize_t n;
	int pid;

	(void)events;
	n = read(fd, r->reply + r->got, sizeof(r->reply) - 1 - r->got);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		r->got += (size_t)n;
		if (memchr(r->reply, '\n', r->got) == NULL &&
		    r->got < sizeof(r->reply) - 1)
			return;
	}
	if (r->got == 0) {
		fork_req_done(r, -1, n == 0 || errno == ECONNRESET ?
		    "the forker closed without an answer" : strerror(errno));
		return;
	}
	if (dask_parse_forked(r->reply, r->got, &pid, err,
	    sizeof(err)) == -1) {
		fork_req_done(r, -1, err);
		return;
	}
	fork_req_done(r, (pid_t)pid, "");
}


/*
 * Asks the forker for one worker, without waiting: the answer (a pid, or
 * -1 and why) comes to cb from the loop, within FORKER_IO_MS.  NULL with
 * err when the request cannot be sent at all (the caller then execs).
 */
struct fork_req *
forker_fork(struct instance *in, char **argv, char **env, const char *log,
    forker_cb cb, void *arg, char *err, size_t errlen)
{
	json_t *req = json_object(), *args = json_array(), *envo =
	    json_object();
	struct fork_req *r;
	char *text;
	size_t i, len;
	int fd;

	/* argv is "PYTHON -m distributed.cli.dask_worker ARGS..." */
	json_array_append_new(args, json_string("dask-worker"));
	for (i = 3; argv[i] != NULL; i++)
		json_array_append_new(args, json_string(argv[i]));
	for (i = 0; env != NULL && env[i] != NULL; i++) {
		const char *eq = strchr(env[i], '=');

		if (eq != NULL) {
			char *k = xasprintf("%.*s", (int)(eq - env[i]),
			    env[i]);

			json_object_set_new(envo, k, json_string(eq + 1));
			free(k);
		}
	}
	json_object_set_new(req, "argv", args);
	json_object_set_new(req, "env", envo);
	json_object_set_new(req, "log", json_string(log));
	json_object_set_new(req, "cwd", json_string(in->dir));
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL) {
		seterr(err, errlen, "cannot encode the request");
		return NULL;
	}
	/* a local stream socket takes the whole request at once (it is far
	 * smaller than the socket's buffer): a short write is a failure */
	if ((fd = forker_connect(in, SOCK_NONBLOCK)) == -1) {
		seterr(err, errlen, "cannot connect to %s: %s",
		    in->forker_sock, strerror(errno));
		free(text);
		return NULL;
	}
	len = strlen(text);
	if (send(fd, text, len, MSG_NOSIGNAL) != (ssize_t)len ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		seterr(err, errlen, "cannot send the request: %s",
		    strerror(errno));
		free(text);
		close(fd);
		return NULL;
	}
	free(text);
	r = xcalloc(1, sizeof(*r));
	r->in = in;
	r->fd = fd;
	r->cb = cb;
	r->arg = arg;
	if (loop_fd_add(in->ctl->loop, fd, EPOLLIN, on_fork_reply, r) == -1) {
		seterr(err, errlen, "cannot watch the forker's answer: %s",
		    strerror(errno));
		close(fd);
		free(r);
		return NULL;
	}
	r->timer = loop_timer_add(in->ctl->loop, FORKER_IO_MS,
	    on_fork_timeout, r);
	return r;
}


/* Drops a request in flight: its callback is not called. */
void
forker_fork_cancel(struct fork_req *r)
{
	if (r != NULL)
		fork_req_free(r);
}

