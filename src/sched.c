/* sched.c: see ctl_int.h. */
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

/* Routes the scheduler serves: Dask's defaults plus the HTTP API
 * (docs/design.md §2; the value must be a quoted Python literal). */
#define SCHEDULER_ROUTES						\
	"[\"distributed.http.scheduler.prometheus\","			\
	"\"distributed.http.scheduler.info\","				\
	"\"distributed.http.scheduler.json\","				\
	"\"distributed.http.health\","					\
	"\"distributed.http.proxy\","					\
	"\"distributed.http.statics\","					\
	"\"distributed.http.scheduler.api\"]"

static void on_sched_exit(pid_t pid, int status, void *arg);
static void sched_watch(struct instance *in);

static void write_client_config(struct instance *in);

/* ----------------------------------------------------------- scheduler */

/*
 * Starts the run's scheduler (its files are written) and follows its
 * exit: its command line is Dask's scheduler with edask's routes and
 * preload, on the backend's address (docs/design.md §2).  0, or -1 with
 * err.
 */
int
sched_spawn(struct instance *in, char *err, size_t errlen)
{
	struct launch_cmd cmd;
	char **argv = NULL, **env;
	size_t argc = 0;
	char buf[300];

	launch_argv_push(&argv, &argc, in->spec->python);
	launch_argv_push(&argv, &argc, "-m");
	launch_argv_push(&argv, &argc, "distributed.cli.dask_scheduler");
	launch_argv_push(&argv, &argc, "--host");
	launch_argv_push(&argv, &argc, sched_host(in));
	launch_argv_push(&argv, &argc, "--port");
	snprintf(buf, sizeof(buf), "%d", in->spec->scheduler.port);
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--dashboard-address");
	snprintf(buf, sizeof(buf), "%s:%d", sched_host(in),
	    in->spec->scheduler.dashboard_port);
	launch_argv_push(&argv, &argc, buf);
	launch_argv_push(&argv, &argc, "--scheduler-file");
	launch_argv_push(&argv, &argc, in->sched_file);
	launch_argv_push(&argv, &argc, "--preload");
	launch_argv_push(&argv, &argc, in->preload);
	if (in->tls) {
		launch_argv_push(&argv, &argc, "--protocol");
		launch_argv_push(&argv, &argc, "tls");
	}
	tls_argv(in, &argv, &argc);
	env = spec_envv(in->spec, "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES="
	    SCHEDULER_ROUTES, "PYTHONUNBUFFERED=1");
	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.env = env;
	cmd.log_path = in->sched_log;
	cmd.cwd = in->dir;
	in->sched_pid = in->ctl->engine->spawn_scheduler(&cmd, err, errlen);
	launch_argv_free(argv);
	launch_argv_free(env);
	if (in->sched_pid == -1) {
		in->sched_pid = 0;
		return -1;
	}
	in->sched_start = launch_start_time(in->sched_pid);
	sched_watch(in);
	return 0;
}


/* Follows the scheduler's exit. */
static void
sched_watch(struct instance *in)
{
	if ((in->sched_watch = loop_pid_watch(in->ctl->loop, in->sched_pid,
	    on_sched_exit, in)) == 0)
		log_warn("pidfd for scheduler pid %d", (int)in->sched_pid);
}


/* After a restart: the stored scheduler, if it is still the process that
 * was started (pid and start time), is followed again; true then. */
bool
sched_adopt(struct instance *in)
{
	if (!proc_alive(in->sched_pid, in->sched_start)) {
		in->sched_pid = 0;
		in->sched_start = 0;
		return false;
	}
	sched_watch(in);
	return true;
}


/* The scheduler did not go within KILL_GRACE_MS of its SIGTERM. */
static void
on_sched_signal(pid_t pid, int sig, void *arg)
{
	if (sig == SIGKILL)
		ev(arg, "kill", "scheduler (pid %d) still running %ds after "
		    "SIGTERM: SIGKILL", (int)pid, KILL_GRACE_MS / 1000);
}


/* SIGTERM now, SIGKILL after KILL_GRACE_MS; again: no-op beyond a new
 * SIGTERM. */
void
sched_terminate(struct instance *in)
{
	launch_term_start(&in->sched_term, in->ctl->loop, in->sched_pid, true,
	    0, KILL_GRACE_MS, on_sched_signal, in);
}


static void
on_sched_exit(pid_t pid, int status, void *arg)
{
	struct instance *in = arg;
	char tail[600], how[64];

	(void)pid;
	in->sched_pid = 0;
	in->sched_start = 0;
	persist_instance(in);
	launch_term_cancel(&in->sched_term);
	util_exit_text(status, how, sizeof(how));
	if (in->state == I_STOPPING) {
		instance_set_state(in, I_STOPPED);
		ev(in, "stopped", "scheduler stopped; instance stopped");
		return;
	}
	if (in->state == I_ERROR) {
		return;
	}
	launch_log_tail(in->sched_log, tail, sizeof(tail));
	instance_fail(in, "scheduler %s%s; log %s%s%s", how,
	    in->state == I_STARTING ? " while starting" : "", in->sched_log,
	    tail[0] != '\0' ? "; it ends with: " : "", tail);
}


static void
on_health(bool ok, const char *why, void *arg)
{
	struct instance *in = arg;

	if (in->state != I_STARTING)
		return;
	if (!ok) {
		log_debug("[%s] /health: %s", in->spec->name, why);
		return;		/* the start poll asks again */
	}
	if (in->timer != 0)
		loop_timer_cancel(in->ctl->loop, in->timer);
	instance_set_state(in, I_STARTED);
	in->ever_started = true;
	write_client_config(in);
	ev(in, "started", "scheduler up: dask_scheduler_address=%s "
	    "dask_scheduler_dashboard_address=%s console_url=%s",
	    in->sched_addr, in->dash_url, in->console_url);
	in->timer = loop_timer_add(in->ctl->loop, 0, instance_tick, in);
	notebook_begin(in);
}


/* Reads the scheduler file: address and dashboard port; 0 once both are
 * there and valid, -1 while not yet written. */
/* Where the scheduler listens: its backend says (its workers may come
 * from other machines). */
const char *
sched_host(const struct instance *in)
{
	return in->cp->ops->sched_host(in);
}


static int
read_sched_file(struct instance *in)
{
	json_t *root, *addr, *dash;
	json_error_t jerr;
	const char *a;
	json_int_t port;
	const char *host;

	root = json_load_file(in->sched_file, 0, &jerr);
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
	if (strncmp(a, in->tls ? "tls://" : "tcp://", 6) != 0 ||
	    strlen(a) >= DASK_ADDR_MAX ||
	    port <= 0 || port > 65535) {
		json_decref(root);
		return -1;
	}
	free(in->sched_addr);
	in->sched_addr = xstrdup(a);
	host = sched_host(in);
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		host = "127.0.0.1";
	free(in->dash_url);
	in->dash_url = xasprintf("http://%s:%lld", host, (long long)port);
	json_decref(root);
	return 0;
}


/* Every 200 ms until the scheduler answers /health (on_health() takes
 * the timer over then), or the start deadline. */
int64_t
start_poll(void *arg)
{
	struct instance *in = arg;
	char d[32];

	if (in->state != I_STARTING) {
		in->timer = 0;
		return LOOP_NOMORE;
	}
	if (mono_ms() > in->start_deadline_ms) {
		in->timer = 0;
		instance_fail(in, "scheduler did not answer /health within %s; "
		    "log %s", fmt_duration(in->spec->scaling.start_timeout_ms,
		    d, sizeof(d)), in->sched_log);
		return LOOP_NOMORE;
	}
	if (in->dask == NULL && read_sched_file(in) == 0)
		in->dask = in->ctl->engine->client_new(in->ctl->http,
		    in->dash_url);
	if (in->dask != NULL)
		in->ctl->engine->health(in->dask, HEALTH_TIMEOUT_MS, on_health,
		    in);
	return 200;
}


int
write_preload(struct instance *in, char *err, size_t errlen)
{
	return util_write_file(in->preload, sched_preload_py,
	    (size_t)(sched_preload_py_end - sched_preload_py), 0600, err,
	    errlen);
}


/*
 * How long the scheduler may take to answer /health: start_timeout, but
 * never less than SCHED_START_MIN_MS.  start_timeout is sized for workers
 * (a forked one registers in half a second); today's scheduler imports
 * bokeh and more, and takes 1-3 s on a small machine.
 */
int64_t
sched_start_timeout(const struct instance *in)
{
	int64_t t = in->spec->scaling.start_timeout_ms;

	return t < SCHED_START_MIN_MS ? SCHED_START_MIN_MS : t;
}


/* This process's user, for messages. */
static const char *
user_name(void)
{
	static char buf[64];
	struct passwd *pw = getpwuid(geteuid());

	if (pw != NULL && pw->pw_name != NULL)
		return pw->pw_name;
	snprintf(buf, sizeof(buf), "uid %u", (unsigned)geteuid());
	return buf;
}


/*
 * Each run's credentials (tls.h), or, with security.tls off, a warning
 * that anyone on the machine can connect and run code as this user.
 */
int
instance_tls(struct instance *in, char *err, size_t errlen)
{
	char why[512];

	in->tls = in->spec->security.tls;
	if (!in->tls) {
		unlink(in->tls_key);
		unlink(in->tls_cert);
		ev(in, "security", "security.tls is off: any user of this "
		    "machine%s can connect to the scheduler and its workers "
		    "and run code as %s; for a single-user machine only",
		    in->cp->ops->remote ? " and of the cluster's network" :
		    "", user_name());
		return 0;
	}
	if (tls_make_creds(in->tls_dir, in->spec->name, why,
	    sizeof(why)) == -1 ||
	    tls_check_creds(in->tls_dir, why, sizeof(why)) == -1)
		return seterr(err, errlen, "cannot make the instance's TLS "
		    "credentials: %s", why);
	return 0;
}


/* The DASK_CONFIG file of the outputs: the address and, with TLS, the
 * credentials, so that Client() connects as it is. */
static void
write_client_config(struct instance *in)
{
	char err[512], *text;

	if (in->tls)
		text = xasprintf("# edask: instance %s, this run; use as\n"
		    "#   DASK_CONFIG=%s python ...\n"
		    "scheduler-address: \"%s\"\n"
		    "distributed:\n"
		    "  comm:\n"
		    "    require-encryption: true\n"
		    "    tls:\n"
		    "      ca-file: \"%s\"\n"
		    "      client:\n"
		    "        cert: \"%s\"\n"
		    "        key: \"%s\"\n", in->spec->name,
		    in->client_config, in->sched_addr, in->tls_cert,
		    in->tls_cert, in->tls_key);
	else
		text = xasprintf("# edask: instance %s, this run (no TLS); use "
		    "as\n#   DASK_CONFIG=%s python ...\n"
		    "scheduler-address: \"%s\"\n", in->spec->name,
		    in->client_config, in->sched_addr);
	if (util_write_file(in->client_config, text, strlen(text), 0600, err,
	    sizeof(err)) == -1)
		log_warnx("[%s] %s", in->spec->name, err);
	free(text);
}
