/* child: see child.h. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "loop.h"
#include "util.h"

struct child {
	struct loop	*loop;
	pid_t		 pid;
	uint64_t	 watch;		/* loop_pid_watch() id */
	int		 status;	/* waitpid's, once exited */
	bool		 exited;
	bool		 timed_out;
	bool		 too_long;
	int64_t		 timeout_ms;
	int		 fd[2];		/* stdout, stderr; -1 once closed */
	struct strbuf	 buf[2];
	struct launch_term deadline;	/* SIGKILL at timeout_ms */
	child_cb	 cb;
	void		*arg;
	char		 name[64];	/* argv[0], for messages */
};

static void
child_close(struct child *c, int i)
{
	if (c->fd[i] == -1)
		return;
	loop_fd_del(c->loop, c->fd[i]);
	close(c->fd[i]);
	c->fd[i] = -1;
}

static void
child_free(struct child *c)
{
	child_close(c, 0);
	child_close(c, 1);
	launch_term_cancel(&c->deadline);
	free(c->buf[0].p);
	free(c->buf[1].p);
	free(c);
}

/* The last non-empty line of s, cut to fit buf. */
static void
last_line(const char *s, size_t len, char *buf, size_t buflen)
{
	size_t end = len, start;

	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r' ||
	    s[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	if (end - start >= buflen)
		end = start + buflen - 1;
	memcpy(buf, s + start, end - start);
	buf[end - start] = '\0';
}

static void
child_maybe_done(struct child *c)
{
	char msg[CHILD_ERR_MAX], how[64];
	int status = -1;

	if (!c->exited || c->fd[0] != -1 || c->fd[1] != -1)
		return;
	msg[0] = '\0';
	last_line(c->buf[1].p != NULL ? c->buf[1].p : "", c->buf[1].len, msg,
	    sizeof(msg));
	if (c->timed_out)
		snprintf(msg, sizeof(msg), "%s timed out after %lld ms",
		    c->name, (long long)c->timeout_ms);
	else if (c->too_long)
		snprintf(msg, sizeof(msg), "%s printed more than %d bytes",
		    c->name, CHILD_OUT_MAX);
	else {
		if (c->status != -1 && WIFEXITED(c->status))
			status = WEXITSTATUS(c->status);
		if (status != 0 && msg[0] == '\0')
			snprintf(msg, sizeof(msg), "%s %s", c->name,
			    util_exit_text(c->status, how, sizeof(how)));
	}
	c->cb(status, c->buf[0].p != NULL ? c->buf[0].p : "", c->buf[0].len,
	    msg, c->arg);
	child_free(c);
}

static void
child_kill(struct child *c)
{
	if (!c->exited)
		kill(c->pid, SIGKILL);
}

static void
on_read(int fd, uint32_t events, void *arg)
{
	struct child *c = arg;
	int i = fd == c->fd[0] ? 0 : 1;
	size_t cap = i == 0 ? CHILD_OUT_MAX : CHILD_ERR_MAX;
	struct strbuf *b = &c->buf[i];
	char tmp[65536];
	ssize_t r;

	(void)events;
	for (;;) {
		r = read(fd, tmp, sizeof(tmp));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return;
		if (r <= 0)
			break;
		if (b->len + (size_t)r > cap) {
			if (i == 0) {
				c->too_long = true;
				child_kill(c);
				break;
			}
			r = (ssize_t)(cap - b->len);	/* keep the first */
		}
		if (r > 0) {
			if (b->len + (size_t)r + 1 > b->cap) {
				b->cap = (b->len + (size_t)r + 1) * 2;
				b->p = xrealloc(b->p, b->cap);
			}
			memcpy(b->p + b->len, tmp, (size_t)r);
			b->len += (size_t)r;
			b->p[b->len] = '\0';
		}
	}
	child_close(c, i);
	child_maybe_done(c);
}

static void
on_exit_(pid_t pid, int status, void *arg)
{
	struct child *c = arg;

	(void)pid;
	c->exited = true;
	c->status = status;
	launch_term_cancel(&c->deadline);
	child_maybe_done(c);
}

static void
on_timeout(pid_t pid, int sig, void *arg)
{
	struct child *c = arg;

	(void)pid;
	(void)sig;
	c->timed_out = true;
}

struct child *
child_run(struct loop *l, char *const argv[], char *const env[],
    int64_t timeout_ms, child_cb cb, void *arg, char *err, size_t errlen)
{
	struct child *c;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, i;
	char why[512];
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1) {
		seterr(err, errlen, "%s: pipe: %s", argv[0], strerror(errno));
		goto fail;
	}
	ASSERT(timeout_ms > 0);
	/* no session of its own: it is signalled by its pid alone */
	pid = launch_spawn_fds(argv, env, NULL, out[1], errp[1], false, why,
	    sizeof(why));
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;
	if (pid == -1) {
		seterr(err, errlen, "cannot run %s", why);
		goto fail;
	}
	c = xcalloc(1, sizeof(*c));
	c->pid = pid;
	c->loop = l;
	c->cb = cb;
	c->arg = arg;
	c->timeout_ms = timeout_ms;
	c->status = -1;
	strlcpy_(c->name, argv[0], sizeof(c->name));
	c->fd[0] = out[0];
	c->fd[1] = errp[0];
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	if (loop_fd_add(l, c->fd[0], EPOLLIN, on_read, c) == -1 ||
	    loop_fd_add(l, c->fd[1], EPOLLIN, on_read, c) == -1 ||
	    (c->watch = loop_pid_watch(l, c->pid, on_exit_, c)) == 0) {
		/* cannot watch it: do not leave it running unseen */
		seterr(err, errlen, "%s: %s", argv[0], strerror(errno));
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
		loop_pid_unwatch(l, c->watch);
		child_free(c);
		return NULL;
	}
	launch_term_start(&c->deadline, l, c->pid, false, timeout_ms, 0,
	    on_timeout, c);
	return c;
fail:
	for (i = 0; i < 2; i++) {
		if (out[i] != -1)
			close(out[i]);
		if (errp[i] != -1)
			close(errp[i]);
	}
	return NULL;
}

void
child_cancel(struct child *c)
{
	if (c == NULL)
		return;
	if (!c->exited) {
		loop_pid_unwatch(c->loop, c->watch);
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	child_free(c);
}
