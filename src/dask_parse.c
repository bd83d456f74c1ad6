/*
 * dask_parse: validation of the Dask scheduler's HTTP replies.  See
 * dask_parse.h.
 *
 * The scheduler is another process, possibly another version of Dask, and
 * its replies travel over a socket: nothing in them is trusted.  Each parser
 * bounds the input, checks every type and range it uses, and says precisely
 * what was wrong.  JSON goes through jansson (which also bounds nesting
 * depth); the Prometheus text of /metrics is parsed by hand, working on
 * (pointer, length) so that NUL bytes or a missing final newline cannot
 * make it read past the buffer.
 */
#include "dask_parse.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DASK_REPLY_MAX	(16u << 20)	/* bytes in one reply */
#define DASK_COUNT_MAX	1000000000	/* a task or worker count */
#define DASK_TARGET_MAX	1000000		/* adaptive_target */
#define DIGITS_(n)	#n
#define DIGITS(n)	DIGITS_(n)	/* a number macro as a string */
#define DASK_NTHREADS_MAX 1000000
#define DASK_LABEL_MAX	64		/* longest label value we look at */
#define DASK_NUMBER_MAX	64		/* longest sample value token */

/* ---------------------------------------------------------------------- */
/* Prometheus text format (GET /metrics) */

enum metric_slot {
	SLOT_QUEUED, SLOT_PROCESSING, SLOT_NO_WORKER, SLOT_WAITING,
	SLOT_MEMORY, SLOT_WORKERS, SLOT_WORKER_STATES, SLOT_N
};

/* A cursor over one line; p[0..n) is what is left. */
struct cur {
	const char	*p;
	size_t		 n;
};

static bool
cur_peek(const struct cur *c, char ch)
{
	return c->n > 0 && c->p[0] == ch;
}

static void
cur_skip(struct cur *c, size_t k)
{
	c->p += k;
	c->n -= k;
}

/* Skips blanks; returns how many. */
static size_t
cur_blanks(struct cur *c)
{
	size_t k = 0;

	while (k < c->n && (c->p[k] == ' ' || c->p[k] == '\t'))
		k++;
	cur_skip(c, k);
	return k;
}

static bool
is_name_char(char ch, bool first, bool colon)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_')
		return true;
	if (colon && ch == ':')
		return true;
	return !first && ch >= '0' && ch <= '9';
}

/*
 * Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names the same
 * without ':'.  Returns the name's length, 0 when there is none.
 */
static size_t
cur_name(struct cur *c, bool colon)
{
	size_t k = 0;

	while (k < c->n && is_name_char(c->p[k], k == 0, colon))
		k++;
	return k;
}

static bool
name_is(const char *p, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

/*
 * A quoted label value, escapes \\ \" \n.  The unescaped value goes to
 * val[DASK_LABEL_MAX]; a longer one is flagged *toolong (no state we know
 * is that long, so it simply matches nothing).
 */
static int
cur_label_value(struct cur *c, char *val, bool *toolong, const char **why)
{
	size_t len = 0;
	char ch;

	*toolong = false;
	if (!cur_peek(c, '"')) {
		*why = "label value not quoted";
		return -1;
	}
	cur_skip(c, 1);
	for (;;) {
		if (c->n == 0) {
			*why = "unterminated label value";
			return -1;
		}
		ch = c->p[0];
		cur_skip(c, 1);
		if (ch == '"')
			break;
		if (ch == '\\') {
			if (c->n == 0) {
				*why = "unterminated label value";
				return -1;
			}
			ch = c->p[0];
			cur_skip(c, 1);
			if (ch == 'n')
				ch = '\n';
			else if (ch != '\\' && ch != '"') {
				*why = "bad escape in label value";
				return -1;
			}
		} else if (ch == '\0') {
			*why = "NUL byte in label value";
			return -1;
		}
		if (len + 1 < DASK_LABEL_MAX)
			val[len++] = ch;
		else
			*toolong = true;
	}
	val[len] = '\0';
	return 0;
}

/*
 * {name="value",...} with an optional trailing comma.  The value of the
 * "state" label goes to state ("" when there is none).
 */
static int
cur_labels(struct cur *c, char *state, const char **why)
{
	char val[DASK_LABEL_MAX];
	bool have_state = false, toolong;
	const char *lname;
	size_t k;

	state[0] = '\0';
	cur_skip(c, 1);		/* '{' */
	for (;;) {
		cur_blanks(c);
		if (cur_peek(c, '}'))
			break;
		if ((k = cur_name(c, false)) == 0) {
			*why = "bad label name";
			return -1;
		}
		lname = c->p;
		cur_skip(c, k);
		cur_blanks(c);
		if (!cur_peek(c, '=')) {
			*why = "'=' expected after label name";
			return -1;
		}
		cur_skip(c, 1);
		cur_blanks(c);
		if (cur_label_value(c, val, &toolong, why) == -1)
			return -1;
		if (name_is(lname, k, "state")) {
			if (have_state) {
				*why = "duplicate state label";
				return -1;
			}
			have_state = true;
			if (!toolong)
				memcpy(state, val, strlen(val) + 1);
		}
		cur_blanks(c);
		if (cur_peek(c, ','))
			cur_skip(c, 1);
		else if (!cur_peek(c, '}')) {
			*why = "',' or '}' expected in labels";
			return -1;
		}
	}
	cur_skip(c, 1);		/* '}' */
	return 0;
}

/* A blank-delimited token; its length, 0 when none. */
static size_t
cur_token(const struct cur *c)
{
	size_t k = 0;

	while (k < c->n && c->p[k] != ' ' && c->p[k] != '\t')
		k++;
	return k;
}

/* The sample value: a float that must be finite, >= 0 and <= 1e9. */
static int
cur_value(struct cur *c, double *v, const char **why)
{
	char num[DASK_NUMBER_MAX];
	size_t k;
	char *end;

	if ((k = cur_token(c)) == 0) {
		*why = "value missing";
		return -1;
	}
	if (k >= sizeof(num)) {
		*why = "value too long";
		return -1;
	}
	memcpy(num, c->p, k);
	num[k] = '\0';
	if (strlen(num) != k) {
		*why = "NUL byte in value";
		return -1;
	}
	cur_skip(c, k);
	*v = strtod(num, &end);
	if (end == num || *end != '\0') {
		*why = "value is not a number";
		return -1;
	}
	if (!isfinite(*v)) {
		*why = "value is not finite";
		return -1;
	}
	if (*v < 0 || *v > DASK_COUNT_MAX) {
		*why = "value out of range [0, 1e9]";
		return -1;
	}
	return 0;
}

/* An optional timestamp: [-]digits. */
static int
cur_timestamp(struct cur *c, const char **why)
{
	size_t k = cur_token(c), i = 0;

	if (k == 0)
		return 0;
	if (c->p[0] == '-')
		i = 1;
	if (i == k || k > 20) {
		*why = "bad timestamp";
		return -1;
	}
	for (; i < k; i++)
		if (c->p[i] < '0' || c->p[i] > '9') {
			*why = "bad timestamp";
			return -1;
		}
	cur_skip(c, k);
	return 0;
}

static int
state_slot(bool tasks, const char *state)
{
	static const struct {
		bool		 tasks;
		const char	*state;
		int		 slot;
	} map[] = {
		{ true, "queued", SLOT_QUEUED },
		{ true, "processing", SLOT_PROCESSING },
		{ true, "no-worker", SLOT_NO_WORKER },
		{ true, "waiting", SLOT_WAITING },
		{ true, "memory", SLOT_MEMORY },
		/* 2022.12: one "connected" sample counts them all; since
		 * 2023.1 each worker is in exactly one of these states */
		{ false, "connected", SLOT_WORKERS },
		{ false, "idle", SLOT_WORKER_STATES },
		{ false, "partially_saturated", SLOT_WORKER_STATES },
		{ false, "saturated", SLOT_WORKER_STATES },
		{ false, "paused_or_retiring", SLOT_WORKER_STATES },
		{ false, "paused", SLOT_WORKER_STATES },
		{ false, "retiring", SLOT_WORKER_STATES },
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(map); i++)
		if (map[i].tasks == tasks && strcmp(map[i].state, state) == 0)
			return map[i].slot;
	return -1;
}

/*
 * One line.  Only dask_scheduler_tasks and dask_scheduler_workers samples
 * are parsed (strictly); comments, blank lines and every other metric are
 * skipped unread.  Several samples for one state (a future Dask adding a
 * label) are summed.
 */
static int
metrics_line(const char *p, size_t n, int64_t *acc, bool *have_tasks,
    bool *connected, const char **why)
{
	struct cur c = { p, n };
	char state[DASK_LABEL_MAX];
	bool tasks;
	double v;
	size_t k, sp;
	int slot;

	if (c.n > 0 && c.p[c.n - 1] == '\r')
		c.n--;
	cur_blanks(&c);
	if (c.n == 0 || c.p[0] == '#')
		return 0;
	k = cur_name(&c, true);
	if (name_is(c.p, k, "dask_scheduler_tasks"))
		tasks = true;
	else if (name_is(c.p, k, "dask_scheduler_workers"))
		tasks = false;
	else
		return 0;
	cur_skip(&c, k);
	sp = cur_blanks(&c);
	state[0] = '\0';
	if (cur_peek(&c, '{')) {
		if (cur_labels(&c, state, why) == -1)
			return -1;
		sp = cur_blanks(&c);
	}
	if (sp == 0) {
		*why = c.n == 0 ? "value missing" :
		    "blank expected before value";
		return -1;
	}
	if (cur_value(&c, &v, why) == -1)
		return -1;
	cur_blanks(&c);
	if (cur_timestamp(&c, why) == -1)
		return -1;
	cur_blanks(&c);
	if (c.n != 0) {
		*why = "trailing characters";
		return -1;
	}
	if (tasks)
		*have_tasks = true;
	if ((slot = state_slot(tasks, state)) == -1)
		return 0;
	if (slot == SLOT_WORKERS)
		*connected = true;
	acc[slot] += (int64_t)v;
	if (acc[slot] > DASK_COUNT_MAX) {
		*why = "sum of samples out of range";
		return -1;
	}
	return 0;
}

int
dask_parse_metrics(const char *buf, size_t len, struct dask_metrics *out,
    char *err, size_t errlen)
{
	int64_t acc[SLOT_N] = { 0 };
	bool have_tasks = false, connected = false;
	const char *why = NULL, *line;
	size_t pos = 0, lineno = 0, n;

	ASSERT(out != NULL);
	ASSERT(buf != NULL || len == 0);
	memset(out, 0, sizeof(*out));
	if (len > DASK_REPLY_MAX)
		return seterr(err, errlen, "metrics: reply of %zu bytes, more "
		    "than %u", len, DASK_REPLY_MAX);
	while ((line = util_next_line(buf, len, &pos, &n)) != NULL) {
		lineno++;
		if (metrics_line(line, n, acc, &have_tasks, &connected,
		    &why) == -1)
			return seterr(err, errlen, "metrics: line %zu: %s",
			    lineno, why);
	}
	out->have_tasks = have_tasks;
	out->queued = (int)acc[SLOT_QUEUED];
	out->processing = (int)acc[SLOT_PROCESSING];
	out->no_worker = (int)acc[SLOT_NO_WORKER];
	out->waiting = (int)acc[SLOT_WAITING];
	out->memory = (int)acc[SLOT_MEMORY];
	out->workers = (int)acc[connected ? SLOT_WORKERS : SLOT_WORKER_STATES];
	return 0;
}

/* ---------------------------------------------------------------------- */
/* JSON replies */

/* Parses buf as a JSON object; what names the reply in messages. */
static json_t *
json_object_load(const char *what, const char *buf, size_t len, char *err,
    size_t errlen)
{
	json_error_t je;
	json_t *root;

	if (len > DASK_REPLY_MAX) {
		seterr(err, errlen, "%s: reply of %zu bytes, more than %u",
		    what, len, DASK_REPLY_MAX);
		return NULL;
	}
	root = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES,
	    &je);
	if (root == NULL) {
		seterr(err, errlen, "%s: bad JSON at line %d column %d: %s",
		    what, je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "%s: reply is not a JSON object", what);
		json_decref(root);
		return NULL;
	}
	return root;
}

/*
 * An integer in [min, max].  Python may send a count as a float ("4.0"):
 * a real with an integral value is accepted.
 */
static int
json_int_range(const json_t *v, int64_t min, int64_t max, int64_t *out)
{
	double d;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < min || i > max)
			return -1;
		*out = (int64_t)i;
		return 0;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		/*
		 * Range first: casting an out-of-range double is undefined.
		 * (double)INT64_MAX rounds up to 2^63, hence "< max + 1".
		 */
		if (!(d >= (double)min && d < (double)max + 1.0) ||
		    d != floor(d))
			return -1;
		*out = (int64_t)d;
		if (*out < min || *out > max)
			return -1;
		return 0;
	}
	return -1;
}

/*
 * The integer at key of the JSON object buf, in [min, max]; what names
 * the reply and range says the bounds in words ("> 1") for the message.
 * A reply whose "error" is a string is that error.
 */
static int
object_int(const char *what, const char *buf, size_t len, const char *key,
    int64_t min, int64_t max, const char *range, int64_t *out, char *err,
    size_t errlen)
{
	json_t *root, *v;
	char *p;
	int rc = 0;

	ASSERT(buf != NULL || len == 0);
	*out = 0;
	if ((root = json_object_load(what, buf, len, err, errlen)) == NULL)
		return -1;
	v = json_object_get(root, "error");
	if (json_is_string(v)) {
		rc = seterr(err, errlen, "%s: %.200s", what,
		    json_string_value(v));
		/* the message goes to events and logs on one line */
		for (p = errlen > 0 ? err : NULL; p != NULL && *p != '\0';
		    p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	} else if ((v = json_object_get(root, key)) == NULL)
		rc = seterr(err, errlen, "%s: no \"%s\"", what, key);
	else if (json_int_range(v, min, max, out) == -1)
		rc = seterr(err, errlen, "%s: \"%s\" must be an integer %s",
		    what, key, range);
	json_decref(root);
	return rc;
}

int
dask_parse_target(const char *buf, size_t len, int *target, char *err,
    size_t errlen)
{
	int64_t n;
	int rc = object_int("adaptive_target", buf, len, "workers", 0,
	    DASK_TARGET_MAX, "in [0, " DIGITS(DASK_TARGET_MAX) "]", &n, err,
	    errlen);

	*target = (int)n;
	return rc;
}

/*
 * A worker address as the scheduler keys it: a known scheme, then printable
 * ASCII without blanks, all of it shorter than DASK_ADDR_MAX.
 */
static int
check_address(const char *a, const char **why)
{
	static const char *scheme[] = { "tcp://", "tls://", "ucx://",
	    "inproc://" };
	size_t i, len = strlen(a), slen = 0;

	if (len >= DASK_ADDR_MAX) {
		*why = "longer than 127 bytes";
		return -1;
	}
	for (i = 0; i < ARRAY_LEN(scheme); i++)
		if (strncmp(a, scheme[i], strlen(scheme[i])) == 0)
			slen = strlen(scheme[i]);
	if (slen == 0) {
		*why = "scheme is not tcp://, tls://, ucx:// or inproc://";
		return -1;
	}
	if (len == slen) {
		*why = "nothing after the scheme";
		return -1;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)a[i] <= ' ' || (unsigned char)a[i] > '~') {
			*why = "character not printable ASCII";
			return -1;
		}
	return 0;
}

/*
 * The worker's name: a string (no control characters; it is shown in the
 * console and logs) or an integer, rendered in decimal; null or absent
 * gives "".
 */
static int
worker_name(const json_t *v, char *name, const char **why)
{
	const char *s;
	size_t i, len;

	name[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		snprintf(name, DASK_ADDR_MAX, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return 0;
	}
	if (!json_is_string(v)) {
		*why = "\"name\" is neither a string nor an integer";
		return -1;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len >= DASK_ADDR_MAX) {
		*why = "\"name\" longer than 127 bytes";
		return -1;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			*why = "control character in \"name\"";
			return -1;
		}
	memcpy(name, s, len + 1);
	return 0;
}

/* metrics.task_counts: busy is every state but memory and other
 * ("processing" is the count edask's preload reports: the scheduler's own
 * view, see src/py/edask_preload.py). */
static int
worker_task_counts(const json_t *tc, struct dask_worker_info *w,
    const char **why)
{
	static const char *busy[] = { "executing", "long-running", "ready",
	    "constrained", "waiting", "fetch", "flight", "missing",
	    "processing" };
	const json_t *v;
	int64_t sum = 0, n;
	size_t i;

	if (tc == NULL || json_is_null(tc))
		return 0;
	if (!json_is_object(tc)) {
		*why = "\"task_counts\" is not an object";
		return -1;
	}
	for (i = 0; i < ARRAY_LEN(busy); i++) {
		if ((v = json_object_get(tc, busy[i])) == NULL)
			continue;
		if (json_int_range(v, 0, DASK_COUNT_MAX, &n) == -1) {
			*why = "a task count is not an integer in [0, 1e9]";
			return -1;
		}
		sum += n;
	}
	if (sum > DASK_COUNT_MAX) {
		*why = "busy task count out of range";
		return -1;
	}
	w->busy = (int)sum;
	if ((v = json_object_get(tc, "memory")) != NULL) {
		if (json_int_range(v, 0, DASK_COUNT_MAX, &n) == -1) {
			*why = "\"memory\" task count is not an integer in "
			    "[0, 1e9]";
			return -1;
		}
		w->keys = (int)n;
	}
	return 0;
}

/* metrics: absent on a worker that has just registered. */
static int
worker_metrics(const json_t *m, struct dask_worker_info *w, const char **why)
{
	const json_t *v;

	if (m == NULL || json_is_null(m))
		return 0;
	if (!json_is_object(m)) {
		*why = "\"metrics\" is not an object";
		return -1;
	}
	if (worker_task_counts(json_object_get(m, "task_counts"), w, why) == -1)
		return -1;
	v = json_object_get(m, "managed_bytes");
	if (v != NULL && json_int_range(v, 0, INT64_MAX, &w->bytes) == -1) {
		*why = "\"managed_bytes\" is not a non-negative integer";
		return -1;
	}
	v = json_object_get(m, "memory");
	if (v != NULL && !json_is_null(v) &&
	    json_int_range(v, 0, INT64_MAX, &w->rss) == -1) {
		*why = "\"memory\" is not a non-negative integer";
		return -1;
	}
	return 0;
}

static int
worker_parse(const char *addr, const json_t *o, struct dask_worker_info *w,
    const char **why)
{
	const json_t *v;
	int64_t n;

	memset(w, 0, sizeof(*w));
	w->rss = -1;
	w->memory_limit = -1;
	w->unique_keys = -1;
	if (check_address(addr, why) == -1)
		return -1;
	memcpy(w->address, addr, strlen(addr) + 1);
	if (!json_is_object(o)) {
		*why = "worker entry is not an object";
		return -1;
	}
	if (worker_name(json_object_get(o, "name"), w->name, why) == -1)
		return -1;
	v = json_object_get(o, "nthreads");
	if (v == NULL || json_int_range(v, 1, DASK_NTHREADS_MAX, &n) == -1) {
		*why = "\"nthreads\" missing or not an integer in [1, 1e6]";
		return -1;
	}
	w->nthreads = (int)n;
	/* Dask reports "no limit" as null (or 0 in some versions). */
	v = json_object_get(o, "memory_limit");
	if (v != NULL && !json_is_null(v)) {
		if (json_int_range(v, 0, INT64_MAX, &w->memory_limit) == -1) {
			*why = "\"memory_limit\" is not a non-negative integer";
			return -1;
		}
		if (w->memory_limit == 0)
			w->memory_limit = -1;
	}
	/* edask's preload: the results no other worker holds a copy of */
	v = json_object_get(o, "unique_keys");
	if (v != NULL) {
		if (json_int_range(v, 0, DASK_COUNT_MAX, &n) == -1) {
			*why = "\"unique_keys\" is not an integer in [0, 1e9]";
			return -1;
		}
		w->unique_keys = (int)n;
	}
	if (worker_metrics(json_object_get(o, "metrics"), w, why) == -1)
		return -1;
	if (w->unique_keys > w->keys) {
		*why = "\"unique_keys\" is more than the keys it holds";
		return -1;
	}
	return 0;
}

/* Workers and departures both start with their address, and are sorted
 * and found by it. */
_Static_assert(offsetof(struct dask_worker_info, address) == 0 &&
    offsetof(struct dask_departure, address) == 0, "address first");

static int
address_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* One "departed" entry: what the worker held when it was removed. */
static int
departure_parse(const char *addr, const json_t *o, struct dask_departure *d,
    const char **why)
{
	static const char *const counts[] = { "keys", "unique_keys" };
	int *dst[] = { &d->keys, &d->unique_keys };
	const json_t *v;
	int64_t n;
	size_t i;

	memset(d, 0, sizeof(*d));
	if (check_address(addr, why) == -1)
		return -1;
	memcpy(d->address, addr, strlen(addr) + 1);
	if (!json_is_object(o)) {
		*why = "departure is not an object";
		return -1;
	}
	for (i = 0; i < ARRAY_LEN(counts); i++) {
		v = json_object_get(o, counts[i]);
		if (v == NULL || json_int_range(v, 0, DASK_COUNT_MAX,
		    &n) == -1) {
			*why = i == 0 ? "\"keys\" missing or not an integer in "
			    "[0, 1e9]" : "\"unique_keys\" missing or not an "
			    "integer in [0, 1e9]";
			return -1;
		}
		*dst[i] = (int)n;
	}
	if (d->unique_keys > d->keys) {
		*why = "\"unique_keys\" is more than the keys it held";
		return -1;
	}
	v = json_object_get(o, "bytes");
	if (v == NULL || json_int_range(v, 0, INT64_MAX, &d->bytes) == -1) {
		*why = "\"bytes\" missing or not a non-negative integer";
		return -1;
	}
	return 0;
}

/* "departed" of root, when there is one: a new sorted array. */
static int
departed_parse(const json_t *root, struct dask_departure **out, size_t *n,
    char *err, size_t errlen)
{
	struct dask_departure *d;
	json_t *ds, *v;
	const char *key, *why = NULL;
	size_t count, i = 0;

	ds = json_object_get(root, "departed");
	if (ds == NULL)
		return 0;
	if (!json_is_object(ds))
		return seterr(err, errlen, "edask/workers: \"departed\" is not "
		    "an object");
	count = json_object_size(ds);
	if (count > DASK_WORKERS_MAX)
		return seterr(err, errlen, "edask/workers: %zu departed, more "
		    "than %d", count, DASK_WORKERS_MAX);
	d = xcalloc(count, sizeof(*d));
	json_object_foreach(ds, key, v) {
		ASSERT(i < count);
		if (departure_parse(key, v, &d[i], &why) == -1) {
			if (d[i].address[0] != '\0')
				seterr(err, errlen, "edask/workers: departed "
				    "%s: %s", d[i].address, why);
			else
				seterr(err, errlen, "edask/workers: departed "
				    "address %s", why);
			free(d);
			return -1;
		}
		i++;
	}
	ASSERT(i == count);
	qsort(d, count, sizeof(*d), address_cmp);
	*out = d;
	*n = count;
	return 0;
}

int
dask_parse_workers(const char *buf, size_t len,
    struct dask_worker_info **workers, size_t *n,
    struct dask_departure **departed, size_t *ndeparted, char *err,
    size_t errlen)
{
	struct dask_worker_info *w = NULL;
	json_t *root, *ws, *v;
	const char *key, *why = NULL;
	size_t count, i = 0;

	ASSERT(workers != NULL && n != NULL);
	ASSERT((departed == NULL) == (ndeparted == NULL));
	ASSERT(buf != NULL || len == 0);
	*workers = NULL;
	*n = 0;
	if (departed != NULL) {
		*departed = NULL;
		*ndeparted = 0;
	}
	if ((root = json_object_load("identity", buf, len, err,
	    errlen)) == NULL)
		return -1;
	v = json_object_get(root, "type");
	if (v != NULL && (!json_is_string(v) ||
	    strcmp(json_string_value(v), "Scheduler") != 0)) {
		seterr(err, errlen, "identity: \"type\" is not \"Scheduler\"");
		goto fail;
	}
	ws = json_object_get(root, "workers");
	if (ws == NULL || !json_is_object(ws)) {
		seterr(err, errlen, "identity: \"workers\" missing or not an "
		    "object");
		goto fail;
	}
	count = json_object_size(ws);
	if (count > DASK_WORKERS_MAX) {
		seterr(err, errlen, "identity: %zu workers, more than %d",
		    count, DASK_WORKERS_MAX);
		goto fail;
	}
	w = xcalloc(count, sizeof(*w));
	json_object_foreach(ws, key, v) {
		ASSERT(i < count);
		if (worker_parse(key, v, &w[i], &why) == -1) {
			/* Only a valid address is echoed back. */
			if (w[i].address[0] != '\0')
				seterr(err, errlen, "identity: worker %s: %s",
				    w[i].address, why);
			else
				seterr(err, errlen, "identity: worker address "
				    "%s", why);
			goto fail;
		}
		i++;
	}
	ASSERT(i == count);
	if (departed != NULL && departed_parse(root, departed, ndeparted,
	    err, errlen) == -1)
		goto fail;
	qsort(w, count, sizeof(*w), address_cmp);
	json_decref(root);
	*workers = w;
	*n = count;
	return 0;
fail:
	free(w);
	json_decref(root);
	return -1;
}

const struct dask_departure *
dask_departure_find(const struct dask_departure *d, size_t n,
    const char *address)
{
	struct dask_departure key;

	if (n == 0 || strlen(address) >= sizeof(key.address))
		return NULL;
	strlcpy_(key.address, address, sizeof(key.address));
	return bsearch(&key, d, n, sizeof(*d), address_cmp);
}

int
dask_parse_identity(const char *buf, size_t len,
    struct dask_worker_info **workers, size_t *n, char *err, size_t errlen)
{
	return dask_parse_workers(buf, len, workers, n, NULL, NULL, err,
	    errlen);
}

int
dask_parse_retire(const char *buf, size_t len, const char *address,
    char *err, size_t errlen)
{
	json_t *root, *v;
	const char *key;
	int found = 0;

	ASSERT(address != NULL);
	ASSERT(buf != NULL || len == 0);
	if ((root = json_object_load("retire_workers", buf, len, err,
	    errlen)) == NULL)
		return -1;
	json_object_foreach(root, key, v) {
		if (!json_is_object(v)) {
			json_decref(root);
			return seterr(err, errlen, "retire_workers: entry is "
			    "not an object");
		}
		if (strcmp(key, address) == 0)
			found = 1;
	}
	json_decref(root);
	return found;
}

int
dask_parse_drain(const char *buf, size_t len, const char *address,
    struct dask_drain_info *out, char *err, size_t errlen)
{
	static const char *const counts[] = { "processing", "keys",
	    "unique_keys" };
	int *dst[] = { &out->processing, &out->keys, &out->unique_keys };
	json_t *root, *v, *f;
	const char *key, *st;
	int64_t n;
	int found = 0;
	size_t i;

	ASSERT(address != NULL);
	ASSERT(buf != NULL || len == 0);
	memset(out, 0, sizeof(*out));
	if ((root = json_object_load("edask/drain", buf, len, err,
	    errlen)) == NULL)
		return -1;
	json_object_foreach(root, key, v) {
		if (!json_is_object(v)) {
			json_decref(root);
			return seterr(err, errlen, "edask/drain: entry is not "
			    "an object");
		}
		if (strcmp(key, address) != 0)
			continue;
		f = json_object_get(v, "status");
		if (!json_is_string(f)) {
			json_decref(root);
			return seterr(err, errlen, "edask/drain: no status");
		}
		st = json_string_value(f);
		for (i = 0; i < ARRAY_LEN(counts); i++) {
			f = json_object_get(v, counts[i]);
			if (f == NULL || json_int_range(f, 0, DASK_COUNT_MAX,
			    &n) == -1) {
				json_decref(root);
				memset(out, 0, sizeof(*out));
				return seterr(err, errlen, "edask/drain: %s "
				    "must be an integer in 0..%d", counts[i],
				    DASK_COUNT_MAX);
			}
			*dst[i] = (int)n;
		}
		out->bytes = -1;
		f = json_object_get(v, "bytes");
		if (f != NULL && json_int_range(f, 0, INT64_MAX,
		    &out->bytes) == -1) {
			json_decref(root);
			memset(out, 0, sizeof(*out));
			return seterr(err, errlen, "edask/drain: bytes must be "
			    "a non-negative integer");
		}
		out->draining = strcmp(st, "closing_gracefully") == 0;
		out->gone = strcmp(st, "closed") == 0;
		if (out->unique_keys > out->keys) {
			json_decref(root);
			memset(out, 0, sizeof(*out));
			return seterr(err, errlen, "edask/drain: unique_keys "
			    "above keys");
		}
		found = 1;
	}
	json_decref(root);
	return found;
}

int
dask_parse_changes(const char *buf, size_t len, int64_t *seq, char *err,
    size_t errlen)
{
	return object_int("edask/changes", buf, len, "seq", 0, INT64_MAX,
	    ">= 0", seq, err, errlen);
}

int
dask_parse_forked(const char *buf, size_t len, int *pid, char *err,
    size_t errlen)
{
	int64_t n;
	int rc = object_int("forker", buf, len, "pid", 2, INT32_MAX, "> 1",
	    &n, err, errlen);

	*pid = (int)n;
	return rc;
}
