/* notebook: see notebook.h. */
#include "notebook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "launch.h"
#include "loop.h"
#include "util.h"

#define POLL_MS		250
#define PROBE_TIMEOUT_MS 2000
#define KILL_GRACE_MS	10000
#define BACKOFF_MIN_MS	1000
#define BACKOFF_MAX_MS	60000
#define TOKEN_BYTES	24

/* Defined in instance_assets.S: each example's bytes, then a NUL. */
extern const char nb_example_ipynb[], nb_example_ipynb_end[];
extern const char nb_example_train[], nb_example_train_end[];
extern const char nb_example_flights[], nb_example_flights_end[];

static const struct example {
	const char	*name;
	const char	*start;
	const char	*end;
} examples[] = {
	{ "dask_xgb_training.ipynb", nb_example_ipynb, nb_example_ipynb_end },
	{ "xgb_train.py", nb_example_train, nb_example_train_end },
	{ "flights.py", nb_example_flights, nb_example_flights_end },
};

struct notebook {
	struct loop	*loop;
	struct http	*http;
	notebook_cb	 cb;
	void		*arg;
	/* params, copied */
	char		*python;
	char		*dir;
	char		*runtime_dir;
	char		*log_path;
	char		*sched_addr;
	int		 fixed_port;
	int64_t		 start_timeout_ms;
	bool		 server_app;
	char		**env;
	/* the process */
	pid_t		 pid;
	uint64_t	 watch;		/* loop_pid_watch() id */
	uint64_t	 start_time;
	int		 port;
	char		 token[2 * TOKEN_BYTES + 1];
	char		*url;		/* set once it answers */
	bool		 stopping;
	bool		 timed_out;	/* killed for not answering */
	int64_t		 deadline_ms;	/* for the first answer */
	int64_t		 backoff_ms;
	uint64_t	 poll_timer;
	struct launch_term term;	/* notebook_stop()'s */
	uint64_t	 restart_timer;
	uint64_t	 probe;		/* pending http request */
};

static int64_t notebook_poll(void *arg);

struct notebook *
notebook_new(struct loop *l, struct http *h, const struct notebook_params *p,
    notebook_cb cb, void *arg)
{
	struct notebook *nb = xcalloc(1, sizeof(*nb));

	nb->loop = l;
	nb->http = h;
	nb->cb = cb;
	nb->arg = arg;
	nb->python = xstrdup(p->python);
	nb->dir = xstrdup(p->dir);
	nb->runtime_dir = xstrdup(p->runtime_dir);
	nb->log_path = xstrdup(p->log_path);
	nb->sched_addr = xstrdup(p->sched_addr);
	nb->fixed_port = p->port;
	nb->start_timeout_ms = p->start_timeout_ms;
	nb->server_app = p->server_app;
	nb->env = launch_argv_dup(p->env);
	nb->backoff_ms = BACKOFF_MIN_MS;
	return nb;
}

static void
cancel_all(struct notebook *nb)
{
	loop_timer_clear(nb->loop, &nb->poll_timer);
	launch_term_cancel(&nb->term);
	loop_timer_clear(nb->loop, &nb->restart_timer);
	if (nb->probe != 0)
		http_cancel(nb->http, nb->probe);
	nb->probe = 0;
}

void
notebook_free(struct notebook *nb)
{
	if (nb == NULL)
		return;
	cancel_all(nb);
	loop_pid_unwatch(nb->loop, nb->watch);
	free(nb->python);
	free(nb->dir);
	free(nb->runtime_dir);
	free(nb->log_path);
	free(nb->sched_addr);
	launch_argv_free(nb->env);
	free(nb->url);
	free(nb);
}

/* ------------------------------------------------------------ helpers */

/*
 * A free port on 127.0.0.1, from the kernel.  Another process could take
 * it before Jupyter binds it; Jupyter then exits (port_retries is 0, so it
 * never drifts to a port the URL does not name) and the restart picks
 * again.
 */
static int
pick_port(char *err, size_t errlen)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return seterr(err, errlen, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1) {
		seterr(err, errlen, "no free port on 127.0.0.1: %s",
		    strerror(errno));
		close(fd);
		return -1;
	}
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Writes each example that is not there yet; a user's edited copy is
 * theirs.  A failure is reported but does not stop the server. */
static void
write_examples(const struct notebook *nb)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(examples); i++) {
		char *path = xasprintf("%s/%s", nb->dir, examples[i].name);
		size_t len = (size_t)(examples[i].end - examples[i].start);
		int fd;

		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd == -1) {
			if (errno != EEXIST)
				log_warn("%s", path);
			free(path);
			continue;
		}
		if (util_write_all(fd, examples[i].start, len) == -1)
			log_warn("%s", path);
		close(fd);
		free(path);
	}
}

static void
notify(struct notebook *nb, enum notebook_what what, const char *fmt, ...)
    PRINTF(3, 4);

static void
notify(struct notebook *nb, enum notebook_what what, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	nb->cb(what, msg, nb->arg);
}

/* ------------------------------------------------------------- process */

static int64_t on_restart(void *arg);

/* After an exit that nobody asked for: try again later, doubling up to
 * BACKOFF_MAX_MS (reset once it answers).  Returns the delay. */
static int64_t
schedule_restart(struct notebook *nb)
{
	int64_t delay = nb->backoff_ms;

	nb->restart_timer = loop_timer_add(nb->loop, delay, on_restart, nb);
	nb->backoff_ms = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    delay * 2;
	return delay;
}

static int64_t
on_restart(void *arg)
{
	struct notebook *nb = arg;
	char err[512];
	int64_t delay;

	nb->restart_timer = 0;
	if (notebook_start(nb, err, sizeof(err)) == -1) {
		delay = schedule_restart(nb);
		notify(nb, NOTEBOOK_EXITED, "cannot start the notebook server: "
		    "%s; retrying in %llds", err, (long long)delay / 1000);
	}
	return LOOP_NOMORE;
}

static void
on_exit_cb(pid_t pid, int status, void *arg)
{
	struct notebook *nb = arg;
	char how[96], tail[400];
	bool was_ready = nb->url != NULL;
	int64_t delay;

	(void)pid;
	cancel_all(nb);
	nb->pid = 0;
	nb->start_time = 0;
	free(nb->url);
	nb->url = NULL;
	if (nb->stopping) {
		notify(nb, NOTEBOOK_STOPPED, "notebook server stopped");
		return;
	}
	if (nb->timed_out)
		snprintf(how, sizeof(how), "exited (killed: it did not answer "
		    "within %llds)", (long long)nb->start_timeout_ms / 1000);
	else
		util_exit_text(status, how, sizeof(how));
	launch_log_tail(nb->log_path, tail, sizeof(tail));
	/* a port taken by someone else stays taken: pick another */
	if (!was_ready && nb->fixed_port == 0)
		nb->port = 0;
	nb->timed_out = false;
	delay = schedule_restart(nb);
	notify(nb, NOTEBOOK_EXITED, "notebook server %s; restarting in "
	    "%llds; log %s%s%s", how, (long long)delay / 1000, nb->log_path,
	    tail[0] != '\0' ? "; it ends with: " : "", tail);
}

static void
on_probe(const struct http_reply *r, void *arg)
{
	struct notebook *nb = arg;

	nb->probe = 0;
	if (nb->pid == 0 || nb->stopping)
		return;
	/* GET /api answers {"version": ...} without a token */
	if (r->status == 200 && r->body != NULL &&
	    strstr(r->body, "\"version\"") != NULL) {
		nb->backoff_ms = BACKOFF_MIN_MS;
		nb->url = xasprintf("http://127.0.0.1:%d/tree?token=%s",
		    nb->port, nb->token);
		notify(nb, NOTEBOOK_READY, "notebook server up (pid %d): "
		    "notebook_url=http://127.0.0.1:%d/tree?token=...",
		    (int)nb->pid, nb->port);
		return;
	}
	nb->poll_timer = loop_timer_add(nb->loop, POLL_MS, notebook_poll, nb);
}

/* Until it answers, or the start timeout: then it is killed, and its exit
 * brings the restart. */
static int64_t
notebook_poll(void *arg)
{
	struct notebook *nb = arg;
	char url[64];

	nb->poll_timer = 0;
	if (nb->pid == 0 || nb->stopping || nb->url != NULL)
		return LOOP_NOMORE;
	if (mono_ms() > nb->deadline_ms) {
		nb->timed_out = true;
		launch_kill(nb->pid, SIGKILL);
		return LOOP_NOMORE;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api", nb->port);
	nb->probe = http_request(nb->http, url, NULL, PROBE_TIMEOUT_MS,
	    on_probe, nb);
	return LOOP_NOMORE;
}

static void
watch(struct notebook *nb)
{
	nb->deadline_ms = mono_ms() + nb->start_timeout_ms;
	nb->poll_timer = loop_timer_add(nb->loop, POLL_MS, notebook_poll, nb);
}

int
notebook_start(struct notebook *nb, char *err, size_t errlen)
{
	struct launch_cmd cmd;
	char **argv = NULL, **env = NULL;
	size_t argc = 0, envc = 0, i;
	char buf[256];
	int port;

	ASSERT(nb->pid == 0);
	nb->stopping = false;
	if (mkdir_p(nb->dir, 0700) == -1)
		return seterr(err, errlen, "cannot create %s: %s", nb->dir,
		    strerror(errno));
	if (mkdir_p(nb->runtime_dir, 0700) == -1)
		return seterr(err, errlen, "cannot create %s: %s",
		    nb->runtime_dir, strerror(errno));
	write_examples(nb);
	if (nb->token[0] == '\0' && util_random_hex(nb->token,
	    sizeof(nb->token), 2 * TOKEN_BYTES, err, errlen) == -1)
		return -1;
	port = nb->fixed_port != 0 ? nb->fixed_port : nb->port;
	if (port == 0 && (port = pick_port(err, errlen)) == -1)
		return -1;
	nb->port = port;

	launch_argv_push(&argv, &argc, nb->python);
	launch_argv_push(&argv, &argc, "-m");
	launch_argv_push(&argv, &argc, "notebook");
	launch_argv_push(&argv, &argc, "--no-browser");
	launch_argv_push(&argv, &argc, "--ip=127.0.0.1");
	snprintf(buf, sizeof(buf), "--port=%d", port);
	launch_argv_push(&argv, &argc, buf);
	/* Notebook 7 is a Jupyter Server app: NotebookApp's options there
	 * are deprecated (and gone at its next release) */
	launch_argv_push(&argv, &argc, nb->server_app ?
	    "--ServerApp.port_retries=0" : "--NotebookApp.port_retries=0");
	/* Jupyter refuses to run as root unless told; edask runs as whoever
	 * started it, and binds to loopback only. */
	if (geteuid() == 0)
		launch_argv_push(&argv, &argc, "--allow-root");
	launch_argv_push(&argv, &argc, "--notebook-dir");
	launch_argv_push(&argv, &argc, nb->dir);

	/* The token goes through the environment, which other users cannot
	 * read, not the command line, which they can. */
	for (i = 0; nb->env != NULL && nb->env[i] != NULL; i++)
		launch_argv_push(&env, &envc, nb->env[i]);
	snprintf(buf, sizeof(buf), "JUPYTER_TOKEN=%s", nb->token);
	launch_argv_push(&env, &envc, buf);
	launch_argv_push(&env, &envc, "PYTHONUNBUFFERED=1");
	{
		char *a = xasprintf("DASK_SCHEDULER_ADDRESS=%s",
		    nb->sched_addr);
		char *r = xasprintf("JUPYTER_RUNTIME_DIR=%s",
		    nb->runtime_dir);

		launch_argv_push(&env, &envc, a);
		launch_argv_push(&env, &envc, r);
		free(a);
		free(r);
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.env = env;
	cmd.log_path = nb->log_path;
	cmd.cwd = nb->dir;
	nb->pid = launch_spawn(&cmd, err, errlen);
	launch_argv_free(argv);
	launch_argv_free(env);
	if (nb->pid == -1) {
		nb->pid = 0;
		return -1;
	}
	nb->start_time = launch_start_time(nb->pid);
	if ((nb->watch = loop_pid_watch(nb->loop, nb->pid, on_exit_cb,
	    nb)) == 0)
		log_warn("pidfd for notebook pid %d", (int)nb->pid);
	notify(nb, NOTEBOOK_STARTED, "notebook server pid %d on "
	    "127.0.0.1:%d, folder %s, log %s", (int)nb->pid, nb->port,
	    nb->dir, nb->log_path);
	watch(nb);
	return 0;
}

int
notebook_adopt(struct notebook *nb, pid_t pid, uint64_t start_time,
    int port, const char *token)
{
	ASSERT(nb->pid == 0);
	if (pid <= 0 || port <= 0 || port > 65535 || token == NULL ||
	    strlen(token) >= sizeof(nb->token) ||
	    launch_start_time(pid) != start_time || start_time == 0)
		return -1;
	if ((nb->watch = loop_pid_watch(nb->loop, pid, on_exit_cb, nb)) == 0)
		return -1;
	nb->pid = pid;
	nb->start_time = start_time;
	nb->port = port;
	strlcpy_(nb->token, token, sizeof(nb->token));
	watch(nb);
	return 0;
}

static int64_t
on_stopped_idle(void *arg)
{
	struct notebook *nb = arg;

	nb->restart_timer = 0;
	notify(nb, NOTEBOOK_STOPPED, "notebook server stopped");
	return LOOP_NOMORE;
}

void
notebook_stop(struct notebook *nb)
{
	if (nb->stopping)
		return;
	nb->stopping = true;
	/* a server on its way out is no longer advertised */
	free(nb->url);
	nb->url = NULL;
	cancel_all(nb);
	if (nb->pid == 0) {
		/* nothing runs (a restart was pending): say so from the
		 * loop, as for a process */
		nb->restart_timer = loop_timer_add(nb->loop, 0,
		    on_stopped_idle, nb);
		return;
	}
	launch_term_start(&nb->term, nb->loop, nb->pid, true, 0, KILL_GRACE_MS,
	    NULL, NULL);
}

bool
notebook_active(const struct notebook *nb)
{
	return nb->pid > 0 || nb->restart_timer != 0;
}

pid_t
notebook_pid(const struct notebook *nb)
{
	return nb->pid;
}

uint64_t
notebook_start_time(const struct notebook *nb)
{
	return nb->start_time;
}

int
notebook_port(const struct notebook *nb)
{
	return nb->port;
}

const char *
notebook_token(const struct notebook *nb)
{
	return nb->token;
}

const char *
notebook_log(const struct notebook *nb)
{
	return nb->log_path;
}

const char *
notebook_url(const struct notebook *nb)
{
	return nb->url;
}
