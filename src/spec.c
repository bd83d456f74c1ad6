/*
 * spec: see spec.h.
 *
 * The YAML is loaded whole with the libyaml document API and then walked
 * against fixed tables, one per section, in the manner of Redis's config
 * table: each row names a key, how its value is read and checked, and where
 * it goes in struct spec.  The walk only ever descends as deep as the
 * tables do, so aliases that make the node graph cyclic or share one node
 * many times over cost nothing.
 */
#include "spec.h"
#include "util.h"
#include "yamlx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#define SPEC_TEXT_MAX	(1024 * 1024)	/* longest spec text, in bytes */
#define WORKERS_MAX	1024
#define GPUS_MAX	16
#define THREADS_MAX	256
#define SHARE_MAX	1000
#define PORT_MAX	65535
#define MEMORY_MIN	(INT64_C(64) << 20)
#define MEMORY_MAX	(INT64_C(64) << 40)
#define SECOND_MS	INT64_C(1000)
#define MINUTE_MS	(60 * SECOND_MS)
#define HOUR_MS		(60 * MINUTE_MS)
#define WEEK_MS		(7 * 24 * HOUR_MS)
#define HOST_MAX	255
#define STRING_MAX	4096		/* pool, python */
#define COMMAND_MAX	65536		/* workers.command, env values */
#define ENV_KEY_MAX	256
#define SECTION_MAX	12		/* most keys in one table */

enum ftype {
	F_NAME,		/* char *; spec_name_valid() */
	F_STRING,	/* char *; non-empty text, at most hi bytes */
	F_HOST,		/* char *; as F_STRING, and no blanks */
	F_INT,		/* int in [lo, hi] */
	F_MAX,		/* as F_INT, or null/"all" for SPEC_MAX_ALL */
	F_BOOL,		/* bool; true or false */
	F_SWITCH,	/* bool; on or off (true or false too) */
	F_DURATION,	/* int64_t ms in [lo, hi] */
	F_MEMORY,	/* int64_t bytes in [lo, hi], or "auto" for 0 */
	F_SECTION,	/* mapping read with sub */
	F_ENV,		/* mapping of environment variables */
};

struct section;

struct field {
	const char		*key;
	enum ftype		 type;
	size_t			 off;	/* offsetof(struct spec, ...) */
	int64_t			 lo;
	int64_t			 hi;
	const struct section	*sub;
};

struct section {
	const char		*name;	/* "" at the top level */
	const struct field	*fields;
	size_t			 nfields;
	/* Cross-field checks once every key is read; vals[i] is the value
	 * node of fields[i], or NULL where the key was left out. */
	int			(*check)(struct yamlx *, const struct section *,
				    const struct spec *, const yaml_node_t **);
};

static int	check_workers(struct yamlx *, const struct section *,
		    const struct spec *, const yaml_node_t **);
static int	check_top(struct yamlx *, const struct section *,
		    const struct spec *, const yaml_node_t **);
static bool	cuda_size_valid(const char *, bool);

#define OFF(m)	offsetof(struct spec, m)

static const struct field workers_fields[] = {
	{ "min", F_INT, OFF(workers.min), 0, WORKERS_MAX, NULL },
	{ "max", F_MAX, OFF(workers.max), 1, WORKERS_MAX, NULL },
	{ "gpus", F_INT, OFF(workers.gpus), 0, GPUS_MAX, NULL },
	{ "threads", F_INT, OFF(workers.threads), 1, THREADS_MAX, NULL },
	{ "memory", F_MEMORY, OFF(workers.memory), MEMORY_MIN, MEMORY_MAX,
	    NULL },
	{ "command", F_STRING, OFF(workers.command), 0, COMMAND_MAX, NULL },
	/* lo -1: may be empty ("" is what spec_to_json writes for none) */
	{ "imports", F_STRING, OFF(workers.imports), -1, STRING_MAX, NULL },
	{ "type", F_STRING, OFF(workers.type), 0, STRING_MAX, NULL },
	{ "device_memory_limit", F_STRING, OFF(workers.device_memory_limit),
	    -1, STRING_MAX, NULL },
	{ "rmm_pool_size", F_STRING, OFF(workers.rmm_pool_size), -1,
	    STRING_MAX, NULL },
};

static const struct field scaling_fields[] = {
	{ "interval", F_DURATION, OFF(scaling.interval_ms), 100, HOUR_MS,
	    NULL },
	{ "idle_timeout", F_DURATION, OFF(scaling.idle_timeout_ms), 0,
	    WEEK_MS, NULL },
	{ "scale_down_delay", F_DURATION, OFF(scaling.scale_down_delay_ms), 0,
	    WEEK_MS, NULL },
	{ "start_timeout", F_DURATION, OFF(scaling.start_timeout_ms),
	    SECOND_MS, WEEK_MS, NULL },
	{ "gpu_idle_util", F_INT, OFF(scaling.gpu_idle_util), 0, 100, NULL },
};

static const struct field sharing_fields[] = {
	{ "owned", F_INT, OFF(sharing.owned), 0, WORKERS_MAX, NULL },
	{ "share", F_INT, OFF(sharing.share), 1, SHARE_MAX, NULL },
	{ "reclaim_grace", F_DURATION, OFF(sharing.reclaim_grace_ms), 0,
	    WEEK_MS, NULL },
};

static const struct field scheduler_fields[] = {
	{ "host", F_HOST, OFF(scheduler.host), 0, HOST_MAX, NULL },
	{ "port", F_INT, OFF(scheduler.port), 0, PORT_MAX, NULL },
	{ "dashboard_port", F_INT, OFF(scheduler.dashboard_port), 0, PORT_MAX,
	    NULL },
};

static const struct field notebook_fields[] = {
	{ "enabled", F_BOOL, OFF(notebook.enabled), 0, 0, NULL },
	{ "port", F_INT, OFF(notebook.port), 0, PORT_MAX, NULL },
};

static const struct field security_fields[] = {
	{ "tls", F_SWITCH, OFF(security.tls), 0, 0, NULL },
};

static const struct section workers_section = {
	"workers", workers_fields, ARRAY_LEN(workers_fields), check_workers
};
static const struct section scaling_section = {
	"scaling", scaling_fields, ARRAY_LEN(scaling_fields), NULL
};
static const struct section sharing_section = {
	"sharing", sharing_fields, ARRAY_LEN(sharing_fields), NULL
};
static const struct section scheduler_section = {
	"scheduler", scheduler_fields, ARRAY_LEN(scheduler_fields), NULL
};
static const struct section notebook_section = {
	"notebook", notebook_fields, ARRAY_LEN(notebook_fields), NULL
};
static const struct section security_section = {
	"security", security_fields, ARRAY_LEN(security_fields), NULL
};

static const struct field top_fields[] = {
	{ "name", F_NAME, OFF(name), 0, SPEC_NAME_MAX, NULL },
	{ "workers", F_SECTION, 0, 0, 0, &workers_section },
	{ "scaling", F_SECTION, 0, 0, 0, &scaling_section },
	{ "sharing", F_SECTION, 0, 0, 0, &sharing_section },
	{ "scheduler", F_SECTION, 0, 0, 0, &scheduler_section },
	{ "notebook", F_SECTION, 0, 0, 0, &notebook_section },
	{ "security", F_SECTION, 0, 0, 0, &security_section },
	{ "pool", F_STRING, OFF(pool), 0, STRING_MAX, NULL },
	{ "python", F_STRING, OFF(python), 0, STRING_MAX, NULL },
	{ "env", F_ENV, OFF(env), 0, 0, NULL },
};

static const struct section top_section = {
	"", top_fields, ARRAY_LEN(top_fields), check_top
};

/* Durations and sizes */

/* A non-negative decimal number, kept exact: ip + fp / fscale. */
struct decimal {
	uint64_t	 ip;
	uint64_t	 fp;
	uint64_t	 fscale;
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
umul(uint64_t a, uint64_t b, uint64_t *r)
{
	if (a != 0 && b > UINT64_MAX / a)
		return false;
	*r = a * b;
	return true;
}

/* Reads "<digits>[.<digits>]" and points *end past it. */
static int
parse_decimal(const char *s, struct decimal *d, const char **end)
{
	const char *p = s, *f, *fe;

	d->ip = 0;
	d->fp = 0;
	d->fscale = 1;
	if (!is_digit(*p))
		return -1;
	for (; is_digit(*p); p++) {
		if (d->ip > (UINT64_MAX - 9) / 10)
			return -1;
		d->ip = d->ip * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		f = ++p;
		if (!is_digit(*p))
			return -1;
		while (is_digit(*p))
			p++;
		/* Trailing zeros say nothing; more than 18 digits would
		 * overflow fscale and are below any unit's precision. */
		for (fe = p; fe > f && fe[-1] == '0'; fe--)
			;
		if (fe - f > 18)
			return -1;
		for (; f < fe; f++) {
			d->fp = d->fp * 10 + (uint64_t)(*f - '0');
			d->fscale *= 10;
		}
	}
	*end = p;
	return 0;
}

/* d * mult as an exact integer, or -1 (a remainder, or overflow). */
static int
decimal_scale(const struct decimal *d, uint64_t mult, int64_t *out)
{
	uint64_t a, b;

	if (!umul(d->ip, mult, &a) || !umul(d->fp, mult, &b))
		return -1;
	if (b % d->fscale != 0)
		return -1;
	b /= d->fscale;
	if (a > (uint64_t)INT64_MAX || b > (uint64_t)INT64_MAX - a)
		return -1;
	if (out != NULL)
		*out = (int64_t)(a + b);
	return 0;
}

int
spec_parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char	*unit;
		uint64_t	 ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	struct decimal d;
	const char *end;
	size_t i;

	if (s == NULL || parse_decimal(s, &d, &end) == -1)
		return -1;
	for (i = 0; i < ARRAY_LEN(units); i++)
		if (strcmp(end, units[i].unit) == 0)
			return decimal_scale(&d, units[i].ms, ms);
	return -1;
}

int
spec_parse_size(const char *s, int64_t *bytes)
{
	static const struct {
		const char	*unit;
		uint64_t	 mult;
	} units[] = {
		{ "", 1 }, { "b", 1 },
		{ "kb", UINT64_C(1000) }, { "mb", UINT64_C(1000000) },
		{ "gb", UINT64_C(1000000000) },
		{ "tb", UINT64_C(1000000000000) },
		{ "kib", UINT64_C(1) << 10 }, { "mib", UINT64_C(1) << 20 },
		{ "gib", UINT64_C(1) << 30 }, { "tib", UINT64_C(1) << 40 },
	};
	struct decimal d;
	const char *end;
	size_t i;

	if (s == NULL || parse_decimal(s, &d, &end) == -1)
		return -1;
	for (i = 0; i < ARRAY_LEN(units); i++)
		if (strcasecmp(end, units[i].unit) == 0)
			return decimal_scale(&d, units[i].mult, bytes);
	return -1;
}

/* Shortest exact form that spec_parse_duration() reads back. */
static const char *
fmt_ms(int64_t ms, char *buf, size_t len)
{
	long long v = (long long)ms;

	if (ms != 0 && ms % HOUR_MS == 0)
		snprintf(buf, len, "%lldh", v / HOUR_MS);
	else if (ms != 0 && ms % MINUTE_MS == 0)
		snprintf(buf, len, "%lldm", v / MINUTE_MS);
	else if (ms % SECOND_MS == 0)
		snprintf(buf, len, "%llds", v / SECOND_MS);
	else
		snprintf(buf, len, "%lldms", v);
	return buf;
}

static bool
ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/*
 * "a, b.c,d": dotted identifiers, comma separated, blanks around the
 * commas allowed.  At least one name; no empty item.
 */
bool
spec_imports_valid(const char *s)
{
	const char *p = s;

	for (;;) {
		while (*p == ' ')
			p++;
		/* one dotted name */
		for (;;) {
			if (!ident_start(*p))
				return false;
			while (ident_start(*p) || is_digit(*p))
				p++;
			if (*p != '.')
				break;
			p++;
		}
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return true;
		if (*p++ != ',')
			return false;
	}
}

bool
spec_name_valid(const char *name)
{
	size_t i;

	if (name == NULL || name[0] < 'a' || name[0] > 'z')
		return false;
	for (i = 1; name[i] != '\0'; i++) {
		if (i >= SPEC_NAME_MAX)
			return false;
		if ((name[i] < 'a' || name[i] > 'z') && !is_digit(name[i]) &&
		    name[i] != '-')
			return false;
	}
	return true;
}

static bool
env_key_valid(const char *k, size_t n)
{
	size_t i;

	if (n == 0 || n > ENV_KEY_MAX || is_digit(k[0]))
		return false;
	for (i = 0; i < n; i++)
		if (!(k[i] >= 'a' && k[i] <= 'z') &&
		    !(k[i] >= 'A' && k[i] <= 'Z') && !is_digit(k[i]) &&
		    k[i] != '_')
			return false;
	return true;
}

/* Reading the tree */

static void
set_string(char **dst, const yaml_node_t *n)
{
	free(*dst);
	*dst = xstrndup(yamlx_sval(n), n->data.scalar.length);
}

static int read_section(struct yamlx *, const struct section *,
    const yaml_node_t *, struct spec *);
static int read_env(struct yamlx *, const yaml_node_t *, struct spec *);

static int
read_int(struct yamlx *c, const struct field *f, const char *path,
    const yaml_node_t *v, int *dst)
{
	char q[YAMLX_QUOTE_BUF];
	int64_t x;

	if (v->type != YAML_SCALAR_NODE ||
	    yamlx_parse_int(yamlx_sval(v), v->data.scalar.length, &x) == -1 ||
	    x < f->lo)
		return yamlx_errat(c, v->start_mark,
		    "%s must be an integer >= %lld%s, got %s", path,
		    (long long)f->lo, f->type == F_MAX ?
		    " (or null for all slots)" : "",
		    yamlx_describe(v, q, sizeof(q)));
	if (x > f->hi)
		return yamlx_errat(c, v->start_mark,
		    "%s must be an integer <= %lld, got %s", path,
		    (long long)f->hi, yamlx_describe(v, q, sizeof(q)));
	*dst = (int)x;
	return 0;
}

static int
read_duration(struct yamlx *c, const struct field *f, const char *path,
    const yaml_node_t *v, int64_t *dst)
{
	char q[YAMLX_QUOTE_BUF], lo[32], hi[32];
	int64_t x;

	if (v->type != YAML_SCALAR_NODE)
		return yamlx_errat(c, v->start_mark, "%s must be a duration "
		    "(e.g. 500ms, 30s, 2m, 1h), got %s", path,
		    yamlx_describe(v, q, sizeof(q)));
	if (yamlx_has_nul(v) || spec_parse_duration(yamlx_sval(v), &x) == -1)
		return yamlx_errat(c, v->start_mark, "%s: bad duration %s "
		    "(use e.g. 500ms, 30s, 2m, 1h)", path,
		    yamlx_describe(v, q, sizeof(q)));
	if (x < f->lo || x > f->hi)
		return yamlx_errat(c, v->start_mark, "%s must be between %s "
		    "and %s, got %s", path, fmt_ms(f->lo, lo, sizeof(lo)),
		    fmt_ms(f->hi, hi, sizeof(hi)),
		    yamlx_describe(v, q, sizeof(q)));
	*dst = x;
	return 0;
}

static int
read_memory(struct yamlx *c, const struct field *f, const char *path,
    const yaml_node_t *v, int64_t *dst)
{
	char q[YAMLX_QUOTE_BUF];
	int64_t x;

	if (yamlx_is_scalar(v, "auto")) {
		*dst = 0;
		return 0;
	}
	if (v->type != YAML_SCALAR_NODE)
		return yamlx_errat(c, v->start_mark, "%s must be \"auto\" or "
		    "a size (e.g. 512MiB, 4GiB), got %s", path,
		    yamlx_describe(v, q, sizeof(q)));
	if (yamlx_has_nul(v) || spec_parse_size(yamlx_sval(v), &x) == -1)
		return yamlx_errat(c, v->start_mark, "%s: bad size %s (use "
		    "e.g. 512MiB, 4GiB, 2GB, or bytes)", path,
		    yamlx_describe(v, q, sizeof(q)));
	if (x < f->lo || x > f->hi)
		return yamlx_errat(c, v->start_mark, "%s must be \"auto\" or "
		    "a size between 64MiB and 64TiB, got %s", path,
		    yamlx_describe(v, q, sizeof(q)));
	*dst = x;
	return 0;
}

/* YAML 1.1 spellings are refused on purpose: "yes" and "on" read as
 * strings to most tools, so only true and false are booleans here. */
static int
read_bool(struct yamlx *c, const char *path, const yaml_node_t *v, bool *dst)
{
	char q[YAMLX_QUOTE_BUF];

	if (yamlx_is_scalar(v, "true") || yamlx_is_scalar(v, "false")) {
		*dst = yamlx_is_scalar(v, "true");
		return 0;
	}
	return yamlx_errat(c, v->start_mark, "%s must be true or false, got %s",
	    path, yamlx_describe(v, q, sizeof(q)));
}

/* on and off, as the docs write them; true and false as spec_to_json()
 * never does, but JSON writers may. */
static int
read_switch(struct yamlx *c, const char *path, const yaml_node_t *v,
    bool *dst)
{
	char q[YAMLX_QUOTE_BUF];

	if (yamlx_is_scalar(v, "on") || yamlx_is_scalar(v, "true")) {
		*dst = true;
		return 0;
	}
	if (yamlx_is_scalar(v, "off") || yamlx_is_scalar(v, "false")) {
		*dst = false;
		return 0;
	}
	return yamlx_errat(c, v->start_mark, "%s must be on or off, got %s",
	    path, yamlx_describe(v, q, sizeof(q)));
}

static int
read_string(struct yamlx *c, const struct field *f, const char *path,
    const yaml_node_t *v, char **dst)
{
	char q[YAMLX_QUOTE_BUF];
	size_t i;

	if (f->lo < 0 && v->type == YAML_SCALAR_NODE &&
	    v->data.scalar.length == 0 &&
	    v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		set_string(dst, v);		/* an explicit "" */
		return 0;
	}
	if (v->type != YAML_SCALAR_NODE || v->data.scalar.length == 0 ||
	    yamlx_is_null(v))
		return yamlx_errat(c, v->start_mark, "%s must be a non-empty "
		    "string, got %s", path, yamlx_describe(v, q, sizeof(q)));
	if (yamlx_check_text(c, v, path, (size_t)f->hi) == -1)
		return -1;
	if (f->type == F_HOST)
		for (i = 0; i < v->data.scalar.length; i++)
			if (strchr(" \t\r\n", yamlx_sval(v)[i]) != NULL)
				return yamlx_errat(c, v->start_mark, "%s must "
				    "be a host name or address, got %s", path,
				    yamlx_describe(v, q, sizeof(q)));
	set_string(dst, v);
	return 0;
}

static int
read_name(struct yamlx *c, const char *path, const yaml_node_t *v, char **dst)
{
	char q[YAMLX_QUOTE_BUF];

	if (v->type != YAML_SCALAR_NODE || yamlx_is_null(v))
		return yamlx_errat(c, v->start_mark, "%s must be a string, "
		    "got %s", path, yamlx_describe(v, q, sizeof(q)));
	if (yamlx_has_nul(v) || !spec_name_valid(yamlx_sval(v)))
		return yamlx_errat(c, v->start_mark, "%s %s is invalid: use "
		    "a-z, 0-9 and '-', starting with a letter, at most %d "
		    "characters",
		    path, yamlx_describe(v, q, sizeof(q)), SPEC_NAME_MAX);
	set_string(dst, v);
	return 0;
}

static int
read_field(struct yamlx *c, const struct field *f, const char *path,
    const yaml_node_t *v, struct spec *s)
{
	char *dst = (char *)s + f->off;

	switch (f->type) {
	case F_NAME:
		return read_name(c, path, v, (char **)(void *)dst);
	case F_STRING:
	case F_HOST:
		return read_string(c, f, path, v, (char **)(void *)dst);
	case F_MAX:
		if (yamlx_is_null(v) || yamlx_is_scalar(v, "all")) {
			*(int *)(void *)dst = SPEC_MAX_ALL;
			return 0;
		}
		return read_int(c, f, path, v, (int *)(void *)dst);
	case F_INT:
		return read_int(c, f, path, v, (int *)(void *)dst);
	case F_BOOL:
		return read_bool(c, path, v, (bool *)(void *)dst);
	case F_SWITCH:
		return read_switch(c, path, v, (bool *)(void *)dst);
	case F_DURATION:
		return read_duration(c, f, path, v, (int64_t *)(void *)dst);
	case F_MEMORY:
		return read_memory(c, f, path, v, (int64_t *)(void *)dst);
	case F_SECTION:
		return read_section(c, f->sub, v, s);
	case F_ENV:
		return read_env(c, v, s);
	}
	ASSERT(!"unknown field type");
	return -1;
}

/* " in workers", or nothing at the top level. */
static const char *
where(const struct section *sec, char *buf, size_t len)
{
	if (sec->name[0] == '\0')
		return "";
	snprintf(buf, len, " in %s", sec->name);
	return buf;
}

/* "min, max, gpus, ...": the keys a section knows. */
static const char *
key_list(const struct section *sec, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < sec->nfields && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
		    i > 0 ? ", " : "", sec->fields[i].key);
	return buf;
}

static int
read_section(struct yamlx *c, const struct section *sec, const yaml_node_t *n,
    struct spec *s)
{
	const yaml_node_t *keys[SECTION_MAX] = { NULL };
	const yaml_node_t *vals[SECTION_MAX] = { NULL };
	const yaml_node_t *k, *v;
	const struct field *f;
	yaml_node_pair_t *p;
	char q[YAMLX_QUOTE_BUF], in[64], path[64], expected[256];
	size_t i;

	ASSERT(sec->nfields <= SECTION_MAX);
	if (yamlx_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return yamlx_errat(c, n->start_mark, "%s must be a mapping, "
		    "got %s", sec->name, yamlx_describe(n, q, sizeof(q)));
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		k = yamlx_node(c, p->key);
		v = yamlx_node(c, p->value);
		if (k == NULL || v == NULL)
			return yamlx_errat(c, n->start_mark,
			    "malformed mapping");
		if (k->type != YAML_SCALAR_NODE)
			return yamlx_errat(c, k->start_mark,
			    "keys%s must be strings, got %s",
			    where(sec, in, sizeof(in)),
			    yamlx_describe(k, q, sizeof(q)));
		for (i = 0; i < sec->nfields; i++)
			if (yamlx_is_scalar(k, sec->fields[i].key))
				break;
		if (i == sec->nfields)
			return yamlx_errat(c, k->start_mark, "unknown key %s%s "
			    "(expected one of: %s)",
			    yamlx_describe(k, q, sizeof(q)),
			    where(sec, in, sizeof(in)),
			    key_list(sec, expected, sizeof(expected)));
		f = &sec->fields[i];
		if (keys[i] != NULL)
			return yamlx_errat(c, k->start_mark, "duplicate key "
			    "%s%s (first at line %zu)",
			    yamlx_describe(k, q, sizeof(q)),
			    where(sec, in, sizeof(in)),
			    keys[i]->start_mark.line + 1);
		keys[i] = k;
		vals[i] = v;
		snprintf(path, sizeof(path), "%s%s%s", sec->name,
		    sec->name[0] != '\0' ? "." : "", f->key);
		if (read_field(c, f, path, v, s) == -1)
			return -1;
	}
	if (sec->check != NULL)
		return sec->check(c, sec, s, vals);
	return 0;
}

static const yaml_node_t *
value_of(const struct section *sec, const yaml_node_t **vals, const char *key)
{
	size_t i;

	for (i = 0; i < sec->nfields; i++)
		if (strcmp(sec->fields[i].key, key) == 0)
			return vals[i];
	ASSERT(!"no such key");
	return NULL;
}

static int
check_workers(struct yamlx *c, const struct section *sec, const struct spec *s,
    const yaml_node_t **vals)
{
	const yaml_node_t *min = value_of(sec, vals, "min");
	const yaml_node_t *imp = value_of(sec, vals, "imports");
	const yaml_node_t *typ = value_of(sec, vals, "type");
	const yaml_node_t *dml = value_of(sec, vals, "device_memory_limit");
	const yaml_node_t *rmm = value_of(sec, vals, "rmm_pool_size");
	char q[YAMLX_QUOTE_BUF];

	if (typ != NULL && spec_worker_type(s->workers.type) == -1)
		return yamlx_errat(c, typ->start_mark, "workers.type %s must be "
		    "auto, dask or dask-cuda", yamlx_describe(typ, q,
		    sizeof(q)));
	if (dml != NULL && !cuda_size_valid(s->workers.device_memory_limit,
	    true))
		return yamlx_errat(c, dml->start_mark, "workers."
		    "device_memory_limit %s must be auto, a size (16GB), a "
		    "fraction of the GPU's memory (0.8), or 0 for no spilling",
		    yamlx_describe(dml, q, sizeof(q)));
	if (rmm != NULL && !cuda_size_valid(s->workers.rmm_pool_size, false))
		return yamlx_errat(c, rmm->start_mark, "workers.rmm_pool_size "
		    "%s must be a size (16GB) or a fraction of the GPU's "
		    "memory (0.9)", yamlx_describe(rmm, q, sizeof(q)));
	if ((dml != NULL && s->workers.device_memory_limit[0] != '\0') ||
	    (rmm != NULL && s->workers.rmm_pool_size[0] != '\0')) {
		if (spec_worker_type(s->workers.type) == SPEC_WORKER_DASK)
			return yamlx_errat(c, (dml != NULL ? dml : rmm)->
			    start_mark, "workers.%s is for dask-cuda workers, "
			    "but workers.type is dask", dml != NULL ?
			    "device_memory_limit" : "rmm_pool_size");
	}
	if (imp != NULL && s->workers.imports[0] != '\0' &&
	    !spec_imports_valid(s->workers.imports)) {
		return yamlx_errat(c, imp->start_mark, "workers.imports %s "
		    "must be Python module names separated by commas (e.g. "
		    "\"xgboost, cupy\")", yamlx_describe(imp, q, sizeof(q)));
	}
	if (s->workers.max != SPEC_MAX_ALL && s->workers.min > s->workers.max) {
		if (min == NULL)
			min = value_of(sec, vals, "max");
		ASSERT(min != NULL);
		return yamlx_errat(c, min->start_mark, "workers.min (%d) is "
		    "greater than workers.max (%d)", s->workers.min,
		    s->workers.max);
	}
	return 0;
}

/*
 * dask-cuda's --device-memory-limit and --rmm-pool-size: a size with a
 * unit ("16GB", "512MiB", "1024"), a fraction of the GPU's memory in
 * (0, 1], and for the limit also "auto" and 0 (no spilling).  "" is "not
 * given".
 */
static bool
cuda_size_valid(const char *v, bool is_limit)
{
	struct decimal d;
	const char *end;
	int64_t bytes;

	if (v[0] == '\0')
		return true;
	if (is_limit && (strcmp(v, "auto") == 0 || strcmp(v, "0") == 0))
		return true;
	if (parse_decimal(v, &d, &end) == 0 && *end == '\0' && d.ip == 0 &&
	    d.fp > 0)
		return true;
	if (parse_decimal(v, &d, &end) == 0 && *end == '\0' && d.ip == 1 &&
	    d.fp == 0 && strchr(v, '.') != NULL)
		return true;
	return spec_parse_size(v, &bytes) == 0 && bytes > 0;
}

int
spec_worker_type(const char *s)
{
	if (s == NULL || strcmp(s, "auto") == 0)
		return SPEC_WORKER_AUTO;
	if (strcmp(s, "dask") == 0)
		return SPEC_WORKER_DASK;
	if (strcmp(s, "dask-cuda") == 0)
		return SPEC_WORKER_DASK_CUDA;
	return -1;
}

#ifndef EDASK_VENV_PYTHON
#define EDASK_VENV_PYTHON	""
#endif

/*
 * What `python: auto` means: $EDASK_PYTHON when set, else the project's
 * .venv/bin/python (its path is built in: make passes it), else Debian's
 * /usr/bin/python3 for a binary installed without the project's tree.
 */
const char *
spec_python_auto(void)
{
	const char *e = getenv("EDASK_PYTHON");

	if (e != NULL && e[0] != '\0')
		return e;
	if (EDASK_VENV_PYTHON[0] != '\0' && access(EDASK_VENV_PYTHON,
	    X_OK) == 0)
		return EDASK_VENV_PYTHON;
	return "/usr/bin/python3";
}

static int
check_top(struct yamlx *c, const struct section *sec, const struct spec *s,
    const yaml_node_t **vals)
{
	const yaml_node_t *py = value_of(sec, vals, "python");
	char q[YAMLX_QUOTE_BUF];

	if (value_of(sec, vals, "name") == NULL)
		return yamlx_errpos(c, 1, 1, "missing required key \"name\"");
	/* a relative path would be checked from the daemon's folder and run
	 * from the instance's */
	if (py != NULL && s->python[0] != '/' &&
	    strchr(s->python, '/') != NULL)
		return yamlx_errat(c, py->start_mark, "python must be auto, an "
		    "absolute path or a command on PATH, got %s (a relative "
		    "path)", yamlx_describe(py, q, sizeof(q)));
	return 0;
}

struct env_ref {
	const char	*key;
	size_t		 idx;
};

static int
env_ref_cmp(const void *a, const void *b)
{
	const struct env_ref *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	if (r != 0)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Duplicates are found by sorting, not by comparing every pair, so a large
 * env stays cheap; the one reported is the first repeat in the file.
 */
static int
env_dups(struct yamlx *c, const struct spec *s, const yaml_node_t **knodes)
{
	struct env_ref *r;
	size_t i, first = 0, dup = SIZE_MAX, orig = 0;

	if (s->nenv < 2)
		return 0;
	r = xcalloc(s->nenv, sizeof(*r));
	for (i = 0; i < s->nenv; i++) {
		r[i].key = s->env[i].key;
		r[i].idx = i;
	}
	qsort(r, s->nenv, sizeof(*r), env_ref_cmp);
	for (i = 1; i < s->nenv; i++) {
		if (strcmp(r[i].key, r[first].key) != 0) {
			first = i;
			continue;
		}
		if (i == first + 1 && r[i].idx < dup) {
			dup = r[i].idx;
			orig = r[first].idx;
		}
	}
	free(r);
	if (dup == SIZE_MAX)
		return 0;
	return yamlx_errat(c, knodes[dup]->start_mark, "duplicate key \"%s\" "
	    "in env (first at line %zu)", s->env[dup].key,
	    knodes[orig]->start_mark.line + 1);
}

static int
read_env(struct yamlx *c, const yaml_node_t *n, struct spec *s)
{
	const yaml_node_t **knodes, *k, *v;
	yaml_node_pair_t *p;
	char q[YAMLX_QUOTE_BUF], path[ENV_KEY_MAX + 8];
	size_t npairs;
	int rc = -1;

	if (yamlx_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return yamlx_errat(c, n->start_mark, "env must be a mapping of "
		    "NAME: value, got %s", yamlx_describe(n, q, sizeof(q)));
	npairs = (size_t)(n->data.mapping.pairs.top -
	    n->data.mapping.pairs.start);
	ASSERT(s->nenv == 0);
	free(s->env);
	s->env = xcalloc(npairs, sizeof(*s->env));
	knodes = xcalloc(npairs, sizeof(*knodes));
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		k = yamlx_node(c, p->key);
		v = yamlx_node(c, p->value);
		if (k == NULL || v == NULL) {
			yamlx_errat(c, n->start_mark, "malformed mapping");
			goto out;
		}
		if (k->type != YAML_SCALAR_NODE) {
			yamlx_errat(c, k->start_mark, "keys in env must be "
			    "strings, got %s", yamlx_describe(k, q, sizeof(q)));
			goto out;
		}
		if (!env_key_valid(yamlx_sval(k), k->data.scalar.length)) {
			yamlx_errat(c, k->start_mark, "env key %s is invalid: "
			    "use A-Z, a-z, 0-9 and '_', not starting with a "
			    "digit",
			    yamlx_describe(k, q, sizeof(q)));
			goto out;
		}
		snprintf(path, sizeof(path), "env.%s", yamlx_sval(k));
		if (v->type != YAML_SCALAR_NODE) {
			yamlx_errat(c, v->start_mark, "%s must be a string, "
			    "got %s", path, yamlx_describe(v, q, sizeof(q)));
			goto out;
		}
		if (yamlx_check_text(c, v, path, COMMAND_MAX) == -1)
			goto out;
		knodes[s->nenv] = k;
		s->env[s->nenv].key = xstrndup(yamlx_sval(k),
		    k->data.scalar.length);
		s->env[s->nenv].value = xstrndup(yamlx_sval(v),
		    v->data.scalar.length);
		s->nenv++;
	}
	rc = env_dups(c, s, knodes);
out:
	free(knodes);
	return rc;
}

/* The spec itself */

struct spec *
spec_default(const char *name)
{
	struct spec *s = xcalloc(1, sizeof(*s));

	s->name = xstrdup(name != NULL ? name : "");
	s->workers.min = 1;
	s->workers.max = SPEC_MAX_ALL;
	s->workers.gpus = 1;
	s->workers.threads = 1;
	s->workers.memory = 0;
	s->workers.command = xstrdup("auto");
	s->workers.imports = xstrdup("");
	s->workers.type = xstrdup("auto");
	s->workers.device_memory_limit = xstrdup("");
	s->workers.rmm_pool_size = xstrdup("");
	s->scaling.interval_ms = SECOND_MS;
	s->scaling.idle_timeout_ms = 30 * SECOND_MS;
	s->scaling.scale_down_delay_ms = 10 * SECOND_MS;
	s->scaling.start_timeout_ms = 60 * SECOND_MS;
	s->scaling.gpu_idle_util = 5;
	s->sharing.owned = 0;
	s->sharing.share = 1;
	s->sharing.reclaim_grace_ms = 30 * SECOND_MS;
	s->scheduler.host = xstrdup("127.0.0.1");
	s->scheduler.port = 0;
	s->scheduler.dashboard_port = 0;
	s->security.tls = true;
	s->pool = xstrdup("local");
	s->python = xstrdup(spec_python_auto());
	s->nenv = 0;
	s->env = NULL;
	return s;
}

int
spec_parse(const char *text, size_t len, const char *fname,
    struct spec **out, char *err, size_t errlen)
{
	const yaml_node_t *root;
	struct spec *s = NULL;
	struct yamlx c;
	char q[YAMLX_QUOTE_BUF];
	int rc = -1;

	if (out != NULL)
		*out = NULL;
	if (yamlx_open(&c, text, len, fname != NULL ? fname : "<spec>", "spec",
	    SPEC_TEXT_MAX, err, errlen, &root) == -1)
		return -1;
	if (root == NULL || yamlx_is_null(root))
		yamlx_errpos(&c, 1, 1, "spec is empty (expected a mapping with "
		    "at least \"name\")");
	else if (root->type != YAML_MAPPING_NODE)
		yamlx_errat(&c, root->start_mark, "spec must be a mapping "
		    "(e.g. name: xgb), got %s",
		    yamlx_describe(root, q, sizeof(q)));
	else {
		s = spec_default("");
		rc = read_section(&c, &top_section, root, s);
		if (rc == 0 && strcmp(s->python, "auto") == 0) {
			free(s->python);
			s->python = xstrdup(spec_python_auto());
		}
	}
	rc = yamlx_close(&c, rc);
	if (rc == -1 || out == NULL) {
		spec_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int
spec_load(const char *path, struct spec **out, char *err, size_t errlen)
{
	char *buf;
	size_t n;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (yamlx_read_file(path, SPEC_TEXT_MAX, &buf, &n, err, errlen) == -1)
		return -1;
	rc = spec_parse(buf, n, path, out, err, errlen);
	free(buf);
	return rc;
}

void
spec_free(struct spec *s)
{
	size_t i;

	if (s == NULL)
		return;
	free(s->name);
	free(s->workers.command);
	free(s->workers.imports);
	free(s->workers.type);
	free(s->workers.device_memory_limit);
	free(s->workers.rmm_pool_size);
	free(s->scheduler.host);
	free(s->pool);
	free(s->python);
	for (i = 0; i < s->nenv; i++) {
		free(s->env[i].key);
		free(s->env[i].value);
	}
	free(s->env);
	free(s);
}

static char *
dup_or_null(const char *p)
{
	return p != NULL ? xstrdup(p) : NULL;
}

struct spec *
spec_dup(const struct spec *s)
{
	struct spec *d;
	size_t i;

	if (s == NULL)
		return NULL;
	d = xmalloc(sizeof(*d));
	*d = *s;
	d->name = dup_or_null(s->name);
	d->workers.command = dup_or_null(s->workers.command);
	d->workers.imports = dup_or_null(s->workers.imports);
	d->workers.type = dup_or_null(s->workers.type);
	d->workers.device_memory_limit =
	    dup_or_null(s->workers.device_memory_limit);
	d->workers.rmm_pool_size = dup_or_null(s->workers.rmm_pool_size);
	d->scheduler.host = dup_or_null(s->scheduler.host);
	d->pool = dup_or_null(s->pool);
	d->python = dup_or_null(s->python);
	d->env = NULL;
	if (s->nenv > 0) {
		d->env = xcalloc(s->nenv, sizeof(*d->env));
		for (i = 0; i < s->nenv; i++) {
			d->env[i].key = dup_or_null(s->env[i].key);
			d->env[i].value = dup_or_null(s->env[i].value);
		}
	}
	return d;
}

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
env_ptr_cmp(const void *a, const void *b)
{
	const struct spec_env *x = *(const struct spec_env *const *)a;
	const struct spec_env *y = *(const struct spec_env *const *)b;
	int r;

	r = strcmp(x->key != NULL ? x->key : "", y->key != NULL ? y->key : "");
	if (r != 0)
		return r;
	return strcmp(x->value != NULL ? x->value : "",
	    y->value != NULL ? y->value : "");
}

/* The environment is a set: the order it was written in says nothing. */
static bool
env_equal(const struct spec *a, const struct spec *b)
{
	const struct spec_env **x, **y;
	size_t i;
	bool eq = true;

	if (a->nenv != b->nenv)
		return false;
	if (a->nenv == 0)
		return true;
	x = xcalloc(a->nenv, sizeof(*x));
	y = xcalloc(b->nenv, sizeof(*y));
	for (i = 0; i < a->nenv; i++) {
		x[i] = &a->env[i];
		y[i] = &b->env[i];
	}
	qsort(x, a->nenv, sizeof(*x), env_ptr_cmp);
	qsort(y, b->nenv, sizeof(*y), env_ptr_cmp);
	for (i = 0; i < a->nenv && eq; i++)
		eq = str_eq(x[i]->key, y[i]->key) &&
		    str_eq(x[i]->value, y[i]->value);
	free(x);
	free(y);
	return eq;
}

bool
spec_equal(const struct spec *a, const struct spec *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return str_eq(a->name, b->name) &&
	    a->workers.min == b->workers.min &&
	    a->workers.max == b->workers.max &&
	    a->workers.gpus == b->workers.gpus &&
	    a->workers.threads == b->workers.threads &&
	    a->workers.memory == b->workers.memory &&
	    str_eq(a->workers.command, b->workers.command) &&
	    str_eq(a->workers.imports, b->workers.imports) &&
	    str_eq(a->workers.type, b->workers.type) &&
	    str_eq(a->workers.device_memory_limit,
	    b->workers.device_memory_limit) &&
	    str_eq(a->workers.rmm_pool_size, b->workers.rmm_pool_size) &&
	    a->scaling.interval_ms == b->scaling.interval_ms &&
	    a->scaling.idle_timeout_ms == b->scaling.idle_timeout_ms &&
	    a->scaling.scale_down_delay_ms == b->scaling.scale_down_delay_ms &&
	    a->scaling.start_timeout_ms == b->scaling.start_timeout_ms &&
	    a->scaling.gpu_idle_util == b->scaling.gpu_idle_util &&
	    a->sharing.owned == b->sharing.owned &&
	    a->sharing.share == b->sharing.share &&
	    a->sharing.reclaim_grace_ms == b->sharing.reclaim_grace_ms &&
	    str_eq(a->scheduler.host, b->scheduler.host) &&
	    a->scheduler.port == b->scheduler.port &&
	    a->scheduler.dashboard_port == b->scheduler.dashboard_port &&
	    a->notebook.enabled == b->notebook.enabled &&
	    a->notebook.port == b->notebook.port &&
	    a->security.tls == b->security.tls &&
	    str_eq(a->pool, b->pool) &&
	    str_eq(a->python, b->python) &&
	    env_equal(a, b);
}

static json_t *
json_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
json_ms(int64_t ms)
{
	char buf[32];

	return json_string(fmt_ms(ms, buf, sizeof(buf)));
}

json_t *
spec_to_json(const struct spec *s)
{
	json_t *o, *w, *sc, *sh, *sd, *nb, *sec, *env;
	size_t i;

	if (s == NULL)
		return NULL;
	w = json_object();
	json_object_set_new(w, "min", json_integer(s->workers.min));
	json_object_set_new(w, "max", s->workers.max == SPEC_MAX_ALL ?
	    json_null() : json_integer(s->workers.max));
	json_object_set_new(w, "gpus", json_integer(s->workers.gpus));
	json_object_set_new(w, "threads", json_integer(s->workers.threads));
	json_object_set_new(w, "memory", s->workers.memory == 0 ?
	    json_string("auto") : json_integer(s->workers.memory));
	json_object_set_new(w, "command", json_str(s->workers.command));
	json_object_set_new(w, "imports", json_str(s->workers.imports));
	json_object_set_new(w, "type", json_str(s->workers.type));
	json_object_set_new(w, "device_memory_limit",
	    json_str(s->workers.device_memory_limit));
	json_object_set_new(w, "rmm_pool_size",
	    json_str(s->workers.rmm_pool_size));

	sc = json_object();
	json_object_set_new(sc, "interval", json_ms(s->scaling.interval_ms));
	json_object_set_new(sc, "idle_timeout",
	    json_ms(s->scaling.idle_timeout_ms));
	json_object_set_new(sc, "scale_down_delay",
	    json_ms(s->scaling.scale_down_delay_ms));
	json_object_set_new(sc, "start_timeout",
	    json_ms(s->scaling.start_timeout_ms));
	json_object_set_new(sc, "gpu_idle_util",
	    json_integer(s->scaling.gpu_idle_util));

	sh = json_object();
	json_object_set_new(sh, "owned", json_integer(s->sharing.owned));
	json_object_set_new(sh, "share", json_integer(s->sharing.share));
	json_object_set_new(sh, "reclaim_grace",
	    json_ms(s->sharing.reclaim_grace_ms));

	nb = json_object();
	json_object_set_new(nb, "enabled", json_boolean(s->notebook.enabled));
	json_object_set_new(nb, "port", json_integer(s->notebook.port));
	sec = json_pack("{s:s}", "tls", s->security.tls ? "on" : "off");
	sd = json_object();
	json_object_set_new(sd, "host", json_str(s->scheduler.host));
	json_object_set_new(sd, "port", json_integer(s->scheduler.port));
	json_object_set_new(sd, "dashboard_port",
	    json_integer(s->scheduler.dashboard_port));

	env = json_object();
	for (i = 0; i < s->nenv; i++)
		if (s->env[i].key != NULL)
			json_object_set_new(env, s->env[i].key,
			    json_str(s->env[i].value));

	o = json_object();
	json_object_set_new(o, "name", json_str(s->name));
	json_object_set_new(o, "workers", w);
	json_object_set_new(o, "scaling", sc);
	json_object_set_new(o, "sharing", sh);
	json_object_set_new(o, "scheduler", sd);
	json_object_set_new(o, "notebook", nb);
	json_object_set_new(o, "security", sec);
	json_object_set_new(o, "pool", json_str(s->pool));
	json_object_set_new(o, "python", json_str(s->python));
	json_object_set_new(o, "env", env);
	return o;
}
