/*
 * child: a short command run for what it prints (sbatch, squeue,
 * scancel), without blocking the loop.  stdin is /dev/null; stdout and
 * stderr come back through pipes the loop reads; a deadline kills it.
 */
#ifndef EDASK_CHILD_H
#define EDASK_CHILD_H

#include <stddef.h>
#include <stdint.h>

#define CHILD_OUT_MAX	(64 * 1024 * 1024)	/* stdout kept, at most */
#define CHILD_ERR_MAX	4096			/* stderr kept, at most */

struct loop;
struct child;

/*
 * Called once when the command has ended and both pipes are closed.
 * status: its exit code (0..255), or -1 when it was killed (a signal, its
 * deadline) or printed more than CHILD_OUT_MAX.  out: stdout, NUL
 * terminated (borrowed for the call).  msg: a one-line summary for
 * errors: stderr's last non-empty line, or what went wrong ("sbatch
 * timed out after 30000 ms", "sbatch exited with status 1", "sbatch exited
 * on signal 9 (Killed)": util_exit_text()); "" on success.
 */
typedef void (*child_cb)(int status, const char *out, size_t outlen,
    const char *msg, void *arg);

/*
 * Starts argv (argv[0] searched in PATH) with environ plus env (extra
 * "KEY=VALUE", later ones winning; may be NULL), through launch_spawn_fds()
 * in the daemon's session; SIGKILL after timeout_ms (> 0) unless it has
 * exited.
 * Returns a handle, or NULL with err when it cannot start (no such
 * command): then cb is never called.
 */
struct child *child_run(struct loop *l, char *const argv[], char *const env[],
    int64_t timeout_ms, child_cb cb, void *arg, char *err, size_t errlen);

/* Kills the command (SIGKILL) and frees the handle; cb is not called. */
void child_cancel(struct child *c);

#endif
