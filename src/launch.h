/*
 * launch: starting and stopping the local processes edask runs (Dask
 * schedulers and workers, the notebook server, probes).  Each process gets
 * its own session, so it survives the controller's terminal going away and
 * its whole group can be signalled; stdout and stderr go to a log file;
 * stdin is /dev/null.  Every process edask starts comes from
 * launch_spawn_fds(), the one spawner; every SIGTERM-then-SIGKILL stop from
 * a struct launch_term.
 */
#ifndef EDASK_LAUNCH_H
#define EDASK_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;

struct launch_cmd {
	char	**argv;		/* NULL-terminated; argv[0] searched in PATH */
	char	**env;		/* extra "KEY=VALUE", NULL-terminated; may be
				   NULL.  Later entries win. */
	const char *log_path;	/* appended to; created 0600 */
	const char *cwd;	/* may be NULL */
};

/*
 * Starts cmd in a new session, stdout and stderr appended to its log.
 * Returns the pid, or -1 with err set: a command that cannot be executed
 * (missing, not executable) is reported here ("ARGV0: strerror"), not as a
 * later exit; so are a log file ("LOG: strerror") or a folder ("CWD:
 * strerror") that cannot be opened.
 */
pid_t launch_spawn(const struct launch_cmd *cmd, char *err, size_t errlen);

/*
 * The one spawner, under launch_spawn() and child_run(): posix_spawnp(3)
 * of argv (argv[0] searched in PATH) with environ plus env (as
 * launch_env_merge()), stdin /dev/null, stdout on out_fd, stderr on
 * err_fd, in cwd (NULL: ours), with an empty signal mask and SIGPIPE at
 * its default, in a new session when new_session.  Nothing but 0, 1 and 2
 * is inherited.  glibc reports exec failures to the caller itself: -1
 * with err "ARGV0: strerror", or "CWD: strerror".  out_fd and err_fd stay
 * the caller's to close.
 */
pid_t launch_spawn_fds(char *const argv[], char *const env[], const char *cwd,
    int out_fd, int err_fd, bool new_session, char *err, size_t errlen);

/*
 * Blocking wait for a child, for start-up checks that run before the loop
 * does: up to timeout_ms for pid to exit, then SIGKILL to its group.  The
 * child is reaped either way.  0 with *status (as from waitpid()), 1 when
 * it was killed at the deadline, -1 with errno.
 */
int launch_wait(pid_t pid, int64_t timeout_ms, int *status);

/*
 * New array (free it, not its strings): environ plus the extra
 * "KEY=VALUE" entries (may be NULL), later ones replacing earlier.
 */
char **launch_env_merge(char **extra);
/* Sends sig to the process group of pid (its session); 0 or -1. */
int launch_kill(pid_t pid, int sig);

/*
 * The stop of a process, run by the loop: after wait_ms (0: at once)
 * SIGTERM, then SIGKILL after grace_ms more; grace_ms 0 sends SIGKILL
 * alone (a deadline).  group: to its process group (launch_kill), else to
 * pid alone.
 *
 * It does not watch the pid itself (a second watch of a child would take
 * its exit status from the owner's): the owner's loop_pid_watch() callback
 * calls launch_term_cancel() once the exit is seen, and nothing is sent
 * after that.  cb (may be NULL) is called after each signal a timer sends
 * (sig: SIGTERM or SIGKILL), to say so; it may cancel or free the
 * structure.
 *
 * The structure is the owner's, embedded: zeroed is idle.  A start while
 * one is under way only hastens it: with wait_ms 0, the SIGTERM goes now
 * (again, if it went already), and a SIGKILL deadline already set stays.
 */
typedef void (*launch_term_cb)(pid_t pid, int sig, void *arg);
struct launch_term {
	struct loop	*loop;
	pid_t		 pid;		/* 0: idle */
	bool		 group;
	int		 sent;		/* 0, SIGTERM or SIGKILL */
	int64_t		 grace_ms;
	uint64_t	 timer;
	launch_term_cb	 cb;
	void		*arg;
};
void launch_term_start(struct launch_term *t, struct loop *l, pid_t pid,
    bool group, int64_t wait_ms, int64_t grace_ms, launch_term_cb cb,
    void *arg);
/* The exit was seen, or the process is forgotten: nothing more is sent.
 * Idle: no-op. */
void launch_term_cancel(struct launch_term *t);
/* Started and not cancelled. */
bool launch_term_active(const struct launch_term *t);

/* True when cmd names an executable file (absolute, relative or in PATH). */
bool launch_command_exists(const char *cmd);

/*
 * Process start time (field 22 of /proc/pid/stat, in clock ticks since
 * boot), or 0 when the process does not exist.  With the pid it identifies
 * a process across pid reuse.
 */
uint64_t launch_start_time(pid_t pid);

/* Last lines of a log file, at most max bytes, into buf (for errors). */
const char *launch_log_tail(const char *path, char *buf, size_t max);
/* The last of those lines (borrowed from buf), "" when there is none. */
const char *launch_log_last(const char *path, char *buf, size_t max);

/*
 * Splits a command line as sh(1) would, with wordexp(3): quotes and
 * backslashes, $VAR and ${VAR} from our environment, ~, and patterns
 * matched against files (of our working folder when relative).  Refused,
 * with err saying why: command substitution ($(...), `...`), a variable
 * that is not set, an unquoted | & ; < > ( ) { } or newline, an unmatched
 * quote, no word at all.  The words are appended to *argv / *argc as by
 * launch_argv_push(); on -1 nothing is appended.
 */
int launch_argv_words(const char *line, char ***argv, size_t *argc,
    char *err, size_t errlen);
void launch_argv_push(char ***argv, size_t *argc, const char *arg);
void launch_argv_free(char **argv);
/* A copy of a NULL-terminated vector (NULL: NULL), for launch_argv_free(). */
char **launch_argv_dup(char *const *argv);

#endif
