/*
 * testutil.h: helpers the unit tests share, header only (static inline),
 * so that each test binary stays one .c file and libedask.a.
 *
 * Include it after <cmocka.h> (it uses fail_msg and assert_*).  Every
 * check names the table row it checks, so a failure says which row.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <jansson.h>

#include "loop.h"
#include "util.h"

/* New string: s with every ' replaced by ".  Tables of JSON inputs are
 * written with ' so that they stay readable. */
static inline char *
tu_dq(const char *s)
{
	char *d = xstrdup(s), *p;

	for (p = d; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

/*
 * Checks what a parser returned for table row `row`: rc must be want_rc,
 * and when it is -1, err must hold errsub.  Returns true when the row is
 * a refusal (the caller has no result to check).
 */
static inline bool
tu_check_rc(const char *row, int rc, int want_rc, const char *err,
    const char *errsub)
{
	if (rc != want_rc)
		fail_msg("%s: rc %d, want %d (%s)", row, rc, want_rc, err);
	if (rc != -1)
		return false;
	if (errsub == NULL)
		fail_msg("%s: refused, but the row gives no message to want",
		    row);
	if (strstr(err, errsub) == NULL)
		fail_msg("%s: err \"%s\" lacks \"%s\"", row, err, errsub);
	return true;
}

/*
 * Checks what a parser of a list returned for table row `row`: rc and
 * message as tu_check_rc; refused, nothing may come out (list NULL, n 0);
 * accepted, n must be want_n.  Returns true when there are n items to
 * check.
 */
static inline bool
tu_check_list(const char *row, int rc, int want_rc, const char *err,
    const char *errsub, const void *list, size_t n, size_t want_n)
{
	if (tu_check_rc(row, rc, want_rc, err, errsub)) {
		if (list != NULL || n != 0)
			fail_msg("%s: refused, but %zu came out", row, n);
		return false;
	}
	if (n != want_n)
		fail_msg("%s: %zu items, want %zu", row, n, want_n);
	return true;
}

/* A reply that gives one integer, or is refused with errsub in err
 * (want 0 then: a refusal clears the output). */
struct tu_int_case {
	const char	*in;
	int		 rc;
	int64_t		 want;
	const char	*errsub;
};

/*
 * Checks every case through parse, one of the parsers of a reply into one
 * integer: the rc, the message, and the integer, which starts at 77 so
 * that a parser that does not write it is caught.  With dq, the inputs
 * are written with ' for " (tu_dq).
 */
static inline void
tu_check_int_cases(const struct tu_int_case *cases, size_t n, bool dq,
    int (*parse)(const char *in, size_t len, int64_t *out, char *err,
    size_t errlen))
{
	const char *in;
	char err[256], *q;
	int64_t got;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		q = dq ? tu_dq(cases[i].in) : NULL;
		in = dq ? q : cases[i].in;
		err[0] = '\0';
		got = 77;
		rc = parse(in, strlen(in), &got, err, sizeof(err));
		tu_check_rc(in, rc, cases[i].rc, err, cases[i].errsub);
		if (got != cases[i].want)
			fail_msg("%s: got %lld, want %lld", in, (long long)got,
			    (long long)cases[i].want);
		free(q);
	}
}

/* j's value at a dotted path ("pools.0.gpus": a number indexes an
 * array), borrowed, or NULL. */
static inline json_t *
tu_json_at(json_t *j, const char *path)
{
	char *p = xstrdup(path), *tok, *save = NULL;

	for (tok = strtok_r(p, ".", &save); tok != NULL && j != NULL;
	    tok = strtok_r(NULL, ".", &save)) {
		if (json_is_array(j))
			j = json_array_get(j, strtoul(tok, NULL, 10));
		else
			j = json_object_get(j, tok);
	}
	free(p);
	return j;
}

/* Checks that j's value at path, dumped compact, is want. */
static inline void
tu_check_json_at(const char *row, json_t *j, const char *path,
    const char *want)
{
	json_t *v = tu_json_at(j, path);
	char *got;

	if (v == NULL)
		fail_msg("%s: no %s", row, path);
	got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s: %s is %s, want %s", row, path,
		    got != NULL ? got : "(none)", want);
	free(got);
}

/* A YAML input and one value it must give, as JSON: test_config's and
 * test_spec's tables of accepted documents. */
struct tu_value_case {
	const char	*yaml;
	const char	*path;	/* "pools.1.slots", "workers.min" */
	const char	*want;	/* compact JSON of that value */
};

/* Checks every case: to_json parses its yaml (failing the test when it
 * is refused) and returns the result as JSON, new. */
static inline void
tu_check_values(const struct tu_value_case *cases, size_t n,
    json_t *(*to_json)(const char *yaml))
{
	json_t *j;
	size_t i;

	for (i = 0; i < n; i++) {
		j = to_json(cases[i].yaml);
		tu_check_json_at(cases[i].yaml, j, cases[i].path,
		    cases[i].want);
		json_decref(j);
	}
}

/* A YAML input that must be refused, with the whole message. */
struct tu_error_case {
	const char	*yaml;
	const char	*want;
};

/* Checks every case through refuse, which parses yaml and returns its
 * rc, the message in err (and checks that no result came out). */
static inline void
tu_check_errors(const struct tu_error_case *cases, size_t n,
    int (*refuse)(const char *yaml, char *err, size_t errlen))
{
	char err[512];
	size_t i;

	for (i = 0; i < n; i++) {
		strcpy(err, "unset");
		if (refuse(cases[i].yaml, err, sizeof(err)) != -1)
			fail_msg("<<%s>> was accepted", cases[i].yaml);
		if (strcmp(err, cases[i].want) != 0)
			fail_msg("<<%s>>\n got: %s\nwant: %s", cases[i].yaml,
			    err, cases[i].want);
	}
}

/* New string: head, item n times, tail. */
static inline char *
tu_repeat(const char *head, const char *item, size_t n, const char *tail)
{
	struct strbuf b = { 0 };
	size_t i;

	strbuf_printf(&b, "%s", head);
	for (i = 0; i < n; i++)
		strbuf_printf(&b, "%s", item);
	strbuf_printf(&b, "%s", tail);
	return b.p;
}

/* New string: head, count items joined by ',' (item(b, i) appends the
 * i-th, from 0), tail: a generated reply with many entries. */
static inline char *
tu_join(const char *head, size_t count,
    void (*item)(struct strbuf *b, size_t i), const char *tail)
{
	struct strbuf b = { 0 };
	size_t i;

	strbuf_printf(&b, "%s", head);
	for (i = 0; i < count; i++) {
		if (i > 0)
			strbuf_printf(&b, ",");
		item(&b, i);
	}
	strbuf_printf(&b, "%s", tail);
	return b.p;
}

static inline int64_t
tu_stop_loop(void *arg)
{
	loop_stop(arg);
	return LOOP_NOMORE;
}

/* Runs l for ms (or until something else stops it). */
static inline void
tu_loop_run_for(struct loop *l, int64_t ms)
{
	uint64_t id = loop_timer_add(l, ms, tu_stop_loop, l);

	loop_run(l);
	loop_timer_cancel(l, id);	/* stale once it fired: no-op */
}

/* Makes a new folder /tmp/<name>.XXXXXX into dir (at least 64 bytes). */
static inline void
tu_mkdtemp(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "/tmp/%s.XXXXXX", name);
	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp %s: %s", dir, strerror(errno));
}

/* A stream socket listening at unix path (the test plays a server there,
 * as the worker forker): its fd, the caller's to close. */
static inline int
tu_unix_listen(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strlcpy_(sa.sun_path, path, sizeof(sa.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fail_msg("socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, 8) == -1)
		fail_msg("listen at %s: %s", path, strerror(errno));
	return fd;
}

/* Writes len bytes of text to path (created or cut). */
static inline void
tu_write_file(const char *path, const void *text, size_t len)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Writes n bytes c to path: with '#', a file of one comment too large to
 * load. */
static inline void
tu_write_filled(const char *path, int c, size_t n)
{
	char *text = xmalloc(n);

	memset(text, c, n);
	tu_write_file(path, text, n);
	free(text);
}

/* Checks that got is what fmt formats to: a message that names a path
 * the test made. */
static inline void PRINTF(2, 3)
tu_check_textf(const char *got, const char *fmt, ...)
{
	char want[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	assert_string_equal(got, want);
}

static inline int
tu_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

/* Removes dir and everything under it (a test's temp folder). */
static inline void
tu_rm_rf(const char *dir)
{
	nftw(dir, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}


/* ---------------------------------------------------------------------- */
/* Running a list parser on one input (test_dask_parse, test_slurm) */

/*
 * A parser of a reply into a list, as tu_parse_list calls it: on success
 * *list is new and holds *n items, refused it is NULL and *n 0.  A test
 * file wraps its typed parser (dask_parse_identity, slurm_parse_squeue)
 * into this form, as it does for tu_check_int_cases.
 */
typedef int tu_list_parser(const char *in, size_t len, void **list,
    size_t *n, char *err, size_t errlen);

/*
 * Parses len bytes of in through parse for table row `row` and checks
 * the outcome as tu_check_list does.  The list and count start as junk,
 * so that a parser that leaves them unset is caught.  Returns the list,
 * new (NULL when refused), with its count in *n.
 */
static inline void *
tu_parse_list(const char *row, const char *in, size_t len,
    tu_list_parser *parse, int want_rc, const char *errsub, size_t want_n,
    size_t *n)
{
	void *list = (void *)1;
	char err[256] = "";
	int rc;

	*n = 99;
	rc = parse(in, len, &list, n, err, sizeof(err));
	tu_check_list(row, rc, want_rc, err, errsub, list, *n, want_n);
	return list;
}

/* tu_parse_list of a table's input written with ' for " (tu_dq). */
static inline void *
tu_parse_list_dq(const char *row, const char *in, tu_list_parser *parse,
    int want_rc, const char *errsub, size_t want_n, size_t *n)
{
	char *q = tu_dq(in);
	void *list;

	list = tu_parse_list(row, q, strlen(q), parse, want_rc, errsub,
	    want_n, n);
	free(q);
	return list;
}

/* ---------------------------------------------------------------------- */
/* Parsers of YAML documents: config_parse() and spec_parse() */

/*
 * Defines `static struct type *name(const char *yaml)`: yaml parsed by
 * parse (text, len, file name, out, err, errlen) as if read from fname,
 * the result new.  A refusal fails the test with parse's message.
 */
#define TU_DEFINE_PARSE_OK(name, type, parse, fname)			\
static struct type *							\
name(const char *yaml)							\
{									\
	struct type *r = NULL;						\
	char err[512] = "";						\
									\
	if (parse(yaml, strlen(yaml), fname, &r, err, sizeof(err)) != 0) \
		fail_msg("parse of <<%s>> failed: %s", yaml, err);	\
	assert_non_null(r);						\
	return r;							\
}

/*
 * Defines `static json_t *name(const char *yaml)`: yaml parsed by
 * parse_ok (a TU_DEFINE_PARSE_OK function) and seen through to_json,
 * new; the parsed struct type is freed with free_fn.
 */
#define TU_DEFINE_PARSED_JSON(name, type, parse_ok, to_json, free_fn)	\
static json_t *								\
name(const char *yaml)							\
{									\
	struct type *r = parse_ok(yaml);				\
	json_t *j = to_json(r);						\
									\
	free_fn(r);							\
	return j;							\
}

#endif
