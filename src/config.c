/*
 * config: see config.h.
 *
 * Read like a spec (yamlx does the loading and the messages), but by hand
 * rather than from a table: the config is small, and a pool's keys depend
 * on its backend, which is read first wherever it stands in the mapping.
 * Keys are otherwise read in file order, so the error reported is the
 * first one in the file.  The walk only descends as deep as the format
 * does, so aliases cost nothing.
 */
#include "config.h"
#include "spec.h"
#include "util.h"
#include "yamlx.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CONFIG_TEXT_MAX	(1024 * 1024)	/* longest config text, in bytes */
#define HOST_MAX	253		/* a DNS name */
#define LISTEN_MAX	(HOST_MAX + 8)	/* "[host]:65535" */
#define PORT_MAX	65535
#define PATH_MAX_	4095		/* state_dir, log_file */
#define WORD_MAX	256		/* partition */
#define TIME_LIMIT_MAX	32
#define ARGS_MAX	64		/* sbatch_args entries */
#define ARG_MAX_	4096		/* bytes of one of them */
#define POOL_BUF	32		/* "pools[63]" */
#define RETIRE_BEFORE_DEFAULT_MS (2 * 60 * 1000)	/* retire_before_limit */
#define PATH_BUF	64		/* "pools[63].scheduler_host" */
#define ARGP_BUF	(PATH_BUF + 32)	/* "pools[63].sbatch_args[63]" */

/* Backends, as bits so that a key can name the ones it belongs to. */
#define B_LOCAL		1u
#define B_SLURM		2u
#define B_ANY		(B_LOCAL | B_SLURM)

enum pool_key {
	K_NAME,
	K_BACKEND,
	K_GPUS,
	K_SLOTS,
	K_PARTITION,
	K_TIME_LIMIT,
	K_SBATCH_ARGS,
	K_SCHEDULER_HOST,
	K_ACCOUNT,
	K_GPUS_PER_JOB,
	K_RETIRE_BEFORE,
	K_NKEYS
};

static const struct {
	const char	*key;
	unsigned	 backends;
} pool_keys[K_NKEYS] = {
	[K_NAME] =		{ "name", B_ANY },
	[K_BACKEND] =		{ "backend", B_ANY },
	[K_GPUS] =		{ "gpus", B_LOCAL },
	[K_SLOTS] =		{ "slots", B_SLURM },
	[K_PARTITION] =		{ "partition", B_SLURM },
	[K_TIME_LIMIT] =	{ "time_limit", B_SLURM },
	[K_SBATCH_ARGS] =	{ "sbatch_args", B_SLURM },
	[K_SCHEDULER_HOST] =	{ "scheduler_host", B_SLURM },
	[K_ACCOUNT] =		{ "account", B_SLURM },
	[K_GPUS_PER_JOB] =	{ "gpus_per_job", B_SLURM },
	[K_RETIRE_BEFORE] =	{ "retire_before_limit", B_SLURM },
};

enum top_key {
	T_LISTEN,
	T_STATE_DIR,
	T_LOG_FILE,
	T_POOLS,
	T_API,
	T_NKEYS
};

static const char *const top_keys[T_NKEYS] = {
	[T_LISTEN] = "listen",
	[T_STATE_DIR] = "state_dir",
	[T_LOG_FILE] = "log_file",
	[T_POOLS] = "pools",
	[T_API] = "api",
};

/*
 * api: {open_reads: BOOL}.  Only true and false are booleans (YAML 1.1's
 * yes and on read as strings to most tools): spec_read_bool().
 */
static int
read_api(struct yamlx *x, const yaml_node_t *v, struct config *c)
{
	const yaml_node_t *k, *val;
	yaml_node_pair_t *pr;
	char q[YAMLX_QUOTE_BUF];
	bool seen = false;

	if (yamlx_is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return yamlx_errat(x, v->start_mark, "api must be a mapping "
		    "(e.g. api: {open_reads: false}), got %s",
		    yamlx_describe(v, q, sizeof(q)));
	for (pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top;
	    pr++) {
		if (yamlx_pair(x, v, pr, NULL, &k, &val) == -1)
			return -1;
		if (!yamlx_is_scalar(k, "open_reads"))
			return yamlx_errat(x, k->start_mark, "unknown key %s in "
			    "api (expected open_reads)",
			    yamlx_describe(k, q, sizeof(q)));
		if (seen)
			return yamlx_errat(x, k->start_mark, "duplicate key "
			    "open_reads in api");
		seen = true;
		if (spec_read_bool(x, "api.open_reads", val,
		    &c->open_reads) == -1)
			return -1;
	}
	return 0;
}

/* What the pool checks need of the pools read so far. */
struct pool_nodes {
	const yaml_node_t	*name;		/* value of name */
	const yaml_node_t	*backend;	/* value of backend */
};

static const char *
backend_name(unsigned b)
{
	ASSERT(b == B_LOCAL || b == B_SLURM);
	return b == B_LOCAL ? "local" : "slurm";
}

/* Checks on text */

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * A DNS name or an IPv4 address: letters, digits, '.', '-' and '_', not
 * starting with '-' (it would read as an option) or '.'.  An IPv6 address
 * is let through where v6 is true and inet_pton() takes it.
 */
static bool
host_valid(const char *s, size_t n, bool v6)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;
	size_t i;

	if (n == 0 || n > HOST_MAX)
		return false;
	if (memchr(s, ':', n) != NULL) {
		if (!v6 || n >= sizeof(buf))
			return false;
		memcpy(buf, s, n);
		buf[n] = '\0';
		return inet_pton(AF_INET6, buf, &a) == 1;
	}
	if (s[0] == '-' || s[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= 'A' && s[i] <= 'Z') && !is_digit(s[i]) &&
		    s[i] != '.' && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

/* 1 to maxd digits, as a number. */
static bool
digits(const char *s, size_t n, size_t maxd, int64_t *v)
{
	size_t i;

	if (n == 0 || n > maxd)
		return false;
	*v = 0;
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/*
 * Slurm's time limit shapes: M, M:S, H:M:S, D-H, D-H:M and D-H:M:S.  The
 * leading number may be long (up to 9 digits); the ones after it take
 * one or two digits and stay below 60 (24 for hours after days).
 */
static int
parse_time_limit(const char *s, size_t n, int64_t *secs)
{
	const char *dash, *p[3];
	size_t np = 0, len[3], i, start;
	int64_t v[3] = { 0, 0, 0 }, days = 0;

	dash = memchr(s, '-', n);
	start = 0;
	if (dash != NULL) {
		if (!digits(s, (size_t)(dash - s), 9, &days))
			return -1;
		start = (size_t)(dash - s) + 1;
	}
	p[0] = s + start;
	for (i = start; i <= n; i++) {
		if (i < n && s[i] != ':')
			continue;
		if (np == 3)
			return -1;
		len[np] = (size_t)(s + i - p[np]);
		if (++np < 3)
			p[np] = s + i + 1;
	}
	for (i = 0; i < np; i++)
		if (!digits(p[i], len[i], i == 0 && dash == NULL ? 9 : 2,
		    &v[i]))
			return -1;
	if (dash != NULL) {
		/* D-H, D-H:M, D-H:M:S */
		if (v[0] >= 24 || (np > 1 && v[1] >= 60) ||
		    (np > 2 && v[2] >= 60))
			return -1;
		*secs = days * 86400 + v[0] * 3600 +
		    (np > 1 ? v[1] * 60 : 0) + (np > 2 ? v[2] : 0);
	} else if (np == 1) {
		*secs = v[0] * 60;
	} else if (np == 2) {
		if (v[1] >= 60)
			return -1;
		*secs = v[0] * 60 + v[1];
	} else {
		if (v[1] >= 60 || v[2] >= 60)
			return -1;
		*secs = v[0] * 3600 + v[1] * 60 + v[2];
	}
	return 0;
}

/* Reading values */

static void
set_string(char **dst, const yaml_node_t *n)
{
	free(*dst);
	*dst = xstrndup(yamlx_sval(n), n->data.scalar.length);
}

/* A scalar that can be text at all: not null, not empty, not a node. */
static bool
is_text(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.length > 0 &&
	    !yamlx_is_null(n);
}

/*
 * A partition name (or Slurm's comma-separated list of them) or an
 * account, given to sbatch as one word: no blanks.  Null leaves it unset.
 */
static int
read_word(struct yamlx *x, const char *path, const yaml_node_t *v,
    const char *what, char **dst)
{
	char q[YAMLX_QUOTE_BUF];
	size_t i;

	if (yamlx_is_null(v)) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (spec_check_text(x, path, v, WORD_MAX) == -1)
		return -1;
	for (i = 0; i < v->data.scalar.length; i++)
		if (strchr(" \t\r\n", yamlx_sval(v)[i]) != NULL)
			return yamlx_errat(x, v->start_mark, "%s must be "
			    "%s without blanks, got %s", path, what,
			    yamlx_describe(v, q, sizeof(q)));
	set_string(dst, v);
	return 0;
}

/* scheduler_host: a name or an address, IPv6 without brackets. */
static int
read_host(struct yamlx *x, const char *path, const yaml_node_t *v,
    char **dst)
{
	char q[YAMLX_QUOTE_BUF];

	if (spec_check_text(x, path, v, HOST_MAX) == -1)
		return -1;
	if (!host_valid(yamlx_sval(v), v->data.scalar.length, true))
		return yamlx_errat(x, v->start_mark, "%s must be a host name "
		    "or address, got %s", path,
		    yamlx_describe(v, q, sizeof(q)));
	set_string(dst, v);
	return 0;
}

static int
read_listen(struct yamlx *x, const yaml_node_t *v, char **dst)
{
	const char *s, *host, *colon, *rb;
	char q[YAMLX_QUOTE_BUF];
	size_t n, hl;
	int64_t port;

	if (!is_text(v))
		goto shape;
	if (yamlx_check_text(x, v, "listen", LISTEN_MAX) == -1)
		return -1;
	s = yamlx_sval(v);
	n = v->data.scalar.length;
	if (s[0] == '[') {
		rb = memchr(s, ']', n);
		if (rb == NULL || rb + 1 == s + n || rb[1] != ':')
			goto shape;
		host = s + 1;
		hl = (size_t)(rb - host);
		colon = rb + 1;
		if (hl == 0 || memchr(host, ':', hl) == NULL ||
		    !host_valid(host, hl, true))
			goto badhost;
	} else {
		colon = memrchr(s, ':', n);
		if (colon == NULL)
			goto shape;
		host = s;
		hl = (size_t)(colon - s);
		if (memchr(host, ':', hl) != NULL)
			goto shape;
		if (!host_valid(host, hl, false))
			goto badhost;
	}
	n -= (size_t)(colon + 1 - s);
	if (n == 0 || colon[1] == '-' ||
	    yamlx_parse_int(colon + 1, n, &port) == -1 || port > PORT_MAX)
		return yamlx_errat(x, v->start_mark, "listen port must be an "
		    "integer between 0 and %d, got %s", PORT_MAX,
		    yamlx_describe(v, q, sizeof(q)));
	set_string(dst, v);
	return 0;
shape:
	return yamlx_errat(x, v->start_mark, "listen must be HOST:PORT or "
	    "[IPv6]:PORT (e.g. 127.0.0.1:8780), got %s",
	    yamlx_describe(v, q, sizeof(q)));
badhost:
	return yamlx_errat(x, v->start_mark, "listen host must be a host name "
	    "or address, got %s", yamlx_describe(v, q, sizeof(q)));
}

/* An absolute path; null leaves *dst alone where nullable. */
static int
read_path(struct yamlx *x, const char *path, const yaml_node_t *v,
    bool nullable, char **dst)
{
	char q[YAMLX_QUOTE_BUF];
	const char *bad;

	if (nullable && yamlx_is_null(v)) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (!is_text(v) || yamlx_sval(v)[0] != '/')
		return yamlx_errat(x, v->start_mark, "%s must be an absolute "
		    "path, got %s", path, yamlx_describe(v, q, sizeof(q)));
	if (yamlx_check_text(x, v, path, PATH_MAX_) == -1)
		return -1;
	/* yamlx_check_text() lets these through for env values. */
	bad = strpbrk(yamlx_sval(v), "\t\r\n");
	if (bad != NULL)
		return yamlx_errat(x, v->start_mark, "%s contains control "
		    "character U+%04X", path, (unsigned)*bad);
	set_string(dst, v);
	return 0;
}

/* An integer in [lo, hi]; where autook, also "auto" for CONFIG_GPUS_AUTO. */
static int
read_int(struct yamlx *x, const char *path, const yaml_node_t *v,
    int64_t lo, int64_t hi, bool autook, int *dst)
{
	if (autook && yamlx_is_scalar(v, "auto")) {
		*dst = CONFIG_GPUS_AUTO;
		return 0;
	}
	return spec_read_int(x, path, v, lo, hi, autook ? "\"auto\" or " : "",
	    "", dst);
}

static int
read_backend(struct yamlx *x, const char *path, const yaml_node_t *v,
    unsigned *b)
{
	char q[YAMLX_QUOTE_BUF];

	if (yamlx_is_scalar(v, "local"))
		*b = B_LOCAL;
	else if (yamlx_is_scalar(v, "slurm"))
		*b = B_SLURM;
	else
		return yamlx_errat(x, v->start_mark, "%s must be one of: "
		    "local, slurm, got %s", path,
		    yamlx_describe(v, q, sizeof(q)));
	return 0;
}

static int
read_time_limit(struct yamlx *x, const char *path, const yaml_node_t *v,
    char **dst, int64_t *secs_out)
{
	char q[YAMLX_QUOTE_BUF];
	int64_t secs;

	*secs_out = 0;
	if (yamlx_is_null(v)) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (v->type != YAML_SCALAR_NODE ||
	    v->data.scalar.length > TIME_LIMIT_MAX ||
	    parse_time_limit(yamlx_sval(v), v->data.scalar.length,
	    &secs) == -1)
		return yamlx_errat(x, v->start_mark, "%s: bad time limit %s "
		    "(use MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)",
		    path, yamlx_describe(v, q, sizeof(q)));
	if (secs == 0)
		return yamlx_errat(x, v->start_mark, "%s must be more than "
		    "zero, got %s", path, yamlx_describe(v, q, sizeof(q)));
	set_string(dst, v);
	*secs_out = secs;
	return 0;
}

/* A duration such as 2m or 90s, 0s (off) to 24h. */
static int
read_lead(struct yamlx *x, const char *path, const yaml_node_t *v,
    int64_t *ms)
{
	char q[YAMLX_QUOTE_BUF], buf[32];

	if (v->type != YAML_SCALAR_NODE || v->data.scalar.length >=
	    sizeof(buf))
		goto bad;
	memcpy(buf, yamlx_sval(v), v->data.scalar.length);
	buf[v->data.scalar.length] = '\0';
	if (spec_parse_duration(buf, ms) == -1 || *ms < 0 ||
	    *ms > 24 * 3600 * 1000LL)
		goto bad;
	return 0;
bad:
	return yamlx_errat(x, v->start_mark, "%s must be a duration from 0s "
	    "to 24h (e.g. 2m, 90s), got %s", path,
	    yamlx_describe(v, q, sizeof(q)));
}

static int
read_args(struct yamlx *x, const char *path, const yaml_node_t *v,
    struct config_pool *p)
{
	const yaml_node_t *a;
	yaml_node_item_t *it;
	char q[YAMLX_QUOTE_BUF], apath[ARGP_BUF];
	size_t n;

	if (yamlx_is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return yamlx_errat(x, v->start_mark, "%s must be a sequence of "
		    "strings, got %s", path, yamlx_describe(v, q, sizeof(q)));
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > ARGS_MAX)
		return yamlx_errat(x, v->start_mark, "%s has %zu entries, at "
		    "most %d", path, n, ARGS_MAX);
	ASSERT(p->nsbatch_args == 0);
	free(p->sbatch_args);
	p->sbatch_args = xcalloc(n, sizeof(*p->sbatch_args));
	for (it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++) {
		snprintf(apath, sizeof(apath), "%s[%zu]", path,
		    p->nsbatch_args);
		if ((a = yamlx_node(x, *it)) == NULL)
			return yamlx_errat(x, v->start_mark,
			    "malformed sequence");
		if (spec_check_text(x, apath, a, ARG_MAX_) == -1)
			return -1;
		p->sbatch_args[p->nsbatch_args++] = xstrndup(yamlx_sval(a),
		    a->data.scalar.length);
	}
	return 0;
}

/* Pools */

/* "name, backend, gpus": the keys a pool of backends b may have. */
static const char *
pool_key_list(unsigned b, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < K_NKEYS && o < len; i++)
		if (pool_keys[i].backends & b)
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
			    o > 0 ? ", " : "", pool_keys[i].key);
	return buf;
}

/*
 * The backend decides which keys are allowed, so it is read before the
 * rest, wherever it stands.  The first "backend" key counts; a second is
 * a duplicate found by the walk.  *b stays 0 where there is none.
 */
static int
pool_backend(struct yamlx *x, const char *pp, const yaml_node_t *n,
    unsigned *b, const yaml_node_t **bnode)
{
	const yaml_node_t *k, *v;
	yaml_node_pair_t *pr;
	char path[PATH_BUF];

	*b = 0;
	*bnode = NULL;
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	    pr++) {
		k = yamlx_node(x, pr->key);
		if (k == NULL || !yamlx_is_scalar(k, "backend"))
			continue;
		if ((v = yamlx_node(x, pr->value)) == NULL)
			return yamlx_errat(x, n->start_mark,
			    "malformed mapping");
		snprintf(path, sizeof(path), "%s.backend", pp);
		*bnode = v;
		return read_backend(x, path, v, b);
	}
	return 0;
}

static int
read_pool_value(struct yamlx *x, enum pool_key key, const char *path,
    const yaml_node_t *v, struct config_pool *p)
{
	switch (key) {
	case K_NAME:
		return spec_read_name(x, path, v, &p->name);
	case K_BACKEND:
		return 0;	/* read by pool_backend() */
	case K_GPUS:
		return read_int(x, path, v, 1, CONFIG_GPUS_MAX, true,
		    &p->gpus);
	case K_SLOTS:
		return read_int(x, path, v, 1, CONFIG_SLOTS_MAX, false,
		    &p->slots);
	case K_PARTITION:
		return read_word(x, path, v, "a partition name", &p->partition);
	case K_ACCOUNT:
		return read_word(x, path, v, "an account name", &p->account);
	case K_GPUS_PER_JOB:
		return read_int(x, path, v, 1, CONFIG_GPUS_PER_JOB_MAX, false,
		    &p->gpus_per_job);
	case K_TIME_LIMIT:
		return read_time_limit(x, path, v, &p->time_limit,
		    &p->time_limit_s);
	case K_RETIRE_BEFORE:
		return read_lead(x, path, v, &p->retire_before_ms);
	case K_SBATCH_ARGS:
		return read_args(x, path, v, p);
	case K_SCHEDULER_HOST:
		return read_host(x, path, v, &p->scheduler_host);
	case K_NKEYS:
		break;
	}
	ASSERT(!"unknown pool key");
	return -1;
}

/* pools[idx]: one mapping, checked against the pools before it. */
static int
read_pool(struct yamlx *x, struct config *c, size_t idx,
    const yaml_node_t *n, struct pool_nodes *seen)
{
	static const enum pool_key required[] = {
		K_NAME, K_BACKEND, K_SLOTS, K_SCHEDULER_HOST
	};
	struct config_pool *p = &c->pools[idx];
	const yaml_node_t *keys[K_NKEYS] = { NULL }, *vals[K_NKEYS] = { NULL };
	const yaml_node_t *k, *v;
	yaml_node_pair_t *pr;
	char q[YAMLX_QUOTE_BUF], pp[POOL_BUF], in[POOL_BUF + 4];
	char path[PATH_BUF], expected[256];
	enum pool_key r;
	unsigned b;
	size_t i;

	snprintf(pp, sizeof(pp), "pools[%zu]", idx);
	snprintf(in, sizeof(in), " in %s", pp);
	if (n->type != YAML_MAPPING_NODE)
		return yamlx_errat(x, n->start_mark, "%s must be a mapping "
		    "(e.g. {name: local, backend: local}), got %s", pp,
		    yamlx_describe(n, q, sizeof(q)));
	if (pool_backend(x, pp, n, &b, &seen[idx].backend) == -1)
		return -1;
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	    pr++) {
		if (yamlx_pair(x, n, pr, in, &k, &v) == -1)
			return -1;
		for (i = 0; i < K_NKEYS; i++)
			if (yamlx_is_scalar(k, pool_keys[i].key))
				break;
		if (i == K_NKEYS)
			return yamlx_errat(x, k->start_mark, "unknown key %s "
			    "in %s (expected one of: %s)",
			    yamlx_describe(k, q, sizeof(q)), pp,
			    pool_key_list(b != 0 ? b : B_ANY, expected,
			    sizeof(expected)));
		if (keys[i] != NULL)
			return yamlx_errat(x, k->start_mark, "duplicate key "
			    "%s in %s (first at line %zu)",
			    yamlx_describe(k, q, sizeof(q)), pp,
			    keys[i]->start_mark.line + 1);
		keys[i] = k;
		vals[i] = v;
		if (b != 0 && (pool_keys[i].backends & b) == 0)
			return yamlx_errat(x, k->start_mark, "key %s is only "
			    "for backend %s (%s is %s)",
			    yamlx_describe(k, q, sizeof(q)),
			    backend_name(pool_keys[i].backends), pp,
			    backend_name(b));
		snprintf(path, sizeof(path), "%s.%s", pp, pool_keys[i].key);
		if (read_pool_value(x, (enum pool_key)i, path, v, p) == -1)
			return -1;
	}
	for (i = 0; i < ARRAY_LEN(required); i++) {
		r = required[i];
		if (vals[r] == NULL && (pool_keys[r].backends == B_ANY ||
		    (pool_keys[r].backends & b) != 0))
			return yamlx_errat(x, n->start_mark, "missing required "
			    "key \"%s\" in %s", pool_keys[r].key, pp);
	}
	p->backend = xstrdup(backend_name(b));
	if (b == B_SLURM) {
		p->gpus = 0;
		if (vals[K_GPUS_PER_JOB] == NULL)
			p->gpus_per_job = 1;
		if (p->slots % p->gpus_per_job != 0)
			return yamlx_errat(x, vals[K_SLOTS]->start_mark, "%s."
			    "slots (%d) must be a multiple of gpus_per_job "
			    "(%d): a worker is one job of gpus_per_job GPUs",
			    pp, p->slots, p->gpus_per_job);
		/* unwritten: 2 minutes, but at most a quarter of the limit */
		if (vals[K_RETIRE_BEFORE] == NULL)
			p->retire_before_ms = p->time_limit_s * 250 <
			    RETIRE_BEFORE_DEFAULT_MS ? p->time_limit_s * 250 :
			    RETIRE_BEFORE_DEFAULT_MS;
		else if (p->time_limit_s > 0 &&
		    p->retire_before_ms >= p->time_limit_s * 1000)
			return yamlx_errat(x, vals[K_RETIRE_BEFORE]->start_mark,
			    "%s.retire_before_limit must be shorter than "
			    "time_limit (%s)", pp, p->time_limit);
	}
	seen[idx].name = vals[K_NAME];
	for (i = 0; i < idx; i++) {
		if (strcmp(c->pools[i].name, p->name) == 0)
			return yamlx_errat(x, vals[K_NAME]->start_mark,
			    "duplicate pool name %s (first at line %zu)",
			    yamlx_describe(vals[K_NAME], q, sizeof(q)),
			    seen[i].name->start_mark.line + 1);
		if (b == B_LOCAL && strcmp(c->pools[i].backend, "local") == 0)
			return yamlx_errat(x, seen[idx].backend->start_mark,
			    "only one local pool per daemon (first at line "
			    "%zu)", seen[i].backend->start_mark.line + 1);
	}
	return 0;
}

static void
pool_clear(struct config_pool *p)
{
	size_t i;

	free(p->name);
	free(p->backend);
	free(p->partition);
	free(p->account);
	free(p->time_limit);
	for (i = 0; i < p->nsbatch_args; i++)
		free(p->sbatch_args[i]);
	free(p->sbatch_args);
	free(p->scheduler_host);
	memset(p, 0, sizeof(*p));
}

static void
pools_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->npools; i++)
		pool_clear(&c->pools[i]);
	free(c->pools);
	c->pools = NULL;
	c->npools = 0;
}

static void
default_pools(struct config *c)
{
	pools_free(c);
	c->pools = xcalloc(1, sizeof(*c->pools));
	c->npools = 1;
	c->pools[0].name = xstrdup("local");
	c->pools[0].backend = xstrdup("local");
	c->pools[0].gpus = CONFIG_GPUS_AUTO;
}

static int
read_pools(struct yamlx *x, const yaml_node_t *v, struct config *c)
{
	struct pool_nodes seen[CONFIG_POOLS_MAX];
	const yaml_node_t *n;
	yaml_node_item_t *it;
	char q[YAMLX_QUOTE_BUF];
	size_t npools, i;

	if (yamlx_is_null(v)) {
		default_pools(c);
		return 0;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return yamlx_errat(x, v->start_mark, "pools must be a sequence "
		    "of pools, got %s", yamlx_describe(v, q, sizeof(q)));
	npools = (size_t)(v->data.sequence.items.top -
	    v->data.sequence.items.start);
	if (npools == 0)
		return yamlx_errat(x, v->start_mark, "pools must list at least "
		    "one pool");
	if (npools > CONFIG_POOLS_MAX)
		return yamlx_errat(x, v->start_mark, "pools has %zu entries, "
		    "at most %d", npools, CONFIG_POOLS_MAX);
	pools_free(c);
	c->pools = xcalloc(npools, sizeof(*c->pools));
	c->npools = npools;
	for (i = 0; i < npools; i++)
		c->pools[i].gpus = CONFIG_GPUS_AUTO;
	memset(seen, 0, sizeof(seen));
	for (i = 0, it = v->data.sequence.items.start; i < npools; i++, it++) {
		if ((n = yamlx_node(x, *it)) == NULL)
			return yamlx_errat(x, v->start_mark,
			    "malformed sequence");
		if (read_pool(x, c, i, n, seen) == -1)
			return -1;
	}
	return 0;
}

/* The config itself */

static int
read_top(struct yamlx *x, const yaml_node_t *n, struct config *c)
{
	const yaml_node_t *keys[T_NKEYS] = { NULL };
	const yaml_node_t *k, *v;
	yaml_node_pair_t *pr;
	char q[YAMLX_QUOTE_BUF];
	size_t i;
	int rc;

	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	    pr++) {
		if (yamlx_pair(x, n, pr, "", &k, &v) == -1)
			return -1;
		for (i = 0; i < T_NKEYS; i++)
			if (yamlx_is_scalar(k, top_keys[i]))
				break;
		if (i == T_NKEYS)
			return yamlx_errat(x, k->start_mark, "unknown key %s "
			    "(expected one of: listen, state_dir, log_file, "
			    "pools, api)", yamlx_describe(k, q, sizeof(q)));
		if (keys[i] != NULL)
			return yamlx_errat(x, k->start_mark, "duplicate key %s "
			    "(first at line %zu)",
			    yamlx_describe(k, q, sizeof(q)),
			    keys[i]->start_mark.line + 1);
		keys[i] = k;
		switch ((enum top_key)i) {
		case T_LISTEN:
			rc = read_listen(x, v, &c->listen);
			break;
		case T_STATE_DIR:
			rc = read_path(x, "state_dir", v, false,
			    &c->state_dir);
			break;
		case T_LOG_FILE:
			rc = read_path(x, "log_file", v, true, &c->log_file);
			break;
		case T_POOLS:
			rc = read_pools(x, v, c);
			break;
		case T_API:
			rc = read_api(x, v, c);
			break;
		default:
			ASSERT(!"unknown top key");
			rc = -1;
		}
		if (rc == -1)
			return -1;
	}
	return 0;
}

struct config *
config_default(void)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->listen = xstrdup(CONFIG_DEFAULT_LISTEN);
	c->state_dir = xstrdup(CONFIG_DEFAULT_STATE_DIR);
	c->log_file = NULL;
	c->open_reads = true;
	default_pools(c);
	return c;
}

/* The top of a config; an empty one keeps every default. */
static int
read_root(struct yamlx *x, const yaml_node_t *root, void *arg)
{
	return root != NULL ? read_top(x, root, arg) : 0;
}

static const struct yamlx_doc config_doc = {
	"config", CONFIG_TEXT_MAX, "listen: 127.0.0.1:8780", read_root,
};

/* c, read with rc: kept in *out, or freed (on error, or out NULL). */
static int
config_done(struct config *c, int rc, struct config **out)
{
	if (rc == -1 || out == NULL) {
		config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int
config_parse(const char *text, size_t len, const char *fname,
    struct config **out, char *err, size_t errlen)
{
	struct config *c = config_default();

	if (out != NULL)
		*out = NULL;
	return config_done(c, yamlx_read_text(&config_doc, text, len, fname,
	    c, err, errlen), out);
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	struct config *c = config_default();

	if (out != NULL)
		*out = NULL;
	return config_done(c, yamlx_read_path(&config_doc, path, c, err,
	    errlen), out);
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->listen);
	free(c->state_dir);
	free(c->log_file);
	pools_free(c);
	free(c);
}

const struct config_pool *
config_pool(const struct config *c, const char *name)
{
	size_t i;

	if (c == NULL || name == NULL)
		return NULL;
	for (i = 0; i < c->npools; i++)
		if (c->pools[i].name != NULL &&
		    strcmp(c->pools[i].name, name) == 0)
			return &c->pools[i];
	return NULL;
}

static bool
pool_equal(const struct config_pool *a, const struct config_pool *b)
{
	size_t i;

	if (!util_str_eq(a->name, b->name) ||
	    !util_str_eq(a->backend, b->backend) ||
	    a->gpus != b->gpus || a->slots != b->slots ||
	    !util_str_eq(a->partition, b->partition) ||
	    !util_str_eq(a->account, b->account) ||
	    a->gpus_per_job != b->gpus_per_job ||
	    !util_str_eq(a->time_limit, b->time_limit) ||
	    a->retire_before_ms != b->retire_before_ms ||
	    a->nsbatch_args != b->nsbatch_args ||
	    !util_str_eq(a->scheduler_host, b->scheduler_host))
		return false;
	for (i = 0; i < a->nsbatch_args; i++)
		if (!util_str_eq(a->sbatch_args[i], b->sbatch_args[i]))
			return false;
	return true;
}

bool
config_equal(const struct config *a, const struct config *b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	if (!util_str_eq(a->listen, b->listen) ||
	    !util_str_eq(a->state_dir, b->state_dir) ||
	    !util_str_eq(a->log_file, b->log_file) ||
	    a->open_reads != b->open_reads || a->npools != b->npools)
		return false;
	for (i = 0; i < a->npools; i++)
		if (!pool_equal(&a->pools[i], &b->pools[i]))
			return false;
	return true;
}

static json_t *
json_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
pool_to_json(const struct config_pool *p)
{
	json_t *o = json_object(), *args;
	char d[32];
	size_t i;

	json_object_set_new(o, "name", json_str(p->name));
	json_object_set_new(o, "backend", json_str(p->backend));
	if (util_str_eq(p->backend, "local")) {
		json_object_set_new(o, "gpus", p->gpus == CONFIG_GPUS_AUTO ?
		    json_string("auto") : json_integer(p->gpus));
		return o;
	}
	json_object_set_new(o, "slots", json_integer(p->slots));
	json_object_set_new(o, "partition", json_str(p->partition));
	json_object_set_new(o, "account", json_str(p->account));
	json_object_set_new(o, "gpus_per_job", json_integer(p->gpus_per_job));
	json_object_set_new(o, "time_limit", json_str(p->time_limit));
	/* in a shape read_lead() reads back */
	if (p->retire_before_ms % 1000 == 0)
		snprintf(d, sizeof(d), "%llds",
		    (long long)(p->retire_before_ms / 1000));
	else
		snprintf(d, sizeof(d), "%lldms",
		    (long long)p->retire_before_ms);
	json_object_set_new(o, "retire_before_limit", json_string(d));
	args = json_array();
	for (i = 0; i < p->nsbatch_args; i++)
		json_array_append_new(args, json_str(p->sbatch_args[i]));
	json_object_set_new(o, "sbatch_args", args);
	json_object_set_new(o, "scheduler_host", json_str(p->scheduler_host));
	return o;
}

json_t *
config_to_json(const struct config *c)
{
	json_t *o, *pools;
	size_t i;

	if (c == NULL)
		return NULL;
	pools = json_array();
	for (i = 0; i < c->npools; i++)
		json_array_append_new(pools, pool_to_json(&c->pools[i]));
	o = json_object();
	json_object_set_new(o, "listen", json_str(c->listen));
	json_object_set_new(o, "state_dir", json_str(c->state_dir));
	json_object_set_new(o, "log_file", json_str(c->log_file));
	json_object_set_new(o, "pools", pools);
	json_object_set_new(o, "api", json_pack("{s:b}", "open_reads",
	    c->open_reads));
	return o;
}
