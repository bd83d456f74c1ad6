/* pyprobe: see pyprobe.h. */
#include "pyprobe.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "util.h"

/* Reads metadata only: importing distributed would take a second. */
static const char probe_code[] =
    "import sys\n"
    "try:\n"
    "    import importlib.metadata as m\n"
    "except ImportError:\n"
    "    m = None\n"
    "def v(n):\n"
    "    try:\n"
    "        return m.version(n)\n"
    "    except Exception:\n"
    "        return ''\n"
    "print('python=' + '.'.join(map(str, sys.version_info[:3])))\n"
    "for k, n in (('distributed', 'distributed'), ('dask_cuda', "
    "'dask-cuda'), ('bokeh', 'bokeh'), ('notebook', 'notebook')):\n"
    "    print(k + '=' + (v(n) if m else ''))\n";

static bool
version_char(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '+' || ch == '_' ||
	    ch == '-';
}

int
pyprobe_parse(const char *buf, size_t len, struct pyprobe *out, char *err,
    size_t errlen)
{
	static const struct {
		const char	*key;
		size_t		 off;
	} keys[] = {
		{ "python", offsetof(struct pyprobe, python) },
		{ "distributed", offsetof(struct pyprobe, distributed) },
		{ "dask_cuda", offsetof(struct pyprobe, dask_cuda) },
		{ "bokeh", offsetof(struct pyprobe, bokeh) },
		{ "notebook", offsetof(struct pyprobe, notebook) },
	};
	size_t pos = 0, lineno = 0, n, k, i, vlen;
	bool have_python = false;
	const char *line, *eq;

	ASSERT(out != NULL);
	ASSERT(buf != NULL || len == 0);
	memset(out, 0, sizeof(*out));
	if (len > PYPROBE_REPLY_MAX)
		return seterr(err, errlen, "probe: %zu bytes of output, more "
		    "than %d", len, PYPROBE_REPLY_MAX);
	while ((line = util_next_line(buf, len, &pos, &n)) != NULL) {
		lineno++;
		if (n == 0)
			continue;
		eq = memchr(line, '=', n);
		if (eq == NULL)
			return seterr(err, errlen, "probe: line %zu: no '='",
			    lineno);
		k = (size_t)(eq - line);
		vlen = n - k - 1;
		for (i = 0; i < ARRAY_LEN(keys); i++)
			if (strlen(keys[i].key) == k &&
			    memcmp(keys[i].key, line, k) == 0)
				break;
		if (i == ARRAY_LEN(keys))
			continue;
		if (vlen >= PYPROBE_VERSION_MAX)
			return seterr(err, errlen, "probe: line %zu: version "
			    "longer than %d bytes", lineno,
			    PYPROBE_VERSION_MAX - 1);
		for (k = 0; k < vlen; k++)
			if (!version_char(eq[1 + k]))
				return seterr(err, errlen, "probe: line %zu: "
				    "unexpected byte 0x%02x in a version",
				    lineno, (unsigned char)eq[1 + k]);
		memcpy((char *)out + keys[i].off, eq + 1, vlen);
		((char *)out + keys[i].off)[vlen] = '\0';
		if (i == 0)
			have_python = vlen > 0;
	}
	if (!have_python)
		return seterr(err, errlen, "probe: no python version in the "
		    "output");
	return 0;
}

/* The next release number of *p, or -1 past the last; moves *p. */
static long
next_number(const char **p)
{
	long v = 0;

	if (**p < '0' || **p > '9')
		return -1;
	while (**p >= '0' && **p <= '9') {
		if (v < 100000000)
			v = v * 10 + (**p - '0');
		(*p)++;
	}
	if (**p == '.' && (*p)[1] >= '0' && (*p)[1] <= '9')
		(*p)++;
	else
		*p = "";
	return v;
}

int
pyprobe_version_cmp(const char *a, const char *b)
{
	long x, y;

	for (;;) {
		x = next_number(&a);
		y = next_number(&b);
		if (x == -1 && y == -1)
			return 0;
		/* 2026.7 is 2026.7.0 */
		if (x == -1)
			x = 0;
		if (y == -1)
			y = 0;
		if (x != y)
			return x < y ? -1 : 1;
	}
}

int
pyprobe_run(const char *python, char **env, const char *dir,
    struct pyprobe *out, char *err, size_t errlen)
{
	char *log = xasprintf("%s/pyprobe.%d.out", dir, (int)getpid());
	char *argv[] = { (char *)python, "-c", (char *)probe_code, NULL };
	struct launch_cmd cmd = { argv, env, log, NULL };
	/* a byte more than a reply may have, so that a longer one shows */
	char tail[PYPROBE_REPLY_MAX + 2], why[200], how[64];
	const char *last;
	int status = 0, rc = -1, r;
	ssize_t n;
	pid_t pid;

	unlink(log);
	pid = launch_spawn(&cmd, why, sizeof(why));
	if (pid == -1) {
		seterr(err, errlen, "python \"%s\": %s", python, why);
		goto out;
	}
	r = launch_wait(pid, PYPROBE_TIMEOUT_MS, &status);
	if (r == 1) {
		seterr(err, errlen, "python \"%s\" did not answer within %ds",
		    python, PYPROBE_TIMEOUT_MS / 1000);
		goto out;
	}
	if (r == -1) {
		seterr(err, errlen, "python \"%s\": waitpid: %s", python,
		    strerror(errno));
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		last = launch_log_last(log, tail, 300);
		seterr(err, errlen, "python \"%s\" is not a working Python "
		    "(%s): %s", python, util_exit_text(status, how,
		    sizeof(how)), last);
		goto out;
	}
	if ((n = util_read_small(log, tail, sizeof(tail))) == -1) {
		seterr(err, errlen, "%s: %s", log, strerror(errno));
		goto out;
	}
	if (pyprobe_parse(tail, (size_t)n, out, why, sizeof(why)) == -1) {
		seterr(err, errlen, "python \"%s\": %s", python, why);
		goto out;
	}
	rc = 0;
out:
	unlink(log);
	free(log);
	return rc;
}

int
pyprobe_check(const struct pyprobe *p, const char *python, char *err,
    size_t errlen)
{
	if (p->distributed[0] == '\0')
		return seterr(err, errlen, "python \"%s\" (Python %s) has no "
		    "Dask distributed installed; edask supports distributed "
		    "%s to %s (the project's .venv has it: make deps, or name "
		    "another interpreter with python: in the spec)", python,
		    p->python, PYPROBE_DASK_OLDEST, PYPROBE_DASK_NEWEST);
	if (pyprobe_version_cmp(p->distributed, PYPROBE_DASK_OLDEST) < 0)
		return seterr(err, errlen, "python \"%s\" has distributed %s, "
		    "older than the oldest edask supports (%s; tested up to "
		    "%s)", python, p->distributed, PYPROBE_DASK_OLDEST,
		    PYPROBE_DASK_NEWEST);
	if (pyprobe_version_cmp(p->distributed, PYPROBE_DASK_NEWEST) > 0) {
		seterr(err, errlen, "distributed %s is newer than the newest "
		    "edask is tested with (%s): running it", p->distributed,
		    PYPROBE_DASK_NEWEST);
		return 1;
	}
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return 0;
}
