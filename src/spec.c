/*
 * spec: see spec.h.
 *
 * One table, fields[] below, in the manner of Redis's standardConfig: a row
 * per key, naming its path ("workers.min"), its type, where it goes in
 * struct spec, its default and bounds, and whether a running instance
 * takes a change to it (LIVE) or needs a restart (RESTART).  Everything a
 * field needs follows from its row: spec_default(), spec_dup(),
 * spec_free(), spec_equal(), spec_to_json(), spec_restart_fields() and the
 * parser walk the table, and a row's type (struct ftype) says how each of
 * them is done for it.  Adding a field is one row, and its docs.
 *
 * A section ("workers") is a row of its own, followed by the rows of its
 * keys; the top level is the first row, path "".  The YAML is loaded whole
 * with the libyaml document API and walked against the table, which only
 * ever descends as deep as the table does, so aliases that make the node
 * graph cyclic or share one node many times over cost nothing.
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

/* Row flags.  Every row with a value is LIVE or RESTART. */
#define LIVE		0x01	/* a running instance takes a change */
#define RESTART		0x02	/* a change needs a restart of the instance */
#define WHOLE		0x04	/* sections: a restart names the section
				 * ("scheduler"), not its keys */
#define EMPTY_OK	0x08	/* strings: an explicit "" is a value
				 * (what spec_to_json() writes for none) */

struct field;

/*
 * What a type of row does.  The ops get the whole spec, not only the
 * field's bytes, so that a field held in two members (env and nenv) is no
 * special case.  An op left NULL has nothing to do: copy, when the struct
 * copy spec_dup() starts with is enough; clear, when the field owns no
 * memory; init, equal and to_json only on sections, whose keys have their
 * own rows.
 */
struct ftype {
	const char	*name;		/* for spec_field_at() */
	size_t		 size;		/* numbers, booleans: of the member */
	int		(*read)(struct yamlx *, const struct field *,
			    const yaml_node_t *, struct spec *);
	void		(*init)(const struct field *, struct spec *);
	void		(*copy)(const struct field *, struct spec *,
			    const struct spec *);
	void		(*clear)(const struct field *, struct spec *);
	bool		(*equal)(const struct field *, const struct spec *,
			    const struct spec *);
	json_t		*(*to_json)(const struct field *, const struct spec *);
};

struct field {
	const char		*path;	/* "workers.min"; "" the top level */
	const struct ftype	*type;
	size_t			 off;	/* offsetof(struct spec, ...) */
	int64_t			 def;	/* default: numbers, booleans */
	const char		*defs;	/* default: strings */
	int64_t			 lo;	/* bounds: numbers */
	int64_t			 hi;	/* numbers; strings: most bytes */
	unsigned		 flags;
	/* Sections: cross-field checks once every key is read; vals[i] is
	 * the value node of fields[i], or NULL where the key was left out. */
	int			(*check)(struct yamlx *, const struct spec *,
				    const yaml_node_t **);
};

static const struct ftype t_section;	/* a mapping of rows that follow */
static const struct ftype t_name;	/* char *; spec_name_valid() */
static const struct ftype t_string;	/* char *; non-empty text */
static const struct ftype t_host;	/* char *; as t_string, no blanks */
static const struct ftype t_int;	/* int in [lo, hi] */
static const struct ftype t_max;	/* as t_int, or null/"all" for
					 * SPEC_MAX_ALL */
static const struct ftype t_bool;	/* bool; true or false */
static const struct ftype t_switch;	/* bool; on or off (true, false) */
static const struct ftype t_duration;	/* int64_t ms in [lo, hi] */
static const struct ftype t_duration_auto;	/* the same, or "auto" for
					 * SPEC_AUTO_MS */
static const struct ftype t_memory;	/* int64_t bytes in [lo, hi], or
					 * "auto" for 0 */
static const struct ftype t_env;	/* env and nenv: NAME: value */

static int	check_workers(struct yamlx *, const struct spec *,
		    const yaml_node_t **);
static int	check_top(struct yamlx *, const struct spec *,
		    const yaml_node_t **);
static bool	cuda_size_valid(const char *, bool);

#define OFF(m)	offsetof(struct spec, m)
#define SECTION(p, chk, fl) \
	{ .path = (p), .type = &t_section, .check = (chk), .flags = (fl) }
#define NUM(p, t, m, d, l, h, fl) \
	{ .path = (p), .type = &(t), .off = OFF(m), .def = (d), .lo = (l), \
	  .hi = (h), .flags = (fl) }
#define STR(p, t, m, d, h, fl) \
	{ .path = (p), .type = &(t), .off = OFF(m), .defs = (d), .hi = (h), \
	  .flags = (fl) }

/*
 * The order of the rows is the order of the keys in spec_to_json(), in
 * "expected one of" messages, and of the fields spec_restart_fields()
 * names.  workers.type, device_memory_limit and rmm_pool_size are strings
 * here; check_workers() holds them to their values once the whole section
 * is read.  python's "auto" is spec_python_auto(), resolved once the spec
 * is read (python_resolve()).
 */
static const struct field fields[] = {
	SECTION("", check_top, 0),
	STR("name", t_name, name, "", SPEC_NAME_MAX, LIVE),

	SECTION("workers", check_workers, 0),
	NUM("workers.min", t_int, workers.min, 1, 0, WORKERS_MAX, LIVE),
	NUM("workers.max", t_max, workers.max, SPEC_MAX_ALL, 1, WORKERS_MAX,
	    LIVE),
	NUM("workers.gpus", t_int, workers.gpus, 1, 0, GPUS_MAX, RESTART),
	NUM("workers.threads", t_int, workers.threads, 1, 1, THREADS_MAX,
	    RESTART),
	NUM("workers.memory", t_memory, workers.memory, 0, MEMORY_MIN,
	    MEMORY_MAX, RESTART),
	STR("workers.command", t_string, workers.command, "auto", COMMAND_MAX,
	    RESTART),
	STR("workers.imports", t_string, workers.imports, "", STRING_MAX,
	    RESTART | EMPTY_OK),
	STR("workers.type", t_string, workers.type, "auto", STRING_MAX,
	    RESTART),
	STR("workers.device_memory_limit", t_string,
	    workers.device_memory_limit, "", STRING_MAX, RESTART | EMPTY_OK),
	STR("workers.rmm_pool_size", t_string, workers.rmm_pool_size, "",
	    STRING_MAX, RESTART | EMPTY_OK),

	SECTION("scaling", NULL, 0),
	NUM("scaling.interval", t_duration, scaling.interval_ms, SECOND_MS,
	    100, HOUR_MS, LIVE),
	NUM("scaling.idle_timeout", t_duration_auto, scaling.idle_timeout_ms,
	    30 * SECOND_MS, 0, WEEK_MS, LIVE),
	NUM("scaling.scale_down_delay", t_duration,
	    scaling.scale_down_delay_ms, 10 * SECOND_MS, 0, WEEK_MS, LIVE),
	NUM("scaling.start_timeout", t_duration, scaling.start_timeout_ms,
	    60 * SECOND_MS, SECOND_MS, WEEK_MS, LIVE),
	NUM("scaling.gpu_idle_util", t_int, scaling.gpu_idle_util, 5, 0, 100,
	    LIVE),

	SECTION("sharing", NULL, 0),
	NUM("sharing.owned", t_int, sharing.owned, 0, 0, WORKERS_MAX, LIVE),
	NUM("sharing.share", t_int, sharing.share, 1, 1, SHARE_MAX, LIVE),
	NUM("sharing.reclaim_grace", t_duration, sharing.reclaim_grace_ms,
	    30 * SECOND_MS, 0, WEEK_MS, LIVE),

	SECTION("scheduler", NULL, WHOLE),
	STR("scheduler.host", t_host, scheduler.host, "127.0.0.1", HOST_MAX,
	    RESTART),
	NUM("scheduler.port", t_int, scheduler.port, 0, 0, PORT_MAX, RESTART),
	NUM("scheduler.dashboard_port", t_int, scheduler.dashboard_port, 0, 0,
	    PORT_MAX, RESTART),

	SECTION("notebook", NULL, 0),
	NUM("notebook.enabled", t_bool, notebook.enabled, false, 0, 0, LIVE),
	NUM("notebook.port", t_int, notebook.port, 0, 0, PORT_MAX, RESTART),

	SECTION("security", NULL, WHOLE),
	NUM("security.tls", t_switch, security.tls, true, 0, 0, RESTART),

	STR("pool", t_string, pool, "local", STRING_MAX, RESTART),
	STR("python", t_string, python, "auto", STRING_MAX, RESTART),
	{ .path = "env", .type = &t_env, .flags = RESTART },
};

#define NFIELDS	ARRAY_LEN(fields)
#define ROOT	(&fields[0])

/* The field's bytes in s, as a T. */
#define AT(s, f, T)	((T *)(void *)((char *)(s) + (f)->off))
#define CAT(s, f, T)	((const T *)(const void *)((const char *)(s) + \
			    (f)->off))

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

/* A unit suffix and what one of it is worth. */
struct unit {
	const char	*name;
	uint64_t	 mult;
};

/*
 * s as a decimal and one of the n units after it (the suffix compared by
 * cmp: strcmp or strcasecmp), scaled exactly into *out.
 */
static int
parse_units(const char *s, const struct unit *units, size_t n,
    int (*cmp)(const char *, const char *), int64_t *out)
{
	struct decimal d;
	const char *end;
	size_t i;

	if (s == NULL || parse_decimal(s, &d, &end) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (cmp(end, units[i].name) == 0)
			return decimal_scale(&d, units[i].mult, out);
	return -1;
}

int
spec_parse_duration(const char *s, int64_t *ms)
{
	static const struct unit units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};

	return parse_units(s, units, ARRAY_LEN(units), strcmp, ms);
}

int
spec_parse_size(const char *s, int64_t *bytes)
{
	static const struct unit units[] = {
		{ "", 1 }, { "b", 1 },
		{ "kb", UINT64_C(1000) }, { "mb", UINT64_C(1000000) },
		{ "gb", UINT64_C(1000000000) },
		{ "tb", UINT64_C(1000000000000) },
		{ "kib", UINT64_C(1) << 10 }, { "mib", UINT64_C(1) << 20 },
		{ "gib", UINT64_C(1) << 30 }, { "tib", UINT64_C(1) << 40 },
	};

	return parse_units(s, units, ARRAY_LEN(units), strcasecmp, bytes);
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

/* Reading one value: shared with the daemon config (spec.h) */

static void
set_string(char **dst, const yaml_node_t *n)
{
	free(*dst);
	*dst = xstrndup(yamlx_sval(n), n->data.scalar.length);
}

int
spec_read_int(struct yamlx *c, const char *path, const yaml_node_t *v,
    int64_t lo, int64_t hi, const char *pre, const char *post, int *dst)
{
	char q[YAMLX_QUOTE_BUF];
	int64_t x;

	if (v->type != YAML_SCALAR_NODE ||
	    yamlx_parse_int(yamlx_sval(v), v->data.scalar.length, &x) == -1 ||
	    x < lo)
		return yamlx_errat(c, v->start_mark,
		    "%s must be %san integer >= %lld%s, got %s", path, pre,
		    (long long)lo, post, yamlx_describe(v, q, sizeof(q)));
	if (x > hi)
		return yamlx_errat(c, v->start_mark,
		    "%s must be an integer <= %lld, got %s", path,
		    (long long)hi, yamlx_describe(v, q, sizeof(q)));
	*dst = (int)x;
	return 0;
}

int
spec_read_name(struct yamlx *c, const char *path, const yaml_node_t *v,
    char **dst)
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

int
spec_check_text(struct yamlx *c, const char *path, const yaml_node_t *v,
    size_t max)
{
	char q[YAMLX_QUOTE_BUF];

	if (v->type != YAML_SCALAR_NODE || v->data.scalar.length == 0 ||
	    yamlx_is_null(v))
		return yamlx_errat(c, v->start_mark, "%s must be a non-empty "
		    "string, got %s", path, yamlx_describe(v, q, sizeof(q)));
	return yamlx_check_text(c, v, path, max);
}

/* YAML 1.1 spellings are refused on purpose: "yes" and "on" read as
 * strings to most tools, so only true and false are booleans here. */
int
spec_read_bool(struct yamlx *c, const char *path, const yaml_node_t *v,
    bool *dst)
{
	char q[YAMLX_QUOTE_BUF];

	if (yamlx_is_scalar(v, "true") || yamlx_is_scalar(v, "false")) {
		*dst = yamlx_is_scalar(v, "true");
		return 0;
	}
	return yamlx_errat(c, v->start_mark, "%s must be true or false, got %s",
	    path, yamlx_describe(v, q, sizeof(q)));
}

/* Reading rows: each type's read op */

static int
read_int(struct yamlx *c, const struct field *f, const yaml_node_t *v,
    struct spec *s)
{
	return spec_read_int(c, f->path, v, f->lo, f->hi, "", "",
	    AT(s, f, int));
}

static int
read_max(struct yamlx *c, const struct field *f, const yaml_node_t *v,
    struct spec *s)
{
	if (yamlx_is_null(v) || yamlx_is_scalar(v, "all")) {
		*AT(s, f, int) = SPEC_MAX_ALL;
		return 0;
	}
	return spec_read_int(c, f->path, v, f->lo, f->hi, "",
	    " (or null for all slots)", AT(s, f, int));
}

static int
read_duration(struct yamlx *c, const struct field *f, const yaml_node_t *v,
    struct spec *s)
{
	char q[YAMLX_QUOTE_BUF], lo[32], hi[32];
	int64_t x;

	if (v->type != YAML_SCALAR_NODE)
		return yamlx_errat(c, v->start_mark, "%s must be a duration "
		    "(e.g. 500ms, 30s, 2m, 1h), got %s", f->path,
		    yamlx_describe(v, q, sizeof(q)));
	if (yamlx_has_nul(v) || spec_parse_duration(yamlx_sval(v), &x) == -1)
		return yamlx_errat(c, v->start_mark, "%s: bad duration %s "
		    "(use e.g. 500ms, 30s, 2m, 1h)", f->path,
		    yamlx_describe(v, q, sizeof(q)));
	if (x < f->lo || x > f->hi)
		return yamlx_errat(c, v->start_mark, "%s must be between %s "
		    "and %s, got %s", f->path, fmt_ms(f->lo, lo, sizeof(lo)),
		    fmt_ms(f->hi, hi, sizeof(hi)),
		    yamlx_describe(v, q, sizeof(q)));
	*AT(s, f, int64_t) = x;
	return 0;
}

static int
read_duration_auto(struct yamlx *c, const struct field *f,
    const yaml_node_t *v, struct spec *s)
{
	if (yamlx_is_scalar(v, "auto")) {
		*AT(s, f, int64_t) = SPEC_AUTO_MS;
		return 0;
	}
	return read_duration(c, f, v, s);
}

static int
read_memory(struct yamlx *c, const struct field *f, const yaml_node_t *v,
    struct spec *s)
{
	char q[YAMLX_QUOTE_BUF];
	int64_t x;

	if (yamlx_is_scalar(v, "auto")) {
		*AT(s, f, int64_t) = 0;
		return 0;
	}
	if (v->type != YAML_SCALAR_NODE)
		return yamlx_errat(c, v->start_mark, "%s must be \"auto\" or "
		    "a size (e.g. 512MiB, 4GiB), got %s", f->path,
		    yamlx_describe(v, q, sizeof(q)));
	if (yamlx_has_nul(v) || spec_parse_size(yamlx_sval(v), &x) == -1)
		return yamlx_errat(c, v->start_mark, "%s: bad size %s (use "
		    "e.g. 512MiB, 4GiB, 2GB, or bytes)", f->path,
		    yamlx_describe(v, q, sizeof(q)));
	if (x < f->lo || x > f->hi)
		return yamlx_errat(c, v->start_mark, "%s must be \"auto\" or "
		    "a size between 64MiB and 64TiB, got %s", f->path,
		    yamlx_describe(v, q, sizeof(q)));
	*AT(s, f, int64_t) = x;
	return 0;
}

static int
read_bool(struct yamlx *c, const struct field *f, const yaml_node_t *v,
    struct spec *s)
{
	return spec_read_bool(c, f->path, v, AT(s, f, bool));
}

/* on and off, as the docs write them; true and false as spec_to_json()
 * never does, but JSON writers may. */
static int
read_switch(struct yamlx *c, const struct field *f, const yaml_node_t *v,
    struct spec *s)
{
	char q[YAMLX_QUOTE_BUF];

	if (yamlx_is_scalar(v, "on") || yamlx_is_scalar(v, "true")) {
		*AT(s, f, bool) = true;
		return 0;
	}
	if (yamlx_is_scalar(v, "off") || yamlx_is_scalar(v, "false")) {
		*AT(s, f, bool) = false;
		return 0;
	}
	return yamlx_errat(c, v->start_mark, "%s must be on or off, got %s",
	    f->path, yamlx_describe(v, q, sizeof(q)));
}

static int
read_string(struct yamlx *c, const struct field *f, const yaml_node_t *v,
    struct spec *s)
{
	char q[YAMLX_QUOTE_BUF];
	size_t i;

	if ((f->flags & EMPTY_OK) && v->type == YAML_SCALAR_NODE &&
	    v->data.scalar.length == 0 &&
	    v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		set_string(AT(s, f, char *), v);	/* an explicit "" */
		return 0;
	}
	if (spec_check_text(c, f->path, v, (size_t)f->hi) == -1)
		return -1;
	if (f->type == &t_host)
		for (i = 0; i < v->data.scalar.length; i++)
			if (strchr(" \t\r\n", yamlx_sval(v)[i]) != NULL)
				return yamlx_errat(c, v->start_mark, "%s must "
				    "be a host name or address, got %s",
				    f->path, yamlx_describe(v, q, sizeof(q)));
	set_string(AT(s, f, char *), v);
	return 0;
}

static int
read_name(struct yamlx *c, const struct field *f, const yaml_node_t *v,
    struct spec *s)
{
	return spec_read_name(c, f->path, v, AT(s, f, char *));
}

/* Sections */

/*
 * The key of row f in section sec ("min" for "workers.min" in "workers"),
 * or NULL where f is no key of sec.
 */
static const char *
key_in(const struct field *sec, const struct field *f)
{
	size_t n = strlen(sec->path);
	const char *k;

	if (f == sec)
		return NULL;
	if (n == 0)
		k = f->path;
	else if (strncmp(f->path, sec->path, n) == 0 && f->path[n] == '.')
		k = f->path + n + 1;
	else
		return NULL;
	return strchr(k, '.') == NULL ? k : NULL;
}

/* " in workers", or nothing at the top level. */
static const char *
where(const struct field *sec, char *buf, size_t len)
{
	if (sec->path[0] == '\0')
		return "";
	snprintf(buf, len, " in %s", sec->path);
	return buf;
}

/* "min, max, gpus, ...": the keys a section knows. */
static const char *
key_list(const struct field *sec, char *buf, size_t len)
{
	const struct field *f;
	const char *k;
	size_t o = 0;

	buf[0] = '\0';
	for (f = fields; f < fields + NFIELDS && o < len; f++)
		if ((k = key_in(sec, f)) != NULL)
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
			    o > 0 ? ", " : "", k);
	return buf;
}

/* The row of sec whose key is k's text, or NULL. */
static const struct field *
key_row(const struct field *sec, const yaml_node_t *k)
{
	const struct field *f;
	const char *key;

	for (f = fields; f < fields + NFIELDS; f++)
		if ((key = key_in(sec, f)) != NULL && yamlx_is_scalar(k, key))
			return f;
	return NULL;
}

static int
read_section(struct yamlx *c, const struct field *sec, const yaml_node_t *n,
    struct spec *s)
{
	const yaml_node_t *keys[NFIELDS] = { NULL };
	const yaml_node_t *vals[NFIELDS] = { NULL };
	const yaml_node_t *k, *v;
	const struct field *f;
	yaml_node_pair_t *p;
	char q[YAMLX_QUOTE_BUF], in[64], expected[256];
	size_t i;

	if (yamlx_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return yamlx_errat(c, n->start_mark, "%s must be a mapping, "
		    "got %s", sec->path, yamlx_describe(n, q, sizeof(q)));
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		if (yamlx_pair(c, n, p, where(sec, in, sizeof(in)), &k,
		    &v) == -1)
			return -1;
		if ((f = key_row(sec, k)) == NULL)
			return yamlx_errat(c, k->start_mark, "unknown key %s%s "
			    "(expected one of: %s)",
			    yamlx_describe(k, q, sizeof(q)),
			    where(sec, in, sizeof(in)),
			    key_list(sec, expected, sizeof(expected)));
		i = (size_t)(f - fields);
		if (keys[i] != NULL)
			return yamlx_errat(c, k->start_mark, "duplicate key "
			    "%s%s (first at line %zu)",
			    yamlx_describe(k, q, sizeof(q)),
			    where(sec, in, sizeof(in)),
			    keys[i]->start_mark.line + 1);
		keys[i] = k;
		vals[i] = v;
		if (f->type->read(c, f, v, s) == -1)
			return -1;
	}
	if (sec->check != NULL)
		return sec->check(c, s, vals);
	return 0;
}

/* The row at path; there is one. */
static const struct field *
row(const char *path)
{
	const struct field *f;

	for (f = fields; f < fields + NFIELDS; f++)
		if (strcmp(f->path, path) == 0)
			return f;
	ASSERT(!"no such row");
	return NULL;
}

/* The value node read for path in a section's vals, or NULL. */
static const yaml_node_t *
value_of(const yaml_node_t **vals, const char *path)
{
	return vals[row(path) - fields];
}


static int
check_workers(struct yamlx *c, const struct spec *s, const yaml_node_t **vals)
{
	const yaml_node_t *min = value_of(vals, "workers.min");
	const yaml_node_t *imp = value_of(vals, "workers.imports");
	const yaml_node_t *typ = value_of(vals, "workers.type");
	const yaml_node_t *dml = value_of(vals, "workers.device_memory_limit");
	const yaml_node_t *rmm = value_of(vals, "workers.rmm_pool_size");
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
			min = value_of(vals, "workers.max");
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
check_top(struct yamlx *c, const struct spec *s, const yaml_node_t **vals)
{
	const yaml_node_t *py = value_of(vals, "python");
	char q[YAMLX_QUOTE_BUF];

	if (value_of(vals, "name") == NULL)
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
read_env(struct yamlx *c, const struct field *f, const yaml_node_t *n,
    struct spec *s)
{
	const yaml_node_t **knodes, *k, *v;
	yaml_node_pair_t *p;
	char q[YAMLX_QUOTE_BUF], path[ENV_KEY_MAX + 8];
	size_t npairs;
	int rc = -1;

	if (yamlx_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return yamlx_errat(c, n->start_mark, "%s must be a mapping of "
		    "NAME: value, got %s", f->path,
		    yamlx_describe(n, q, sizeof(q)));
	npairs = (size_t)(n->data.mapping.pairs.top -
	    n->data.mapping.pairs.start);
	ASSERT(s->nenv == 0);
	free(s->env);
	s->env = xcalloc(npairs, sizeof(*s->env));
	knodes = xcalloc(npairs, sizeof(*knodes));
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		if (yamlx_pair(c, n, p, " in env", &k, &v) == -1)
			goto out;
		if (!env_key_valid(yamlx_sval(k), k->data.scalar.length)) {
			yamlx_errat(c, k->start_mark, "env key %s is invalid: "
			    "use A-Z, a-z, 0-9 and '_', not starting with a "
			    "digit",
			    yamlx_describe(k, q, sizeof(q)));
			goto out;
		}
		snprintf(path, sizeof(path), "%s.%s", f->path, yamlx_sval(k));
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

/* What each type of row does, besides reading */

/* Numbers and booleans: their bytes say it (bool is only ever 0 or 1). */
static bool
scalar_equal(const struct field *f, const struct spec *a,
    const struct spec *b)
{
	return memcmp(CAT(a, f, char), CAT(b, f, char), f->type->size) == 0;
}

static void
int_init(const struct field *f, struct spec *s)
{
	*AT(s, f, int) = (int)f->def;
}

static json_t *
int_json(const struct field *f, const struct spec *s)
{
	return json_integer(*CAT(s, f, int));
}

static json_t *
max_json(const struct field *f, const struct spec *s)
{
	int v = *CAT(s, f, int);

	return v == SPEC_MAX_ALL ? json_null() : json_integer(v);
}

static void
i64_init(const struct field *f, struct spec *s)
{
	*AT(s, f, int64_t) = f->def;
}

static json_t *
duration_json(const struct field *f, const struct spec *s)
{
	char buf[32];

	return json_string(fmt_ms(*CAT(s, f, int64_t), buf, sizeof(buf)));
}

static json_t *
duration_auto_json(const struct field *f, const struct spec *s)
{
	return *CAT(s, f, int64_t) == SPEC_AUTO_MS ? json_string("auto") :
	    duration_json(f, s);
}

static json_t *
memory_json(const struct field *f, const struct spec *s)
{
	int64_t v = *CAT(s, f, int64_t);

	return v == 0 ? json_string("auto") : json_integer(v);
}

static void
bool_init(const struct field *f, struct spec *s)
{
	*AT(s, f, bool) = f->def != 0;
}

static json_t *
bool_json(const struct field *f, const struct spec *s)
{
	return json_boolean(*CAT(s, f, bool));
}

static json_t *
switch_json(const struct field *f, const struct spec *s)
{
	return json_string(*CAT(s, f, bool) ? "on" : "off");
}

static char *
dup_or_null(const char *p)
{
	return p != NULL ? xstrdup(p) : NULL;
}

static json_t *
json_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static void
str_init(const struct field *f, struct spec *s)
{
	*AT(s, f, char *) = xstrdup(f->defs);
}

static void
str_copy(const struct field *f, struct spec *d, const struct spec *s)
{
	*AT(d, f, char *) = dup_or_null(*CAT(s, f, char *));
}

static void
str_clear(const struct field *f, struct spec *s)
{
	free(*AT(s, f, char *));
	*AT(s, f, char *) = NULL;
}

static bool
str_equal(const struct field *f, const struct spec *a, const struct spec *b)
{
	return util_str_eq(*CAT(a, f, char *), *CAT(b, f, char *));
}

static json_t *
str_json(const struct field *f, const struct spec *s)
{
	return json_str(*CAT(s, f, char *));
}

static void
env_init(const struct field *f, struct spec *s)
{
	(void)f;
	s->nenv = 0;
	s->env = NULL;
}

static void
env_copy(const struct field *f, struct spec *d, const struct spec *s)
{
	size_t i;

	(void)f;
	d->env = NULL;
	if (s->nenv == 0)
		return;
	d->env = xcalloc(s->nenv, sizeof(*d->env));
	for (i = 0; i < s->nenv; i++) {
		d->env[i].key = dup_or_null(s->env[i].key);
		d->env[i].value = dup_or_null(s->env[i].value);
	}
}

static void
env_clear(const struct field *f, struct spec *s)
{
	size_t i;

	(void)f;
	for (i = 0; i < s->nenv; i++) {
		free(s->env[i].key);
		free(s->env[i].value);
	}
	free(s->env);
	s->env = NULL;
	s->nenv = 0;
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
env_equal(const struct field *f, const struct spec *a, const struct spec *b)
{
	const struct spec_env **x, **y;
	size_t i;
	bool eq = true;

	(void)f;
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
		eq = util_str_eq(x[i]->key, y[i]->key) &&
		    util_str_eq(x[i]->value, y[i]->value);
	free(x);
	free(y);
	return eq;
}

static json_t *
env_json(const struct field *f, const struct spec *s)
{
	json_t *o = json_object();
	size_t i;

	(void)f;
	for (i = 0; i < s->nenv; i++)
		if (s->env[i].key != NULL)
			json_object_set_new(o, s->env[i].key,
			    json_str(s->env[i].value));
	return o;
}

/* A section is equal when every key of it is. */
static bool
section_equal(const struct field *sec, const struct spec *a,
    const struct spec *b)
{
	const struct field *f;

	for (f = fields; f < fields + NFIELDS; f++)
		if (key_in(sec, f) != NULL && !f->type->equal(f, a, b))
			return false;
	return true;
}

/* A section's keys, in the order of the table. */
static json_t *
section_json(const struct field *sec, const struct spec *s)
{
	const struct field *f;
	const char *k;
	json_t *o = json_object();

	for (f = fields; f < fields + NFIELDS; f++)
		if ((k = key_in(sec, f)) != NULL)
			json_object_set_new(o, k, f->type->to_json(f, s));
	return o;
}

/* The ops of each storage, for the types below. */
#define STR_OPS	.init = str_init, .copy = str_copy, .clear = str_clear, \
		.equal = str_equal, .to_json = str_json
#define INT_OPS	.size = sizeof(int), .init = int_init, .equal = scalar_equal
#define I64_OPS	.size = sizeof(int64_t), .init = i64_init, \
		.equal = scalar_equal
#define BOOL_OPS .size = sizeof(bool), .init = bool_init, \
		.equal = scalar_equal

static const struct ftype t_section = { .name = "section",
	.read = read_section, .equal = section_equal, .to_json = section_json };
static const struct ftype t_name = { .name = "name", .read = read_name,
	STR_OPS };
static const struct ftype t_string = { .name = "string",
	.read = read_string, STR_OPS };
static const struct ftype t_host = { .name = "host", .read = read_string,
	STR_OPS };
static const struct ftype t_int = { .name = "int", .read = read_int,
	INT_OPS, .to_json = int_json };
static const struct ftype t_max = { .name = "max", .read = read_max,
	INT_OPS, .to_json = max_json };
static const struct ftype t_bool = { .name = "bool", .read = read_bool,
	BOOL_OPS, .to_json = bool_json };
static const struct ftype t_switch = { .name = "switch",
	.read = read_switch, BOOL_OPS, .to_json = switch_json };
static const struct ftype t_duration = { .name = "duration",
	.read = read_duration, I64_OPS, .to_json = duration_json };
static const struct ftype t_duration_auto = { .name = "duration",
	.read = read_duration_auto, I64_OPS, .to_json = duration_auto_json };
static const struct ftype t_memory = { .name = "size", .read = read_memory,
	I64_OPS, .to_json = memory_json };
static const struct ftype t_env = { .name = "map", .read = read_env,
	.init = env_init, .copy = env_copy, .clear = env_clear,
	.equal = env_equal, .to_json = env_json };

/* The spec itself */

/* python: auto is spec_python_auto(), in a default spec and a read one. */
static void
python_resolve(struct spec *s)
{
	if (strcmp(s->python, "auto") == 0) {
		free(s->python);
		s->python = xstrdup(spec_python_auto());
	}
}

struct spec *
spec_default(const char *name)
{
	struct spec *s = xcalloc(1, sizeof(*s));
	const struct field *f;

	for (f = fields; f < fields + NFIELDS; f++)
		if (f->type->init != NULL)
			f->type->init(f, s);
	free(s->name);
	s->name = xstrdup(name != NULL ? name : "");
	python_resolve(s);
	return s;
}

/* The top of a spec, which has at least a name. */
static int
read_root(struct yamlx *x, const yaml_node_t *root, void *arg)
{
	struct spec *s = arg;

	if (root == NULL)
		return yamlx_errpos(x, 1, 1, "spec is empty (expected a "
		    "mapping with at least \"name\")");
	if (read_section(x, ROOT, root, s) == -1)
		return -1;
	python_resolve(s);
	return 0;
}

static const struct yamlx_doc spec_doc = {
	"spec", SPEC_TEXT_MAX, "name: xgb", read_root,
};

/* s, read with rc: kept in *out, or freed (on error, or out NULL). */
static int
spec_done(struct spec *s, int rc, struct spec **out)
{
	if (rc == -1 || out == NULL) {
		spec_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int
spec_parse(const char *text, size_t len, const char *fname,
    struct spec **out, char *err, size_t errlen)
{
	struct spec *s = spec_default("");

	if (out != NULL)
		*out = NULL;
	return spec_done(s, yamlx_read_text(&spec_doc, text, len, fname, s,
	    err, errlen), out);
}

int
spec_load(const char *path, struct spec **out, char *err, size_t errlen)
{
	struct spec *s = spec_default("");

	if (out != NULL)
		*out = NULL;
	return spec_done(s, yamlx_read_path(&spec_doc, path, s, err, errlen),
	    out);
}

void
spec_free(struct spec *s)
{
	const struct field *f;

	if (s == NULL)
		return;
	for (f = fields; f < fields + NFIELDS; f++)
		if (f->type->clear != NULL)
			f->type->clear(f, s);
	free(s);
}

struct spec *
spec_dup(const struct spec *s)
{
	const struct field *f;
	struct spec *d;

	if (s == NULL)
		return NULL;
	d = xmalloc(sizeof(*d));
	*d = *s;
	for (f = fields; f < fields + NFIELDS; f++)
		if (f->type->copy != NULL)
			f->type->copy(f, d, s);
	return d;
}

bool
spec_equal(const struct spec *a, const struct spec *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return section_equal(ROOT, a, b);
}

json_t *
spec_to_json(const struct spec *s)
{
	if (s == NULL)
		return NULL;
	return section_json(ROOT, s);
}

/* Restarts */

/* True when a and b agree on every RESTART row of f (f itself, or the
 * keys of a section). */
static bool
restart_same(const struct field *f, const struct spec *a,
    const struct spec *b)
{
	const struct field *k;

	if (f->type != &t_section)
		return (f->flags & RESTART) == 0 || f->type->equal(f, a, b);
	for (k = fields; k < fields + NFIELDS; k++)
		if (key_in(f, k) != NULL && !restart_same(k, a, b))
			return false;
	return true;
}

static void
restart_list(const struct field *sec, const struct spec *a,
    const struct spec *b, char *buf, size_t len)
{
	const struct field *f;
	size_t o;

	for (f = fields; f < fields + NFIELDS; f++) {
		if (key_in(sec, f) == NULL)
			continue;
		if (f->type == &t_section && (f->flags & WHOLE) == 0)
			restart_list(f, a, b, buf, len);
		else if (!restart_same(f, a, b)) {
			o = strlen(buf);
			snprintf(buf + o, len - o, "%s%s", o > 0 ? ", " : "",
			    f->path);
		}
	}
}

void
spec_restart_fields(const struct spec *old, const struct spec *new,
    char *buf, size_t len)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	restart_list(ROOT, old, new, buf, len);
}

/* The section row f is a key of; the top level's for top-level keys. */
static const struct field *
parent_of(const struct field *f)
{
	const struct field *p;

	for (p = f - 1; p > fields; p--)
		if (p->type == &t_section && key_in(p, f) != NULL)
			return p;
	return ROOT;
}

bool
spec_field_at(size_t i, struct spec_field *out)
{
	const struct field *f, *p;

	if (i + 1 >= NFIELDS)
		return false;
	f = &fields[i + 1];
	p = parent_of(f);
	out->path = f->path;
	out->type = f->type->name;
	out->restart = NULL;
	if (f->flags & RESTART)
		out->restart = (p->flags & WHOLE) ? p->path : f->path;
	return true;
}
