/*
 * test_store: the SQLite store.  Every test runs in a fresh temporary
 * directory (removed afterwards) and looks at the file from outside
 * through a second, raw sqlite3 connection where the contract is about
 * the file itself: mode, WAL, schema version, refused files left as they
 * were.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

struct fx {
	char	dir[64];
	char	path[128];	/* dir/state.db, absent at the start */
	char	err[512];
	const void *row;	/* table-driven tests: the row */
};

/* *state comes in as the row of a table-driven test (or NULL). */
static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	f->row = *state;
	tu_mkdtemp(f->dir, sizeof(f->dir), "test_store");
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	*state = f;
	return 0;
}

/* A test may have left the directory read-only: writable again first. */
static int
teardown(void **state)
{
	struct fx *f = *state;

	chmod(f->dir, 0700);
	tu_rm_rf(f->dir);
	free(f);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Helpers */

static struct store *
open_ok(struct fx *f)
{
	struct store *s = NULL;

	f->err[0] = '\0';
	if (store_open(f->path, &s, f->err, sizeof(f->err)) != 0)
		fail_msg("store_open: %s", f->err);
	assert_non_null(s);
	return s;
}

/* The store at an older schema version (store_open_at). */
static struct store *
open_at_ok(struct fx *f, int version)
{
	struct store *s = NULL;

	if (store_open_at(f->path, version, &s, f->err, sizeof(f->err)) != 0)
		fail_msg("store_open_at %d: %s", version, f->err);
	assert_non_null(s);
	return s;
}

/* The one instance in s; the caller frees it with
 * store_instances_free(v, 1). */
static struct store_instance *
load_one_instance(struct fx *f, struct store *s)
{
	struct store_instance *v;
	size_t n;

	if (store_instances_load(s, &v, &n, f->err, sizeof(f->err)) != 0)
		fail_msg("store_instances_load: %s", f->err);
	assert_int_equal(n, 1);
	return v;
}

/* The one worker of instance inst; the caller frees it with
 * store_workers_free(v, 1). */
static struct store_worker *
load_one_worker(struct fx *f, struct store *s, const char *inst)
{
	struct store_worker *v;
	size_t n;

	if (store_workers_load(s, inst, &v, &n, f->err, sizeof(f->err)) != 0)
		fail_msg("store_workers_load %s: %s", inst, f->err);
	assert_int_equal(n, 1);
	return v;
}

static sqlite3 *
raw_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	return db;
}

static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = raw_open(path);
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("raw_exec %s: %s", sql, msg);
	sqlite3_close(db);
}

/* First column of the first row of sql as text, into buf ("" if none). */
static const char *
raw_text(const char *path, const char *sql, char *buf, size_t len)
{
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *st;
	const unsigned char *t;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("raw_text %s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (t = sqlite3_column_text(st, 0)) != NULL)
		strlcpy_(buf, (const char *)t, len);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return buf;
}

static long
raw_long(const char *path, const char *sql)
{
	char buf[64];

	return strtol(raw_text(path, sql, buf, sizeof(buf)), NULL, 10);
}

/* New buffer with the file's bytes. */
static unsigned char *
file_read(const char *path, size_t *len)
{
	unsigned char *buf;
	struct stat sb;
	FILE *fp;

	assert_int_equal(stat(path, &sb), 0);
	*len = (size_t)sb.st_size;
	buf = xmalloc(*len);
	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fread(buf, 1, *len, fp), *len);
	fclose(fp);
	return buf;
}

static void
file_write(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* Deterministic "random" bytes (xorshift), so failures reproduce. */
static void
fill_noise(unsigned char *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed ? seed : 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

static void
assert_instance(const struct store_instance *want,
    const struct store_instance *got)
{
	assert_string_equal(got->name, nz(want->name));
	assert_string_equal(got->spec_json, nz(want->spec_json));
	assert_string_equal(got->state, nz(want->state));
	assert_string_equal(got->error, nz(want->error));
	assert_string_equal(got->sched_addr, nz(want->sched_addr));
	assert_string_equal(got->dash_url, nz(want->dash_url));
	assert_true(got->sched_pid == want->sched_pid);
	assert_true(got->sched_start == want->sched_start);
	assert_int_equal(got->next_worker_id, want->next_worker_id);
	assert_true(got->created_ms == want->created_ms);
	assert_true(got->undeploy == want->undeploy);
}

static void
assert_worker(const struct store_worker *want, const struct store_worker *got)
{
	assert_string_equal(got->instance, nz(want->instance));
	assert_int_equal(got->id, want->id);
	assert_int_equal(got->slot, want->slot);
	assert_int_equal(got->gpu, want->gpu);
	assert_string_equal(got->state, nz(want->state));
	assert_true(got->pid == want->pid);
	assert_true(got->start_time == want->start_time);
	assert_string_equal(got->name, nz(want->name));
	assert_string_equal(got->address, nz(want->address));
	assert_string_equal(got->log, nz(want->log));
	assert_true(got->launched_ms == want->launched_ms);
	assert_true(got->retire_started_ms == want->retire_started_ms);
	assert_string_equal(got->reclaim_for, nz(want->reclaim_for));
	assert_true(got->reclaim_deadline_ms == want->reclaim_deadline_ms);
	assert_true(got->job_id == want->job_id);
}

static void
put_instance(struct store *s, const char *name, int64_t created_ms)
{
	struct store_instance in = {
		.name = (char *)name, .spec_json = "{}", .state = "started",
		.created_ms = created_ms,
	};
	char err[256];

	if (store_instance_put(s, &in, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static void
put_worker(struct store *s, const char *instance, int id, const char *state)
{
	struct store_worker w = {
		.instance = (char *)instance, .id = id, .slot = id, .gpu = -1,
		.state = (char *)state, .pid = 1000 + id, .name = "w",
	};
	char err[256];

	if (store_worker_put(s, &w, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static size_t
count_instances(struct store *s)
{
	struct store_instance *v;
	char err[256];
	size_t n;

	assert_int_equal(store_instances_load(s, &v, &n, err, sizeof(err)),
	    0);
	store_instances_free(v, n);
	return n;
}

static size_t
count_workers(struct store *s, const char *instance)
{
	struct store_worker *v;
	char err[256];
	size_t n;

	assert_int_equal(store_workers_load(s, instance, &v, &n, err,
	    sizeof(err)), 0);
	store_workers_free(v, n);
	return n;
}

static struct event
mkevent(uint64_t seq, const char *instance, const char *kind,
    const char *msg)
{
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	ev.seq = seq;
	ev.ts_ms = 1700000000000 + (int64_t)seq;
	strlcpy_(ev.instance, instance, sizeof(ev.instance));
	strlcpy_(ev.kind, kind, sizeof(ev.kind));
	strlcpy_(ev.message, msg, sizeof(ev.message));
	return ev;
}

static void
add_event(struct store *s, uint64_t seq, size_t keep)
{
	struct event ev = mkevent(seq, "a", "scale_up", "+1");
	char err[256];

	if (store_event_add(s, &ev, keep, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

/* Loads the newest limit events and checks their seqs are first..last. */
static void
assert_event_seqs(struct store *s, size_t limit, uint64_t first,
    uint64_t last)
{
	struct event *v;
	char err[256];
	size_t n, i;

	assert_int_equal(store_events_load(s, limit, &v, &n, err,
	    sizeof(err)), 0);
	if (first > last) {
		assert_int_equal(n, 0);
	} else {
		assert_int_equal(n, last - first + 1);
		for (i = 0; i < n; i++)
			assert_int_equal(v[i].seq, first + i);
	}
	free(v);
}

/* ---------------------------------------------------------------------- */
/* Round trips, table driven */

static char long_text[100001];	/* filled in main() */

static const struct instance_row {
	const char		*name;
	struct store_instance	 in;
} instance_rows[] = {
	{ "instance typical", {
	    "a", "{\"name\":\"a\",\"workers\":{\"min\":0,\"max\":4}}",
	    "started", "", "tcp://127.0.0.1:8786",
	    "http://127.0.0.1:8787/status", 4242, 123456789, 3,
	    1700000000123, false } },
	{ "instance empty strings and zeros", {
	    "", "", "", "", "", "", 0, 0, 0, 0, false } },
	{ "instance NULL strings read back as empty", {
	    "n", NULL, NULL, NULL, NULL, NULL, 1, 1, 1, 1, true } },
	{ "instance largest values", {
	    "big", "{}", "error", "x", "y", "z", INT64_MAX, UINT64_MAX,
	    INT_MAX, INT64_MAX, true } },
	{ "instance smallest values", {
	    "small", "{}", "stopped", "", "", "", INT64_MIN, 1ULL << 63,
	    INT_MIN, INT64_MIN, false } },
	{ "instance quotes, SQL and UTF-8", {
	    "o'brien\"; DROP TABLE instances; --",
	    "{\"env\":{\"K\":\"\\u00fc \xc3\xbc \xe2\x9c\x93\"}}",
	    "error", "line 1\nline 2\t'quoted' %s %n", "", "", 7, 8, 9,
	    10, false } },
	{ "instance long spec", {
	    "long", long_text, "starting", long_text, "", "", 1, 2, 3,
	    4, true } },
};

static void
test_instance_row(void **state)
{
	struct fx *fx = *state;
	const struct instance_row *r = fx->row;
	struct store_instance *v;
	struct store *s;
	char err[256];
	int pass;

	for (pass = 0; pass < 2; pass++) {
		/* Pass 0: as written; pass 1: after a close and reopen. */
		s = open_ok(fx);
		if (pass == 0 && store_instance_put(s, &r->in, err,
		    sizeof(err)) != 0)
			fail_msg("%s", err);
		v = load_one_instance(fx, s);
		assert_instance(&r->in, &v[0]);
		store_instances_free(v, 1);
		store_close(s);
	}
}

static const struct worker_row {
	const char		*name;
	struct store_worker	 w;
} worker_rows[] = {
	{ "worker typical", {
	    "a", 1, 0, 0, "running", 5151, 99887766, "a-0",
	    "tcp://127.0.0.1:40001", "/var/log/edask/a-1.log",
	    1700000000456, 0, NULL, 0, 0 } },
	{ "worker being reclaimed", {
	    "a", 3, 2, 2, "draining", 5152, 99887767, "a-2",
	    "tcp://127.0.0.1:40002", "/var/log/edask/a-3.log",
	    1700000000456, 0, "b", 1700000030456, 0 } },
	{ "worker CPU slot, empty strings", {
	    "a", 0, 3, -1, "", 0, 0, "", "", "", 0, 0, "", 0, 0 } },
	{ "worker NULL strings read back as empty", {
	    "a", 2, 1, 1, NULL, 1, 1, NULL, NULL, NULL, 1, 1, NULL, 1, 1 } },
	{ "worker largest values", {
	    "a", INT_MAX, INT_MAX, INT_MAX, "retiring", INT64_MAX,
	    UINT64_MAX, "n", "x", "l", INT64_MAX, INT64_MAX, "b",
	    INT64_MAX, INT64_MAX } },
	{ "worker smallest values", {
	    "a", INT_MIN, INT_MIN, INT_MIN, "failed", INT64_MIN, 1ULL << 63,
	    "n", "x", "l", INT64_MIN, INT64_MIN, "", INT64_MIN, INT64_MIN } },
	{ "worker quotes and long log", {
	    "a", 7, 7, 7, "gone", 7, 7, "a'-7\"; --", "\xe2\x9c\x93",
	    long_text, 7, 7, "b'; --", 7, 7 } },
};

static void
test_worker_row(void **state)
{
	struct fx *fx = *state;
	const struct worker_row *r = fx->row;
	struct store_worker *v;
	struct store *s;
	char err[256];
	int pass;

	for (pass = 0; pass < 2; pass++) {
		s = open_ok(fx);
		if (pass == 0) {
			put_instance(s, "a", 1);
			if (store_worker_put(s, &r->w, err, sizeof(err)) != 0)
				fail_msg("%s", err);
		}
		v = load_one_worker(fx, s, "a");
		assert_worker(&r->w, &v[0]);
		store_workers_free(v, 1);
		store_close(s);
	}
}

/* ---------------------------------------------------------------------- */
/* Instances and workers */

/* Upsert replaces every field and, unlike INSERT OR REPLACE, keeps the
 * instance's workers (a REPLACE would delete the row and cascade). */
static void
test_instance_upsert(void **state)
{
	struct fx *f = *state;
	struct store_instance a = {
		"a", "{}", "starting", "", "", "", 0, 0, 0, 100, false,
	}, b = {
		"a", "{\"v\":2}", "started", "none", "tcp://h:1",
		"http://h:2", 77, 88, 5, 200, true,
	};
	struct store_instance *v;
	struct store *s = open_ok(f);
	size_t n;

	assert_int_equal(store_instance_put(s, &a, f->err, sizeof(f->err)),
	    0);
	put_worker(s, "a", 1, "running");
	assert_int_equal(store_instance_put(s, &b, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(store_instances_load(s, &v, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	assert_instance(&b, &v[0]);
	store_instances_free(v, n);
	assert_int_equal(count_workers(s, "a"), 1);
	store_close(s);
}

static void
test_instance_delete_cascades(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);

	put_instance(s, "a", 1);
	put_instance(s, "b", 2);
	put_worker(s, "a", 1, "running");
	put_worker(s, "a", 2, "running");
	put_worker(s, "b", 1, "running");
	assert_int_equal(store_instance_delete(s, "a", f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(count_instances(s), 1);
	assert_int_equal(count_workers(s, "a"), 0);
	assert_int_equal(count_workers(s, "b"), 1);
	assert_int_equal(raw_long(f->path, "SELECT count(*) FROM workers"),
	    1);
	/* Absent is not an error. */
	assert_int_equal(store_instance_delete(s, "a", f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(store_instance_delete(s, NULL, f->err,
	    sizeof(f->err)), 0);
	store_close(s);
}

static void
test_instances_order(void **state)
{
	static const struct { const char *name; int64_t ms; } put[] = {
		{ "a", 30 }, { "z", 10 }, { "b", 10 }, { "c", 20 },
	};
	static const char *const want[] = { "b", "z", "c", "a" };
	struct fx *f = *state;
	struct store_instance *v;
	struct store *s = open_ok(f);
	size_t i, n;

	for (i = 0; i < ARRAY_LEN(put); i++)
		put_instance(s, put[i].name, put[i].ms);
	assert_int_equal(store_instances_load(s, &v, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, ARRAY_LEN(want));
	for (i = 0; i < n; i++)
		assert_string_equal(v[i].name, want[i]);
	store_instances_free(v, n);
	store_close(s);
}

static void
test_workers_order_upsert_delete(void **state)
{
	static const int ids[] = { 5, 1, 3, -2 };
	struct fx *f = *state;
	struct store_worker *v;
	struct store *s = open_ok(f);
	size_t i, n;

	put_instance(s, "a", 1);
	put_instance(s, "b", 2);
	for (i = 0; i < ARRAY_LEN(ids); i++)
		put_worker(s, "a", ids[i], "launching");
	put_worker(s, "b", 2, "running");
	put_worker(s, "a", 3, "retiring");

	assert_int_equal(store_workers_load(s, "a", &v, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 4);
	assert_int_equal(v[0].id, -2);
	assert_int_equal(v[1].id, 1);
	assert_int_equal(v[2].id, 3);
	assert_string_equal(v[2].state, "retiring");
	assert_int_equal(v[3].id, 5);
	store_workers_free(v, n);

	assert_int_equal(store_workers_load(s, "none", &v, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	store_workers_free(v, n);

	assert_int_equal(store_worker_delete(s, "a", 3, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(store_worker_delete(s, "a", 3, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(count_workers(s, "a"), 3);
	assert_int_equal(count_workers(s, "b"), 1);
	store_close(s);
}

/* foreign_keys is on: a worker of no instance is refused, not stored. */
static void
test_worker_needs_instance(void **state)
{
	struct fx *f = *state;
	struct store_worker w = { .instance = "ghost", .id = 1 };
	struct store *s = open_ok(f);

	assert_int_equal(store_worker_put(s, &w, f->err, sizeof(f->err)),
	    -1);
	assert_non_null(strstr(f->err, "store: "));
	assert_non_null(strstr(f->err, "FOREIGN KEY"));
	assert_int_equal(count_workers(s, "ghost"), 0);
	/* The store is still usable. */
	put_instance(s, "ghost", 1);
	assert_int_equal(store_worker_put(s, &w, f->err, sizeof(f->err)),
	    0);
	store_close(s);
}

/* ---------------------------------------------------------------------- */
/* Events */

static void
test_events_round_trip(void **state)
{
	struct fx *f = *state;
	struct event a, b, *v;
	struct store *s = open_ok(f);
	char inst[40], kind[32], msg[EVENT_MSG_MAX];
	size_t n;

	memset(inst, 'i', sizeof(inst) - 1);
	inst[sizeof(inst) - 1] = '\0';
	memset(kind, 'k', sizeof(kind) - 1);
	kind[sizeof(kind) - 1] = '\0';
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	a = mkevent(1ULL << 40, "", "start", "edask 'started'; --");
	a.ts_ms = INT64_MAX;
	b = mkevent((1ULL << 40) + 1, inst, kind, msg);
	b.ts_ms = -1;
	assert_int_equal(store_event_add(s, &a, 100, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(store_event_add(s, &b, 100, f->err, sizeof(f->err)),
	    0);
	store_close(s);

	s = open_ok(f);
	assert_int_equal(store_events_load(s, 10, &v, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(&v[0], &a, sizeof(a));
	assert_memory_equal(&v[1], &b, sizeof(b));
	free(v);
	store_close(s);
}

static const struct retention_row {
	const char	*name;
	uint64_t	 adds;		/* seqs 1..adds */
	size_t		 keep;
	size_t		 limit;
	uint64_t	 first, last;	/* expected seqs; first > last: none */
} retention_rows[] = {
	{ "events keep 4 of 10", 10, 4, 100, 7, 10 },
	{ "events limit 2: newest, oldest first", 10, 4, 2, 9, 10 },
	{ "events limit 0", 10, 4, 0, 1, 0 },
	{ "events keep more than added", 5, 1000, 1000, 1, 5 },
	{ "events keep 1", 5, 1, 10, 5, 5 },
	{ "events keep 0 keeps none", 5, 0, 10, 1, 0 },
	{ "events keep SIZE_MAX", 3, SIZE_MAX, SIZE_MAX, 1, 3 },
};

static void
test_retention_row(void **state)
{
	struct fx *fx = *state;
	const struct retention_row *r = fx->row;
	struct store *s;
	uint64_t seq;

	s = open_ok(fx);
	for (seq = 1; seq <= r->adds; seq++)
		add_event(s, seq, r->keep);
	assert_event_seqs(s, r->limit, r->first, r->last);
	store_close(s);
}

/* A repeated seq is an error and changes nothing. */
static void
test_event_duplicate_seq(void **state)
{
	struct fx *f = *state;
	struct event ev = mkevent(2, "a", "x", "y");
	struct store *s = open_ok(f);

	add_event(s, 1, 10);
	add_event(s, 2, 10);
	assert_int_equal(store_event_add(s, &ev, 0, f->err, sizeof(f->err)),
	    -1);
	assert_non_null(strstr(f->err, "UNIQUE"));
	/* keep 0 would have deleted both: the trim was rolled back too. */
	assert_event_seqs(s, 10, 1, 2);
	store_close(s);
}

/* ---------------------------------------------------------------------- */
/* The file */

static void
test_file_mode_and_wal(void **state)
{
	struct fx *f = *state;
	char buf[64], wal[160];
	struct store *s;
	struct stat sb;
	mode_t old;

	old = umask(022);
	s = open_ok(f);
	umask(old);
	put_instance(s, "a", 1);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* SQLite gives the WAL the database's mode. */
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_string_equal(raw_text(f->path, "PRAGMA journal_mode", buf,
	    sizeof(buf)), "wal");
	assert_int_equal(atoi(raw_text(f->path, "SELECT value FROM meta"
	    " WHERE key = 'schema_version'", buf, sizeof(buf))),
	    STORE_SCHEMA_VERSION);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	store_close(s);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
}

/* A 0-byte file, or an SQLite file with no tables, is a new database. */
static void
test_empty_files_are_new(void **state)
{
	struct fx *f = *state;
	struct store *s;

	file_write(f->path, "", 0, 0600);
	s = open_ok(f);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	put_instance(s, "a", 1);
	store_close(s);
	assert_int_equal(unlink(f->path), 0);

	raw_exec(f->path, "PRAGMA user_version = 7");
	s = open_ok(f);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	assert_int_equal(count_instances(s), 0);
	store_close(s);
}

static void
test_open_errors(void **state)
{
	struct fx *f = *state;
	struct store *s = (struct store *)&s;
	char path[192];

	snprintf(path, sizeof(path), "%s/no/such/dir/state.db", f->dir);
	assert_int_equal(store_open(path, &s, f->err, sizeof(f->err)), -1);
	assert_null(s);
	assert_non_null(strstr(f->err, "store: "));
	assert_non_null(strstr(f->err, strerror(ENOENT)));

	assert_int_equal(store_open(f->dir, &s, f->err, sizeof(f->err)), -1);
	assert_null(s);

	assert_int_equal(store_open_at(f->path, 0, &s, f->err,
	    sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "out of range"));
	assert_int_equal(store_open_at(f->path, STORE_SCHEMA_VERSION + 1, &s,
	    f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "out of range"));
	assert_int_equal(access(f->path, F_OK), -1);

	store_close(NULL);
}

/* ---------------------------------------------------------------------- */
/* Schema versions */

static void
test_migration_v1_to_v2(void **state)
{
	struct fx *f = *state;
	struct store_worker w = {
		"a", 1, 0, 0, "retiring", 4321, 1234, "a-0", "tcp://h:1",
		"a-1.log", 1700000000000, 555, NULL, 0, 0,
	}, *wv;
	struct event *ev;
	struct store *s = NULL;
	char buf[64];
	size_t n;

	s = open_at_ok(f, 1);
	assert_int_equal(store_schema_version(s), 1);
	assert_string_equal(raw_text(f->path, "SELECT value FROM meta"
	    " WHERE key = 'schema_version'", buf, sizeof(buf)), "1");
	assert_int_equal(raw_long(f->path, "SELECT count(*) FROM"
	    " pragma_table_info('workers')"
	    " WHERE name = 'retire_started_ms'"), 0);
	put_instance(s, "a", 1);
	/* Schema 1 has no retire_started_ms: ignored, read back as 0. */
	assert_int_equal(store_worker_put(s, &w, f->err, sizeof(f->err)), 0);
	wv = load_one_worker(f, s, "a");
	assert_true(wv[0].retire_started_ms == 0);
	store_workers_free(wv, 1);
	add_event(s, 1, 10);
	add_event(s, 2, 10);
	store_close(s);

	s = open_at_ok(f, 2);
	assert_int_equal(store_schema_version(s), 2);
	assert_string_equal(raw_text(f->path, "SELECT value FROM meta"
	    " WHERE key = 'schema_version'", buf, sizeof(buf)), "2");
	assert_int_equal(raw_long(f->path, "SELECT count(*) FROM sqlite_master"
	    " WHERE name = 'events_instance_seq'"), 1);
	assert_int_equal(count_instances(s), 1);
	wv = load_one_worker(f, s, "a");
	w.retire_started_ms = 0;
	assert_worker(&w, &wv[0]);
	store_workers_free(wv, 1);
	assert_event_seqs(s, 10, 1, 2);
	assert_int_equal(store_events_load(s, 10, &ev, &n, f->err,
	    sizeof(f->err)), 0);
	assert_string_equal(ev[1].kind, "scale_up");
	free(ev);

	w.retire_started_ms = 777;
	assert_int_equal(store_worker_put(s, &w, f->err, sizeof(f->err)), 0);
	wv = load_one_worker(f, s, "a");
	assert_true(wv[0].retire_started_ms == 777);
	store_workers_free(wv, 1);
	store_close(s);

	/* No way back down. */
	assert_int_equal(store_open_at(f->path, 1, &s, f->err,
	    sizeof(f->err)), -1);
	assert_null(s);
	assert_non_null(strstr(f->err, "past the requested 1"));
}

/* Schema 3 adds the notebooks table; earlier rows stay as they were. */
static void
test_migration_v2_to_v3(void **state)
{
	struct fx *f = *state;
	struct store_notebook nb = {
		"a", 999, 4242, 18888, "tok", "nb.log",
	}, got;
	struct store *s = NULL;
	char buf[64];

	s = open_at_ok(f, 2);
	put_instance(s, "a", 1);
	/* Schema 2 has no notebooks: a clear refusal, not a crash. */
	assert_int_equal(store_notebook_put(s, &nb, f->err, sizeof(f->err)),
	    -1);
	assert_non_null(strstr(f->err, "need schema 3"));
	assert_int_equal(store_notebook_get(s, "a", &got, f->err,
	    sizeof(f->err)), -1);
	store_close(s);

	s = open_ok(f);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	assert_int_equal(atoi(raw_text(f->path, "SELECT value FROM meta"
	    " WHERE key = 'schema_version'", buf, sizeof(buf))),
	    STORE_SCHEMA_VERSION);
	assert_int_equal(count_instances(s), 1);
	assert_int_equal(store_notebook_get(s, "a", &got, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(store_notebook_put(s, &nb, f->err, sizeof(f->err)),
	    0);
	store_close(s);
}

/* Schema 4 adds a worker's Slurm job id; rows of schema 3 read 0. */
static void
test_migration_v3_to_v4(void **state)
{
	struct fx *f = *state;
	struct store_worker w = {
		.instance = "a", .id = 1, .slot = 0, .gpu = -1,
		.state = "launching", .name = "a-0", .address = "",
		.log = "w.log", .job_id = 4242,
	}, *wv = NULL;
	struct store *s = NULL;

	s = open_at_ok(f, 3);
	put_instance(s, "a", 1);
	/* schema 3 has no job_id column: the id is not written */
	assert_int_equal(store_worker_put(s, &w, f->err, sizeof(f->err)), 0);
	wv = load_one_worker(f, s, "a");
	assert_true(wv[0].job_id == 0);
	store_workers_free(wv, 1);
	store_close(s);

	s = open_ok(f);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	wv = load_one_worker(f, s, "a");
	assert_true(wv[0].job_id == 0);
	store_workers_free(wv, 1);
	assert_int_equal(store_worker_put(s, &w, f->err, sizeof(f->err)), 0);
	wv = load_one_worker(f, s, "a");
	assert_true(wv[0].job_id == 4242);
	store_workers_free(wv, 1);
	store_close(s);
}

/* Schema 5 keeps an undeploy that was asked for; rows of schema 4 read
 * false, and a store at 4 does not write it. */
static void
test_migration_v4_to_v5(void **state)
{
	struct fx *f = *state;
	struct store_instance a = {
		"a", "{}", "stopping", "", "", "", 0, 0, 0, 100, true,
	}, *v = NULL;
	struct store *s;

	s = open_at_ok(f, 4);
	assert_int_equal(store_instance_put(s, &a, f->err, sizeof(f->err)), 0);
	v = load_one_instance(f, s);
	assert_false(v[0].undeploy);
	store_instances_free(v, 1);
	store_close(s);

	s = open_ok(f);
	assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
	v = load_one_instance(f, s);
	assert_false(v[0].undeploy);
	store_instances_free(v, 1);
	assert_int_equal(store_instance_put(s, &a, f->err, sizeof(f->err)), 0);
	v = load_one_instance(f, s);
	assert_true(v[0].undeploy);
	store_instances_free(v, 1);
	store_close(s);
}

/*
 * Schema 6 keeps a loss not told yet in place of its worker: the put
 * deletes the worker's row in the same write; rows read back in until_ms
 * order; a delete and the instance's delete remove them.  At schema 5 the
 * calls are refused and the worker stays.
 */
static void
test_migration_v5_to_v6_losses(void **state)
{
	struct fx *f = *state;
	struct store_loss a = {
		"a", 2, "tls://127.0.0.1:4002", "worker w2 ... ", "; slot 1",
		7, 5, 2048, false, 3000,
	}, b = {
		"a", 1, "tls://127.0.0.1:4001", "head", "tail", -1, -1, 0, true,
		2000,
	}, *v = NULL;
	struct store *s;
	size_t n = 9;

	s = open_at_ok(f, 5);
	put_instance(s, "a", 1);
	put_worker(s, "a", 1, "running");
	put_worker(s, "a", 2, "running");
	assert_int_equal(store_loss_put(s, &a, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "need schema 6"));
	assert_int_equal(store_losses_load(s, "a", &v, &n, f->err,
	    sizeof(f->err)), -1);
	assert_int_equal(n, 0);
	assert_int_equal(count_workers(s, "a"), 2);
	store_close(s);

	s = open_ok(f);
	assert_int_equal(store_loss_put(s, &a, f->err, sizeof(f->err)), 0);
	assert_int_equal(count_workers(s, "a"), 1);
	assert_int_equal(store_loss_put(s, &b, f->err, sizeof(f->err)), 0);
	assert_int_equal(count_workers(s, "a"), 0);
	assert_int_equal(store_losses_load(s, "a", &v, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].id, 1);		/* sooner first */
	assert_int_equal(v[0].keys, -1);
	assert_true(v[0].departed);
	assert_int_equal(v[1].id, 2);
	assert_string_equal(v[1].address, "tls://127.0.0.1:4002");
	assert_string_equal(v[1].head, "worker w2 ... ");
	assert_string_equal(v[1].tail, "; slot 1");
	assert_int_equal(v[1].keys, 7);
	assert_int_equal(v[1].unique_keys, 5);
	assert_true(v[1].bytes == 2048);
	assert_false(v[1].departed);
	assert_true(v[1].until_ms == 3000);
	store_losses_free(v, n);
	assert_int_equal(store_loss_delete(s, "a", 1, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(store_loss_delete(s, "a", 1, f->err,
	    sizeof(f->err)), 0);		/* absent: fine */
	assert_int_equal(store_losses_load(s, "a", &v, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	store_losses_free(v, n);
	assert_int_equal(store_instance_delete(s, "a", f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(store_losses_load(s, "a", &v, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	store_losses_free(v, n);
	/* a loss needs its instance */
	assert_int_equal(store_loss_put(s, &a, f->err, sizeof(f->err)), -1);
	store_close(s);
}

/* Notebook rows: upsert, read back, delete, and gone with the instance. */
static void
test_notebook_round_trip(void **state)
{
	struct fx *f = *state;
	struct store_notebook nb = {
		"a", 999, UINT64_MAX, 18888, "tok", "nb.log",
	}, got;
	struct store *s = open_ok(f);

	/* A notebook needs its instance. */
	assert_int_equal(store_notebook_put(s, &nb, f->err, sizeof(f->err)),
	    -1);
	put_instance(s, "a", 1);
	assert_int_equal(store_notebook_put(s, &nb, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(store_notebook_get(s, "a", &got, f->err,
	    sizeof(f->err)), 1);
	assert_string_equal(got.instance, "a");
	assert_true(got.pid == 999);
	assert_true(got.start_time == UINT64_MAX);
	assert_int_equal(got.port, 18888);
	assert_string_equal(got.token, "tok");
	assert_string_equal(got.log, "nb.log");
	store_notebook_clear(&got);

	nb.pid = 0;
	nb.port = 20000;
	assert_int_equal(store_notebook_put(s, &nb, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(store_notebook_get(s, "a", &got, f->err,
	    sizeof(f->err)), 1);
	assert_true(got.pid == 0);
	assert_int_equal(got.port, 20000);
	store_notebook_clear(&got);
	/* Updating the instance keeps its notebook (upsert, not replace). */
	put_instance(s, "a", 2);
	assert_int_equal(store_notebook_get(s, "a", &got, f->err,
	    sizeof(f->err)), 1);
	store_notebook_clear(&got);

	assert_int_equal(store_notebook_delete(s, "a", f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(store_notebook_get(s, "a", &got, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(store_notebook_delete(s, "a", f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(store_notebook_put(s, &nb, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(store_instance_delete(s, "a", f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(store_notebook_get(s, "a", &got, f->err,
	    sizeof(f->err)), 0);
	store_close(s);
}

static void
test_newer_schema_refused(void **state)
{
	struct fx *f = *state;
	unsigned char *before, *after;
	size_t blen, alen;
	struct store *s = open_ok(f);
	char buf[64], want[256];

	put_instance(s, "a", 1);
	store_close(s);
	raw_exec(f->path, "UPDATE meta SET value = '99'"
	    " WHERE key = 'schema_version'");
	before = file_read(f->path, &blen);

	assert_int_equal(store_open(f->path, &s, f->err, sizeof(f->err)), -1);
	assert_null(s);
	snprintf(want, sizeof(want), "store: %s was written by a newer edask "
	    "(schema 99, this build knows up to %d)", f->path,
	    STORE_SCHEMA_VERSION);
	assert_string_equal(f->err, want);

	after = file_read(f->path, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	assert_string_equal(raw_text(f->path, "SELECT value FROM meta"
	    " WHERE key = 'schema_version'", buf, sizeof(buf)), "99");
	free(before);
	free(after);
}

/* ---------------------------------------------------------------------- */
/* Files that are not ours, table driven: refused, left as they were. */

enum bad_kind { BAD_NOISE, BAD_HEADER_NOISE, BAD_PAGE_NOISE, BAD_SQL };

static const struct bad_row {
	const char	*name;
	enum bad_kind	 kind;
	const char	*sql;		/* BAD_SQL: makes the file */
	const char	*errsub;	/* after "is not a valid ...: " */
} bad_rows[] = {
	{ "bad: random bytes", BAD_NOISE, NULL, "file is not a database" },
	{ "bad: SQLite header then noise", BAD_HEADER_NOISE, NULL, "" },
	{ "bad: edask database with a page of noise", BAD_PAGE_NOISE, NULL,
	    "" },
	{ "bad: unrelated tables", BAD_SQL,
	    "CREATE TABLE foo(x); INSERT INTO foo VALUES (1)",
	    "it has tables but no edask meta table" },
	{ "bad: meta without schema_version", BAD_SQL,
	    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)",
	    "its meta table has no schema_version" },
	{ "bad: schema_version not a number", BAD_SQL,
	    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
	    "INSERT INTO meta VALUES ('schema_version', '2x')",
	    "bad schema_version '2x'" },
	{ "bad: schema_version 0", BAD_SQL,
	    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
	    "INSERT INTO meta VALUES ('schema_version', '0')",
	    "bad schema_version '0'" },
	{ "bad: meta of another shape", BAD_SQL,
	    "CREATE TABLE meta(a, b)", "no such column" },
};

static void
make_bad(struct fx *f, const struct bad_row *r)
{
	unsigned char buf[8192], *db;
	struct store *s;
	char name[32];
	size_t len;
	int i;

	switch (r->kind) {
	case BAD_NOISE:
		fill_noise(buf, sizeof(buf), 42);
		file_write(f->path, buf, sizeof(buf), 0600);
		break;
	case BAD_HEADER_NOISE:
		fill_noise(buf, sizeof(buf), 7);
		memcpy(buf, "SQLite format 3", 16);
		file_write(f->path, buf, sizeof(buf), 0600);
		break;
	case BAD_PAGE_NOISE:
		s = open_ok(f);
		for (i = 0; i < 50; i++) {
			snprintf(name, sizeof(name), "instance-%d", i);
			put_instance(s, name, i);
		}
		store_close(s);
		db = file_read(f->path, &len);
		assert_true(len >= 3 * 4096);
		/* Page 2 onwards: the b-trees after sqlite_master. */
		fill_noise(db + 4096, len - 4096, 3);
		file_write(f->path, db, len, 0600);
		free(db);
		break;
	case BAD_SQL:
		raw_exec(f->path, r->sql);
		break;
	}
}

static void
test_bad_row(void **state)
{
	struct fx *f = *state;
	const struct bad_row *r = f->row;
	unsigned char *before, *after;
	size_t blen, alen;
	struct store *s = NULL;
	char want[256];

	make_bad(f, r);
	before = file_read(f->path, &blen);
	if (store_open(f->path, &s, f->err, sizeof(f->err)) != -1)
		fail_msg("%s: opened", r->name);
	assert_null(s);
	snprintf(want, sizeof(want), "store: %s is not a valid edask state "
	    "database: %s", f->path, r->errsub);
	if (strncmp(f->err, want, strlen(want)) != 0)
		fail_msg("%s: got \"%s\", want \"%s...\"", r->name, f->err,
		    want);
	after = file_read(f->path, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(before);
	free(after);
}

/* ---------------------------------------------------------------------- */
/* Transactions and failures */

static void
test_transaction_rollback(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);

	assert_int_equal(store_begin(s, f->err, sizeof(f->err)), 0);
	put_instance(s, "a", 1);
	put_worker(s, "a", 1, "launching");
	add_event(s, 1, 10);
	store_rollback(s);
	assert_int_equal(count_instances(s), 0);
	assert_int_equal(count_workers(s, "a"), 0);
	assert_event_seqs(s, 10, 1, 0);
	/* Rolling back with nothing open is a no-op. */
	store_rollback(s);
	store_close(s);
}

static void
test_transaction_commit(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);

	assert_int_equal(store_begin(s, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_begin(s, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "nesting"));
	put_instance(s, "a", 1);
	put_worker(s, "a", 1, "launching");
	/* Another connection does not see it before the commit. */
	assert_int_equal(raw_long(f->path, "SELECT count(*) FROM instances"),
	    0);
	assert_int_equal(store_commit(s, f->err, sizeof(f->err)), 0);
	assert_int_equal(raw_long(f->path, "SELECT count(*) FROM instances"),
	    1);
	assert_int_equal(raw_long(f->path, "SELECT count(*) FROM workers"),
	    1);
	assert_int_equal(store_commit(s, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "no transaction"));
	store_close(s);
}

/* A failed write inside a transaction undoes itself only. */
static void
test_transaction_failed_write(void **state)
{
	struct fx *f = *state;
	struct store_worker ghost = { .instance = "ghost", .id = 1 };
	struct store *s = open_ok(f);

	assert_int_equal(store_begin(s, f->err, sizeof(f->err)), 0);
	put_instance(s, "a", 1);
	assert_int_equal(store_worker_put(s, &ghost, f->err, sizeof(f->err)),
	    -1);
	put_worker(s, "a", 1, "launching");
	assert_int_equal(store_commit(s, f->err, sizeof(f->err)), 0);
	assert_int_equal(count_instances(s), 1);
	assert_int_equal(count_workers(s, "a"), 1);
	assert_int_equal(count_workers(s, "ghost"), 0);

	/* Closing with a transaction open rolls it back. */
	assert_int_equal(store_begin(s, f->err, sizeof(f->err)), 0);
	put_instance(s, "b", 2);
	store_close(s);
	s = open_ok(f);
	assert_int_equal(count_instances(s), 1);
	store_close(s);
}

/* Another process holds the write lock past the busy timeout. */
static void
test_locked(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	sqlite3 *db;

	db = raw_open(f->path);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	{
		struct store_instance in = { .name = "a" };

		assert_int_equal(store_instance_put(s, &in, f->err,
		    sizeof(f->err)), -1);
	}
	assert_non_null(strstr(f->err, "store: "));
	assert_non_null(strstr(f->err, "locked"));
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	put_instance(s, "a", 1);
	assert_int_equal(count_instances(s), 1);
	store_close(s);
}

/* ---------------------------------------------------------------------- */

#define FX(t)	cmocka_unit_test_setup_teardown(t, setup, teardown)

/* A test of one table row: named by the row, which setup() hands on as
 * fx->row. */
static struct CMUnitTest
row_test(const char *name, CMUnitTestFunction fn, const void *row)
{
	struct CMUnitTest t = {
		.name = name, .test_func = fn, .setup_func = setup,
		.teardown_func = teardown,
		.initial_state = (void *)(uintptr_t)row,
	};

	return t;
}

/* One test per row of table, into tests[k++]. */
#define ROW_TESTS(table, fn)						\
	for (i = 0; i < ARRAY_LEN(table); i++)				\
		tests[k++] = row_test(table[i].name, fn, &table[i])

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		FX(test_instance_upsert),
		FX(test_instance_delete_cascades),
		FX(test_instances_order),
		FX(test_workers_order_upsert_delete),
		FX(test_worker_needs_instance),
		FX(test_events_round_trip),
		FX(test_event_duplicate_seq),
		FX(test_file_mode_and_wal),
		FX(test_empty_files_are_new),
		FX(test_open_errors),
		FX(test_migration_v1_to_v2),
		FX(test_migration_v2_to_v3),
		FX(test_notebook_round_trip),
		FX(test_migration_v3_to_v4),
		FX(test_migration_v4_to_v5),
		FX(test_migration_v5_to_v6_losses),
		FX(test_newer_schema_refused),
		FX(test_transaction_rollback),
		FX(test_transaction_commit),
		FX(test_transaction_failed_write),
		FX(test_locked),
	};
	struct CMUnitTest tests[ARRAY_LEN(instance_rows) +
	    ARRAY_LEN(worker_rows) + ARRAY_LEN(retention_rows) +
	    ARRAY_LEN(bad_rows) + ARRAY_LEN(fixed)];
	size_t i, k = 0;

	memset(long_text, 'x', sizeof(long_text) - 1);
	memset(tests, 0, sizeof(tests));
	ROW_TESTS(instance_rows, test_instance_row);
	ROW_TESTS(worker_rows, test_worker_row);
	ROW_TESTS(retention_rows, test_retention_row);
	ROW_TESTS(bad_rows, test_bad_row);
	for (i = 0; i < ARRAY_LEN(fixed); i++, k++)
		tests[k] = fixed[i];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
