/*
 * edask: one binary that is daemon (`up`), validator (`check`) and client
 * (`ls`, `show`, `pool`, `events`).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "cli.h"
#include "instance.h"
#include "launch.h"
#include "loop.h"
#include "spec.h"
#include "util.h"

#define UP_DEFAULT_LISTEN	"127.0.0.1:8780"
#define PREFLIGHT_TIMEOUT_S	120

static void
usage_main(FILE *f)
{
	fprintf(f,
	    "usage: edask COMMAND [ARGS]\n"
	    "\n"
	    "  up [-f SPEC]... [--gpus N] [--listen HOST:PORT] "
	    "[--state-dir DIR] [-v]\n"
	    "                 run the controller in the foreground with this "
	    "machine's\n"
	    "                 GPU pool and deploy the specs (default: one "
	    "instance \"dask\")\n"
	    "  check SPEC...  validate instance specs (exit 2 on the first "
	    "error)\n"
	    "  ls             list instances\n"
	    "  show NAME      one instance, its outputs and workers [--json]\n"
	    "  pool           the slots of the pool and who holds them "
	    "[--json]\n"
	    "  events [NAME]  the decision log [--since SEQ] [--json]\n"
	    "  version        print the version\n"
	    "\n"
	    "Client commands reach the daemon at --addr HOST:PORT, else "
	    "$EDASK_ADDR,\n"
	    "else %s.\n", CLI_DEFAULT_ADDR);
}

static int
cmd_check(int argc, char **argv)
{
	char err[1024];
	struct spec *s;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: edask check SPEC...\n");
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (spec_load(argv[i], &s, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		printf("%s: ok (instance \"%s\", workers %d..", argv[i],
		    s->name, s->workers.min);
		if (s->workers.max == SPEC_MAX_ALL)
			printf("all slots");
		else
			printf("%d", s->workers.max);
		printf(", %d GPU(s) per worker)\n", s->workers.gpus);
		spec_free(s);
	}
	return 0;
}

/*
 * Before anything starts: the spec's python must import distributed.  A
 * blocking child run is fine here; the loop does not exist yet.
 */
static int
preflight_python(const char *python, const char *dir, char *err,
    size_t errlen)
{
	char *log = xasprintf("%s/preflight.log", dir);
	char *argv[] = { (char *)python, "-c",
	    "import distributed.cli.dask_scheduler, "
	    "distributed.cli.dask_worker", NULL };
	struct launch_cmd cmd = { argv, NULL, log, NULL };
	char tail[512], *last;
	int status = 0, i;
	pid_t pid, r = 0;

	unlink(log);
	pid = launch_spawn(&cmd, err, errlen);
	if (pid == -1) {
		free(log);
		return -1;
	}
	for (i = 0; i < PREFLIGHT_TIMEOUT_S * 10; i++) {
		r = waitpid(pid, &status, WNOHANG);
		if (r != 0)
			break;
		usleep(100000);
	}
	if (r == 0) {
		launch_kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		seterr(err, errlen, "%s: importing distributed took longer "
		    "than %ds", python, PREFLIGHT_TIMEOUT_S);
		free(log);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		unlink(log);
		free(log);
		return 0;
	}
	launch_log_tail(log, tail, sizeof(tail));
	last = strrchr(tail, '\n');
	seterr(err, errlen, "%s cannot import Dask's distributed: %s (install "
	    "python3-distributed, or name another interpreter with python: "
	    "in the spec)", python, last != NULL ? last + 1 : tail);
	unlink(log);
	free(log);
	return -1;
}

static int
lock_state_dir(const char *dir, char *err, size_t errlen)
{
	char *path = xasprintf("%s/edask.lock", dir);
	char buf[32];
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		seterr(err, errlen, "state folder %s is in use by another edask "
		    "(pid %s); choose another with --state-dir", dir,
		    buf[0] != '\0' ? buf : "?");
		close(fd);
		free(path);
		return -1;
	}
	if (ftruncate(fd, 0) == 0) {
		int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

		if (write(fd, buf, (size_t)n) != n)
			log_warn("%s", path);
	}
	free(path);
	return fd;		/* held open (and locked) until exit */
}

static int
write_file(const char *path, const char *text)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	int rc = -1;

	if (f != NULL) {
		fputs(text, f);
		if (fclose(f) == 0 && rename(tmp, path) == 0)
			rc = 0;
	}
	free(tmp);
	return rc;
}

static char *
default_state_dir(void)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (x != NULL && x[0] == '/')
		return xasprintf("%s/edask", x);
	if (home != NULL && home[0] == '/')
		return xasprintf("%s/.local/state/edask", home);
	return xstrdup("/var/lib/edask");
}

struct up {
	struct loop	*loop;
	struct ctl	*ctl;
	bool		 stopping;
};

static void
on_stopped(void *arg)
{
	struct up *u = arg;

	loop_stop(u->loop);
}

static void
on_signal(int signo, void *arg)
{
	struct up *u = arg;

	log_info("%s: stopping (again to kill everything at once)",
	    strsignal(signo));
	ctl_shutdown(u->ctl);
}

static int
parse_int_arg(const char *opt, const char *v, int lo, int hi, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi) {
		fprintf(stderr, "edask up: %s takes an integer from %d to %d, "
		    "got \"%s\"\n", opt, lo, hi, v);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int
cmd_up(int argc, char **argv)
{
	const char *listen = UP_DEFAULT_LISTEN;
	char *state_dir = NULL;
	struct spec **specs = NULL;
	size_t nspecs = 0, i, j;
	struct ctl_config cfg;
	struct api *api = NULL;
	struct up u;
	char err[1024], url[300];
	int gpus = -1, lockfd, rc = 1;

	memset(&u, 0, sizeof(u));
	for (i = 1; i < (size_t)argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < (size_t)argc ? argv[i + 1] : NULL;

		if ((strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) &&
		    v != NULL) {
			struct spec *s;

			if (spec_load(v, &s, err, sizeof(err)) == -1) {
				fprintf(stderr, "%s\n", err);
				rc = 2;
				goto out;
			}
			for (j = 0; j < nspecs; j++) {
				if (strcmp(specs[j]->name, s->name) == 0) {
					fprintf(stderr, "%s: instance \"%s\" is "
					    "given twice\n", v, s->name);
					spec_free(s);
					rc = 2;
					goto out;
				}
			}
			specs = xrealloc(specs, (nspecs + 1) * sizeof(*specs));
			specs[nspecs++] = s;
			i++;
		} else if (strcmp(a, "--gpus") == 0 && v != NULL) {
			if (parse_int_arg(a, v, 1, 1024, &gpus) == -1) {
				rc = 2;
				goto out;
			}
			i++;
		} else if (strcmp(a, "--listen") == 0 && v != NULL) {
			listen = v;
			i++;
		} else if (strcmp(a, "--state-dir") == 0 && v != NULL) {
			free(state_dir);
			state_dir = xstrdup(v);
			i++;
		} else if (strcmp(a, "-v") == 0) {
			log_set_level(LOG_LEVEL_DEBUG);
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage_main(stdout);
			rc = 0;
			goto out;
		} else {
			fprintf(stderr, "edask up: unknown or incomplete "
			    "argument \"%s\"\n", a);
			usage_main(stderr);
			rc = 2;
			goto out;
		}
	}
	if (nspecs == 0) {
		specs = xcalloc(1, sizeof(*specs));
		specs[nspecs++] = spec_default("dask");
	}
	if (state_dir == NULL)
		state_dir = default_state_dir();
	if (mkdir_p(state_dir, 0755) == -1) {
		fprintf(stderr, "edask: cannot create state folder %s: %s\n",
		    state_dir, strerror(errno));
		goto out;
	}
	lockfd = lock_state_dir(state_dir, err, sizeof(err));
	if (lockfd == -1) {
		fprintf(stderr, "edask: %s\n", err);
		goto out;
	}
	for (i = 0; i < nspecs; i++) {
		bool seen = false;

		for (j = 0; j < i; j++)
			seen |= strcmp(specs[j]->python, specs[i]->python) == 0;
		if (!seen && preflight_python(specs[i]->python, state_dir, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "edask: instance \"%s\": %s\n",
			    specs[i]->name, err);
			goto out;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	u.loop = loop_new();
	api = api_new(u.loop, NULL, listen, url, sizeof(url), err, sizeof(err));
	if (api == NULL) {
		fprintf(stderr, "edask: %s\n", err);
		goto out;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = state_dir;
	cfg.api_url = url;
	cfg.gpus = gpus;
	cfg.stop_on_start_error = true;
	cfg.stopped = on_stopped;
	cfg.stopped_arg = &u;
	u.ctl = ctl_new(u.loop, &cfg, err, sizeof(err));
	if (u.ctl == NULL) {
		fprintf(stderr, "edask: %s\n", err);
		goto out;
	}
	api_set_ctl(api, u.ctl);
	{
		char *p = xasprintf("%s/api.url", state_dir);
		char *t = xasprintf("%s\n", url);

		if (write_file(p, t) == -1)
			log_warn("%s", p);
		free(p);
		free(t);
	}
	log_info("edask %s: API and console on %s, state in %s",
	    EDASK_VERSION, url, state_dir);
	loop_signal(u.loop, SIGINT, on_signal, &u);
	loop_signal(u.loop, SIGTERM, on_signal, &u);
	loop_signal(u.loop, SIGHUP, on_signal, &u);
	for (i = 0; i < nspecs; i++) {
		struct spec *s = specs[i];

		specs[i] = NULL;
		if (ctl_deploy(u.ctl, s, err, sizeof(err)) == -1) {
			fprintf(stderr, "edask: %s\n", err);
			ctl_shutdown(u.ctl);
			loop_run(u.loop);
			goto out;
		}
	}
	loop_run(u.loop);
	rc = ctl_failed(u.ctl) ? 1 : 0;
	{
		char *p = xasprintf("%s/api.url", state_dir);

		unlink(p);
		free(p);
	}
	log_info("edask: %s", rc == 0 ? "stopped; no process left" :
	    "stopped after a start failure; no process left");
out:
	for (i = 0; i < nspecs; i++)
		spec_free(specs[i]);
	free(specs);
	ctl_free(u.ctl);
	api_free(api);
	loop_free(u.loop);
	free(state_dir);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		usage_main(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "up") == 0)
		return cmd_up(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (cli_is_command(cmd))
		return cli_main(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("edask %s\n", EDASK_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "--help") == 0) {
		usage_main(stdout);
		return 0;
	}
	fprintf(stderr, "edask: unknown command \"%s\"\n", cmd);
	usage_main(stderr);
	return 2;
}
