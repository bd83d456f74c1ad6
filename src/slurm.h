/*
 * slurm: the Slurm backend's words.  edask talks to Slurm through its
 * commands (sbatch, squeue, scancel), run as child processes by
 * backend_slurm.c, which also builds their argument vectors and the job
 * script.  This module parses what sbatch and squeue print, classifies
 * job states, and writes and reads the comment tag that marks a job as
 * edask's.  What the commands print is untrusted input: the parsers take a
 * length (no NUL needed), bound sizes, check types and never crash
 * (fuzzed by fuzz/fuzz_slurm.c).
 * Pure: no I/O, no clock.  Errors go into err[errlen] (NULL or short is
 * fine) as "squeue: ..." or "sbatch: ...".
 *
 * Job tags.  Every job edask submits carries
 *   name     "edask.<instance>.<worker id>"       (what squeue shows users;
 *                                                   set by backend_slurm.c)
 *   comment  "edask:<daemon id>:<instance>:<worker id>"       (slurm_tag)
 * The daemon id (SLURM_DAEMON_ID_LEN hex digits, STATE/daemon.id) tells
 * apart daemons of the same user; the comment is how a restarted daemon
 * finds its jobs.
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

/* What edask makes of a job's state (slurm_phase_of). */
enum slurm_phase {
	SLURM_PENDING,		/* waits for a start: PENDING, REQUEUED,
				   REQUEUE_HOLD, REQUEUE_FED, RESV_DEL_HOLD */
	SLURM_RUNNING,		/* holds its allocation: RUNNING, CONFIGURING,
				   SUSPENDED, STOPPED, SIGNALING, STAGE_OUT,
				   RESIZING, POWER_UP_NODE, UPDATE_DB; and
				   any state name not known here */
	SLURM_ENDING,		/* COMPLETING, or an ended state flagged
				   COMPLETING (newer Slurm): over, but Slurm
				   still cleans up and holds its resources */
	SLURM_ENDED,		/* over: COMPLETED, CANCELLED, FAILED,
				   TIMEOUT, NODE_FAIL, PREEMPTED, BOOT_FAIL,
				   DEADLINE, OUT_OF_MEMORY, SPECIAL_EXIT,
				   REVOKED */
};

/*
 * One job of `squeue --json`.  Strings are NUL-terminated, valid UTF-8,
 * cut (at a character boundary) when longer than their field; "" when
 * absent or null.
 */
struct slurm_job {
	int64_t		 id;			/* job_id, 1 .. 2^32 - 1 */
	char		 name[SLURM_NAME_MAX];
	char		 comment[SLURM_COMMENT_MAX];
	char		 state[SLURM_STATE_MAX];	/* job_state as given (its
						   first element when an
						   array) */
	enum slurm_phase phase;			/* of state and its flags */
	char		 reason[SLURM_REASON_MAX];	/* state_reason; ""
						   for "None" */
	char		 node[SLURM_NODE_MAX];	/* batch_host, or nodes when
						   batch_host is empty */
	char		 gres[SLURM_GRES_MAX];	/* GPU indexes from gres_detail,
						   e.g. "0", "0,2" or "0-1":
						   whole items only */
	int64_t		 submit_time;		/* unix seconds, 0: unknown */
	int64_t		 start_time;		/* unix seconds; 0: not set,
						   or the job is pending (the
						   value is then Slurm's
						   estimate) */
};

/*
 * Parses the len bytes of buf (NULL when len is 0) that `squeue --json`
 * printed: Slurm 22.05's openapi v0.0.38 shape and later data_parser ones
 * (job_state an array of base state and flags, numbers as {"set",
 * "infinite", "number"} objects; unset or infinite reads as absent).  The
 * root must be an object with a "jobs" array; unknown fields are ignored.
 * An error, with squeue's own first error message when it gave one: bad
 * JSON (duplicate keys included), a reply over 256 MiB, an "errors" that
 * is not an empty array (Slurm 22.05 prints one, with no job and exit
 * status 0, when the controller does not answer), more than
 * SLURM_JOBS_MAX jobs, a job without a job_id in range, or a field of the
 * wrong type.  0 with a new array in *jobs (the caller frees it with
 * free(); NULL when *n is 0) and the count in *n; or -1 with err, *jobs
 * NULL and *n 0.
 */
int slurm_parse_squeue(const char *buf, size_t len, struct slurm_job **jobs,
    size_t *n, char *err, size_t errlen);

/*
 * Parses the len bytes of buf (NULL when len is 0) that `sbatch --parsable`
 * printed: "JOBID" or "JOBID;CLUSTER" (CLUSTER a printable word without
 * blanks or ';'), with blanks and newlines around and nothing else.  0
 * with *id in 1 .. 2^32 - 1, or -1 with *id 0 and err quoting the start of
 * the output.
 */
int slurm_parse_sbatch(const char *buf, size_t len, int64_t *id, char *err,
    size_t errlen);

/*
 * The phase of a job_state name (case sensitive, as Slurm prints it; not
 * NULL).  A name this version does not know is SLURM_RUNNING, so that
 * edask waits rather than replaces the worker.  slurm_parse_squeue() also
 * makes an ended state flagged COMPLETING SLURM_ENDING.
 */
enum slurm_phase slurm_phase_of(const char *state);

/*
 * Comment tags.  slurm_tag() writes "edask:<daemon>:<instance>:<worker>"
 * into buf[len]; daemon is non-empty without ':', instance a valid spec
 * name, worker >= 0, and it must fit (len SLURM_COMMENT_MAX does): these
 * are asserted.  slurm_tag_parse() reads one back: 0 when comment is
 * exactly a tag of daemon with a valid instance name shorter than instlen
 * (copied into inst) and a canonical decimal worker id up to INT_MAX (into
 * *worker); -1 for anything else, with inst "" and *worker -1.  Nothing
 * is allocated; the strings passed in are only read.
 */
void slurm_tag(char *buf, size_t len, const char *daemon,
    const char *instance, int worker);
int slurm_tag_parse(const char *comment, const char *daemon, char *inst,
    size_t instlen, int *worker);

#endif
