/*
 * notebook: the optional Jupyter server of an instance (spec
 * `notebook: {enabled: true}`).  Debian's Jupyter Notebook runs as one more
 * process of the instance, bound to 127.0.0.1, with DASK_SCHEDULER_ADDRESS
 * set, serving a folder that holds the examples (written there once, never
 * over a user's edits).  Its URL carries a random token.
 *
 * The module starts it, waits until it answers, restarts it with a backoff
 * when it dies on its own, stops it (SIGTERM, then SIGKILL), and adopts a
 * running one after a controller restart.  It tells its owner what
 * happened through one callback; the owner records pid, port and token.
 */
#ifndef EDASK_NOTEBOOK_H
#define EDASK_NOTEBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct http;
struct notebook;

struct notebook_params {
	const char	*python;	/* interpreter with Jupyter */
	const char	*dir;		/* folder served; examples go here */
	const char	*runtime_dir;	/* JUPYTER_RUNTIME_DIR */
	const char	*log_path;
	const char	*sched_addr;	/* DASK_SCHEDULER_ADDRESS */
	int		 port;		/* 0: pick a free port */
	int64_t		 start_timeout_ms;
	bool		 server_app;	/* Notebook 7 and later: options of
					   Jupyter Server's ServerApp */
	char		**env;		/* extra KEY=VALUE, NULL-terminated, or
					   NULL; copied */
};

enum notebook_what {
	NOTEBOOK_STARTED,	/* spawned: pid, port and token are new */
	NOTEBOOK_READY,		/* answers; notebook_url() is set */
	NOTEBOOK_EXITED,	/* died on its own or never answered; a
				   restart follows after the backoff */
	NOTEBOOK_STOPPED,	/* gone after notebook_stop() */
};

/* msg says what happened, for an event; borrowed for the call. */
typedef void (*notebook_cb)(enum notebook_what what, const char *msg,
    void *arg);

struct notebook *notebook_new(struct loop *l, struct http *h,
    const struct notebook_params *p, notebook_cb cb, void *arg);
/* Forgets the process without signalling it (a detaching daemon leaves it
 * to the next one).  NULL: no-op. */
void notebook_free(struct notebook *nb);

/* Writes the examples (where absent) and spawns; 0, or -1 with err (a
 * NOTEBOOK_EXITED-style restart is not scheduled then). */
int notebook_start(struct notebook *nb, char *err, size_t errlen);
/* Takes over a running server (pid with that /proc start time); 0, or -1
 * when that process is gone (then nothing is watched). */
int notebook_adopt(struct notebook *nb, pid_t pid, uint64_t start_time,
    int port, const char *token);
/* SIGTERM now, SIGKILL after a grace; NOTEBOOK_STOPPED once gone (from the
 * loop).  A pending restart is cancelled.  Idempotent. */
void notebook_stop(struct notebook *nb);

/* True while a process runs or a restart is pending. */
bool notebook_active(const struct notebook *nb);
pid_t notebook_pid(const struct notebook *nb);		/* 0: none */
uint64_t notebook_start_time(const struct notebook *nb);
int notebook_port(const struct notebook *nb);
const char *notebook_token(const struct notebook *nb);	/* borrowed */
const char *notebook_log(const struct notebook *nb);	/* borrowed */
/* http://127.0.0.1:PORT/tree?token=TOKEN once it answers, else NULL. */
const char *notebook_url(const struct notebook *nb);

#endif
