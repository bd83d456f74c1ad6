/*
 * slurm: the Slurm backend's words.  See slurm.h.
 *
 * squeue and sbatch are other programs, of whatever Slurm version the site
 * runs, and squeue lists other users' jobs too: nothing they print is
 * trusted.  The JSON of `squeue --json` changed shape across versions:
 * Slurm 22.05 (openapi v0.0.38) prints job_state as a string and times as
 * plain integers; data_parser v0.0.39 and later print job_state as an
 * array of flags, ["PENDING", "REQUEUED"], and numbers as objects
 * {"set": true, "infinite": false, "number": N}.  Both are read.  Only the
 * fields edask uses are looked at; every one of them is type checked, and
 * null counts as absent (v0.0.38 prints unset numbers as null).
 */
#include "slurm.h"
#include "spec.h"
#include "util.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Bytes in one squeue reply.  A 22.05 job is about 3.5 KB of JSON, so
 * this holds some 70000 jobs; the caller lists its own jobs only.
 */
#define SLURM_REPLY_MAX		(256u << 20)
#define SLURM_JOB_ID_MAX	INT64_C(4294967295)	/* Slurm's uint32_t */
#define SLURM_QUOTE_MAX		40	/* input bytes quoted in a message */

/* ---------------------------------------------------------------------- */
/* squeue --json */

/* Where a job failed, for the message. */
struct jctx {
	size_t	 idx;		/* index in "jobs" */
	char	*err;
	size_t	 errlen;
};

static int
job_err(const struct jctx *c, const char *field, const char *what)
{
	return seterr(c->err, c->errlen, "squeue: jobs[%zu]: \"%s\" %s",
	    c->idx, field, what);
}

/*
 * Copies len bytes of a JSON string into dst[size], cut when longer.
 * jansson hands out valid UTF-8 without NUL bytes (JSON_ALLOW_NUL is not
 * used); the cut backs off to a character boundary so that dst stays
 * valid UTF-8, since these strings go back out through jansson (API,
 * console), which refuses anything else.
 */
static void
copy_cut(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = len;

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* An optional string field into dst[size]; absent or null gives "". */
static int
job_string(const struct jctx *c, const json_t *job, const char *field,
    char *dst, size_t size)
{
	const json_t *v = json_object_get(job, field);

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return job_err(c, field, "is not a string");
	copy_cut(dst, size, json_string_value(v), json_string_length(v));
	return 0;
}

/*
 * A number field in [min, max]: a JSON integer, or a number object
 * {"set": B, "infinite": B, "number": N}.  Returns 0 with *out set, 1 when
 * there is no value (absent, null, not set, infinite; *out = 0), -1 with
 * err.
 */
static int
job_number(const struct jctx *c, const json_t *job, const char *field,
    int64_t min, int64_t max, int64_t *out)
{
	const json_t *v = json_object_get(job, field), *set, *inf;
	json_int_t i;

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 1;
	if (json_is_object(v)) {
		set = json_object_get(v, "set");
		inf = json_object_get(v, "infinite");
		if ((set != NULL && !json_is_boolean(set)) ||
		    (inf != NULL && !json_is_boolean(inf)))
			return job_err(c, field, "has a \"set\" or "
			    "\"infinite\" that is not true or false");
		if (json_is_false(set) || json_is_true(inf))
			return 1;
		v = json_object_get(v, "number");
		if (v == NULL || !json_is_integer(v))
			return job_err(c, field, "is a number object without "
			    "an integer \"number\"");
	} else if (!json_is_integer(v))
		return job_err(c, field, "is neither an integer nor a "
		    "number object");
	i = json_integer_value(v);
	if (i < min || i > max)
		return seterr(c->err, c->errlen, "squeue: jobs[%zu]: \"%s\" "
		    "%" JSON_INTEGER_FORMAT " out of range [%lld, %lld]",
		    c->idx, field, i, (long long)min, (long long)max);
	*out = (int64_t)i;
	return 0;
}

/*
 * job_state: a string, or an array of strings whose first is the base
 * state and the rest flags.  The state (and so the phase) is the first;
 * absent, null or [] give "", an unknown state.  *completing tells
 * whether a flag is COMPLETING.
 */
static int
job_state(const struct jctx *c, const json_t *job, char *dst, size_t size,
    bool *completing)
{
	const json_t *v = json_object_get(job, "job_state"), *e;
	size_t i;

	dst[0] = '\0';
	*completing = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		copy_cut(dst, size, json_string_value(v),
		    json_string_length(v));
		return 0;
	}
	if (!json_is_array(v))
		return job_err(c, "job_state", "is neither a string nor an "
		    "array of strings");
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return job_err(c, "job_state", "has an element that "
			    "is not a string");
		*completing |= i > 0 &&
		    strcmp(json_string_value(e), "COMPLETING") == 0;
	}
	if ((e = json_array_get(v, 0)) != NULL)
		copy_cut(dst, size, json_string_value(e),
		    json_string_length(e));
	return 0;
}

static bool
is_index_list(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((p[i] < '0' || p[i] > '9') && p[i] != ',' && p[i] != '-')
			return false;
	return n > 0;
}

/*
 * Appends the items of the list p[0..n) ("0,2" or "0-1") to dst[size],
 * ','-separated.  An item that does not fit ends the list for good (*full):
 * a cut never leaves part of an item ("1" of "12", "0-1" of "0-15").
 */
static void
gres_append(char *dst, size_t size, const char *p, size_t n, bool *full)
{
	size_t used = strlen(dst), k, sep;
	const char *comma;

	while (n > 0 && !*full) {
		comma = memchr(p, ',', n);
		k = comma != NULL ? (size_t)(comma - p) : n;
		if (k > 0) {
			sep = used > 0 ? 1 : 0;
			if (used + sep + k >= size) {
				*full = true;
				break;
			}
			if (sep)
				dst[used++] = ',';
			memcpy(dst + used, p, k);
			used += k;
			dst[used] = '\0';
		}
		if (comma == NULL)
			break;
		p += k + 1;
		n -= k + 1;
	}
}

/*
 * gres_detail: one string per allocated node, "gpu:1(IDX:0)",
 * "gpu:tesla:2(IDX:0,2)", "gpu:2(IDX:0-1)".  The index lists of the gpu
 * entries are joined into dst; other GRES, and lists that are not made of
 * digits, ',' and '-' (Slurm prints "IDX:N/A" when it has none), are
 * skipped.  Slurm empties gres_detail once a job has ended.
 */
static int
job_gres(const struct jctx *c, const json_t *job, char *dst, size_t size)
{
	const json_t *v = json_object_get(job, "gres_detail"), *e;
	const char *s, *p, *q;
	bool full = false;
	size_t i;

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return job_err(c, "gres_detail", "is not an array");
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return job_err(c, "gres_detail", "has an element that "
			    "is not a string");
		s = json_string_value(e);
		if (strncmp(s, "gpu", 3) != 0 || (s[3] != ':' && s[3] != '('))
			continue;
		if ((p = strstr(s, "(IDX:")) == NULL)
			continue;
		p += 5;
		if ((q = strchr(p, ')')) == NULL ||
		    !is_index_list(p, (size_t)(q - p)))
			continue;
		gres_append(dst, size, p, (size_t)(q - p), &full);
	}
	return 0;
}

/*
 * One job.  A pending job's start_time is Slurm's estimate (the backfill
 * scheduler fills it in, years ahead when running jobs have no time
 * limit), not a start: it is reported as 0.
 */
static int
job_parse(const struct jctx *c, const json_t *job, struct slurm_job *j)
{
	char host[SLURM_NODE_MAX];
	bool completing;
	int rc;

	memset(j, 0, sizeof(*j));
	if (!json_is_object(job))
		return seterr(c->err, c->errlen, "squeue: jobs[%zu] is not an "
		    "object", c->idx);
	if ((rc = job_number(c, job, "job_id", 1, SLURM_JOB_ID_MAX,
	    &j->id)) == -1)
		return -1;
	if (rc == 1)
		return job_err(c, "job_id", "missing");
	if (job_string(c, job, "name", j->name, sizeof(j->name)) == -1 ||
	    job_string(c, job, "comment", j->comment,
	    sizeof(j->comment)) == -1 ||
	    job_state(c, job, j->state, sizeof(j->state), &completing) == -1 ||
	    job_string(c, job, "state_reason", j->reason,
	    sizeof(j->reason)) == -1 ||
	    job_string(c, job, "batch_host", host, sizeof(host)) == -1 ||
	    job_string(c, job, "nodes", j->node, sizeof(j->node)) == -1 ||
	    job_gres(c, job, j->gres, sizeof(j->gres)) == -1 ||
	    job_number(c, job, "submit_time", 0, INT64_MAX,
	    &j->submit_time) == -1 ||
	    job_number(c, job, "start_time", 0, INT64_MAX,
	    &j->start_time) == -1)
		return -1;
	if (strcmp(j->reason, "None") == 0)
		j->reason[0] = '\0';
	if (host[0] != '\0')
		memcpy(j->node, host, strlen(host) + 1);
	j->phase = slurm_phase_of(j->state);
	if (j->phase == SLURM_ENDED && completing)
		j->phase = SLURM_ENDING;
	if (j->phase == SLURM_PENDING)
		j->start_time = 0;
	return 0;
}

/* With no "jobs", or with errors, squeue's own first error says why. */
static int
no_jobs(const json_t *root, const char *what, char *err, size_t errlen)
{
	const json_t *e, *s;
	char says[101];

	e = json_array_get(json_object_get(root, "errors"), 0);
	s = json_object_get(e, "error");
	if (!json_is_string(s))
		s = json_object_get(e, "description");
	if (!json_is_string(s))
		return seterr(err, errlen, "squeue: %s", what);
	copy_cut(says, sizeof(says), json_string_value(s),
	    json_string_length(s));
	return seterr(err, errlen, "squeue: %s; squeue says: %s", what, says);
}

int
slurm_parse_squeue(const char *buf, size_t len, struct slurm_job **jobs,
    size_t *n, char *err, size_t errlen)
{
	struct slurm_job *j = NULL;
	struct jctx c = { 0, err, errlen };
	json_error_t je;
	json_t *root, *arr, *v;
	size_t count, i;

	ASSERT(jobs != NULL && n != NULL);
	ASSERT(buf != NULL || len == 0);
	*jobs = NULL;
	*n = 0;
	if (len > SLURM_REPLY_MAX)
		return seterr(err, errlen, "squeue: reply of %zu bytes, more "
		    "than %u", len, SLURM_REPLY_MAX);
	root = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES,
	    &je);
	if (root == NULL)
		return seterr(err, errlen, "squeue: bad JSON at line %d "
		    "column %d: %s", je.line, je.column, je.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return seterr(err, errlen, "squeue: reply is not a JSON "
		    "object");
	}
	/* Slurm 22.05 answers a controller it cannot reach with exit
	 * status 0, no job and an error: that is no listing at all */
	v = json_object_get(root, "errors");
	if (v != NULL && (!json_is_array(v) || json_array_size(v) > 0)) {
		no_jobs(root, "it reports an error", err, errlen);
		json_decref(root);
		return -1;
	}
	arr = json_object_get(root, "jobs");
	if (!json_is_array(arr)) {
		no_jobs(root, "\"jobs\" missing or not an array", err, errlen);
		json_decref(root);
		return -1;
	}
	count = json_array_size(arr);
	if (count > SLURM_JOBS_MAX) {
		json_decref(root);
		return seterr(err, errlen, "squeue: %zu jobs, more than %d",
		    count, SLURM_JOBS_MAX);
	}
	if (count > 0)
		j = xcalloc(count, sizeof(*j));
	json_array_foreach(arr, i, v) {
		c.idx = i;
		if (job_parse(&c, v, &j[i]) == -1) {
			free(j);
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	*jobs = j;
	*n = count;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* sbatch --parsable */

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/*
 * The first SLURM_QUOTE_MAX bytes of buf into q[SLURM_QUOTE_MAX * 4 + 4],
 * printable: '"', '\\' and "\n" escaped, other bytes as \xNN.
 */
static void
quote(char *q, const char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char ch;
	size_t i, k = 0;

	for (i = 0; i < len && i < SLURM_QUOTE_MAX; i++) {
		ch = (unsigned char)buf[i];
		if (ch == '\n') {
			q[k++] = '\\';
			q[k++] = 'n';
		} else if (ch == '"' || ch == '\\') {
			q[k++] = '\\';
			q[k++] = (char)ch;
		} else if (ch >= 0x20 && ch < 0x7f)
			q[k++] = (char)ch;
		else {
			q[k++] = '\\';
			q[k++] = 'x';
			q[k++] = hex[ch >> 4];
			q[k++] = hex[ch & 0xf];
		}
	}
	if (len > SLURM_QUOTE_MAX) {
		memcpy(q + k, "...", 3);
		k += 3;
	}
	q[k] = '\0';
}

/*
 * "JOBID" or "JOBID;CLUSTER", blanks and newlines around.  Blanks or
 * newlines inside (a second line: sbatch said something else) make it an
 * error, as does a job id out of [1, 2^32 - 1].
 */
int
slurm_parse_sbatch(const char *buf, size_t len, int64_t *id, char *err,
    size_t errlen)
{
	char q[SLURM_QUOTE_MAX * 4 + 4];
	size_t s = 0, e = len, i;
	int64_t v = 0;

	ASSERT(id != NULL);
	ASSERT(buf != NULL || len == 0);
	*id = 0;
	while (s < e && is_blank(buf[s]))
		s++;
	while (e > s && is_blank(buf[e - 1]))
		e--;
	for (i = s; i < e && buf[i] >= '0' && buf[i] <= '9'; i++) {
		v = v * 10 + (buf[i] - '0');
		if (v > SLURM_JOB_ID_MAX)
			break;
	}
	if (i == s || v < 1 || v > SLURM_JOB_ID_MAX)
		goto bad;
	if (i < e) {
		/* ";CLUSTER": a non-empty printable word */
		if (buf[i] != ';' || i + 1 == e)
			goto bad;
		for (i++; i < e; i++)
			if ((unsigned char)buf[i] <= ' ' ||
			    (unsigned char)buf[i] >= 0x7f || buf[i] == ';')
				goto bad;
	}
	*id = v;
	return 0;
bad:
	quote(q, buf, len);
	return seterr(err, errlen, "sbatch: no job id in \"%s\"", q);
}

/* ---------------------------------------------------------------------- */
/* job states */

enum slurm_phase
slurm_phase_of(const char *state)
{
	static const struct {
		const char		*name;
		enum slurm_phase	 phase;
	} map[] = {
		{ "PENDING", SLURM_PENDING },
		{ "REQUEUED", SLURM_PENDING },
		{ "REQUEUE_HOLD", SLURM_PENDING },
		{ "REQUEUE_FED", SLURM_PENDING },
		{ "RESV_DEL_HOLD", SLURM_PENDING },
		{ "RUNNING", SLURM_RUNNING },
		{ "CONFIGURING", SLURM_RUNNING },
		{ "SUSPENDED", SLURM_RUNNING },
		{ "STOPPED", SLURM_RUNNING },
		{ "SIGNALING", SLURM_RUNNING },
		{ "STAGE_OUT", SLURM_RUNNING },
		{ "RESIZING", SLURM_RUNNING },
		{ "POWER_UP_NODE", SLURM_RUNNING },
		{ "UPDATE_DB", SLURM_RUNNING },
		{ "COMPLETED", SLURM_ENDED },
		{ "COMPLETING", SLURM_ENDING },
		{ "CANCELLED", SLURM_ENDED },
		{ "FAILED", SLURM_ENDED },
		{ "TIMEOUT", SLURM_ENDED },
		{ "NODE_FAIL", SLURM_ENDED },
		{ "PREEMPTED", SLURM_ENDED },
		{ "BOOT_FAIL", SLURM_ENDED },
		{ "DEADLINE", SLURM_ENDED },
		{ "OUT_OF_MEMORY", SLURM_ENDED },
		{ "SPECIAL_EXIT", SLURM_ENDED },
		{ "REVOKED", SLURM_ENDED },
	};
	size_t i;

	ASSERT(state != NULL);
	for (i = 0; i < ARRAY_LEN(map); i++)
		if (strcmp(map[i].name, state) == 0)
			return map[i].phase;
	return SLURM_RUNNING;
}

/* ---------------------------------------------------------------------- */
/* comment tags */

#define TAG_PREFIX	"edask:"

void
slurm_tag(char *buf, size_t len, const char *daemon, const char *instance,
    int worker)
{
	int k;

	ASSERT(daemon != NULL && daemon[0] != '\0' &&
	    strchr(daemon, ':') == NULL);
	ASSERT(spec_name_valid(instance));
	ASSERT(worker >= 0);
	k = snprintf(buf, len, TAG_PREFIX "%s:%s:%d", daemon, instance,
	    worker);
	ASSERT(k > 0 && (size_t)k < len);
}

/*
 * The worker id: canonical decimal (no sign, no leading zero), so that a
 * (daemon, instance, worker) has exactly one tag.
 */
static int
parse_worker(const char *s, int *worker)
{
	int64_t v = 0;
	size_t i;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
		if (v > INT_MAX)
			return -1;
	}
	*worker = (int)v;
	return 0;
}

int
slurm_tag_parse(const char *comment, const char *daemon, char *inst,
    size_t instlen, int *worker)
{
	char name[SPEC_NAME_MAX + 1];
	const char *p, *colon;
	size_t dlen, k;
	int w;

	ASSERT(comment != NULL && daemon != NULL && daemon[0] != '\0');
	ASSERT(inst != NULL && instlen > 0 && worker != NULL);
	inst[0] = '\0';
	*worker = -1;
	if (strncmp(comment, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
		return -1;
	p = comment + strlen(TAG_PREFIX);
	dlen = strlen(daemon);
	if (strncmp(p, daemon, dlen) != 0 || p[dlen] != ':')
		return -1;
	p += dlen + 1;
	if ((colon = strchr(p, ':')) == NULL)
		return -1;
	k = (size_t)(colon - p);
	if (k == 0 || k >= sizeof(name) || k >= instlen)
		return -1;
	memcpy(name, p, k);
	name[k] = '\0';
	if (!spec_name_valid(name) || parse_worker(colon + 1, &w) == -1)
		return -1;
	memcpy(inst, name, k + 1);
	*worker = w;
	return 0;
}
