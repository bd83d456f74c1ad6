/* launch: see launch.h. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

#include "loop.h"
#include "util.h"

extern char **environ;

char **
launch_env_merge(char **extra)
{
	size_t n = 0, m = 0, i, j;
	char **out;

	while (environ[n] != NULL)
		n++;
	while (extra != NULL && extra[m] != NULL)
		m++;
	out = xcalloc(n + m + 1, sizeof(*out));
	for (i = 0; i < n; i++) {
		size_t klen = strcspn(environ[i], "=");
		bool replaced = false;

		for (j = 0; j < m; j++)
			if (strncmp(extra[j], environ[i], klen + 1) == 0)
				replaced = true;
		if (!replaced)
			out[i] = environ[i];
	}
	/* compact */
	for (i = 0, j = 0; i < n; i++)
		if (out[i] != NULL)
			out[j++] = out[i];
	for (i = 0; i < m; i++) {
		size_t klen = strcspn(extra[i], "=");
		size_t k;
		bool dup = false;

		for (k = i + 1; k < m; k++)
			if (strncmp(extra[k], extra[i], klen + 1) == 0)
				dup = true;
		if (!dup)
			out[j++] = extra[i];
	}
	out[j] = NULL;
	return out;
}

pid_t
launch_spawn_fds(char *const argv[], char *const env[], const char *cwd,
    int out_fd, int err_fd, bool new_session, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	char **envp;
	int cwdfd = -1, r;
	pid_t pid;

	if (argv == NULL || argv[0] == NULL)
		return seterr(err, errlen, "empty command");
	/* opened here, not by the child, so that its error is told apart
	 * from exec's */
	if (cwd != NULL &&
	    (cwdfd = open(cwd, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return seterr(err, errlen, "%s: %s", cwd, strerror(errno));
	/* the loop blocks the signals it reads through its signalfd, and the
	 * daemon ignores SIGPIPE: the command gets neither */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	if (new_session)
		flags |= POSIX_SPAWN_SETSID;
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, flags);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	/* stdin last: out_fd may itself be 0 in a daemon started without
	 * one */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (cwdfd != -1)
		posix_spawn_file_actions_addfchdir_np(&fa, cwdfd);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	envp = launch_env_merge((char **)env);
	r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
	free(envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (cwdfd != -1)
		close(cwdfd);
	if (r != 0)
		return seterr(err, errlen, "%s: %s", argv[0], strerror(r));
	return pid;
}

pid_t
launch_spawn(const struct launch_cmd *cmd, char *err, size_t errlen)
{
	pid_t pid;
	int logfd;

	if (cmd->argv == NULL || cmd->argv[0] == NULL)
		return seterr(err, errlen, "empty command");
	logfd = open(cmd->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (logfd == -1)
		return seterr(err, errlen, "%s: %s", cmd->log_path,
		    strerror(errno));
	pid = launch_spawn_fds(cmd->argv, cmd->env, cmd->cwd, logfd, logfd,
	    true, err, errlen);
	close(logfd);
	return pid;
}

int
launch_wait(pid_t pid, int64_t timeout_ms, int *status)
{
	int64_t deadline = mono_ms() + timeout_ms, left;
	struct pollfd pfd;
	int fd, r, e;
	pid_t w;

	if ((fd = pidfd_open(pid, 0)) == -1)
		return -1;
	pfd.fd = fd;
	pfd.events = POLLIN;
	do {
		left = deadline - mono_ms();
		if (left < 0)
			left = 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
	} while ((r == -1 && errno == EINTR) || (r == 0 && left > 0 &&
	    mono_ms() < deadline));
	e = errno;
	close(fd);
	if (r != 1)
		launch_kill(pid, SIGKILL);
	while ((w = waitpid(pid, status, 0)) == -1 && errno == EINTR)
		;
	if (r == -1 || w == -1) {
		errno = r == -1 ? e : errno;
		return -1;
	}
	return r == 1 ? 0 : 1;
}

static void
term_send(struct launch_term *t, int sig)
{
	ASSERT(t->pid > 0);	/* kill(0) would signal our own group */
	t->sent = sig;
	if (t->group)
		launch_kill(t->pid, sig);
	else
		kill(t->pid, sig);
}

static int64_t on_term_timer(void *arg);

/* SIGTERM and the SIGKILL deadline, or SIGKILL alone with no grace. */
static void
term_now(struct launch_term *t)
{
	if (t->grace_ms <= 0) {
		term_send(t, SIGKILL);
		return;
	}
	term_send(t, SIGTERM);
	if (t->timer == 0)
		t->timer = loop_timer_add(t->loop, t->grace_ms, on_term_timer,
		    t);
}

/* One-shot (the grace's timer is a new one): cb, called last, may cancel
 * or free t, so the loop must not keep this one. */
static int64_t
on_term_timer(void *arg)
{
	struct launch_term *t = arg;
	launch_term_cb cb = t->cb;
	void *cb_arg = t->arg;
	pid_t pid = t->pid;

	t->timer = 0;
	if (t->sent == 0)
		term_now(t);		/* the wait is over */
	else
		term_send(t, SIGKILL);	/* so is the grace */
	/* last: cb may free t */
	if (cb != NULL)
		cb(pid, t->sent, cb_arg);
	return LOOP_NOMORE;
}

void
launch_term_start(struct launch_term *t, struct loop *l, pid_t pid,
    bool group, int64_t wait_ms, int64_t grace_ms, launch_term_cb cb,
    void *arg)
{
	ASSERT(pid > 0);
	if (t->pid != pid) {
		launch_term_cancel(t);
		t->loop = l;
		t->pid = pid;
		t->group = group;
		t->grace_ms = grace_ms;
		t->cb = cb;
		t->arg = arg;
		if (wait_ms > 0) {
			t->timer = loop_timer_add(l, wait_ms, on_term_timer, t);
			return;
		}
	} else if (wait_ms > 0 || t->sent == SIGKILL) {
		return;
	} else if (t->sent == 0) {
		/* hastened: the wait ends now */
		loop_timer_clear(t->loop, &t->timer);
	}
	term_now(t);
}

void
launch_term_cancel(struct launch_term *t)
{
	if (t->pid != 0)
		loop_timer_cancel(t->loop, t->timer);
	memset(t, 0, sizeof(*t));
}

bool
launch_term_active(const struct launch_term *t)
{
	return t->pid != 0;
}

int
launch_kill(pid_t pid, int sig)
{
	if (pid <= 1)
		return -1;
	if (kill(-pid, sig) == 0)
		return 0;
	return kill(pid, sig);
}

bool
launch_command_exists(const char *cmd)
{
	const char *path;
	char *dirs, *d, *save = NULL;
	bool found = false;

	if (cmd == NULL || *cmd == '\0')
		return false;
	if (strchr(cmd, '/') != NULL)
		return access(cmd, X_OK) == 0;
	path = getenv("PATH");
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	dirs = xstrdup(path);
	for (d = strtok_r(dirs, ":", &save); d != NULL && !found;
	    d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", d, cmd);
		struct stat st;

		found = stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(p, X_OK) == 0;
		free(p);
	}
	free(dirs);
	return found;
}

uint64_t
launch_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (util_read_small(path, buf, sizeof(buf)) == -1)
		return 0;
	/* comm may hold spaces and parentheses: skip to the last ')' */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p++;
	/* after ')' comes field 3 (state); start time is field 22 */
	for (field = 2; field < 21 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p, " %llu", &start) != 1)
		return 0;
	return start;
}

const char *
launch_log_tail(const char *path, char *buf, size_t max)
{
	FILE *f;
	long size;
	size_t n;

	buf[0] = '\0';
	f = fopen(path, "re");
	if (f == NULL)
		return buf;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	if (size > (long)max - 1)
		fseek(f, size - (long)max + 1, SEEK_SET);
	else
		fseek(f, 0, SEEK_SET);
	n = fread(buf, 1, max - 1, f);
	buf[n] = '\0';
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return buf;
}

const char *
launch_log_last(const char *path, char *buf, size_t max)
{
	const char *last = strrchr(launch_log_tail(path, buf, max), '\n');

	return last != NULL ? last + 1 : buf;
}

void
launch_argv_push(char ***argv, size_t *argc, const char *arg)
{
	*argv = xrealloc(*argv, (*argc + 2) * sizeof(**argv));
	(*argv)[(*argc)++] = xstrdup(arg);
	(*argv)[*argc] = NULL;
}

void
launch_argv_free(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

char **
launch_argv_dup(char *const *argv)
{
	char **d;
	size_t n = 0, i;

	if (argv == NULL)
		return NULL;
	while (argv[n] != NULL)
		n++;
	d = xcalloc(n + 1, sizeof(*d));
	for (i = 0; i < n; i++)
		d[i] = xstrdup(argv[i]);
	return d;
}

int
launch_argv_words(const char *line, char ***argv, size_t *argc, char *err,
    size_t errlen)
{
	wordexp_t we;
	size_t i;
	int r;

	memset(&we, 0, sizeof(we));
	r = wordexp(line, &we, WRDE_NOCMD | WRDE_UNDEF);
	switch (r) {
	case 0:
		break;
	case WRDE_CMDSUB:
		return seterr(err, errlen, "\"%s\": command substitution "
		    "($(...) or `...`) is not allowed", line);
	case WRDE_BADVAL:
		return seterr(err, errlen, "\"%s\": it names a variable that "
		    "is not set", line);
	case WRDE_BADCHAR:
		return seterr(err, errlen, "\"%s\": an unquoted |, &, ;, <, >, "
		    "(, ), {, } or newline (a command, not a shell script, "
		    "goes here)", line);
	case WRDE_SYNTAX:
		return seterr(err, errlen, "\"%s\": bad syntax (a quote not "
		    "closed?)", line);
	case WRDE_NOSPACE:
		wordfree(&we);
		return seterr(err, errlen, "\"%s\": out of memory", line);
	default:
		return seterr(err, errlen, "\"%s\": wordexp error %d", line, r);
	}
	if (we.we_wordc == 0) {
		wordfree(&we);
		return seterr(err, errlen, "\"%s\": no command", line);
	}
	for (i = 0; i < we.we_wordc; i++)
		launch_argv_push(argv, argc, we.we_wordv[i]);
	wordfree(&we);
	return 0;
}
