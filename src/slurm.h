/*
 * slurm: the Slurm backend's words.  edask talks to Slurm through its
 * commands (sbatch, squeue, scancel), run as child processes whose output
 * the loop reads (child.h); this module builds their argument vectors and
 * parses what they print.  Their output is untrusted input: the parsers
 * bound sizes, check types and never crash (fuzzed by fuzz/fuzz_slurm.c).
 * Pure: no I/O.
 *
 * Job tags.  Every job edask submits carries
 *   name     "edask.<instance>.<worker id>"       (what squeue shows users)
 *   comment  "edask:<daemon id>:<instance>:<worker id>"
 * The daemon id (16 hex digits, STATE/daemon.id) tells apart daemons of
 * the same user; the comment is how a restarted daemon finds its jobs.
 */
#ifndef EDASK_SLURM_H
#define EDASK_SLURM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLURM_JOBS_MAX		100000	/* more jobs in one reply: an error */
#define SLURM_NAME_MAX		128	/* job name, longest kept */
#define SLURM_COMMENT_MAX	256
#define SLURM_REASON_MAX	64
#define SLURM_NODE_MAX		128
#define SLURM_STATE_MAX		32
#define SLURM_GRES_MAX		64
#define SLURM_DAEMON_ID_LEN	16

/* What edask makes of a job's state. */
enum slurm_phase {
	SLURM_PENDING,		/* PENDING, REQUEUED, RESV_DEL_HOLD, ... */
	SLURM_RUNNING,		/* RUNNING, CONFIGURING, SUSPENDED, ... */
	SLURM_ENDING,		/* COMPLETING, or an ended state flagged
				   COMPLETING (newer Slurm): over, but Slurm
				   still cleans up and holds its resources */
	SLURM_ENDED,		/* COMPLETED, CANCELLED, FAILED, TIMEOUT,
				   NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE,
				   OUT_OF_MEMORY, ... */
};

/* One job of `squeue --json`. */
struct slurm_job {
	int64_t		 id;			/* job_id, > 0 */
	char		 name[SLURM_NAME_MAX];
	char		 comment[SLURM_COMMENT_MAX];	/* "" when none */
	char		 state[SLURM_STATE_MAX];	/* job_state as given */
	enum slurm_phase phase;
	char		 reason[SLURM_REASON_MAX];	/* state_reason; ""
						   for "None" */
	char		 node[SLURM_NODE_MAX];	/* batch_host or nodes; "" */
	char		 gres[SLURM_GRES_MAX];	/* GPU indexes from gres_detail,
						   e.g. "0" or "0,1"; "" */
	int64_t		 submit_time;		/* unix seconds, 0: unknown */
	int64_t		 start_time;		/* unix seconds, 0: not yet */
};

/*
 * Parses the JSON that `squeue --json` prints (Slurm 22.05's openapi
 * v0.0.38 shape and later ones: an object with a "jobs" array; unknown
 * fields are ignored).  A non-empty "errors" array is an error (Slurm
 * 22.05 prints one, with no job and exit status 0, when the controller
 * does not answer).  A job without a positive integer job_id, or with
 * a string field of the wrong type, makes the whole reply an error; a
 * string longer than its field is cut.  New array in *jobs (free with
 * free(); NULL when *n is 0), count in *n.  0, or -1 with err.
 */
int slurm_parse_squeue(const char *buf, size_t len, struct slurm_job **jobs,
    size_t *n, char *err, size_t errlen);

/*
 * Parses what `sbatch --parsable` prints: "JOBID" or "JOBID;CLUSTER",
 * then an optional newline; blanks around are allowed, nothing else.
 * 0 with *id > 0, or -1 with err.
 */
int slurm_parse_sbatch(const char *buf, size_t len, int64_t *id, char *err,
    size_t errlen);

/* The phase of a job_state name; a name this version does not know is
 * SLURM_RUNNING, so that edask waits rather than replaces the worker. */
enum slurm_phase slurm_phase_of(const char *state);

/*
 * Comment tags.  slurm_tag() writes "edask:<daemon>:<instance>:<worker>"
 * into buf (at least SLURM_COMMENT_MAX).  slurm_tag_parse() reads one
 * back: 0 when comment is a tag of daemon (instance into inst, at least
 * instlen, worker id into *worker), -1 for anything else.
 */
void slurm_tag(char *buf, size_t len, const char *daemon,
    const char *instance, int worker);
int slurm_tag_parse(const char *comment, const char *daemon, char *inst,
    size_t instlen, int *worker);

#endif
