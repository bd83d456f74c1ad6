/* Unit tests of child: a command run for its output through the loop,
 * with its exit status, its stderr's last line, a deadline, and the
 * refusal of a command that does not exist. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "child.h"
#include "loop.h"
#include "testutil.h"
#include "util.h"

struct got {
	struct loop	*l;
	int		 calls;
	int		 status;
	char		*out;
	size_t		 outlen;
	char		 msg[CHILD_ERR_MAX];
};

static void
on_done(int status, const char *out, size_t outlen, const char *msg,
    void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->status = status;
	g->out = xstrndup(out, outlen);
	g->outlen = outlen;
	strlcpy_(g->msg, msg, sizeof(g->msg));
	loop_stop(g->l);
}

/* Runs sh -c script (with env) until the callback; returns what came. */
static void
run_sh(struct got *g, const char *script, char **env, int64_t timeout_ms)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	char err[256];
	struct child *c;

	memset(g, 0, sizeof(*g));
	g->l = loop_new();
	c = child_run(g->l, argv, env, timeout_ms, on_done, g, err,
	    sizeof(err));
	assert_non_null(c);
	loop_run(g->l);
	loop_free(g->l);
	assert_int_equal(g->calls, 1);
}

/* A script, what it prints, how it ends and what the message says. */
static const struct sh_case {
	const char	*script;
	int		 status;
	const char	*out;
	const char	*msg;
} sh_cases[] = {
	{ "echo one; echo two", 0, "one\ntwo\n", "" },
	{ "echo partial; echo first >&2; echo 'the reason' >&2; exit 3", 3,
	    "partial\n", "the reason" },
	/* no stderr: the status says it */
	{ "exit 4", 4, "", "sh exited with status 4" },
	/* killed, silently: the signal says it (util_exit_text) */
	{ "kill -9 $$", -1, "", "sh exited on signal 9 (Killed)" },
};

static void
test_output_and_status(void **state)
{
	const struct sh_case *c;
	struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(sh_cases); i++) {
		c = &sh_cases[i];
		run_sh(&g, c->script, NULL, 10000);
		if (g.status != c->status || strcmp(g.out, c->out) != 0 ||
		    strcmp(g.msg, c->msg) != 0)
			fail_msg("<<%s>>: status %d out \"%s\" msg \"%s\"; "
			    "want %d \"%s\" \"%s\"", c->script, g.status,
			    g.out, g.msg, c->status, c->out, c->msg);
		free(g.out);
	}
}

static void
test_env_is_added(void **state)
{
	char *env[] = { "EDASK_CHILD_TEST=seen", NULL };
	struct got g;

	(void)state;
	run_sh(&g, "printf %s \"$EDASK_CHILD_TEST\"; printf %s \"${PATH:+p}\"",
	    env, 10000);
	assert_int_equal(g.status, 0);
	assert_string_equal(g.out, "seenp");	/* environ kept too */
	free(g.out);
}

static void
test_large_output_whole(void **state)
{
	struct got g;

	(void)state;
	/* more than a pipe's buffer and the read chunk */
	run_sh(&g, "head -c 300000 /dev/zero | tr '\\0' x", NULL, 10000);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.outlen, 300000);
	assert_int_equal(strspn(g.out, "x"), 300000);
	free(g.out);
}

static void
test_deadline_kills(void **state)
{
	struct got g;
	int64_t t0 = mono_ms();

	(void)state;
	run_sh(&g, "echo started; exec sleep 30", NULL, 200);
	assert_true(mono_ms() - t0 < 10000);
	assert_int_equal(g.status, -1);
	assert_string_equal(g.out, "started\n");
	assert_non_null(strstr(g.msg, "timed out after 200 ms"));
	free(g.out);
}

static void
test_missing_command_refused(void **state)
{
	char *argv[] = { "edask-no-such-command", NULL };
	struct loop *l = loop_new();
	struct got g;
	char err[256];

	(void)state;
	memset(&g, 0, sizeof(g));
	assert_null(child_run(l, argv, NULL, 1000, on_done, &g, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "edask-no-such-command"));
	assert_int_equal(g.calls, 0);
	loop_free(l);
}

static void
test_cancel_no_callback(void **state)
{
	char *argv[] = { "sleep", "30", NULL };
	struct loop *l = loop_new();
	struct got g;
	struct child *c;
	char err[256];

	(void)state;
	memset(&g, 0, sizeof(g));
	c = child_run(l, argv, NULL, 60000, on_done, &g, err, sizeof(err));
	assert_non_null(c);
	child_cancel(c);
	child_cancel(NULL);
	tu_loop_run_for(l, 300);
	assert_int_equal(g.calls, 0);
	loop_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_and_status),
		cmocka_unit_test(test_env_is_added),
		cmocka_unit_test(test_large_output_whole),
		cmocka_unit_test(test_deadline_kills),
		cmocka_unit_test(test_missing_command_refused),
		cmocka_unit_test(test_cancel_no_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
