/*
 * sched: the Dask scheduler process of one instance's run.
 *
 * The module spawns the command line its owner built (Dask's scheduler
 * with edask's routes and preload, docs/design.md §2), waits until the
 * scheduler has written its scheduler file and answers /health, and stops
 * it (SIGTERM, then SIGKILL after a grace).  After a controller restart it
 * takes over a scheduler that still runs.  It keeps the scheduler's address,
 * dashboard URL and the HTTP client of its API, and tells its owner what
 * happened through one callback, as notebook.h does.  It does not restart
 * a scheduler: a run whose scheduler dies is over.
 */
#ifndef EDASK_SCHED_H
#define EDASK_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dask;
struct engine_ops;
struct http;
struct loop;
struct sched;

struct sched_params {
	const char	*name;		/* the instance's, for log lines */
	char		**argv;		/* NULL-terminated; copied */
	char		**env;		/* extra KEY=VALUE (launch.h); copied */
	const char	*log_path;	/* stdout and stderr go there */
	const char	*cwd;
	const char	*sched_file;	/* --scheduler-file of argv */
	const char	*host;		/* where it listens (0.0.0.0 and ::
					   are asked at 127.0.0.1) */
	bool		 tls;		/* its address must be tls:// */
	int64_t		 start_timeout_ms;	/* to answer /health */
	int64_t		 grace_ms;	/* SIGTERM to SIGKILL */
	int64_t		 health_timeout_ms;	/* one /health request */
	const struct engine_ops *engine;
};

enum sched_what {
	SCHED_READY,		/* answers /health; address and client set */
	SCHED_TIMEOUT,		/* no answer within start_timeout_ms; it is
				   left running (the owner stops it) */
	SCHED_KILLED,		/* still there after the grace: SIGKILL */
	SCHED_EXITED,		/* gone (on its own or after sched_stop()) */
};

/* msg says what happened, for an event; borrowed for the call.  For
 * SCHED_EXITED it is how ("exited with status 1", util_exit_text()). */
typedef void (*sched_cb)(enum sched_what what, const char *msg, void *arg);

struct sched *sched_new(struct loop *l, struct http *h,
    const struct sched_params *p, sched_cb cb, void *arg);
/* Forgets the process without signalling it (a detaching daemon leaves it
 * to the next one); no callback comes after.  NULL: no-op. */
void sched_free(struct sched *s);

/* Spawns, and waits for /health; 0, or -1 with err (nothing runs then). */
int sched_start(struct sched *s, char *err, size_t errlen);
/*
 * Takes over a running scheduler (pid with that /proc start time) with the
 * address and dashboard URL it had (either may be NULL: not written yet).
 * starting: it had not answered yet, so wait for /health again (from now,
 * start_timeout_ms).  0, or -1 when that process is gone (nothing is
 * watched then).
 */
int sched_adopt(struct sched *s, pid_t pid, uint64_t start_time,
    const char *addr, const char *dash_url, bool starting);
/* SIGTERM now, SIGKILL after the grace; SCHED_EXITED once gone.  Stops the
 * wait for /health.  Again: another SIGTERM, the grace unchanged. */
void sched_stop(struct sched *s);

/* Each takes NULL (no scheduler): 0, false or NULL. */
pid_t sched_pid(const struct sched *s);
uint64_t sched_start_time(const struct sched *s);
bool sched_stopping(const struct sched *s);	/* sched_stop() under way */
const char *sched_address(const struct sched *s);	/* tcp://, tls:// */
const char *sched_dashboard(const struct sched *s);	/* http://... */
/* The client of the scheduler's HTTP API (engine.h), once its dashboard
 * URL is known; borrowed, freed with s. */
struct dask *sched_client(const struct sched *s);

#endif
