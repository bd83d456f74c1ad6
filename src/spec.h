/*
 * spec: an instance spec, read from YAML with the libyaml document API and
 * validated at the edge.  Errors read "file:line:col: message" (line and
 * column 1-based) so an editor can jump to them.
 *
 * A spec file holds one YAML mapping (one instance).  Every field but
 * `name` has a default (see spec_default()):
 *
 *   name: xgb                       # [a-z][a-z0-9-]{0,31}
 *   workers: {min: 1, max: 8, gpus: 1, threads: 1, memory: auto,
 *             command: auto, imports: "", type: auto,
 *             device_memory_limit: "", rmm_pool_size: ""}
 *   scaling: {interval: 1s, idle_timeout: 30s, scale_down_delay: 10s,
 *             start_timeout: 60s, gpu_idle_util: 5}
 *                                   # idle_timeout: auto (SPEC_AUTO_MS)
 *   sharing: {owned: 0, share: 1, reclaim_grace: 30s}
 *   scheduler: {host: 127.0.0.1, port: 0, dashboard_port: 0}
 *   notebook: {enabled: false, port: 0}
 *   security: {tls: on}
 *   pool: local
 *   python: auto                    # spec_python_auto()
 *   env: {KEY: value}
 */
#ifndef EDASK_SPEC_H
#define EDASK_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPEC_NAME_MAX	32	/* longest name, without the NUL */
#define SPEC_MAX_ALL	0	/* workers.max not given: all slots of the pool */
/* scaling.idle_timeout: auto, learned from what a new worker costs to
 * start (instance_idle_timeout(), ctl_int.h) */
#define SPEC_AUTO_MS	(-1)

struct spec_env {
	char	*key;
	char	*value;
};

struct spec {
	char	*name;
	struct {
		int	 min;		/* >= 0 */
		int	 max;		/* >= 1, or SPEC_MAX_ALL */
		int	 gpus;		/* GPUs per worker, >= 0 (0: CPU only) */
		int	 threads;	/* >= 1 */
		int64_t	 memory;	/* bytes per worker; 0 = auto */
		char	*command;	/* "auto", or a command line */
		char	*imports;	/* modules the worker forker imports:
					   "xgboost, cupy"; "" for none */
		char	*type;		/* "auto", "dask" or "dask-cuda" */
		char	*device_memory_limit;	/* dask-cuda's; "" unset */
		char	*rmm_pool_size;		/* dask-cuda's; "" unset */
	} workers;
	struct {
		int64_t	 interval_ms;
		int64_t	 idle_timeout_ms;	/* or SPEC_AUTO_MS */
		int64_t	 scale_down_delay_ms;
		int64_t	 start_timeout_ms;
		int	 gpu_idle_util;	/* percent, 0..100 */
	} scaling;
	struct {
		int	 owned;
		int	 share;		/* weight, >= 1 */
		int64_t	 reclaim_grace_ms;
	} sharing;
	struct {
		char	*host;
		int	 port;		/* 0: pick a free port */
		int	 dashboard_port;
	} scheduler;
	struct {
		bool	 enabled;	/* a Jupyter server for this instance */
		int	 port;		/* 0: pick a free port */
	} notebook;
	struct {
		bool	 tls;		/* tls:// with the instance's own
					 * credentials (default on) */
	} security;
	char	*pool;
	char	*python;
	size_t	 nenv;
	struct spec_env *env;
};

enum spec_worker_type {
	SPEC_WORKER_AUTO,	/* dask-cuda where installed and GPUs are seen */
	SPEC_WORKER_DASK,	/* distributed's worker */
	SPEC_WORKER_DASK_CUDA,	/* dask-cuda's worker (one nanny, one GPU) */
};

/* workers.type as an enum spec_worker_type, or -1 when not a type. */
int spec_worker_type(const char *s);
/* What `python: auto` resolves to (borrowed; the environment's or a
 * built-in string). */
const char *spec_python_auto(void);

/* New spec with every default; name is copied. */
struct spec *spec_default(const char *name);

/*
 * Parses and validates YAML text.  On success returns 0 and a new spec in
 * *out (caller frees with spec_free).  On failure returns -1 and writes
 * "fname:line:col: message" to err.  Never crashes on any input.
 */
int spec_parse(const char *text, size_t len, const char *fname,
    struct spec **out, char *err, size_t errlen);
/* Reads path and calls spec_parse(); I/O errors read "path: strerror". */
int spec_load(const char *path, struct spec **out, char *err, size_t errlen);

void spec_free(struct spec *s);		/* NULL is a no-op */
struct spec *spec_dup(const struct spec *s);
/* True when both specs say the same thing. */
bool spec_equal(const struct spec *a, const struct spec *b);

/* New JSON object with every field (durations as "30s" strings, memory as
 * bytes or "auto"); the shape round-trips through spec_parse. */
json_t *spec_to_json(const struct spec *s);

/*
 * The fields that differ between old and new and need a restart,
 * comma-separated, into buf ("" when none): "workers.threads, python".
 * A section that restarts as one is named whole ("scheduler",
 * "security"); every other field applies live (workers.min, workers.max,
 * scaling.*, sharing.*, notebook.enabled).
 */
void spec_restart_fields(const struct spec *old, const struct spec *new,
    char *buf, size_t len);

/*
 * The table a spec is read, defaulted, copied, compared and printed from
 * (see spec.c), row by row for tests and tools.  A section's own row
 * ("workers") comes before the rows of its keys.  All strings are static.
 */
struct spec_field {
	const char	*path;		/* "workers.min", "workers", "env" */
	const char	*type;		/* "int", "duration", "section", ... */
	const char	*restart;	/* NULL: a change applies live; else
					 * what spec_restart_fields() names
					 * it: the path, or its section's */
};
/* Row i (from 0) into *f; false past the last row. */
bool spec_field_at(size_t i, struct spec_field *f);

/*
 * Readers of one YAML value, shared with the daemon config: 0, or -1 with
 * the error set through yamlx (see yamlx.h).  path names the key in the
 * message.
 */
struct yamlx;
struct yaml_node_s;
/* An integer in [lo, hi] into *dst; pre and post are words around "an
 * integer >= lo" in the message, for what else the caller takes (""). */
int spec_read_int(struct yamlx *x, const char *path,
    const struct yaml_node_s *v, int64_t lo, int64_t hi, const char *pre,
    const char *post, int *dst);
/* A name as spec_name_valid() has it; *dst replaced by a new string. */
int spec_read_name(struct yamlx *x, const char *path,
    const struct yaml_node_s *v, char **dst);
/* A non-empty string that yamlx_check_text() takes (at most max bytes);
 * nothing is kept: what to keep of it is the caller's. */
int spec_check_text(struct yamlx *x, const char *path,
    const struct yaml_node_s *v, size_t max);
/* true or false (not YAML 1.1's yes, no, on, off). */
int spec_read_bool(struct yamlx *x, const char *path,
    const struct yaml_node_s *v, bool *dst);

/* Parsers shared with the daemon config: 0 or -1. */
int spec_parse_duration(const char *s, int64_t *ms);	/* 500ms 1s 2m 1h 1.5s */
int spec_parse_size(const char *s, int64_t *bytes);	/* 4GiB 512MB 1024 */
bool spec_name_valid(const char *name);
/* workers.imports: dotted module names separated by commas. */
bool spec_imports_valid(const char *s);

#endif
