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
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "cli.h"
#include "config.h"
#include "instance.h"
#include "launch.h"
#include "loop.h"
#include "spec.h"
#include "token.h"
#include "util.h"

#define PREFLIGHT_TIMEOUT_S	120

static void
usage_main(FILE *f)
{
	fprintf(f,
	    "usage: edask COMMAND [ARGS]\n"
	    "\n"
	    "Daemon:\n"
	    "  up [-c CONFIG] [-f SPEC]... [--gpus N] [--listen HOST:PORT]\n"
	    "     [--state-dir DIR] [-v]\n"
	    "                 run the controller in the foreground with this "
	    "machine's\n"
	    "                 GPU pool, deploy and start the specs (default: "
	    "one instance\n"
	    "                 \"dask\"); Ctrl-C stops every instance\n"
	    "  serve [-c CONFIG] [-v]\n"
	    "                 run the daemon; SIGTERM leaves the instances "
	    "running, to\n"
	    "                 be re-adopted at the next start\n"
	    "  check SPEC...  validate instance specs; check -c CONFIG: a "
	    "daemon config\n"
	    "\n"
	    "Client (--addr HOST:PORT, else $EDASK_ADDR, else %s; --json "
	    "everywhere):\n"
	    "  deploy SPEC    create, or update, an instance from a spec\n"
	    "  start NAME | stop NAME | undeploy NAME\n"
	    "  scale NAME [--min N] [--max N]\n"
	    "  ls             list instances\n"
	    "  show NAME      one instance, its outputs and workers\n"
	    "  pool           the slots of the pool and who holds them\n"
	    "  events [NAME] [--since SEQ] [--follow]\n"
	    "                 the decision log\n"
	    "  version        print the version\n"
	    "\n"
	    "Changes need the API token: $EDASK_TOKEN, else the token file "
	    "of the state\n"
	    "folder (--state-dir, else $EDASK_STATE_DIR, else the default).\n",
	    CLI_DEFAULT_ADDR);
}

static int
cmd_check(int argc, char **argv)
{
	struct config *cfg;
	char err[1024];
	struct spec *s;
	int i;

	if (argc >= 2 && strcmp(argv[1], "-c") == 0) {
		if (argc != 3) {
			fprintf(stderr, "usage: edask check -c CONFIG\n");
			return 2;
		}
		if (config_load(argv[2], &cfg, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		printf("%s: ok (listen %s, state %s, %zu pool(s))\n", argv[2],
		    cfg->listen, cfg->state_dir, cfg->npools);
		config_free(cfg);
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: edask check SPEC... | edask check -c "
		    "CONFIG\n");
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
	char tail[512];
	const char *last;
	int status = 0, r;
	pid_t pid;

	unlink(log);
	pid = launch_spawn(&cmd, err, errlen);
	if (pid == -1) {
		free(log);
		return -1;
	}
	r = launch_wait(pid, PREFLIGHT_TIMEOUT_S * 1000, &status);
	if (r != 0) {
		if (r == 1)
			seterr(err, errlen, "%s: importing distributed took "
			    "longer than %ds", python, PREFLIGHT_TIMEOUT_S);
		else
			seterr(err, errlen, "%s: waitpid: %s", python,
			    strerror(errno));
		free(log);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		unlink(log);
		free(log);
		return 0;
	}
	last = launch_log_last(log, tail, sizeof(tail));
	seterr(err, errlen, "%s cannot import Dask's distributed: %s (install "
	    "python3-distributed, or name another interpreter with python: "
	    "in the spec)", python, last);
	unlink(log);
	free(log);
	return -1;
}

/*
 * The state folder holds logs, certificates and the database: only its
 * owner reads it.  One made by an older edask (0755) is closed here.
 */
static void
private_state_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == -1 || st.st_uid != geteuid() ||
	    (st.st_mode & 077) == 0)
		return;
	if (chmod(dir, st.st_mode & 0700) == -1)
		log_warn("chmod %s", dir);
	else
		log_info("state folder %s was open to others (%04o): now %04o",
		    dir, (unsigned)(st.st_mode & 07777),
		    (unsigned)(st.st_mode & 0700));
}

static int
lock_state_dir(const char *dir, char *err, size_t errlen)
{
	char *path = xasprintf("%s/edask.lock", dir);
	char buf[32];
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
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

		if (util_write_all(fd, buf, (size_t)n) == -1)
			log_warn("%s", path);
	}
	free(path);
	return fd;		/* held open (and locked) until exit */
}

/* path holds line and a newline, whole; a failure is only logged. */
static void
write_line(const char *path, const char *line)
{
	char *text = xasprintf("%s\n", line), err[1024];

	if (util_write_file(path, text, strlen(text), 0600, err,
	    sizeof(err)) == -1)
		log_warnx("%s", err);
	free(text);
}

/* What `up` and `serve` run. */
struct daemon {
	struct config	*cfg;
	struct spec	**specs;	/* up: deploy and start these */
	size_t		 nspecs;
	bool		 up;		/* signals stop every instance */
	int		 gpus;		/* --gpus, -1: the config's */
	struct loop	*loop;
	struct ctl	*ctl;
};

static void
on_stopped(void *arg)
{
	struct daemon *d = arg;

	loop_stop(d->loop);
}

static void
on_signal(int signo, void *arg)
{
	struct daemon *d = arg;

	if (d->up) {
		log_info("%s: stopping every instance (again to kill them at "
		    "once)", strsignal(signo));
		ctl_shutdown(d->ctl);
		return;
	}
	log_info("%s: the daemon leaves; its instances keep running and are "
	    "re-adopted when it starts again", strsignal(signo));
	loop_stop(d->loop);
}

static int
parse_int_arg(const char *cmd, const char *opt, const char *v, int lo,
    int hi, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi) {
		fprintf(stderr, "edask %s: %s takes an integer from %d to %d, "
		    "got \"%s\"\n", cmd, opt, lo, hi, v);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/*
 * The pools for ctl_new(): the local pool's GPUs into *gpus (--gpus, else
 * the config's; -1: NVML) and name (NULL: no local pool), the slurm pools
 * into *slurm (a new array of copies that borrow the config's strings).
 * A slurm pool needs Slurm's commands here: refused before anything
 * starts when they are missing.
 */
static int
daemon_pools(const struct daemon *d, int *gpus, const char **name,
    struct config_pool **slurm, size_t *nslurm, char *err, size_t errlen)
{
	static const char *const cmds[] = { "sbatch", "squeue", "scancel" };
	size_t i, k;

	*gpus = CONFIG_GPUS_AUTO;
	*name = NULL;
	*slurm = xcalloc(d->cfg->npools + 1, sizeof(**slurm));
	*nslurm = 0;
	for (i = 0; i < d->cfg->npools; i++) {
		const struct config_pool *p = &d->cfg->pools[i];

		if (strcmp(p->backend, "slurm") == 0) {
			for (k = 0; k < ARRAY_LEN(cmds); k++)
				if (!launch_command_exists(cmds[k]))
					return seterr(err, errlen, "pool \"%s\" "
					    "is a slurm pool, but %s is not in "
					    "PATH (install Slurm's client "
					    "commands, e.g. apt install "
					    "slurm-client)", p->name, cmds[k]);
			(*slurm)[(*nslurm)++] = *p;
			continue;
		}
		*gpus = p->gpus;
		*name = p->name;
	}
	if (d->gpus > 0)
		*gpus = d->gpus;
	return 0;
}

static int
run_daemon_with(struct daemon *d, struct config_pool **slurm)
{
	const struct config *cfg = d->cfg;
	struct ctl_config cc;
	struct api *api = NULL;
	enum ctl_deployed what;
	char err[1024], url[300], token[TOKEN_LEN + 1], *p;
	const char *pool_name;
	size_t nslurm = 0;
	int gpus, rc = 1;
	size_t i, j;

	if (cfg->log_file != NULL) {
		int fd = open(cfg->log_file, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0600);

		if (fd == -1 || dup2(fd, 2) == -1) {
			fprintf(stderr, "edask: log file %s: %s\n",
			    cfg->log_file, strerror(errno));
			return 1;
		}
		close(fd);
	}
	if (daemon_pools(d, &gpus, &pool_name, slurm, &nslurm, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "edask: %s\n", err);
		return 1;
	}
	if (mkdir_p(cfg->state_dir, 0700) == -1) {
		fprintf(stderr, "edask: cannot create state folder %s: %s\n",
		    cfg->state_dir, strerror(errno));
		return 1;
	}
	private_state_dir(cfg->state_dir);
	if (lock_state_dir(cfg->state_dir, err, sizeof(err)) == -1 ||
	    token_load_or_create(cfg->state_dir, token, sizeof(token), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "edask: %s\n", err);
		return 1;
	}
	for (i = 0; i < d->nspecs; i++) {
		bool seen = false;

		for (j = 0; j < i; j++)
			seen |= strcmp(d->specs[j]->python,
			    d->specs[i]->python) == 0;
		if (!seen && preflight_python(d->specs[i]->python,
		    cfg->state_dir, err, sizeof(err)) == -1) {
			fprintf(stderr, "edask: instance \"%s\": %s\n",
			    d->specs[i]->name, err);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	d->loop = loop_new();
	api = api_new(d->loop, NULL, cfg->listen, token, cfg->open_reads, url,
	    sizeof(url), err, sizeof(err));
	if (api == NULL) {
		fprintf(stderr, "edask: %s\n", err);
		goto out;
	}
	memset(&cc, 0, sizeof(cc));
	cc.state_dir = cfg->state_dir;
	cc.api_url = url;
	cc.gpus = gpus;
	cc.pool_name = pool_name;
	cc.slurm = *slurm;
	cc.nslurm = nslurm;
	cc.stopped = on_stopped;
	cc.stopped_arg = d;
	d->ctl = ctl_new(d->loop, &cc, err, sizeof(err));
	if (d->ctl == NULL) {
		fprintf(stderr, "edask: %s\n", err);
		goto out;
	}
	if (ctl_restore(d->ctl, err, sizeof(err)) == -1) {
		fprintf(stderr, "edask: %s\n", err);
		goto out;
	}
	api_set_ctl(api, d->ctl);
	p = xasprintf("%s/api.url", cfg->state_dir);
	write_line(p, url);
	free(p);
	log_info("edask %s: API and console on %s, state in %s",
	    EDASK_VERSION, url, cfg->state_dir);
	loop_signal(d->loop, SIGINT, on_signal, d);
	loop_signal(d->loop, SIGTERM, on_signal, d);
	loop_signal(d->loop, SIGHUP, on_signal, d);
	for (i = 0; i < d->nspecs; i++) {
		struct spec *s = d->specs[i];
		char name[SPEC_NAME_MAX + 1];
		int r;

		d->specs[i] = NULL;
		strlcpy_(name, s->name, sizeof(name));
		r = ctl_deploy(d->ctl, s, &what, err, sizeof(err));
		if (r == 0) {
			ctl_fatal_start(d->ctl, name);
			r = ctl_start(d->ctl, name, err, sizeof(err));
		}
		if (r != 0) {
			fprintf(stderr, "edask: %s\n", err);
			ctl_shutdown(d->ctl);
			loop_run(d->loop);
			goto out;
		}
	}
	loop_run(d->loop);
	rc = ctl_failed(d->ctl) ? 1 : 0;
	if (d->up && !ctl_idle(d->ctl)) {
		rc = 1;
		log_warnx("edask: stopped at the shutdown deadline with "
		    "processes left (see the shutdown event); the next start "
		    "adopts or ends them");
	} else if (d->up)
		log_info("edask: %s", rc == 0 ? "stopped; no process left" :
		    "stopped after a start failure; no process left");
out:
	if (api != NULL) {
		p = xasprintf("%s/api.url", cfg->state_dir);
		unlink(p);
		free(p);
	}
	ctl_free(d->ctl);
	api_free(api);
	loop_free(d->loop);
	return rc;
}

/* The slurm pools handed to the ctl live until it is freed. */
static int
run_daemon(struct daemon *d)
{
	struct config_pool *slurm = NULL;
	int rc = run_daemon_with(d, &slurm);

	free(slurm);
	return rc;
}

static int
cmd_daemon(int argc, char **argv, bool up)
{
	const char *cmd = up ? "up" : "serve";
	const char *listen = NULL, *state_dir = NULL;
	struct daemon d;
	char err[1024];
	int i, rc = 2;

	memset(&d, 0, sizeof(d));
	d.up = up;
	d.gpus = -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-c") == 0 && v != NULL) {
			config_free(d.cfg);
			if (config_load(v, &d.cfg, err, sizeof(err)) == -1) {
				fprintf(stderr, "%s\n", err);
				goto out;
			}
			i++;
		} else if (up && (strcmp(a, "-f") == 0 ||
		    strcmp(a, "--file") == 0) && v != NULL) {
			struct spec *s;
			size_t j;

			if (spec_load(v, &s, err, sizeof(err)) == -1) {
				fprintf(stderr, "%s\n", err);
				goto out;
			}
			for (j = 0; j < d.nspecs; j++) {
				if (strcmp(d.specs[j]->name, s->name) == 0) {
					fprintf(stderr, "%s: instance \"%s\" is "
					    "given twice\n", v, s->name);
					spec_free(s);
					goto out;
				}
			}
			d.specs = xrealloc(d.specs,
			    (d.nspecs + 1) * sizeof(*d.specs));
			d.specs[d.nspecs++] = s;
			i++;
		} else if (up && strcmp(a, "--gpus") == 0 && v != NULL) {
			if (parse_int_arg(cmd, a, v, 1, 1024, &d.gpus) == -1)
				goto out;
			i++;
		} else if (up && strcmp(a, "--listen") == 0 && v != NULL) {
			listen = v;
			i++;
		} else if (up && strcmp(a, "--state-dir") == 0 && v != NULL) {
			state_dir = v;
			i++;
		} else if (strcmp(a, "-v") == 0) {
			log_set_level(LOG_LEVEL_DEBUG);
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage_main(stdout);
			rc = 0;
			goto out;
		} else {
			fprintf(stderr, "edask %s: unknown or incomplete "
			    "argument \"%s\"\n", cmd, a);
			usage_main(stderr);
			goto out;
		}
	}
	if (d.cfg == NULL) {
		d.cfg = config_default();
		if (up) {
			/* the one-command path keeps its state per user */
			free(d.cfg->state_dir);
			d.cfg->state_dir = cli_default_state_dir();
		}
	}
	if (listen != NULL) {
		char host[256];
		int port;

		if (api_parse_listen(listen, host, sizeof(host), &port, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "edask: %s\n", err);
			rc = 1;
			goto out;
		}
		free(d.cfg->listen);
		d.cfg->listen = xstrdup(listen);
	}
	if (state_dir != NULL) {
		free(d.cfg->state_dir);
		d.cfg->state_dir = xstrdup(state_dir);
	}
	if (up && d.nspecs == 0) {
		d.specs = xcalloc(1, sizeof(*d.specs));
		d.specs[d.nspecs++] = spec_default("dask");
	}
	rc = run_daemon(&d);
out:
	for (size_t k = 0; k < d.nspecs; k++)
		spec_free(d.specs[k]);
	free(d.specs);
	config_free(d.cfg);
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
		return cmd_daemon(argc - 1, argv + 1, true);
	if (strcmp(cmd, "serve") == 0)
		return cmd_daemon(argc - 1, argv + 1, false);
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
