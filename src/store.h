/*
 * store: the daemon's durable state in SQLite — the only module that
 * touches SQL.  WAL journal, a schema_version with ordered migrations, one
 * transaction per state change.  What it keeps is what a restarted daemon
 * needs to re-adopt its processes and carry on: instances (spec, state,
 * outputs, scheduler process), workers (slot, process, address, state),
 * losses not told yet, events (append-only, bounded retention).
 *
 * Strings handed in are copied; structs handed out are new and freed with
 * the matching _free function.  Every function returns 0 or -1 with a
 * message in err ("store: ..."); a failed write leaves the database as it
 * was (the transaction is rolled back).
 */
#ifndef EDASK_STORE_H
#define EDASK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"

#define STORE_SCHEMA_VERSION	6	/* what this build writes */

struct store;

/*
 * Opens (creating if absent) the database at path, mode 0600, and brings
 * its schema to STORE_SCHEMA_VERSION by running the missing migrations,
 * each in its own transaction.  Refuses, with a clear message and without
 * changing the file: a file that is not an edask database or is corrupt
 * ("... is not a valid edask state database: <sqlite message>"), and a
 * schema newer than this build ("... was written by a newer edask (schema
 * N, this build knows up to M)").
 */
int store_open(const char *path, struct store **out, char *err,
    size_t errlen);
/* For tests of migrations: like store_open, but stops at version. */
int store_open_at(const char *path, int version, struct store **out,
    char *err, size_t errlen);
void store_close(struct store *s);		/* NULL: no-op */
int store_schema_version(struct store *s);

/* Groups several writes into one transaction (nesting is an error). */
int store_begin(struct store *s, char *err, size_t errlen);
int store_commit(struct store *s, char *err, size_t errlen);
void store_rollback(struct store *s);

struct store_instance {
	char	*name;
	char	*spec_json;	/* spec_to_json() text */
	char	*state;		/* "starting", "started", ... */
	char	*error;		/* "" when none */
	char	*sched_addr;	/* "" until known */
	char	*dash_url;	/* "" until known */
	int64_t	 sched_pid;	/* 0: none */
	uint64_t sched_start;	/* /proc start time of sched_pid */
	int	 next_worker_id;
	int64_t	 created_ms;	/* wall clock */
	bool	 undeploy;	/* asked for (schema 5; false before) */
};

/* Insert or replace by name. */
int store_instance_put(struct store *s, const struct store_instance *in,
    char *err, size_t errlen);
/* Deletes the instance and its workers; absent is not an error. */
int store_instance_delete(struct store *s, const char *name, char *err,
    size_t errlen);
/* Every instance, ordered by created_ms then name. */
int store_instances_load(struct store *s, struct store_instance **out,
    size_t *n, char *err, size_t errlen);
void store_instances_free(struct store_instance *v, size_t n);

struct store_worker {
	char	*instance;
	int	 id;		/* per instance, from next_worker_id */
	int	 slot;
	int	 gpu;		/* -1: CPU slot */
	char	*state;		/* "launching", "running", "retiring", ... */
	int64_t	 pid;
	uint64_t start_time;	/* /proc start time of pid */
	char	*name;		/* "<instance>-<slot>" */
	char	*address;	/* "" until registered */
	char	*log;
	int64_t	 launched_ms;	/* wall clock */
	int64_t	 retire_started_ms;	/* wall clock, 0: not retiring
					   (schema 2) */
	char	*reclaim_for;	/* instance it is reclaimed for, "" (schema 3;
				   NULL is written as "") */
	int64_t	 reclaim_deadline_ms;	/* wall clock, 0: none (schema 3) */
	int64_t	 job_id;	/* Slurm job, 0: none (schema 4) */
};

/* Insert or replace by (instance, id). */
int store_worker_put(struct store *s, const struct store_worker *w,
    char *err, size_t errlen);
int store_worker_delete(struct store *s, const char *instance, int id,
    char *err, size_t errlen);
/* Workers of one instance, ordered by id. */
int store_workers_load(struct store *s, const char *instance,
    struct store_worker **out, size_t *n, char *err, size_t errlen);
void store_workers_free(struct store_worker *v, size_t n);

/*
 * The notebook server of an instance (schema 3), kept so that a restarted
 * daemon finds it again; deleted with its instance.  Before schema 3 these
 * calls fail with a message.
 */
struct store_notebook {
	char	*instance;
	int64_t	 pid;		/* 0: none running */
	uint64_t start_time;	/* /proc start time of pid */
	int	 port;
	char	*token;
	char	*log;
};

/* Insert or replace by instance. */
int store_notebook_put(struct store *s, const struct store_notebook *nb,
    char *err, size_t errlen);
/* Absent is not an error. */
int store_notebook_delete(struct store *s, const char *instance, char *err,
    size_t errlen);
/* 1 and *out filled (free with store_notebook_clear), 0 when absent, -1. */
int store_notebook_get(struct store *s, const char *instance,
    struct store_notebook *out, char *err, size_t errlen);
void store_notebook_clear(struct store_notebook *nb);

/*
 * A lost worker whose loss is told once the scheduler says what it held
 * (schema 6): kept so that a restarted daemon still tells it; deleted
 * with its instance.  Before schema 6 these calls fail with a message.
 */
struct store_loss {
	char	*instance;
	int	 id;		/* the worker's */
	char	*address;	/* the worker's, at the scheduler */
	char	*head;		/* the event, before what it held */
	char	*tail;		/* and after */
	int	 keys;		/* what it held as last observed; -1 unknown */
	int	 unique_keys;	/* -1 unknown */
	int64_t	 bytes;
	bool	 departed;	/* the counts are the scheduler's */
	int64_t	 until_ms;	/* wall clock: told as they are, then */
};

/* Insert or replace by (instance, id), and the worker (instance, id)
 * deleted, in one write. */
int store_loss_put(struct store *s, const struct store_loss *l, char *err,
    size_t errlen);
/* Absent is not an error. */
int store_loss_delete(struct store *s, const char *instance, int id,
    char *err, size_t errlen);
/* Losses of one instance, by until_ms then id. */
int store_losses_load(struct store *s, const char *instance,
    struct store_loss **out, size_t *n, char *err, size_t errlen);
void store_losses_free(struct store_loss *v, size_t n);

/* Appends an event (its seq is kept); then deletes all but the newest
 * `keep` events. */
int store_event_add(struct store *s, const struct event *ev, size_t keep,
    char *err, size_t errlen);
/* The newest `limit` events, oldest first, into a new array. */
int store_events_load(struct store *s, size_t limit, struct event **out,
    size_t *n, char *err, size_t errlen);

#endif
