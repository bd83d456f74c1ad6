/*
 * test_forker: a fork request to the worker forker never waits on its
 * socket.  The test plays the forker: a listening socket it answers (or
 * does not) only after forker_fork() has returned.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_int.h"
#include "loop.h"
#include "testutil.h"

struct world {
	char		 dir[64];
	char		 sock[96];
	int		 lfd;
	struct loop	*loop;
	struct ctl	 ctl;
	struct instance	 in;
	/* the answer */
	int		 calls;
	pid_t		 pid;
	char		 why[256];
};

static void
on_answer(pid_t pid, const char *why, void *arg)
{
	struct world *wd = arg;

	wd->calls++;
	wd->pid = pid;
	strlcpy_(wd->why, why, sizeof(wd->why));
}


static int
setup(void **state)
{
	struct world *wd = xcalloc(1, sizeof(*wd));

	tu_mkdtemp(wd->dir, sizeof(wd->dir), "test_forker");
	snprintf(wd->sock, sizeof(wd->sock), "%s/forker.sock", wd->dir);
	wd->lfd = tu_unix_listen(wd->sock);
	wd->loop = loop_new();
	wd->ctl.loop = wd->loop;
	wd->in.ctl = &wd->ctl;
	wd->in.forker_sock = wd->sock;
	wd->in.dir = wd->dir;
	*state = wd;
	return 0;
}


static int
teardown(void **state)
{
	struct world *wd = *state;

	close(wd->lfd);
	loop_free(wd->loop);
	unlink(wd->sock);
	rmdir(wd->dir);
	free(wd);
	return 0;
}


static struct fork_req *
ask(struct world *wd)
{
	char *argv[] = { "python", "-m", "distributed.cli.dask_worker",
	    "tls://127.0.0.1:8786", "--nthreads", "1", NULL };
	char *env[] = { "CUDA_VISIBLE_DEVICES=0", NULL };
	char err[256];
	struct fork_req *r;

	r = forker_fork(&wd->in, argv, env, "/dev/null", on_answer, wd, err,
	    sizeof(err));
	if (r == NULL)
		fail_msg("forker_fork: %s", err);
	return r;
}


/* The request is sent and forker_fork returns before any answer; the
 * answer comes through the loop. */
static void
test_answer_comes_through_the_loop(void **state)
{
	struct world *wd = *state;
	char buf[4096];
	ssize_t n;
	int fd;

	ask(wd);
	assert_int_equal(wd->calls, 0);
	fd = accept(wd->lfd, NULL, NULL);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"dask-worker\""));
	assert_non_null(strstr(buf, "\"CUDA_VISIBLE_DEVICES\":\"0\""));
	assert_int_equal(buf[n - 1], '\n');
	assert_int_equal(wd->calls, 0);
	assert_int_equal(write(fd, "{\"pid\": 4242}\n", 14), 14);
	tu_loop_run_for(wd->loop, 100);
	close(fd);
	assert_int_equal(wd->calls, 1);
	assert_int_equal(wd->pid, 4242);
}


/* Two in flight at once, answered in the other order. */
static void
test_two_in_flight(void **state)
{
	struct world *wd = *state;
	char buf[4096];
	int a, b;

	ask(wd);
	ask(wd);
	a = accept(wd->lfd, NULL, NULL);
	b = accept(wd->lfd, NULL, NULL);
	assert_true(read(a, buf, sizeof(buf)) > 0);
	assert_true(read(b, buf, sizeof(buf)) > 0);
	assert_int_equal(write(b, "{\"pid\": 7}\n", 11), 11);
	tu_loop_run_for(wd->loop, 50);
	assert_int_equal(wd->calls, 1);
	assert_int_equal(wd->pid, 7);
	assert_int_equal(write(a, "{\"pid\": 8}\n", 11), 11);
	tu_loop_run_for(wd->loop, 50);
	assert_int_equal(wd->calls, 2);
	assert_int_equal(wd->pid, 8);
	close(a);
	close(b);
}


/* A forker that says no, closes, or never answers: -1 and why. */
static void
test_failures_say_why(void **state)
{
	struct world *wd = *state;
	char buf[4096];
	int fd;

	ask(wd);
	fd = accept(wd->lfd, NULL, NULL);
	assert_true(read(fd, buf, sizeof(buf)) > 0);
	assert_int_equal(write(fd, "{\"error\": \"bad argv\"}\n", 22), 22);
	tu_loop_run_for(wd->loop, 50);
	close(fd);
	assert_int_equal(wd->calls, 1);
	assert_int_equal(wd->pid, -1);
	assert_non_null(strstr(wd->why, "forker: bad argv"));

	ask(wd);
	fd = accept(wd->lfd, NULL, NULL);
	close(fd);
	tu_loop_run_for(wd->loop, 50);
	assert_int_equal(wd->calls, 2);
	assert_int_equal(wd->pid, -1);
	assert_non_null(strstr(wd->why, "closed without an answer"));

	ask(wd);
	fd = accept(wd->lfd, NULL, NULL);
	tu_loop_run_for(wd->loop, FORKER_IO_MS + 200);
	close(fd);
	assert_int_equal(wd->calls, 3);
	assert_non_null(strstr(wd->why, "no answer within"));
}


/* Cancelled in flight: its callback never comes. */
static void
test_cancel_is_silent(void **state)
{
	struct world *wd = *state;
	struct fork_req *r = ask(wd);
	int fd = accept(wd->lfd, NULL, NULL);

	forker_fork_cancel(r);
	/* the other end is closed: what is written goes nowhere */
	(void)send(fd, "{\"pid\": 9}\n", 11, MSG_NOSIGNAL);
	tu_loop_run_for(wd->loop, 50);
	close(fd);
	assert_int_equal(wd->calls, 0);
}


/* No forker listening: refused at once, without a request. */
static void
test_no_forker(void **state)
{
	struct world *wd = *state;
	char *argv[] = { "python", "-m", "x", NULL };
	char err[256];

	unlink(wd->sock);
	assert_null(forker_fork(&wd->in, argv, NULL, "/dev/null", on_answer,
	    wd, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot connect"));
	assert_int_equal(wd->calls, 0);
}


int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_answer_comes_through_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_in_flight, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_failures_say_why, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel_is_silent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_forker, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
