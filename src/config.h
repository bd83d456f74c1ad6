/*
 * config: the daemon config (edask serve -c FILE, edask up -c FILE,
 * edask check -c FILE), read from YAML and validated at the edge like a
 * spec.  Errors read "file:line:col: message" (line and column 1-based).
 *
 * One YAML mapping; every key has a default (see config_default()), so an
 * empty file is a valid config:
 *
 *   listen: 127.0.0.1:8780       # HOST:PORT or [v6]:PORT, port 0..65535
 *   state_dir: /var/lib/edask    # absolute path
 *   log_file: /var/log/edask.log # absolute path; absent or null: stderr
 *   pools:                       # default: one local pool, gpus auto
 *     - {name: local, backend: local, gpus: auto}  # auto (NVML) | 1..1024
 *     - name: cluster
 *       backend: slurm
 *       slots: 16                # most GPUs held through Slurm, required
 *       partition: gpu           # optional
 *       account: team-a          # optional, sbatch --account
 *       gpus_per_job: 1          # GPUs of one worker (one job); slots
 *                                # must be a multiple of it
 *       time_limit: "8:00:00"    # optional, Slurm's [D-]H:M:S shapes
 *       sbatch_args: []          # optional, extra arguments to sbatch
 *       scheduler_host: 10.0.0.5 # required: how compute nodes reach us
 *   api:
 *     open_reads: true           # false: every read but /healthz needs
 *                                # the token, on loopback too
 *
 * Pool names follow spec_name_valid() and are unique; backend is local or
 * slurm (both required); at most one local pool.
 */
#ifndef EDASK_CONFIG_H
#define EDASK_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CONFIG_DEFAULT_LISTEN		"127.0.0.1:8780"
#define CONFIG_DEFAULT_STATE_DIR	"/var/lib/edask"
#define CONFIG_GPUS_AUTO		(-1)	/* config_pool.gpus: NVML */
#define CONFIG_GPUS_MAX			1024
#define CONFIG_SLOTS_MAX		100000
#define CONFIG_POOLS_MAX		64
#define CONFIG_GPUS_PER_JOB_MAX		64

/*
 * Every string and array below is owned by the struct config it hangs
 * from and freed by config_free(); pointers into it are borrowed.
 */
struct config_pool {
	char	 *name;			/* spec_name_valid() */
	char	 *backend;		/* "local" or "slurm" */
	/* local pools */
	int	  gpus;			/* CONFIG_GPUS_AUTO or 1..1024; 0 on
					 * slurm pools */
	/* slurm pools (zero/NULL on local ones) */
	int	  slots;		/* 1..CONFIG_SLOTS_MAX */
	char	 *partition;		/* NULL: the cluster's default */
	char	 *account;		/* NULL: the user's default */
	int	  gpus_per_job;		/* 1..CONFIG_GPUS_PER_JOB_MAX */
	char	 *time_limit;		/* as written; NULL: partition's */
	int64_t	  time_limit_s;		/* of time_limit; 0: not written */
	int64_t	  retire_before_ms;	/* retire_before_limit: a worker is
					 * retired that long before its job's
					 * time_limit; 0: never */
	char	**sbatch_args;		/* nsbatch_args strings */
	size_t	  nsbatch_args;
	char	 *scheduler_host;
};

struct config {
	char			*listen;	/* "HOST:PORT", "[v6]:PORT" */
	char			*state_dir;	/* absolute */
	char			*log_file;	/* absolute; NULL: stderr */
	struct config_pool	*pools;		/* npools >= 1 */
	size_t			 npools;
	bool			 open_reads;	/* api.open_reads: reads on
						 * loopback without the token */
};

/* New config with every default; caller frees with config_free(). */
struct config *config_default(void);

/*
 * Parses and validates YAML text.  On success returns 0 and a new config
 * in *out (caller frees with config_free(); out may be NULL to only
 * check).  On failure returns -1, *out NULL, and "fname:line:col:
 * message" in err.  Never crashes on any input.
 */
int config_parse(const char *text, size_t len, const char *fname,
    struct config **out, char *err, size_t errlen);
/* Reads path and calls config_parse(); I/O errors read "path: strerror". */
int config_load(const char *path, struct config **out, char *err,
    size_t errlen);

void config_free(struct config *c);	/* NULL is a no-op */

/* The pool called name, borrowed from c; NULL if none. */
const struct config_pool *config_pool(const struct config *c,
    const char *name);

/* True when both configs say the same thing. */
bool config_equal(const struct config *a, const struct config *b);

/*
 * New JSON object with every field (log_file null for stderr, gpus
 * "auto" or a number, unset slurm options null); the shape reads back
 * through config_parse() to an equal config.
 */
json_t *config_to_json(const struct config *c);

#endif
