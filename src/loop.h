/*
 * loop: the one event loop.  epoll over file descriptors, one timerfd for
 * every timer, a signalfd for signals and a pidfd per watched process, so
 * nothing ever runs in a signal handler and nothing blocks.
 *
 * Callbacks may add or remove any registration, their own included; a
 * removed registration is never called again, even later in the same batch.
 */
#ifndef EDASK_LOOP_H
#define EDASK_LOOP_H

#include <stdint.h>
#include <sys/types.h>

struct loop;

typedef void (*loop_fd_cb)(int fd, uint32_t events, void *arg);
/*
 * A timer's callback returns when it runs next: a delay in ms from now
 * (the same timer, with the same id, is armed again), or LOOP_NOMORE (it
 * is done; its id is stale).  Redis's ae does the same.
 */
#define LOOP_NOMORE	(-1)
typedef int64_t (*loop_timer_cb)(void *arg);
/* Runs once per turn of the loop, after the events of that turn and
 * before it waits again: deferred checks, done once rather than after
 * every event that might need them. */
typedef void (*loop_idle_cb)(void *arg);
/* status: as from waitpid() for a child, -1 for a process that is not
 * ours (its exit status is unknown). */
typedef void (*loop_pid_cb)(pid_t pid, int status, void *arg);
typedef void (*loop_signal_cb)(int signo, void *arg);

struct loop *loop_new(void);
void loop_free(struct loop *l);			/* NULL: no-op */

/* events: EPOLLIN / EPOLLOUT ...; 0 or -1 with errno. */
int loop_fd_add(struct loop *l, int fd, uint32_t events, loop_fd_cb cb,
    void *arg);
int loop_fd_mod(struct loop *l, int fd, uint32_t events);
void loop_fd_del(struct loop *l, int fd);	/* does not close fd */

/* A timer after delay_ms (then as its callback says); returns an id > 0
 * for loop_timer_cancel. */
uint64_t loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_cb cb,
    void *arg);
void loop_timer_cancel(struct loop *l, uint64_t id);	/* 0 or stale: no-op */
/* Cancels the timer *id, if any (0: none), and sets *id to 0. */
void loop_timer_clear(struct loop *l, uint64_t *id);

/*
 * Watches pid through a pidfd; cb once when it exits (reaped if a child).
 * Returns the watch's id (> 0, never reused), or 0 with errno if the
 * process is already gone (ESRCH).  Several watches of one pid are
 * independent: each is removed by its own id, as timers are.
 */
uint64_t loop_pid_watch(struct loop *l, pid_t pid, loop_pid_cb cb,
    void *arg);
void loop_pid_unwatch(struct loop *l, uint64_t id);	/* 0, stale: no-op */

/* cb(arg) before each wait; removed by the same pair. */
void loop_before_sleep(struct loop *l, loop_idle_cb cb, void *arg);
void loop_before_sleep_remove(struct loop *l, loop_idle_cb cb, void *arg);

/* Blocks signo and delivers it through the signalfd. */
int loop_signal(struct loop *l, int signo, loop_signal_cb cb, void *arg);

/* Runs until loop_stop() (called before: returns at once), and can be
 * run again after; 0, or -1 on an epoll error. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
