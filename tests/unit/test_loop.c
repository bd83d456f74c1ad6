/* Unit tests of the event loop: timers, cancellation, fds, process exits,
 * signals. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "util.h"

struct rec {
	struct loop	*l;
	char		 order[16];
	size_t		 n;
	int		 status;
	pid_t		 pid;
	int		 signo;
	uint64_t	 victim;
};

struct tag {
	struct rec	*r;
	char		 c;
	bool		 stop;
};

static int64_t
on_tag(void *arg)
{
	struct tag *t = arg;

	t->r->order[t->r->n++] = t->c;
	if (t->stop)
		loop_stop(t->r->l);
	return LOOP_NOMORE;
}

static void
test_timers_fire_in_deadline_order(void **state)
{
	struct rec r = { 0 };
	struct tag a = { &r, 'a', false }, b = { &r, 'b', false },
	    c = { &r, 'c', true }, d = { &r, 'd', false };
	uint64_t id;

	(void)state;
	r.l = loop_new();
	loop_timer_add(r.l, 30, on_tag, &b);
	loop_timer_add(r.l, 10, on_tag, &a);
	id = loop_timer_add(r.l, 20, on_tag, &d);
	loop_timer_add(r.l, 60, on_tag, &c);
	loop_timer_cancel(r.l, id);
	loop_timer_cancel(r.l, 9999);		/* stale id: no-op */
	assert_int_equal(loop_run(r.l), 0);
	assert_string_equal(r.order, "abc");
	loop_free(r.l);
}

static int64_t
on_cancel_other(void *arg)
{
	struct rec *r = arg;

	loop_timer_cancel(r->l, r->victim);
	r->order[r->n++] = 'x';
	return LOOP_NOMORE;
}

static void
test_timer_cancelled_by_earlier_callback(void **state)
{
	struct rec r = { 0 };
	struct tag v = { &r, 'v', false }, end = { &r, 'e', true };

	(void)state;
	r.l = loop_new();
	loop_timer_add(r.l, 5, on_cancel_other, &r);
	r.victim = loop_timer_add(r.l, 6, on_tag, &v);
	loop_timer_add(r.l, 40, on_tag, &end);
	loop_run(r.l);
	assert_string_equal(r.order, "xe");
	loop_free(r.l);
}

/* Runs three times, 5 ms apart, as the same timer (its id cancels it). */
struct again {
	struct loop	*l;
	int		 runs;
	int64_t		 at[3];
	uint64_t	 id;
};

static int64_t
on_again(void *arg)
{
	struct again *g = arg;

	g->at[g->runs++] = mono_ms();
	if (g->runs < 3)
		return 5;
	loop_stop(g->l);
	return LOOP_NOMORE;
}

static void
test_timer_rearms_by_its_return(void **state)
{
	struct again g = { 0 };

	(void)state;
	g.l = loop_new();
	g.id = loop_timer_add(g.l, 1, on_again, &g);
	loop_run(g.l);
	assert_int_equal(g.runs, 3);
	assert_true(g.at[1] - g.at[0] >= 5 && g.at[2] - g.at[1] >= 5);
	loop_free(g.l);
}

/* A re-armed timer keeps its id: cancelled by it between two runs. */
static int64_t
on_cancel_again(void *arg)
{
	struct again *g = arg;

	loop_timer_cancel(g->l, g->id);
	return LOOP_NOMORE;
}

static void
test_rearmed_timer_keeps_its_id(void **state)
{
	struct again g = { 0 };
	struct rec r = { 0 };
	struct tag end = { &r, 'e', true };

	(void)state;
	g.l = r.l = loop_new();
	g.id = loop_timer_add(g.l, 1, on_again, &g);
	loop_timer_add(g.l, 3, on_cancel_again, &g);	/* after run 1 */
	loop_timer_add(g.l, 40, on_tag, &end);
	loop_run(g.l);
	assert_int_equal(g.runs, 1);
	loop_free(g.l);
}

/* A 0 delay does not spin in one turn: the hook sees each run. */
struct spin {
	struct loop	*l;
	int		 runs, hooks;
};

static int64_t
on_spin(void *arg)
{
	struct spin *p = arg;

	if (++p->runs == 5) {
		loop_stop(p->l);
		return LOOP_NOMORE;
	}
	return 0;
}

static void
on_hook(void *arg)
{
	((struct spin *)arg)->hooks++;
}

static void
test_before_sleep_runs_each_turn(void **state)
{
	struct spin p = { 0 };

	(void)state;
	p.l = loop_new();
	loop_before_sleep(p.l, on_hook, &p);
	loop_timer_add(p.l, 0, on_spin, &p);
	loop_run(p.l);
	assert_int_equal(p.runs, 5);
	assert_true(p.hooks >= 5);
	/* removed: not run again */
	loop_before_sleep_remove(p.l, on_hook, &p);
	p.hooks = 0;
	p.runs = 0;
	loop_timer_add(p.l, 0, on_spin, &p);
	loop_run(p.l);
	assert_int_equal(p.hooks, 0);
	loop_free(p.l);
}

static void
on_readable(int fd, uint32_t events, void *arg)
{
	struct rec *r = arg;
	char c;

	assert_true(events & EPOLLIN);
	assert_int_equal(read(fd, &c, 1), 1);
	r->order[r->n++] = c;
	loop_fd_del(r->l, fd);
	loop_stop(r->l);
}

static void
test_fd_callback_and_removal(void **state)
{
	struct rec r = { 0 };
	int p[2];

	(void)state;
	r.l = loop_new();
	assert_int_equal(pipe(p), 0);
	assert_int_equal(loop_fd_add(r.l, p[0], EPOLLIN, on_readable, &r), 0);
	assert_int_equal(write(p[1], "z", 1), 1);
	loop_run(r.l);
	assert_string_equal(r.order, "z");
	close(p[0]);
	close(p[1]);
	loop_free(r.l);
}

static void
on_exit_cb(pid_t pid, int status, void *arg)
{
	struct rec *r = arg;

	r->pid = pid;
	r->status = status;
	loop_stop(r->l);
}

#define UNTIL_KILLED	(-1)

/* A child that exits with code, or pauses UNTIL_KILLED. */
static pid_t
fork_child(int code)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (code == UNTIL_KILLED)
			pause();
		_exit(code == UNTIL_KILLED ? 0 : code);
	}
	return pid;
}

/* A watched child's end, exit or signal, is heard through its pidfd,
 * and the child is reaped. */
static void
test_child_exit_through_pidfd(void **state)
{
	static const struct {
		const char	*name;
		int		 code;	/* or UNTIL_KILLED */
	} rows[] = {
		{ "exits with 7", 7 },
		{ "killed by SIGKILL", UNTIL_KILLED },
	};
	struct rec r;
	size_t i;
	pid_t pid;
	bool ok;

	(void)state;
	for (i = 0; i < ARRAY_LEN(rows); i++) {
		memset(&r, 0, sizeof(r));
		r.l = loop_new();
		pid = fork_child(rows[i].code);
		assert_true(loop_pid_watch(r.l, pid, on_exit_cb, &r) > 0);
		if (rows[i].code == UNTIL_KILLED)
			kill(pid, SIGKILL);
		loop_run(r.l);
		if (r.pid != pid)
			fail_msg("%s: heard pid %d, want %d", rows[i].name,
			    (int)r.pid, (int)pid);
		if (rows[i].code == UNTIL_KILLED)
			ok = WIFSIGNALED(r.status) &&
			    WTERMSIG(r.status) == SIGKILL;
		else
			ok = WIFEXITED(r.status) &&
			    WEXITSTATUS(r.status) == rows[i].code;
		if (!ok)
			fail_msg("%s: wait status %#x", rows[i].name,
			    (unsigned)r.status);
		/* reaped: no zombie is left */
		if (waitpid(pid, NULL, WNOHANG) != -1)
			fail_msg("%s: not reaped", rows[i].name);
		loop_free(r.l);
	}
}

/* Two owners watch one process (a database that names one pid for a
 * scheduler and a worker): removing one watch must leave the other, which
 * still hears the exit.  Keyed by pid, the removal took both, and the
 * daemon waited for an exit it would never hear. */
static void
test_two_watches_of_one_pid(void **state)
{
	struct rec a = { 0 }, b = { 0 };
	uint64_t ida, idb;
	pid_t pid;

	(void)state;
	a.l = b.l = loop_new();
	pid = fork_child(UNTIL_KILLED);
	ida = loop_pid_watch(a.l, pid, on_exit_cb, &a);
	idb = loop_pid_watch(b.l, pid, on_exit_cb, &b);
	assert_true(ida > 0 && idb > 0 && ida != idb);
	loop_pid_unwatch(a.l, ida);
	loop_pid_unwatch(a.l, ida);		/* stale: no-op */
	loop_pid_unwatch(a.l, 0);
	kill(pid, SIGKILL);
	loop_run(b.l);
	assert_int_equal(b.pid, pid);
	assert_true(WIFSIGNALED(b.status));
	assert_int_equal(a.pid, 0);
	loop_free(a.l);
}

static void
on_sig(int signo, void *arg)
{
	struct rec *r = arg;

	r->signo = signo;
	loop_stop(r->l);
}

static void
test_signal_through_signalfd(void **state)
{
	struct rec r = { 0 };

	(void)state;
	r.l = loop_new();
	assert_int_equal(loop_signal(r.l, SIGUSR1, on_sig, &r), 0);
	kill(getpid(), SIGUSR1);
	loop_run(r.l);
	assert_int_equal(r.signo, SIGUSR1);
	loop_free(r.l);
}

static void
test_stop_before_run_returns_at_once(void **state)
{
	struct loop *l = loop_new();

	(void)state;
	loop_stop(l);
	assert_int_equal(loop_run(l), 0);
	loop_free(l);
	loop_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_timer_cancelled_by_earlier_callback),
		cmocka_unit_test(test_timer_rearms_by_its_return),
		cmocka_unit_test(test_rearmed_timer_keeps_its_id),
		cmocka_unit_test(test_before_sleep_runs_each_turn),
		cmocka_unit_test(test_fd_callback_and_removal),
		cmocka_unit_test(test_child_exit_through_pidfd),
		cmocka_unit_test(test_two_watches_of_one_pid),
		cmocka_unit_test(test_signal_through_signalfd),
		cmocka_unit_test(test_stop_before_run_returns_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
