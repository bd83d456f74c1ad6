/*
 * test_sched: the scheduler supervisor without Dask.  The "scheduler" is a
 * shell that writes its scheduler file (or not) and sleeps; the engine's
 * spawn is the real launch_spawn(), and /health is a fake that refuses a
 * set number of times before it answers, always from the loop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dask.h"
#include "engine.h"
#include "launch.h"
#include "loop.h"
#include "sched.h"
#include "testutil.h"
#include "util.h"

/* ------------------------------------------------------- fake engine */

/* One /health answer owed, delivered by a loop timer. */
struct answer {
	dask_health_cb	 cb;
	void		*arg;
	bool		 ok;
};

static struct {
	struct loop	*loop;
	int		 refuse;	/* answers "not yet" this many times */
	int		 asked;
	int		 clients;	/* live fake clients */
	char		 base[128];	/* the last client's URL */
} fe;

static int64_t
deliver(void *arg)
{
	struct answer *a = arg;

	a->cb(a->ok, a->ok ? "" : "not yet", a->arg);
	free(a);
	return LOOP_NOMORE;
}

static void
fake_health(struct dask *d, int64_t timeout_ms, dask_health_cb cb,
    void *arg)
{
	struct answer *a = xcalloc(1, sizeof(*a));

	(void)d;
	(void)timeout_ms;
	a->cb = cb;
	a->arg = arg;
	a->ok = fe.refuse-- <= 0;
	fe.asked++;
	loop_timer_add(fe.loop, 0, deliver, a);
}

static struct dask *
fake_client_new(struct http *h, const char *base)
{
	(void)h;
	fe.clients++;
	strlcpy_(fe.base, base, sizeof(fe.base));
	return (struct dask *)xcalloc(1, 1);
}

static void
fake_client_free(struct dask *d)
{
	if (d == NULL)
		return;
	fe.clients--;
	free(d);
}

static const struct engine_ops fake_engine = {
	.spawn_scheduler = launch_spawn,
	.client_new = fake_client_new,
	.client_free = fake_client_free,
	.health = fake_health,
};

/* ------------------------------------------------------------ world */

struct world {
	char		 dir[64];
	char		 file[96];
	char		 log[96];
	struct loop	*loop;
	struct sched	*s;
	/* what the callback said, in order */
	enum sched_what	 what[8];
	char		 msg[8][256];
	int		 n;
};

static void
on_sched(enum sched_what what, const char *msg, void *arg)
{
	struct world *wd = arg;

	assert_true(wd->n < (int)ARRAY_LEN(wd->what));
	wd->what[wd->n] = what;
	strlcpy_(wd->msg[wd->n], msg, sizeof(wd->msg[0]));
	wd->n++;
}

/* The loop runs until the callback has said n things, or 10 s. */
static void
wait_news(struct world *wd, int n)
{
	int64_t end = mono_ms() + 10000;

	while (wd->n < n && mono_ms() < end)
		tu_loop_run_for(wd->loop, 20);
	if (wd->n < n)
		fail_msg("%d news after 10 s, not %d", wd->n, n);
}

/* Runs the loop for ms: nothing is said past the n news so far. */
static void
quiet_for(struct world *wd, int64_t ms, int n)
{
	tu_loop_run_for(wd->loop, ms);
	assert_int_equal(wd->n, n);
}

/*
 * A supervisor of `sh -c script` (FILE in script is the scheduler file),
 * listening on host, with TLS or not, a start timeout and a grace.
 */
static struct sched *
new_sched(struct world *wd, const char *script, const char *host, bool tls,
    int64_t start_ms, int64_t grace_ms)
{
	char *argv[] = { "sh", "-c", NULL, NULL };
	char *env[] = { NULL, NULL };
	struct sched_params p;

	argv[2] = (char *)script;
	env[0] = xasprintf("FILE=%s", wd->file);
	memset(&p, 0, sizeof(p));
	p.name = "t";
	p.argv = argv;
	p.env = env;
	p.log_path = wd->log;
	p.cwd = wd->dir;
	p.sched_file = wd->file;
	p.host = host;
	p.tls = tls;
	p.start_timeout_ms = start_ms;
	p.grace_ms = grace_ms;
	p.health_timeout_ms = 1000;
	p.engine = &fake_engine;
	wd->s = sched_new(wd->loop, NULL, &p, on_sched, wd);
	free(env[0]);
	return wd->s;
}

#define WRITES_FILE(proto)						\
	"printf '{\"address\": \"" proto "://127.0.0.1:8786\", "	\
	"\"services\": {\"dashboard\": 8787}}' > \"$FILE\"; "

/* Starts s and waits for its first news, which must be want. */
static void
start_until(struct world *wd, struct sched *s, enum sched_what want)
{
	char err[256];

	if (sched_start(s, err, sizeof(err)) != 0)
		fail_msg("sched_start: %s", err);
	wait_news(wd, 1);
	assert_int_equal(wd->what[0], want);
}

static int
setup(void **state)
{
	struct world *wd = xcalloc(1, sizeof(*wd));

	tu_mkdtemp(wd->dir, sizeof(wd->dir), "test_sched");
	snprintf(wd->file, sizeof(wd->file), "%s/scheduler.json", wd->dir);
	snprintf(wd->log, sizeof(wd->log), "%s/scheduler.log", wd->dir);
	wd->loop = loop_new();
	memset(&fe, 0, sizeof(fe));
	fe.loop = wd->loop;
	*state = wd;
	return 0;
}

static int
teardown(void **state)
{
	struct world *wd = *state;
	pid_t pid = sched_pid(wd->s);

	if (pid > 0)
		kill(-pid, SIGKILL);
	sched_free(wd->s);
	assert_int_equal(fe.clients, 0);
	loop_free(wd->loop);
	tu_rm_rf(wd->dir);
	free(wd);
	return 0;
}

/* ------------------------------------------------------------ tests */

/* Ready once the file is there and /health says so (after two refusals);
 * 0.0.0.0 is asked at 127.0.0.1; a stop ends in one SCHED_EXITED. */
static void
test_start_ready_stop(void **state)
{
	struct world *wd = *state;
	struct sched *s;
	char err[256];

	s = new_sched(wd, WRITES_FILE("tls") "exec sleep 600", "0.0.0.0",
	    true, 10000, 5000);
	assert_null(sched_address(s));
	assert_null(sched_client(s));
	fe.refuse = 2;
	assert_int_equal(sched_start(s, err, sizeof(err)), 0);
	assert_true(sched_pid(s) > 0);
	assert_int_equal(sched_start_time(s), launch_start_time(sched_pid(s)));
	wait_news(wd, 1);
	assert_int_equal(wd->what[0], SCHED_READY);
	assert_true(fe.asked >= 3);
	assert_string_equal(sched_address(s), "tls://127.0.0.1:8786");
	assert_string_equal(sched_dashboard(s), "http://127.0.0.1:8787");
	assert_string_equal(fe.base, "http://127.0.0.1:8787");
	assert_non_null(sched_client(s));
	assert_false(sched_stopping(s));

	sched_stop(s);
	assert_true(sched_stopping(s));
	wait_news(wd, 2);
	assert_int_equal(wd->what[1], SCHED_EXITED);
	assert_string_equal(wd->msg[1], "exited on signal 15 (Terminated)");
	assert_int_equal(sched_pid(s), 0);
	assert_false(sched_stopping(s));
	/* the last address stays readable; nothing more comes */
	assert_string_equal(sched_address(s), "tls://127.0.0.1:8786");
	quiet_for(wd, 300, 2);
}

/* A file with the other protocol is not the run's: no /health is asked,
 * and the start times out with the process left running. */
static void
test_wrong_protocol_times_out(void **state)
{
	struct world *wd = *state;
	struct sched *s;

	s = new_sched(wd, WRITES_FILE("tcp") "exec sleep 600", "127.0.0.1",
	    true, 400, 5000);
	start_until(wd, s, SCHED_TIMEOUT);
	assert_non_null(strstr(wd->msg[0], "did not answer /health within "
	    "0.4s"));
	assert_int_equal(fe.asked, 0);
	assert_null(sched_address(s));
	assert_true(sched_pid(s) > 0);
	sched_stop(s);
	wait_news(wd, 2);
	assert_int_equal(wd->what[1], SCHED_EXITED);
}

/* An exit on its own, while starting: said once, with its status. */
static void
test_exit_on_its_own(void **state)
{
	struct world *wd = *state;
	struct sched *s;

	s = new_sched(wd, "echo broken >&2; exit 3", "127.0.0.1", false,
	    10000, 5000);
	start_until(wd, s, SCHED_EXITED);
	assert_string_equal(wd->msg[0], "exited with status 3");
	assert_int_equal(sched_pid(s), 0);
	/* the poll went with it */
	quiet_for(wd, 500, 1);
}

/* One that ignores SIGTERM gets SIGKILL after the grace, said first. */
static void
test_sigkill_after_grace(void **state)
{
	struct world *wd = *state;
	struct sched *s;

	s = new_sched(wd, "trap '' TERM; " WRITES_FILE("tcp") "sleep 600",
	    "127.0.0.1", false, 10000, 300);
	start_until(wd, s, SCHED_READY);
	sched_stop(s);
	wait_news(wd, 3);
	assert_int_equal(wd->what[1], SCHED_KILLED);
	assert_non_null(strstr(wd->msg[1], "still running 0.3s after "
	    "SIGTERM: SIGKILL"));
	assert_int_equal(wd->what[2], SCHED_EXITED);
	assert_string_equal(wd->msg[2], "exited on signal 9 (Killed)");
}

/* A command that cannot run is an error of the start; nothing runs. */
static void
test_spawn_error(void **state)
{
	struct world *wd = *state;
	struct sched_params p;
	char *argv[] = { "/nonexistent/dask-scheduler", NULL };
	char err[256];

	memset(&p, 0, sizeof(p));
	p.name = "t";
	p.argv = argv;
	p.log_path = wd->log;
	p.sched_file = wd->file;
	p.host = "127.0.0.1";
	p.start_timeout_ms = 1000;
	p.grace_ms = 1000;
	p.engine = &fake_engine;
	wd->s = sched_new(wd->loop, NULL, &p, on_sched, wd);
	assert_int_equal(sched_start(wd->s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/dask-scheduler"));
	assert_int_equal(sched_pid(wd->s), 0);
	quiet_for(wd, 300, 0);
}

/*
 * After a restart: the process with its start time is taken over (its
 * address and client at once); a wrong start time is another process;
 * one that had not answered yet is waited for again.
 */
static void
test_adopt(void **state)
{
	struct world *wd = *state;
	struct launch_cmd cmd;
	char *argv[] = { "sleep", "600", NULL };
	char err[256];
	pid_t pid;
	uint64_t st;
	struct sched *s;

	memset(&cmd, 0, sizeof(cmd));
	cmd.argv = argv;
	cmd.log_path = wd->log;
	pid = launch_spawn(&cmd, err, sizeof(err));
	assert_true(pid > 0);
	st = launch_start_time(pid);

	s = new_sched(wd, "exit 1", "127.0.0.1", false, 10000, 5000);
	assert_int_equal(sched_adopt(s, pid, st + 1, NULL, NULL, false), -1);
	assert_int_equal(sched_pid(s), 0);
	assert_int_equal(sched_adopt(s, pid, st, "tcp://127.0.0.1:9",
	    "http://127.0.0.1:10", false), 0);
	assert_int_equal(sched_pid(s), pid);
	assert_string_equal(sched_address(s), "tcp://127.0.0.1:9");
	assert_string_equal(fe.base, "http://127.0.0.1:10");
	quiet_for(wd, 300, 0);		/* no wait for /health */
	assert_int_equal(fe.asked, 0);
	sched_free(s);				/* forgets, does not signal */
	wd->s = NULL;
	assert_int_equal(launch_start_time(pid), st);

	s = new_sched(wd, "exit 1", "127.0.0.1", false, 10000, 5000);
	assert_int_equal(sched_adopt(s, pid, st, "tcp://127.0.0.1:9",
	    "http://127.0.0.1:10", true), 0);
	wait_news(wd, 1);
	assert_int_equal(wd->what[0], SCHED_READY);
	sched_stop(s);
	wait_news(wd, 2);
	assert_int_equal(wd->what[1], SCHED_EXITED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_ready_stop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_protocol_times_out,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_on_its_own, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_after_grace,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
