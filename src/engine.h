/*
 * engine: what the controller asks of Dask's side, in one table: the
 * probe of an instance's Python, the start of its scheduler process, and
 * the scheduler's HTTP client (dask.h).  The daemon runs engine_dask (the
 * real ones); the controller's unit tests and the simulator (bench/sim)
 * run tests/fake/fake_ctl.h's table, with canned answers, so that deploy,
 * scale-up, retirement, reclaim and restore are driven without Python.
 */
#ifndef EDASK_ENGINE_H
#define EDASK_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dask.h"

struct http;
struct launch_cmd;
struct pyprobe;

struct engine_ops {
	/* pyprobe_run() */
	int	(*probe)(const char *python, char **env, const char *dir,
		    struct pyprobe *out, char *err, size_t errlen);
	/* launch_spawn() of the scheduler */
	pid_t	(*spawn_scheduler)(const struct launch_cmd *cmd, char *err,
		    size_t errlen);
	/* dask.h, call for call */
	struct dask *(*client_new)(struct http *h, const char *base);
	void	(*client_free)(struct dask *d);
	void	(*health)(struct dask *d, int64_t timeout_ms,
		    dask_health_cb cb, void *arg);
	int	(*observe)(struct dask *d, int64_t timeout_ms, dask_obs_cb cb,
		    void *arg);
	void	(*retire)(struct dask *d, const char *address,
		    int64_t timeout_ms, dask_retire_cb cb, void *arg);
	void	(*drain)(struct dask *d, const char *address, bool drain,
		    int64_t timeout_ms, dask_drain_cb cb, void *arg);
	void	(*changes)(struct dask *d, int64_t since, int64_t wait_ms,
		    dask_changes_cb cb, void *arg);
	void	(*cancel)(struct dask *d, void *arg);
};

/* The real one: pyprobe, launch and dask. */
extern const struct engine_ops engine_dask;

#endif
