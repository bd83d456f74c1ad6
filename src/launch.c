/* launch: see launch.h. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

/* In the child, between fork and exec: async-signal-safe calls only. */
static void
child_fail(int pipefd, const char *what)
{
	int e = errno;
	ssize_t w;

	w = write(pipefd, &e, sizeof(e));
	w += write(pipefd, what, strlen(what));
	(void)w;
	_exit(127);
}

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
launch_spawn(const struct launch_cmd *cmd, char *err, size_t errlen)
{
	int pfd[2], logfd, nullfd, e = 0;
	char **envp;
	char what[128];
	ssize_t n;
	pid_t pid;

	if (cmd->argv == NULL || cmd->argv[0] == NULL)
		return seterr(err, errlen, "empty command");
	logfd = open(cmd->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (logfd == -1)
		return seterr(err, errlen, "%s: %s", cmd->log_path,
		    strerror(errno));
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd == -1 || pipe2(pfd, O_CLOEXEC) == -1) {
		e = errno;
		close(logfd);
		if (nullfd != -1)
			close(nullfd);
		return seterr(err, errlen, "pipe: %s", strerror(e));
	}
	envp = launch_env_merge(cmd->env);
	pid = fork();
	if (pid == -1) {
		e = errno;
		free(envp);
		close(logfd);
		close(nullfd);
		close(pfd[0]);
		close(pfd[1]);
		return seterr(err, errlen, "fork: %s", strerror(e));
	}
	if (pid == 0) {
		sigset_t all;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (setsid() == -1)
			child_fail(pfd[1], "setsid");
		if (dup2(nullfd, 0) == -1 || dup2(logfd, 1) == -1 ||
		    dup2(logfd, 2) == -1)
			child_fail(pfd[1], "dup2");
		if (cmd->cwd != NULL && chdir(cmd->cwd) == -1)
			child_fail(pfd[1], cmd->cwd);
		execvpe(cmd->argv[0], cmd->argv, envp);
		child_fail(pfd[1], cmd->argv[0]);
	}
	free(envp);
	close(logfd);
	close(nullfd);
	close(pfd[1]);
	n = read(pfd[0], &e, sizeof(e));
	if (n == (ssize_t)sizeof(e)) {
		ssize_t m = read(pfd[0], what, sizeof(what) - 1);

		what[m > 0 ? m : 0] = '\0';
		close(pfd[0]);
		/* the child exits at once: reap it here */
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		return seterr(err, errlen, "%s: %s", what, strerror(e));
	}
	close(pfd[0]);
	return pid;
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
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
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

void
launch_argv_push(char ***argv, size_t *argc, const char *arg)
{
	*argv = xrealloc(*argv, (*argc + 2) * sizeof(**argv));
	(*argv)[(*argc)++] = xstrdup(arg);
	(*argv)[*argc] = NULL;
}

void
launch_argv_split(const char *line, char ***argv, size_t *argc)
{
	const char *p = line;

	while (*p != '\0') {
		size_t n;
		char *w;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n == 0)
			break;
		w = xstrndup(p, n);
		launch_argv_push(argv, argc, w);
		free(w);
		p += n;
	}
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
