/* loop: see loop.h. */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

enum reg_kind { REG_FD, REG_PID, REG_INTERNAL };

struct reg {
	enum reg_kind	 kind;
	int		 fd;
	bool		 dead;
	loop_fd_cb	 fd_cb;
	pid_t		 pid;
	uint64_t	 pid_id;	/* the watch's key */
	loop_pid_cb	 pid_cb;
	void		*arg;
	struct reg	*next_dead;
};

struct timer {
	uint64_t	 id;
	int64_t		 due;
	loop_timer_cb	 cb;
	void		*arg;
};

struct idle {
	loop_idle_cb	 cb;
	void		*arg;
};

struct sig {
	int		 signo;
	loop_signal_cb	 cb;
	void		*arg;
};

struct loop {
	int		 epfd;
	int		 tfd;
	int		 sfd;
	sigset_t	 sigmask;
	struct reg	**regs;		/* all live registrations */
	size_t		 nregs;
	struct reg	*dead;		/* freed after the current batch */
	struct timer	*timers;
	size_t		 ntimers;
	uint64_t	 next_timer_id;
	uint64_t	 next_pid_id;
	struct sig	*sigs;
	size_t		 nsigs;
	struct idle	*idles;
	size_t		 nidles;
	bool		 stop;
	struct reg	 tfd_reg, sfd_reg;
};

static void
reg_track(struct loop *l, struct reg *r)
{
	l->regs = xrealloc(l->regs, (l->nregs + 1) * sizeof(*l->regs));
	l->regs[l->nregs++] = r;
}

/* An fd registration by its fd, a pid watch by its id (never by its pid:
 * two owners may watch one process). */
static struct reg *
reg_untrack(struct loop *l, enum reg_kind kind, int fd, uint64_t pid_id)
{
	size_t i;

	for (i = 0; i < l->nregs; i++) {
		struct reg *r = l->regs[i];

		if (r->kind != kind)
			continue;
		if ((kind == REG_FD && r->fd == fd) ||
		    (kind == REG_PID && r->pid_id == pid_id)) {
			l->regs[i] = l->regs[--l->nregs];
			return r;
		}
	}
	return NULL;
}

/* epoll_ctl op (ADD or MOD) of r's fd for events, with r as its data. */
static int
reg_ctl(struct loop *l, int op, struct reg *r, uint32_t events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = r;
	return epoll_ctl(l->epfd, op, r->fd, &ev);
}

static void
reg_bury(struct loop *l, struct reg *r)
{
	r->dead = true;
	r->next_dead = l->dead;
	l->dead = r;
}

static void
timers_arm(struct loop *l)
{
	struct itimerspec its;
	int64_t due = INT64_MAX;
	size_t i;

	memset(&its, 0, sizeof(its));
	for (i = 0; i < l->ntimers; i++)
		if (l->timers[i].due < due)
			due = l->timers[i].due;
	if (due != INT64_MAX) {
		if (due <= 0)
			due = 1;
		its.it_value.tv_sec = due / 1000;
		its.it_value.tv_nsec = (due % 1000) * 1000000;
	}
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) == -1)
		log_warn("timerfd_settime");
}

struct loop *
loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof(*l));

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	sigemptyset(&l->sigmask);
	l->sfd = signalfd(-1, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->epfd == -1 || l->tfd == -1 || l->sfd == -1)
		fatal("loop: epoll/timerfd/signalfd");
	l->next_timer_id = 1;
	l->tfd_reg.kind = REG_INTERNAL;
	l->tfd_reg.fd = l->tfd;
	l->sfd_reg.kind = REG_INTERNAL;
	l->sfd_reg.fd = l->sfd;
	if (reg_ctl(l, EPOLL_CTL_ADD, &l->tfd_reg, EPOLLIN) == -1 ||
	    reg_ctl(l, EPOLL_CTL_ADD, &l->sfd_reg, EPOLLIN) == -1)
		fatal("loop: epoll_ctl");
	return l;
}

static void
free_dead(struct loop *l)
{
	while (l->dead != NULL) {
		struct reg *r = l->dead;

		l->dead = r->next_dead;
		free(r);
	}
}

void
loop_free(struct loop *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->nregs; i++) {
		if (l->regs[i]->kind == REG_PID)
			close(l->regs[i]->fd);
		free(l->regs[i]);
	}
	free_dead(l);
	free(l->regs);
	free(l->timers);
	free(l->sigs);
	free(l->idles);
	close(l->epfd);
	close(l->tfd);
	close(l->sfd);
	free(l);
}

int
loop_fd_add(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
	struct reg *r = xcalloc(1, sizeof(*r));

	r->kind = REG_FD;
	r->fd = fd;
	r->fd_cb = cb;
	r->arg = arg;
	if (reg_ctl(l, EPOLL_CTL_ADD, r, events) == -1) {
		free(r);
		return -1;
	}
	reg_track(l, r);
	return 0;
}

int
loop_fd_mod(struct loop *l, int fd, uint32_t events)
{
	size_t i;

	for (i = 0; i < l->nregs; i++)
		if (l->regs[i]->kind == REG_FD && l->regs[i]->fd == fd)
			return reg_ctl(l, EPOLL_CTL_MOD, l->regs[i], events);
	errno = ENOENT;
	return -1;
}

void
loop_fd_del(struct loop *l, int fd)
{
	struct reg *r = reg_untrack(l, REG_FD, fd, 0);

	if (r == NULL)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	reg_bury(l, r);
}

uint64_t
loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_cb cb, void *arg)
{
	struct timer *t;

	l->timers = xrealloc(l->timers, (l->ntimers + 1) * sizeof(*l->timers));
	t = &l->timers[l->ntimers++];
	t->id = l->next_timer_id++;
	t->due = mono_ms() + (delay_ms > 0 ? delay_ms : 0);
	t->cb = cb;
	t->arg = arg;
	timers_arm(l);
	return t->id;
}

void
loop_timer_cancel(struct loop *l, uint64_t id)
{
	size_t i;

	for (i = 0; i < l->ntimers; i++) {
		if (l->timers[i].id == id) {
			l->timers[i] = l->timers[--l->ntimers];
			timers_arm(l);
			return;
		}
	}
}

void
loop_timer_clear(struct loop *l, uint64_t *id)
{
	if (*id == 0)
		return;
	loop_timer_cancel(l, *id);
	*id = 0;
}

uint64_t
loop_pid_watch(struct loop *l, pid_t pid, loop_pid_cb cb, void *arg)
{
	struct reg *r;
	int fd, e;

	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd == -1)
		return 0;
	r = xcalloc(1, sizeof(*r));
	r->kind = REG_PID;
	r->fd = fd;
	r->pid = pid;
	r->pid_id = ++l->next_pid_id;
	r->pid_cb = cb;
	r->arg = arg;
	if (reg_ctl(l, EPOLL_CTL_ADD, r, EPOLLIN) == -1) {
		e = errno;
		close(fd);
		free(r);
		errno = e;
		return 0;
	}
	reg_track(l, r);
	return r->pid_id;
}

void
loop_pid_unwatch(struct loop *l, uint64_t id)
{
	struct reg *r;

	if (id == 0)
		return;
	r = reg_untrack(l, REG_PID, 0, id);

	if (r == NULL)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, r->fd, NULL);
	close(r->fd);
	reg_bury(l, r);
}

int
loop_signal(struct loop *l, int signo, loop_signal_cb cb, void *arg)
{
	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) == -1)
		return -1;
	if (signalfd(l->sfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC) == -1)
		return -1;
	l->sigs = xrealloc(l->sigs, (l->nsigs + 1) * sizeof(*l->sigs));
	l->sigs[l->nsigs].signo = signo;
	l->sigs[l->nsigs].cb = cb;
	l->sigs[l->nsigs].arg = arg;
	l->nsigs++;
	return 0;
}

void
loop_before_sleep(struct loop *l, loop_idle_cb cb, void *arg)
{
	l->idles = xrealloc(l->idles, (l->nidles + 1) * sizeof(*l->idles));
	l->idles[l->nidles].cb = cb;
	l->idles[l->nidles].arg = arg;
	l->nidles++;
}

void
loop_before_sleep_remove(struct loop *l, loop_idle_cb cb, void *arg)
{
	size_t i;

	for (i = 0; i < l->nidles; i++) {
		if (l->idles[i].cb == cb && l->idles[i].arg == arg) {
			memmove(&l->idles[i], &l->idles[i + 1],
			    (l->nidles - i - 1) * sizeof(*l->idles));
			l->nidles--;
			return;
		}
	}
}

/* The hooks may add or remove hooks: each runs from a copy. */
static void
run_idles(struct loop *l)
{
	size_t i;

	for (i = 0; i < l->nidles; i++) {
		struct idle h = l->idles[i];

		h.cb(h.arg);
	}
}

void
loop_stop(struct loop *l)
{
	l->stop = true;
}

static void
run_timers(struct loop *l)
{
	uint64_t expirations;
	int64_t now = mono_ms(), next;
	size_t i;

	while (read(l->tfd, &expirations, sizeof(expirations)) > 0)
		;
	/* Take one due timer at a time: callbacks may add or cancel. */
	for (;;) {
		struct timer t;
		bool found = false;

		for (i = 0; i < l->ntimers; i++) {
			if (l->timers[i].due <= now) {
				t = l->timers[i];
				l->timers[i] = l->timers[--l->ntimers];
				found = true;
				break;
			}
		}
		if (!found)
			break;
		next = t.cb(t.arg);
		if (next >= 0) {
			/* again, as the same timer */
			l->timers = xrealloc(l->timers,
			    (l->ntimers + 1) * sizeof(*l->timers));
			t.due = mono_ms() + next;
			if (t.due <= now)
				t.due = now + 1;	/* not again this turn */
			l->timers[l->ntimers++] = t;
		}
	}
	timers_arm(l);
}

static void
run_signals(struct loop *l)
{
	struct signalfd_siginfo si;
	size_t i;

	while (read(l->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (i = 0; i < l->nsigs; i++)
			if (l->sigs[i].signo == (int)si.ssi_signo)
				l->sigs[i].cb((int)si.ssi_signo, l->sigs[i].arg);
	}
}

static void
run_pid(struct loop *l, struct reg *r)
{
	siginfo_t info;
	int status = -1;
	pid_t pid = r->pid;
	loop_pid_cb cb = r->pid_cb;
	void *arg = r->arg;

	memset(&info, 0, sizeof(info));
	if (waitid(P_PIDFD, (id_t)r->fd, &info, WEXITED | WNOHANG) == 0) {
		if (info.si_pid == 0)
			return;		/* spurious: not exited yet */
		if (info.si_code == CLD_EXITED)
			status = (info.si_status & 0xff) << 8;
		else
			status = info.si_status & 0x7f;
	}
	loop_pid_unwatch(l, r->pid_id);
	cb(pid, status, arg);
}

int
loop_run(struct loop *l)
{
	struct epoll_event evs[64];
	int i, n;

	while (!l->stop) {
		run_idles(l);
		if (l->stop)
			break;
		n = epoll_wait(l->epfd, evs, (int)ARRAY_LEN(evs), -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("epoll_wait");
			return -1;
		}
		for (i = 0; i < n && !l->stop; i++) {
			struct reg *r = evs[i].data.ptr;

			if (r->dead)
				continue;
			if (r == &l->tfd_reg)
				run_timers(l);
			else if (r == &l->sfd_reg)
				run_signals(l);
			else if (r->kind == REG_PID)
				run_pid(l, r);
			else
				r->fd_cb(r->fd, evs[i].events, r->arg);
		}
		free_dead(l);
	}
	l->stop = false;	/* the next loop_run() runs again */
	return 0;
}
