/*
 * launch: starting and stopping the local processes edask runs (Dask
 * schedulers and workers).  Each process gets its own session, so it
 * survives the controller's terminal going away and its whole group can be
 * signalled; stdout and stderr go to a log file; stdin is /dev/null.
 */
#ifndef EDASK_LAUNCH_H
#define EDASK_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct launch_cmd {
	char	**argv;		/* NULL-terminated; argv[0] searched in PATH */
	char	**env;		/* extra "KEY=VALUE", NULL-terminated; may be
				   NULL.  Later entries win. */
	const char *log_path;	/* appended to; created 0644 */
	const char *cwd;	/* may be NULL */
};

/*
 * Forks and execs.  Returns the pid, or -1 with err set: a command that
 * cannot be executed (missing, not executable) is reported here, not as a
 * later exit, because the child reports exec failures through a
 * close-on-exec pipe.
 */
pid_t launch_spawn(const struct launch_cmd *cmd, char *err, size_t errlen);

/*
 * New array (free it, not its strings): environ plus the extra
 * "KEY=VALUE" entries (may be NULL), later ones replacing earlier.
 */
char **launch_env_merge(char **extra);
/* Sends sig to the process group of pid (its session); 0 or -1. */
int launch_kill(pid_t pid, int sig);

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

/* Splits a command line on blanks (no quoting); new NULL-terminated argv
 * appended to *argv / *argc, which grow with xrealloc. */
void launch_argv_split(const char *line, char ***argv, size_t *argc);
void launch_argv_push(char ***argv, size_t *argc, const char *arg);
void launch_argv_free(char **argv);

#endif
