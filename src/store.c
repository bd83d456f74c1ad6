/*
 * store: see store.h.
 *
 * Choices worth knowing:
 *
 * - journal_mode=WAL with synchronous=NORMAL.  The failure this daemon must
 *   survive is its own death (kill -9, a crash): in WAL mode a committed
 *   transaction is in the WAL through the OS page cache, so NORMAL loses
 *   nothing then.  Only a power loss or kernel crash can lose the last few
 *   commits, and never corrupts the database; the local workers died with
 *   the machine anyway.  FULL would fsync on every commit, i.e. on every
 *   event, on the control thread that must not block.
 *
 * - A file is ours when it is empty (0 bytes, or an SQLite database with
 *   no schema objects at all: nothing in it to lose, and what a crash
 *   between creating the file and the first migration leaves) or has a
 *   `meta` table with an integer schema_version.  Anything else is refused
 *   before a single write, and the connection is closed without its
 *   checkpoint-on-close, so a refused file keeps its bytes.
 *
 * - Migrations are an ordered array of SQL scripts; migration i brings the
 *   schema from version i-1 to i inside one BEGIN IMMEDIATE transaction
 *   together with the schema_version update.  The version is read again
 *   inside that transaction, so two daemons opening the same new file at
 *   once do not both run a migration.
 *
 * - store_open_at() may stop below STORE_SCHEMA_VERSION (tests build an
 *   old database with it).  The store then writes and reads only the
 *   columns that schema has: at version 1, workers have no
 *   retire_started_ms, store_worker_put ignores it and store_workers_load
 *   returns 0.
 *
 * - uint64_t process start times are stored bit for bit as a signed 64-bit
 *   INTEGER.  /proc start times (clock ticks since boot) are far below
 *   2^63, so they read naturally in the sqlite3 shell too; a larger value
 *   still round-trips unchanged but shows as negative there.
 *
 * - Every write is its own transaction, or, inside store_begin/commit, its
 *   own savepoint: a failed write is undone alone and the caller still
 *   decides to commit or roll back the rest.
 *
 * - Events are trimmed by seq: after an insert, events whose seq is `keep`
 *   or more below the newest are deleted (one index range, no scan).  With
 *   the contiguous seqs events.c hands out this keeps exactly the newest
 *   `keep`.  Seqs must be unique; a repeated seq is an error.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define BUSY_TIMEOUT_MS	2000

/*
 * The store's tables, and what is done to a row of one.  The statements
 * are written from the table's columns (below) for the store's schema
 * version, and prepared once, on first use.
 */
enum table_id {
	T_INSTANCES, T_WORKERS, T_EVENTS, T_NOTEBOOKS, T_LOSSES, T_COUNT
};
enum table_op {
	OP_PUT,		/* insert, or update the row with the same key */
	OP_DELETE,	/* the row with the key ?1, ?2, ... */
	OP_LOAD,	/* the rows the table's load clause picks */
	OP_COUNT
};

/* The one statement that no table's columns describe. */
#define EVENT_TRIM_SQL							\
	"DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?1"

/*
 * migrations[i] brings the schema from version i to i + 1.  Append only:
 * a released migration never changes.
 */
static const char *const migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE meta ("
	"    key	TEXT PRIMARY KEY,"
	"    value	TEXT NOT NULL"
	");"
	"CREATE TABLE instances ("
	"    name		TEXT PRIMARY KEY,"
	"    spec_json		TEXT NOT NULL,"
	"    state		TEXT NOT NULL,"
	"    error		TEXT NOT NULL DEFAULT '',"
	"    sched_addr		TEXT NOT NULL DEFAULT '',"
	"    dash_url		TEXT NOT NULL DEFAULT '',"
	"    sched_pid		INTEGER NOT NULL DEFAULT 0,"
	"    sched_start	INTEGER NOT NULL DEFAULT 0,"
	"    next_worker_id	INTEGER NOT NULL DEFAULT 0,"
	"    created_ms		INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE workers ("
	"    instance		TEXT NOT NULL"
	"        REFERENCES instances(name) ON DELETE CASCADE,"
	"    id			INTEGER NOT NULL,"
	"    slot		INTEGER NOT NULL,"
	"    gpu		INTEGER NOT NULL,"
	"    state		TEXT NOT NULL,"
	"    pid		INTEGER NOT NULL DEFAULT 0,"
	"    start_time		INTEGER NOT NULL DEFAULT 0,"
	"    name		TEXT NOT NULL DEFAULT '',"
	"    address		TEXT NOT NULL DEFAULT '',"
	"    log		TEXT NOT NULL DEFAULT '',"
	"    launched_ms	INTEGER NOT NULL DEFAULT 0,"
	"    PRIMARY KEY (instance, id)"
	");"
	"CREATE TABLE events ("
	"    seq	INTEGER PRIMARY KEY,"
	"    ts_ms	INTEGER NOT NULL,"
	"    instance	TEXT NOT NULL,"
	"    kind	TEXT NOT NULL,"
	"    message	TEXT NOT NULL"
	");",
	/* 2: retirement deadline survives a restart; events by instance. */
	"ALTER TABLE workers"
	"    ADD COLUMN retire_started_ms INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX events_instance_seq ON events(instance, seq);",
	/* 3: the optional notebook server of an instance, for re-adoption;
	 * a worker being reclaimed for another instance, and until when. */
	"ALTER TABLE workers"
	"    ADD COLUMN reclaim_for TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE workers"
	"    ADD COLUMN reclaim_deadline_ms INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE notebooks ("
	"    instance	TEXT PRIMARY KEY"
	"        REFERENCES instances(name) ON DELETE CASCADE,"
	"    pid	INTEGER NOT NULL DEFAULT 0,"
	"    start_time	INTEGER NOT NULL DEFAULT 0,"
	"    port	INTEGER NOT NULL DEFAULT 0,"
	"    token	TEXT NOT NULL DEFAULT '',"
	"    log	TEXT NOT NULL DEFAULT ''"
	");",
	/* 4: the Slurm job that runs a worker of a slurm pool (0: none). */
	"ALTER TABLE workers ADD COLUMN job_id INTEGER NOT NULL DEFAULT 0;",
	/* 5: an undeploy asked for, carried on after a restart. */
	"ALTER TABLE instances ADD COLUMN undeploy INTEGER NOT NULL DEFAULT 0;",
	/* 6: a lost worker whose loss is not told yet (it waits for the
	 * scheduler's count), so that a restart still tells it. */
	"CREATE TABLE losses ("
	"    instance		TEXT NOT NULL"
	"        REFERENCES instances(name) ON DELETE CASCADE,"
	"    id			INTEGER NOT NULL,"
	"    address		TEXT NOT NULL DEFAULT '',"
	"    head		TEXT NOT NULL DEFAULT '',"
	"    tail		TEXT NOT NULL DEFAULT '',"
	"    keys		INTEGER NOT NULL DEFAULT 0,"
	"    unique_keys	INTEGER NOT NULL DEFAULT -1,"
	"    bytes		INTEGER NOT NULL DEFAULT 0,"
	"    departed		INTEGER NOT NULL DEFAULT 0,"
	"    until_ms		INTEGER NOT NULL DEFAULT 0,"
	"    PRIMARY KEY (instance, id)"
	");",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
    STORE_SCHEMA_VERSION, "one migration per schema version");

struct store {
	sqlite3		*db;
	char		*path;
	int		 version;
	int		 in_txn;	/* between store_begin and commit */
	sqlite3_stmt	*stmt[T_COUNT * OP_COUNT];	/* prepared on first use */
	sqlite3_stmt	*event_trim;
};

/* ---------------------------------------------------------------------- */
/* Helpers */

static int
dberr(sqlite3 *db, char *err, size_t errlen, const char *what)
{
	return seterr(err, errlen, "store: %s: %s", what, sqlite3_errmsg(db));
}

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

/* New string: column i as text, "" for NULL. */
static char *
col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return xstrdup(t != NULL ? (const char *)t : "");
}

static void
col_buf(sqlite3_stmt *st, int i, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	strlcpy_(buf, t != NULL ? (const char *)t : "", len);
}

/* A failed bind leaves NULL, which the NOT NULL columns refuse at step. */
static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, nz(s), -1, SQLITE_TRANSIENT);
}

/* Bit for bit: see the comment at the top. */
static sqlite3_int64
u64_to_db(uint64_t v)
{
	return (sqlite3_int64)v;
}

static uint64_t
u64_from_db(sqlite3_int64 v)
{
	return (uint64_t)v;
}

static sqlite3_int64
size_to_db(size_t v)
{
	return v > (size_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

/*
 * The columns of a row struct, in the order of its statements' parameters
 * (?1, ?2, ...) and result columns: one table per struct binds a row to
 * write and reads one back.  since: the schema version that added the
 * column; with an older schema it is not bound, and the load statements
 * select a constant (0 or '') in its place.
 */
enum col_type {
	COL_TEXT,	/* char *, new string read, NULL written as "" */
	COL_CHARS,	/* char [size], cut when read */
	COL_INT,	/* int */
	COL_INT64,	/* int64_t */
	COL_U64,	/* uint64_t, bit for bit */
	COL_BOOL,	/* bool, 0 or 1 */
};

struct column {
	const char	*name;	/* the field's name is the column's */
	enum col_type	 type;
	size_t		 off;
	size_t		 size;	/* COL_CHARS */
	int		 since;
};

#define COL(t, type, field, since)					\
	{ #field, type, offsetof(t, field), sizeof(((t *)0)->field), since }

static const struct column instance_cols[] = {
	COL(struct store_instance, COL_TEXT, name, 1),
	COL(struct store_instance, COL_TEXT, spec_json, 1),
	COL(struct store_instance, COL_TEXT, state, 1),
	COL(struct store_instance, COL_TEXT, error, 1),
	COL(struct store_instance, COL_TEXT, sched_addr, 1),
	COL(struct store_instance, COL_TEXT, dash_url, 1),
	COL(struct store_instance, COL_INT64, sched_pid, 1),
	COL(struct store_instance, COL_U64, sched_start, 1),
	COL(struct store_instance, COL_INT, next_worker_id, 1),
	COL(struct store_instance, COL_INT64, created_ms, 1),
	COL(struct store_instance, COL_BOOL, undeploy, 5),
};

static const struct column worker_cols[] = {
	COL(struct store_worker, COL_TEXT, instance, 1),
	COL(struct store_worker, COL_INT, id, 1),
	COL(struct store_worker, COL_INT, slot, 1),
	COL(struct store_worker, COL_INT, gpu, 1),
	COL(struct store_worker, COL_TEXT, state, 1),
	COL(struct store_worker, COL_INT64, pid, 1),
	COL(struct store_worker, COL_U64, start_time, 1),
	COL(struct store_worker, COL_TEXT, name, 1),
	COL(struct store_worker, COL_TEXT, address, 1),
	COL(struct store_worker, COL_TEXT, log, 1),
	COL(struct store_worker, COL_INT64, launched_ms, 1),
	COL(struct store_worker, COL_INT64, retire_started_ms, 2),
	COL(struct store_worker, COL_TEXT, reclaim_for, 3),
	COL(struct store_worker, COL_INT64, reclaim_deadline_ms, 3),
	COL(struct store_worker, COL_INT64, job_id, 4),
};

static const struct column event_cols[] = {
	COL(struct event, COL_U64, seq, 1),
	COL(struct event, COL_INT64, ts_ms, 1),
	COL(struct event, COL_CHARS, instance, 1),
	COL(struct event, COL_CHARS, kind, 1),
	COL(struct event, COL_CHARS, message, 1),
};

static const struct column notebook_cols[] = {
	COL(struct store_notebook, COL_TEXT, instance, 3),
	COL(struct store_notebook, COL_INT64, pid, 3),
	COL(struct store_notebook, COL_U64, start_time, 3),
	COL(struct store_notebook, COL_INT, port, 3),
	COL(struct store_notebook, COL_TEXT, token, 3),
	COL(struct store_notebook, COL_TEXT, log, 3),
};

static const struct column loss_cols[] = {
	COL(struct store_loss, COL_TEXT, instance, 6),
	COL(struct store_loss, COL_INT, id, 6),
	COL(struct store_loss, COL_TEXT, address, 6),
	COL(struct store_loss, COL_TEXT, head, 6),
	COL(struct store_loss, COL_TEXT, tail, 6),
	COL(struct store_loss, COL_INT, keys, 6),
	COL(struct store_loss, COL_INT, unique_keys, 6),
	COL(struct store_loss, COL_INT64, bytes, 6),
	COL(struct store_loss, COL_BOOL, departed, 6),
	COL(struct store_loss, COL_INT64, until_ms, 6),
};

/*
 * A row struct and its SQL table: its columns, its size, how many rows a
 * load starts with, how many leading columns are its primary key (0: rows
 * are only ever added), and what follows the column list of its load.
 * The columns' since never goes down the list, so the columns of an older
 * schema are a prefix and keep their parameter numbers.
 */
struct table {
	const char		*name;
	const struct column	*cols;
	size_t			 ncols;
	size_t			 size;
	size_t			 first;
	size_t			 nkeys;
	const char		*load;
};

#define TABLE(name, cols, t, first, nkeys, load)			\
	{ name, cols, ARRAY_LEN(cols), sizeof(t), first, nkeys, load }

static const struct table tables[T_COUNT] = {
	[T_INSTANCES] = TABLE("instances", instance_cols,
	    struct store_instance, 8, 1,
	    "FROM instances ORDER BY created_ms, name"),
	[T_WORKERS] = TABLE("workers", worker_cols, struct store_worker, 8, 2,
	    "FROM workers WHERE instance = ?1 ORDER BY id"),
	[T_EVENTS] = TABLE("events", event_cols, struct event, 64, 0,
	    "FROM (SELECT * FROM events ORDER BY seq DESC LIMIT ?1)"
	    " ORDER BY seq"),
	[T_NOTEBOOKS] = TABLE("notebooks", notebook_cols,
	    struct store_notebook, 1, 1, "FROM notebooks WHERE instance = ?1"),
	[T_LOSSES] = TABLE("losses", loss_cols, struct store_loss, 4, 2,
	    "FROM losses WHERE instance = ?1 ORDER BY until_ms, id"),
};

/* The columns of t that schema version has: a prefix of them. */
static size_t
cols_at(const struct table *t, int version)
{
	size_t i, n = 0;

	while (n < t->ncols && t->cols[n].since <= version)
		n++;
	for (i = n; i < t->ncols; i++)
		ASSERT(t->cols[i].since > version);
	return n;
}

/*
 * Appends the names of columns from..to-1, comma-separated; with set, as
 * "c = excluded.c" (the SET list of an upsert).
 */
static void
list_cols(struct strbuf *b, const struct column *cols, size_t from,
    size_t to, bool set)
{
	size_t i;

	for (i = from; i < to; i++) {
		strbuf_printf(b, "%s%s", i > from ? ", " : "", cols[i].name);
		if (set)
			strbuf_printf(b, " = excluded.%s", cols[i].name);
	}
}

/*
 * The SQL of op on t at schema version, a new string.  A load selects a
 * constant ('' or 0) for a column newer than the schema, so a row read
 * from an older store has the field empty.
 */
static char *
table_sql(const struct table *t, enum table_op op, int version)
{
	struct strbuf b = { 0 };
	size_t i, n = cols_at(t, version);

	switch (op) {
	case OP_PUT:
		strbuf_printf(&b, "INSERT INTO %s(", t->name);
		list_cols(&b, t->cols, 0, n, false);
		strbuf_printf(&b, ") VALUES (");
		for (i = 0; i < n; i++)
			strbuf_printf(&b, "%s?%zu", i > 0 ? ", " : "", i + 1);
		strbuf_printf(&b, ")");
		if (t->nkeys > 0 && n > t->nkeys) {
			strbuf_printf(&b, " ON CONFLICT(");
			list_cols(&b, t->cols, 0, t->nkeys, false);
			strbuf_printf(&b, ") DO UPDATE SET ");
			list_cols(&b, t->cols, t->nkeys, n, true);
		}
		break;
	case OP_DELETE:
		ASSERT(t->nkeys > 0);
		strbuf_printf(&b, "DELETE FROM %s WHERE ", t->name);
		for (i = 0; i < t->nkeys; i++)
			strbuf_printf(&b, "%s%s = ?%zu", i > 0 ? " AND " : "",
			    t->cols[i].name, i + 1);
		break;
	case OP_LOAD:
		strbuf_printf(&b, "SELECT ");
		list_cols(&b, t->cols, 0, n, false);
		for (i = n; i < t->ncols; i++)
			strbuf_printf(&b, "%s%s", i > 0 ? ", " : "",
			    t->cols[i].type == COL_TEXT ||
			    t->cols[i].type == COL_CHARS ? "''" : "0");
		strbuf_printf(&b, " %s", t->load);
		break;
	case OP_COUNT:
		ASSERT(0);
	}
	return b.p;
}

/* Binds the fields of row p that schema version has as ?1, ?2, ... */
static void
bind_row(sqlite3_stmt *st, const struct table *t, int version,
    const void *p)
{
	const struct column *cols = t->cols;
	const char *f;
	size_t i;
	int k;

	for (i = 0; i < t->ncols; i++) {
		if (cols[i].since > version)
			continue;
		f = (const char *)p + cols[i].off;
		k = (int)i + 1;
		switch (cols[i].type) {
		case COL_TEXT:
			bind_text(st, k, *(char *const *)(const void *)f);
			break;
		case COL_CHARS:
			bind_text(st, k, f);
			break;
		case COL_INT:
			sqlite3_bind_int(st, k, *(const int *)(const void *)f);
			break;
		case COL_INT64:
			sqlite3_bind_int64(st, k,
			    *(const int64_t *)(const void *)f);
			break;
		case COL_U64:
			sqlite3_bind_int64(st, k,
			    u64_to_db(*(const uint64_t *)(const void *)f));
			break;
		case COL_BOOL:
			sqlite3_bind_int(st, k,
			    *(const bool *)(const void *)f ? 1 : 0);
			break;
		}
	}
}

/* Fills row p from the current result row of st. */
static void
read_row(sqlite3_stmt *st, const struct table *t, void *p)
{
	const struct column *cols = t->cols;
	void *f;
	size_t i;
	int k;

	for (i = 0; i < t->ncols; i++) {
		f = (char *)p + cols[i].off;
		k = (int)i;
		switch (cols[i].type) {
		case COL_TEXT:
			*(char **)f = col_str(st, k);
			break;
		case COL_CHARS:
			col_buf(st, k, f, cols[i].size);
			break;
		case COL_INT:
			*(int *)f = sqlite3_column_int(st, k);
			break;
		case COL_INT64:
			*(int64_t *)f = sqlite3_column_int64(st, k);
			break;
		case COL_U64:
			*(uint64_t *)f =
			    u64_from_db(sqlite3_column_int64(st, k));
			break;
		case COL_BOOL:
			*(bool *)f = sqlite3_column_int(st, k) != 0;
			break;
		}
	}
}

/* Frees the strings of row p (its COL_TEXT fields); p itself stays. */
static void
clear_row(const struct table *t, void *p)
{
	size_t i;

	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].type == COL_TEXT)
			free(*(char **)(void *)((char *)p + t->cols[i].off));
}

/* Frees the strings of the n rows at v, then v. */
static void
free_rows(const struct table *t, void *v, size_t n)
{
	size_t r;

	for (r = 0; r < n; r++)
		clear_row(t, (char *)v + r * t->size);
	free(v);
}

/*
 * The statement cached in *slot, prepared from sql when the slot is empty;
 * reset and with no bindings.
 */
static sqlite3_stmt *
stmt_cached(struct store *s, sqlite3_stmt **slot, const char *sql,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = *slot;

	if (st == NULL) {
		if (sqlite3_prepare_v3(s->db, sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
			dberr(s->db, err, errlen, "prepare");
			return NULL;
		}
		*slot = st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* The statement of op on table t, at the store's schema version. */
static sqlite3_stmt *
stmt_get(struct store *s, enum table_id t, enum table_op op, char *err,
    size_t errlen)
{
	sqlite3_stmt **slot = &s->stmt[t * OP_COUNT + op], *st;
	char *sql;

	if (*slot != NULL)
		return stmt_cached(s, slot, NULL, err, errlen);
	sql = table_sql(&tables[t], op, s->version);
	st = stmt_cached(s, slot, sql, err, errlen);
	free(sql);
	return st;
}

/* st with text bound as ?1; NULL stays NULL (stmt_get failed). */
static sqlite3_stmt *
with_text(sqlite3_stmt *st, const char *text)
{
	if (st != NULL)
		bind_text(st, 1, text);
	return st;
}

/*
 * Steps a statement that returns no rows.  The statement is reset here so
 * that it holds no lock once the write is done.
 */
static int
stmt_exec(struct store *s, sqlite3_stmt *st, const char *what, char *err,
    size_t errlen)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE) {
		dberr(s->db, err, errlen, what);
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

/*
 * Opens the unit of one write: a transaction of its own, or a savepoint
 * inside the caller's store_begin.
 */
static int
write_begin(struct store *s, char *err, size_t errlen)
{
	const char *sql = s->in_txn ? "SAVEPOINT store_write" :
	    "BEGIN IMMEDIATE";

	/* Else the savepoint would open, and commit, a transaction alone. */
	if (s->in_txn && sqlite3_get_autocommit(s->db))
		return seterr(err, errlen, "store: the transaction was rolled "
		    "back after an error");
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return dberr(s->db, err, errlen, "begin");
	return 0;
}

/*
 * Closes the unit write_begin opened: commits it when rc is 0, undoes it
 * otherwise (err already says why, and is left alone).  Returns rc, or -1
 * when the commit itself failed.
 */
static int
write_end(struct store *s, int rc, char *err, size_t errlen)
{
	if (rc == 0) {
		if (sqlite3_exec(s->db, s->in_txn ? "RELEASE store_write" :
		    "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
			return 0;
		dberr(s->db, err, errlen, "commit");
	}
	/* SQLite may already have rolled back on I/O errors: harmless. */
	if (s->in_txn)
		sqlite3_exec(s->db, "ROLLBACK TO store_write; "
		    "RELEASE store_write", NULL, NULL, NULL);
	else
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * Runs st, bound and returning no rows, as one write of its own; a NULL
 * st (stmt_get failed, err says why) is -1.
 */
static int
write_one(struct store *s, sqlite3_stmt *st, const char *what, char *err,
    size_t errlen)
{
	if (st == NULL || write_begin(s, err, errlen) == -1)
		return -1;
	return write_end(s, stmt_exec(s, st, what, err, errlen), err, errlen);
}

/* Writes row p of table t, as one write of its own. */
static int
put_row(struct store *s, enum table_id t, const void *p, const char *what,
    char *err, size_t errlen)
{
	sqlite3_stmt *st;

	if ((st = stmt_get(s, t, OP_PUT, err, errlen)) == NULL)
		return -1;
	bind_row(st, &tables[t], s->version, p);
	return write_one(s, st, what, err, errlen);
}

/*
 * Steps st, the load of table id bound, through all its rows into a new
 * array of the table's rows (zeroed, then read_row; the array grows from
 * t->first rows by doubling).  0 with the array in *out and its length in
 * *n (NULL and 0 when there is no row), or -1 with err, NULL and 0; a
 * NULL st (stmt_get failed, err says why) is -1.
 */
static int
load_rows(struct store *s, sqlite3_stmt *st, enum table_id id, void **out,
    size_t *n, char *err, size_t errlen)
{
	const struct table *t = &tables[id];
	size_t len = 0, cap = 0, size = t->size;
	char *v = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : t->first;
			v = xrealloc(v, cap * size);
		}
		memset(v + len * size, 0, size);
		read_row(st, t, v + len++ * size);
	}
	if (rc != SQLITE_DONE) {
		seterr(err, errlen, "store: %s load: %s", t->name,
		    sqlite3_errmsg(s->db));
		sqlite3_reset(st);
		free_rows(t, v, len);
		return -1;
	}
	sqlite3_reset(st);
	*out = v;
	*n = len;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Opening, checking, migrating */

/* Creates path mode 0600 when absent; an existing file is left as is. */
static int
create_file(const char *path, char *err, size_t errlen)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (errno == EEXIST)
			return 0;
		return seterr(err, errlen, "store: create %s: %s", path,
		    strerror(errno));
	}
	/* The umask may have taken bits away; never adds any here. */
	if (fchmod(fd, 0600) == -1) {
		seterr(err, errlen, "store: chmod %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Runs a query whose first row's first column is an integer into *v. */
static int
query_int(sqlite3 *db, const char *sql, sqlite3_int64 *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * Reads the schema version into *version: 0 for an empty database (no
 * schema objects).  Returns 0, or -1 with why into why[] (a database that
 * is not ours or that SQLite cannot read).
 */
static int
read_version(sqlite3 *db, int *version, char *why, size_t whylen)
{
	sqlite3_int64 nobj, nmeta;
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	const char *txt;
	char *end;
	long v;
	int rc;

	if (query_int(db, "SELECT count(*) FROM sqlite_master", &nobj) == -1)
		goto sqlerr;
	if (nobj == 0) {
		*version = 0;
		return 0;
	}
	if (query_int(db, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'table' AND name = 'meta'", &nmeta) == -1)
		goto sqlerr;
	if (nmeta == 0) {
		strlcpy_(why, "it has tables but no edask meta table", whylen);
		return -1;
	}
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta"
	    " WHERE key = 'schema_version'", -1, &st, NULL) != SQLITE_OK)
		goto sqlerr;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		strlcpy_(why, "its meta table has no schema_version", whylen);
		goto fail;
	}
	if (rc != SQLITE_ROW)
		goto sqlerr;
	t = sqlite3_column_text(st, 0);
	txt = t != NULL ? (const char *)t : "";
	errno = 0;
	v = strtol(txt, &end, 10);
	if (end == txt || *end != '\0' || errno != 0 || v < 1 ||
	    v > INT_MAX) {
		snprintf(why, whylen, "bad schema_version '%s'", txt);
		goto fail;
	}
	sqlite3_finalize(st);
	*version = (int)v;
	return 0;

sqlerr:
	strlcpy_(why, sqlite3_errmsg(db), whylen);
fail:
	sqlite3_finalize(st);
	return -1;
}

/* PRAGMA quick_check: "ok", or the first problem into why[]. */
static int
quick_check(sqlite3 *db, char *why, size_t whylen)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st,
	    NULL) != SQLITE_OK) {
		strlcpy_(why, sqlite3_errmsg(db), whylen);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		strlcpy_(why, sqlite3_errmsg(db), whylen);
		sqlite3_finalize(st);
		return -1;
	}
	t = sqlite3_column_text(st, 0);
	if (t == NULL || strcmp((const char *)t, "ok") != 0) {
		snprintf(why, whylen, "quick_check: %s",
		    t != NULL ? (const char *)t : "NULL");
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/*
 * Connection settings.  foreign_keys is per connection (cascade deletes of
 * workers depend on it); journal_mode=WAL is persistent and the first
 * write to the file, so it comes after the checks.
 */
static int
configure(struct store *s, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int ok;

	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st,
	    NULL) != SQLITE_OK)
		return dberr(s->db, err, errlen, "journal_mode");
	if (sqlite3_step(st) != SQLITE_ROW) {
		dberr(s->db, err, errlen, "journal_mode");
		sqlite3_finalize(st);
		return -1;
	}
	t = sqlite3_column_text(st, 0);
	ok = t != NULL && strcmp((const char *)t, "wal") == 0;
	if (!ok)
		seterr(err, errlen, "store: %s: cannot use WAL journal "
		    "(journal_mode is %s)", s->path,
		    t != NULL ? (const char *)t : "NULL");
	sqlite3_finalize(st);
	if (!ok)
		return -1;
	if (sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL;"
	    "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK)
		return dberr(s->db, err, errlen, "pragma");
	return 0;
}

/* Runs migration `to` (1-based) and records it, in one transaction. */
static int
migrate_one(struct store *s, int to, char *err, size_t errlen)
{
	char why[256], what[64];
	sqlite3_stmt *st = NULL;
	int cur;

	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return dberr(s->db, err, errlen, "migrate: begin");
	/* Another process may have migrated since we looked. */
	if (read_version(s->db, &cur, why, sizeof(why)) == -1) {
		seterr(err, errlen, "store: %s is not a valid edask state "
		    "database: %s", s->path, why);
		goto fail;
	}
	if (cur >= to) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return 0;
	}
	snprintf(what, sizeof(what), "migrate to schema %d", to);
	if (sqlite3_exec(s->db, migrations[to - 1], NULL, NULL, NULL) !=
	    SQLITE_OK) {
		dberr(s->db, err, errlen, what);
		goto fail;
	}
	if (sqlite3_prepare_v2(s->db, "INSERT INTO meta(key, value)"
	    " VALUES ('schema_version', ?1) ON CONFLICT(key)"
	    " DO UPDATE SET value = excluded.value", -1, &st, NULL) !=
	    SQLITE_OK) {
		dberr(s->db, err, errlen, what);
		goto fail;
	}
	sqlite3_bind_int(st, 1, to);
	if (sqlite3_step(st) != SQLITE_DONE) {
		dberr(s->db, err, errlen, what);
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		dberr(s->db, err, errlen, what);
		goto fail;
	}
	return 0;

fail:
	sqlite3_finalize(st);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * Everything up to the first write reads only, so a refused file keeps its
 * bytes; and the connection of a refused file is closed without the
 * checkpoint SQLite otherwise runs when the last connection closes.
 */
int
store_open_at(const char *path, int version, struct store **out, char *err,
    size_t errlen)
{
	struct store *s;
	char why[256];
	int cur, v;

	*out = NULL;
	if (version < 1 || version > STORE_SCHEMA_VERSION)
		return seterr(err, errlen, "store: schema version %d out of "
		    "range 1..%d", version, STORE_SCHEMA_VERSION);
	if (create_file(path, err, errlen) == -1)
		return -1;

	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		if (s->db == NULL)
			seterr(err, errlen, "store: open %s: out of memory",
			    path);
		else
			seterr(err, errlen, "store: open %s: %s", path,
			    sqlite3_errmsg(s->db));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		seterr(err, errlen, "store: %s: file is read-only", path);
		goto fail;
	}

	if (read_version(s->db, &cur, why, sizeof(why)) == -1 ||
	    (cur > 0 && quick_check(s->db, why, sizeof(why)) == -1)) {
		seterr(err, errlen, "store: %s is not a valid edask state "
		    "database: %s", path, why);
		goto fail;
	}
	if (cur > STORE_SCHEMA_VERSION) {
		seterr(err, errlen, "store: %s was written by a newer edask "
		    "(schema %d, this build knows up to %d)", path, cur,
		    STORE_SCHEMA_VERSION);
		goto fail;
	}
	if (cur > version) {
		seterr(err, errlen, "store: %s is at schema %d, past the "
		    "requested %d", path, cur, version);
		goto fail;
	}
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);

	if (configure(s, err, errlen) == -1)
		goto fail;
	for (v = cur + 1; v <= version; v++)
		if (migrate_one(s, v, err, errlen) == -1)
			goto fail;
	s->version = version;
	*out = s;
	return 0;

fail:
	store_close(s);
	return -1;
}

int
store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	return store_open_at(path, STORE_SCHEMA_VERSION, out, err, errlen);
}

void
store_close(struct store *s)
{
	size_t i;

	if (s == NULL)
		return;
	if (s->in_txn)
		store_rollback(s);
	for (i = 0; i < ARRAY_LEN(s->stmt); i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_finalize(s->event_trim);
	sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
}

int
store_schema_version(struct store *s)
{
	return s->version;
}

/* ---------------------------------------------------------------------- */
/* Transactions */

int
store_begin(struct store *s, char *err, size_t errlen)
{
	if (s->in_txn)
		return seterr(err, errlen, "store: begin: a transaction is "
		    "already open (nesting is an error)");
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return dberr(s->db, err, errlen, "begin");
	s->in_txn = 1;
	return 0;
}

/*
 * A failed COMMIT (busy, I/O error) leaves nothing half written: the
 * transaction is rolled back, as the header promises.
 */
int
store_commit(struct store *s, char *err, size_t errlen)
{
	if (!s->in_txn)
		return seterr(err, errlen, "store: commit: no transaction "
		    "open");
	s->in_txn = 0;
	if (sqlite3_get_autocommit(s->db))
		return seterr(err, errlen, "store: commit: the transaction "
		    "was rolled back after an error");
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		dberr(s->db, err, errlen, "commit");
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

void
store_rollback(struct store *s)
{
	if (!s->in_txn)
		return;
	s->in_txn = 0;
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------- */
/* Instances */

int
store_instance_put(struct store *s, const struct store_instance *in,
    char *err, size_t errlen)
{
	return put_row(s, T_INSTANCES, in, "instance put", err, errlen);
}

int
store_instance_delete(struct store *s, const char *name, char *err,
    size_t errlen)
{
	/* Its workers go by ON DELETE CASCADE. */
	return write_one(s, with_text(stmt_get(s, T_INSTANCES, OP_DELETE, err,
	    errlen), name), "instance delete", err, errlen);
}

int
store_instances_load(struct store *s, struct store_instance **out,
    size_t *n, char *err, size_t errlen)
{
	void *v;
	int rc = load_rows(s, stmt_get(s, T_INSTANCES, OP_LOAD, err, errlen),
	    T_INSTANCES, &v, n, err, errlen);

	*out = v;
	return rc;
}

void
store_instances_free(struct store_instance *v, size_t n)
{
	free_rows(&tables[T_INSTANCES], v, n);
}

/* ---------------------------------------------------------------------- */
/* Workers */

int
store_worker_put(struct store *s, const struct store_worker *w, char *err,
    size_t errlen)
{
	return put_row(s, T_WORKERS, w, "worker put", err, errlen);
}

/* Deletes the row (instance, id) of table t. */
static int
delete_id(struct store *s, enum table_id t, const char *instance, int id,
    const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *st;

	st = with_text(stmt_get(s, t, OP_DELETE, err, errlen), instance);
	if (st != NULL)
		sqlite3_bind_int(st, 2, id);
	return write_one(s, st, what, err, errlen);
}

int
store_worker_delete(struct store *s, const char *instance, int id,
    char *err, size_t errlen)
{
	return delete_id(s, T_WORKERS, instance, id, "worker delete", err,
	    errlen);
}

int
store_workers_load(struct store *s, const char *instance,
    struct store_worker **out, size_t *n, char *err, size_t errlen)
{
	void *v;
	int rc = load_rows(s, with_text(stmt_get(s, T_WORKERS, OP_LOAD, err,
	    errlen), instance), T_WORKERS, &v, n, err, errlen);

	*out = v;
	return rc;
}

void
store_workers_free(struct store_worker *v, size_t n)
{
	free_rows(&tables[T_WORKERS], v, n);
}

/* ---------------------------------------------------------------------- */
/* Events */

int
store_event_add(struct store *s, const struct event *ev, size_t keep,
    char *err, size_t errlen)
{
	sqlite3_stmt *add, *trim;
	int rc;

	if ((add = stmt_get(s, T_EVENTS, OP_PUT, err, errlen)) == NULL ||
	    (trim = stmt_cached(s, &s->event_trim, EVENT_TRIM_SQL, err,
	    errlen)) == NULL)
		return -1;
	bind_row(add, &tables[T_EVENTS], s->version, ev);
	sqlite3_bind_int64(trim, 1, size_to_db(keep));
	if (write_begin(s, err, errlen) == -1)
		return -1;
	rc = stmt_exec(s, add, "event add", err, errlen);
	if (rc == 0)
		rc = stmt_exec(s, trim, "event trim", err, errlen);
	return write_end(s, rc, err, errlen);
}

int
store_events_load(struct store *s, size_t limit, struct event **out,
    size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *st = stmt_get(s, T_EVENTS, OP_LOAD, err, errlen);
	void *v;
	int rc;

	if (st != NULL)
		sqlite3_bind_int64(st, 1, size_to_db(limit));
	rc = load_rows(s, st, T_EVENTS, &v, n, err, errlen);
	*out = v;
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Notebooks */

/* -1 with a message when the store's schema is older than `since`, the
 * version that added `what`. */
static int
need_schema(struct store *s, int since, const char *what, char *err,
    size_t errlen)
{
	if (s->version < since)
		return seterr(err, errlen, "store: %s need schema %d; this "
		    "database was opened at %d", what, since, s->version);
	return 0;
}

static int
notebook_schema(struct store *s, char *err, size_t errlen)
{
	return need_schema(s, 3, "notebooks", err, errlen);
}

int
store_notebook_put(struct store *s, const struct store_notebook *nb,
    char *err, size_t errlen)
{
	if (notebook_schema(s, err, errlen) == -1)
		return -1;
	return put_row(s, T_NOTEBOOKS, nb, "notebook put", err, errlen);
}

int
store_notebook_delete(struct store *s, const char *instance, char *err,
    size_t errlen)
{
	if (notebook_schema(s, err, errlen) == -1)
		return -1;
	return write_one(s, with_text(stmt_get(s, T_NOTEBOOKS, OP_DELETE, err,
	    errlen), instance), "notebook delete", err, errlen);
}

int
store_notebook_get(struct store *s, const char *instance,
    struct store_notebook *out, char *err, size_t errlen)
{
	void *v;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (notebook_schema(s, err, errlen) == -1 ||
	    load_rows(s, with_text(stmt_get(s, T_NOTEBOOKS, OP_LOAD, err,
	    errlen), instance), T_NOTEBOOKS, &v, &n, err, errlen) == -1)
		return -1;
	/* instance is the table's primary key: one row at the most. */
	ASSERT(n <= 1);
	if (n == 1)
		memcpy(out, v, sizeof(*out));
	free(v);
	return n == 1;
}

void
store_notebook_clear(struct store_notebook *nb)
{
	clear_row(&tables[T_NOTEBOOKS], nb);
	memset(nb, 0, sizeof(*nb));
}

/* ---------------------------------------------------------------------- */
/* Losses told later */

static int
loss_schema(struct store *s, char *err, size_t errlen)
{
	return need_schema(s, 6, "losses", err, errlen);
}

/* The loss row and the worker row go in and out in one write. */
int
store_loss_put(struct store *s, const struct store_loss *l, char *err,
    size_t errlen)
{
	sqlite3_stmt *put, *del;
	int rc;

	if (loss_schema(s, err, errlen) == -1 ||
	    (put = stmt_get(s, T_LOSSES, OP_PUT, err, errlen)) == NULL ||
	    (del = stmt_get(s, T_WORKERS, OP_DELETE, err, errlen)) == NULL)
		return -1;
	bind_row(put, &tables[T_LOSSES], s->version, l);
	bind_text(del, 1, l->instance);
	sqlite3_bind_int(del, 2, l->id);
	if (write_begin(s, err, errlen) == -1)
		return -1;
	rc = stmt_exec(s, put, "loss put", err, errlen);
	if (rc == 0)
		rc = stmt_exec(s, del, "loss put: worker delete", err, errlen);
	return write_end(s, rc, err, errlen);
}

int
store_loss_delete(struct store *s, const char *instance, int id, char *err,
    size_t errlen)
{
	if (loss_schema(s, err, errlen) == -1)
		return -1;
	return delete_id(s, T_LOSSES, instance, id, "loss delete", err,
	    errlen);
}

int
store_losses_load(struct store *s, const char *instance,
    struct store_loss **out, size_t *n, char *err, size_t errlen)
{
	void *v = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if (loss_schema(s, err, errlen) == -1)
		return -1;
	rc = load_rows(s, with_text(stmt_get(s, T_LOSSES, OP_LOAD, err,
	    errlen), instance), T_LOSSES, &v, n, err, errlen);
	*out = v;
	return rc;
}

void
store_losses_free(struct store_loss *v, size_t n)
{
	free_rows(&tables[T_LOSSES], v, n);
}
