/* child: see child.h. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
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
	uint64_t	 timer;
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
	loop_timer_cancel(c->loop, c->timer);
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
	char msg[CHILD_ERR_MAX];
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
	else if (c->status != -1 && WIFEXITED(c->status))
		status = WEXITSTATUS(c->status);
	else if (c->status != -1 && WIFSIGNALED(c->status) && msg[0] == '\0')
		snprintf(msg, sizeof(msg), "%s killed by signal %d", c->name,
		    WTERMSIG(c->status));
	if (status > 0 && msg[0] == '\0')
		snprintf(msg, sizeof(msg), "%s exited with %d", c->name,
		    status);
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
	child_maybe_done(c);
}

static void
on_timeout(void *arg)
{
	struct child *c = arg;

	c->timer = 0;
	c->timed_out = true;
	child_kill(c);
}

struct child *
child_run(struct loop *l, char *const argv[], char *const env[],
    int64_t timeout_ms, child_cb cb, void *arg, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	struct child *c;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, r;
	char **envp;

	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1) {
		seterr(err, errlen, "%s: pipe: %s", argv[0], strerror(errno));
		goto fail;
	}
	/* the loop blocks the signals it reads through its signalfd: the
	 * command gets a clean mask */
	sigemptyset(&none);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	c = xcalloc(1, sizeof(*c));
	envp = launch_env_merge((char **)env);
	r = posix_spawnp(&c->pid, argv[0], &fa, &attr, argv, envp);
	free(envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;
	if (r != 0) {
		seterr(err, errlen, "cannot run %s: %s", argv[0], strerror(r));
		free(c);
		goto fail;
	}
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
	c->timer = loop_timer_add(l, timeout_ms, on_timeout, c);
	return c;
fail:
	for (r = 0; r < 2; r++) {
		if (out[r] != -1)
			close(out[r]);
		if (errp[r] != -1)
			close(errp[r]);
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
