/* Unit tests of launch: the spawner (environment, session, log, folder,
 * fds, signals, exec errors), the blocking wait, the SIGTERM-then-SIGKILL
 * stop through the loop, and the sh-like split of a command line. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "launch.h"
#include "loop.h"
#include "testutil.h"
#include "util.h"

static char *
tmpdir(void)
{
	char base[64];

	tu_mkdtemp(base, sizeof(base), "edask-launch");
	return xstrdup(base);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = xcalloc(1, 65536);

	assert_non_null(f);
	assert_true(fread(buf, 1, 65535, f) < 65535);
	fclose(f);
	return buf;
}

/* Runs sh -c script through launch_spawn, waits; returns its log. */
static char *
run_sh(const char *dir, const char *script, char **env, const char *cwd)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	char *log = xasprintf("%s/log", dir), err[256], *out;
	struct launch_cmd cmd = { argv, env, log, cwd };
	pid_t pid;
	int st;

	pid = launch_spawn(&cmd, err, sizeof(err));
	assert_true(pid > 0);
	assert_int_equal(launch_wait(pid, 10000, &st), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	out = slurp(log);
	{
		struct stat sb;

		/* the log it made is private */
		assert_int_equal(stat(log, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	unlink(log);
	free(log);
	return out;
}

static void
test_spawn_env_cwd_log(void **state)
{
	char *d = tmpdir(), *log = xasprintf("%s/log", d), *out, *want;
	char *env[] = { "EDASK_T=one", "EDASK_T=two", NULL };
	struct stat st;
	FILE *f;

	(void)state;
	/* appended to, not replaced */
	f = fopen(log, "w");
	fputs("before\n", f);
	fclose(f);
	chmod(log, 0640);
	free(log);
	log = xasprintf("%s/log", d);
	{
		char *argv[] = { "sh", "-c", "echo \"$EDASK_T\"; pwd; "
		    "echo to-stderr >&2; read x; echo \"read=$x.\"", NULL };
		struct launch_cmd cmd = { argv, env, log, "/" };
		char err[256];
		pid_t pid;
		int s;

		pid = launch_spawn(&cmd, err, sizeof(err));
		assert_true(pid > 0);
		assert_int_equal(launch_wait(pid, 10000, &s), 0);
		assert_int_equal(s, 0);
	}
	out = slurp(log);
	/* later env entries win; cwd; stderr too; stdin is /dev/null */
	assert_string_equal(out, "before\ntwo\n/\nto-stderr\nread=.\n");
	free(out);
	assert_int_equal(stat(log, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);	/* kept */
	unlink(log);

	out = run_sh(d, "echo hi", NULL, NULL);
	assert_string_equal(out, "hi\n");
	free(out);

	/* a new session: its own sid, and its group is its pid */
	out = run_sh(d, "set -- $(cut -d' ' -f5,6 /proc/$$/stat); "
	    "[ \"$1\" = $$ ] && [ \"$2\" = $$ ] && echo own-session", NULL,
	    NULL);
	assert_string_equal(out, "own-session\n");
	free(out);
	want = xasprintf("%s\n", d);
	out = run_sh(d, "pwd", NULL, d);
	assert_string_equal(out, want);
	free(out);
	free(want);
	rmdir(d);
	free(log);
	free(d);
}

static void
test_spawn_fds_and_signals(void **state)
{
	char *d = tmpdir(), *out, *script;
	sigset_t block, old;
	int fd, leak;

	(void)state;
	/* an fd without O_CLOEXEC is not inherited all the same (high: the
	 * shell's glob has a low one of its own open) */
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd > 2);
	leak = fcntl(fd, F_DUPFD, 100);
	assert_true(leak >= 100);
	close(fd);
	/* a blocked and an ignored signal are not passed on */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	signal(SIGPIPE, SIG_IGN);
	/* grep by exec: the shell's own mask while it waits is not ours */
	script = xasprintf("ls /proc/self/fd | grep -qx %d && echo leaked; "
	    "exec grep -E '^Sig(Blk|Ign)' /proc/self/status", leak);
	out = run_sh(d, script, NULL, NULL);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(leak);
	assert_null(strstr(out, "leaked"));
	assert_non_null(strstr(out, "SigBlk:\t0000000000000000\n"));
	/* SIGPIPE is bit 13 (0x1000): sh may ignore others itself */
	{
		const char *ign = strstr(out, "SigIgn:\t");
		unsigned long long mask;

		assert_non_null(ign);
		assert_int_equal(sscanf(ign + 8, "%llx", &mask), 1);
		assert_int_equal(mask & 0x1000, 0);
	}
	free(out);
	free(script);
	rmdir(d);
	free(d);
}

static void
test_spawn_errors(void **state)
{
	char *d = tmpdir(), *log = xasprintf("%s/log", d), err[256];
	char *missing[] = { "edask-no-such-command", NULL };
	char *sh[] = { "sh", "-c", "true", NULL };
	char *none[] = { NULL };
	struct launch_cmd cmd = { missing, NULL, log, NULL };
	char *nolog = xasprintf("%s/no/log", d);

	(void)state;
	assert_int_equal(launch_spawn(&cmd, err, sizeof(err)), -1);
	assert_string_equal(err, "edask-no-such-command: No such file or "
	    "directory");
	cmd.argv = sh;
	cmd.cwd = "/nonexistent-edask";
	assert_int_equal(launch_spawn(&cmd, err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent-edask: No such file or "
	    "directory");
	cmd.cwd = "/etc/passwd";
	assert_int_equal(launch_spawn(&cmd, err, sizeof(err)), -1);
	assert_string_equal(err, "/etc/passwd: Not a directory");
	cmd.cwd = NULL;
	cmd.log_path = nolog;
	assert_int_equal(launch_spawn(&cmd, err, sizeof(err)), -1);
	assert_non_null(strstr(err, nolog));
	cmd.argv = none;
	assert_int_equal(launch_spawn(&cmd, err, sizeof(err)), -1);
	assert_string_equal(err, "empty command");
	/* not executable */
	cmd.argv = (char *[]){ "/etc/passwd", NULL };
	cmd.log_path = log;
	assert_int_equal(launch_spawn(&cmd, err, sizeof(err)), -1);
	assert_string_equal(err, "/etc/passwd: Permission denied");
	unlink(log);
	rmdir(d);
	free(nolog);
	free(log);
	free(d);
}

static void
test_wait_deadline(void **state)
{
	char *d = tmpdir(), *log = xasprintf("%s/log", d), err[256];
	char *exits[] = { "sh", "-c", "exit 3", NULL };
	char *sleeps[] = { "sleep", "30", NULL };
	struct launch_cmd cmd = { exits, NULL, log, NULL };
	int64_t t0;
	pid_t pid;
	int st;

	(void)state;
	pid = launch_spawn(&cmd, err, sizeof(err));
	assert_int_equal(launch_wait(pid, 10000, &st), 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);

	cmd.argv = sleeps;
	pid = launch_spawn(&cmd, err, sizeof(err));
	t0 = mono_ms();
	assert_int_equal(launch_wait(pid, 200, &st), 1);
	assert_true(mono_ms() - t0 >= 200 && mono_ms() - t0 < 5000);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(kill(pid, 0), -1);		/* reaped */
	unlink(log);
	rmdir(d);
	free(log);
	free(d);
}

/* ------------------------------------------------------- launch_term */

struct stop {
	struct loop		*l;
	struct launch_term	 term;
	int			 status;	/* the exit, waitpid's */
	int64_t			 exit_ms;
	int			 kills;		/* cb calls with SIGKILL */
	int			 terms;		/* cb calls with SIGTERM */
};

static void
on_sig(pid_t pid, int sig, void *arg)
{
	struct stop *s = arg;

	(void)pid;
	if (sig == SIGKILL)
		s->kills++;
	else if (sig == SIGTERM)
		s->terms++;
}

static void
on_gone(pid_t pid, int status, void *arg)
{
	struct stop *s = arg;

	(void)pid;
	s->status = status;
	s->exit_ms = mono_ms();
	launch_term_cancel(&s->term);
	assert_false(launch_term_active(&s->term));
}

/* Starts script (its own session), waits until it wrote "ready". */
static pid_t
start_ready(const char *dir, const char *script)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	char *log = xasprintf("%s/log", dir), err[256], *out;
	struct launch_cmd cmd = { argv, NULL, log, NULL };
	pid_t pid;
	int i;

	unlink(log);
	pid = launch_spawn(&cmd, err, sizeof(err));
	assert_true(pid > 0);
	for (i = 0; i < 500; i++) {
		out = slurp(log);
		if (strstr(out, "ready") != NULL) {
			free(out);
			break;
		}
		free(out);
		usleep(10000);
	}
	assert_true(i < 500);
	unlink(log);
	free(log);
	return pid;
}

/* Stops pid with term_start(wait_ms, grace_ms), runs the loop 1 s past
 * that; returns how long until the exit. */
static int64_t
stop_it(struct stop *s, pid_t pid, bool group, int64_t wait_ms,
    int64_t grace_ms)
{
	int64_t t0 = mono_ms();

	memset(s, 0, sizeof(*s));
	s->l = loop_new();
	assert_true(loop_pid_watch(s->l, pid, on_gone, s) > 0);
	launch_term_start(&s->term, s->l, pid, group, wait_ms, grace_ms,
	    on_sig, s);
	assert_true(launch_term_active(&s->term));
	tu_loop_run_for(s->l, wait_ms + grace_ms + 1000);
	loop_free(s->l);
	assert_true(s->exit_ms != 0);
	return s->exit_ms - t0;
}

#define TRAP_LOOP(t) "trap " t " TERM; echo ready; while :; do sleep 0.05; done"

static void
test_term_then_kill(void **state)
{
	static const struct {
		const char	*why;
		const char	*script;
		bool		 group;
		int64_t		 wait_ms, grace_ms;
		int		 sig;		/* it ends on; 0: exits with code */
		int		 code;
		int		 terms, kills;	/* cb calls */
		int64_t		 min_ms;	/* until its exit */
	} cases[] = {
		{ "ends on SIGTERM: no SIGKILL, even after the grace",
		    "echo ready; exec sleep 30", true, 0, 300, SIGTERM, 0, 0, 0,
		    0 },
		{ "ignores SIGTERM: SIGKILL at the deadline (the group's sleep "
		    "got the SIGTERM)", TRAP_LOOP("''"), true, 0, 300, SIGKILL,
		    0, 0, 1, 300 },
		{ "a deadline: nothing for wait_ms, then SIGKILL alone",
		    TRAP_LOOP("'exit 7'"), false, 300, 0, SIGKILL, 0, 0, 1, 300 },
		{ "a wait, then SIGTERM, which it obeys",
		    TRAP_LOOP("'exit 7'"), false, 200, 2000, 0, 7, 1, 0, 200 },
	};
	char *d = tmpdir();
	struct stop s;
	int64_t took;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		took = stop_it(&s, start_ready(d, cases[i].script),
		    cases[i].group, cases[i].wait_ms, cases[i].grace_ms);
		print_message("%s: %lld ms\n", cases[i].why, (long long)took);
		assert_true(took >= cases[i].min_ms &&
		    took < cases[i].min_ms + 1000);
		if (cases[i].sig != 0)
			assert_true(WIFSIGNALED(s.status) &&
			    WTERMSIG(s.status) == cases[i].sig);
		else
			assert_true(WIFEXITED(s.status) &&
			    WEXITSTATUS(s.status) == cases[i].code);
		assert_int_equal(s.terms, cases[i].terms);
		assert_int_equal(s.kills, cases[i].kills);
	}
	rmdir(d);
	free(d);
}

static int64_t
on_hasten(void *arg)
{
	struct stop *s = arg;

	launch_term_start(&s->term, s->l, s->term.pid, true, 0, 5000, on_sig,
	    s);
	return LOOP_NOMORE;
}

static void
test_term_hastened_and_cancelled(void **state)
{
	char *d = tmpdir();
	struct stop s;
	int64_t t0;
	pid_t pid;

	(void)state;
	/* a second start with no wait sends SIGTERM now */
	pid = start_ready(d, "echo ready; exec sleep 30");
	memset(&s, 0, sizeof(s));
	s.l = loop_new();
	assert_true(loop_pid_watch(s.l, pid, on_gone, &s) > 0);
	t0 = mono_ms();
	launch_term_start(&s.term, s.l, pid, true, 10000, 5000, on_sig, &s);
	loop_timer_add(s.l, 100, on_hasten, &s);
	tu_loop_run_for(s.l, 1500);
	assert_true(s.exit_ms - t0 >= 100 && s.exit_ms - t0 < 1500);
	assert_true(WIFSIGNALED(s.status) && WTERMSIG(s.status) == SIGTERM);
	loop_free(s.l);

	/* cancelled before its wait is over: nothing is sent */
	pid = start_ready(d, "echo ready; exec sleep 30");
	memset(&s, 0, sizeof(s));
	s.l = loop_new();
	launch_term_start(&s.term, s.l, pid, true, 100, 100, on_sig, &s);
	launch_term_cancel(&s.term);
	launch_term_cancel(&s.term);		/* idle: no-op */
	tu_loop_run_for(s.l, 400);
	loop_free(s.l);
	assert_int_equal(s.kills + s.terms, 0);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);	/* runs */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	rmdir(d);
	free(d);
}

/* --------------------------------------------------- launch_argv_words */

static void
test_argv_words(void **state)
{
	static const struct {
		const char	*line;
		const char	*want;	/* words joined by '|'; NULL: error */
		const char	*err;	/* in the message */
	} cases[] = {
		{ "dask worker", "dask|worker", NULL },
		{ "  a\tb   c  ", "a|b|c", NULL },
		{ "python -m 'my mod' \"x y\"", "python|-m|my mod|x y", NULL },
		{ "a\\ b c", "a b|c", NULL },
		{ "run --opt=\"$EDASK_W\"", "run|--opt=v 1", NULL },
		{ "run $EDASK_W", "run|v|1", NULL },
		{ "run ${EDASK_W}x", "run|v|1x", NULL },
		{ "run $(id)", NULL, "command substitution" },
		{ "run `id`", NULL, "command substitution" },
		{ "run $EDASK_UNSET_VARIABLE", NULL, "not set" },
		{ "a | b", NULL, "unquoted" },
		{ "a; b", NULL, "unquoted" },
		{ "a > f", NULL, "unquoted" },
		{ "run \"open", NULL, "bad syntax" },
		{ "", NULL, "no command" },
		{ "   ", NULL, "no command" },
	};
	char **argv, err[256];
	struct strbuf b;
	size_t argc, i, k;

	(void)state;
	setenv("EDASK_W", "v 1", 1);
	unsetenv("EDASK_UNSET_VARIABLE");
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		argv = NULL;
		argc = 0;
		launch_argv_push(&argv, &argc, "first");
		err[0] = '\0';
		if (cases[i].want == NULL) {
			assert_int_equal(launch_argv_words(cases[i].line,
			    &argv, &argc, err, sizeof(err)), -1);
			assert_non_null(strstr(err, cases[i].err));
			assert_int_equal(argc, 1);	/* untouched */
			launch_argv_free(argv);
			continue;
		}
		assert_int_equal(launch_argv_words(cases[i].line, &argv, &argc,
		    err, sizeof(err)), 0);
		memset(&b, 0, sizeof(b));
		for (k = 1; k < argc; k++)
			strbuf_printf(&b, "%s%s", k > 1 ? "|" : "", argv[k]);
		assert_string_equal(b.p, cases[i].want);
		assert_string_equal(argv[0], "first");
		assert_null(argv[argc]);
		free(b.p);
		launch_argv_free(argv);
	}
	unsetenv("EDASK_W");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_env_cwd_log),
		cmocka_unit_test(test_spawn_fds_and_signals),
		cmocka_unit_test(test_spawn_errors),
		cmocka_unit_test(test_wait_deadline),
		cmocka_unit_test(test_term_then_kill),
		cmocka_unit_test(test_term_hastened_and_cancelled),
		cmocka_unit_test(test_argv_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
