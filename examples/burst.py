#!/usr/bin/python3
"""A bursty Dask job, as a user would run it against an edask instance.

    examples/burst.py [SCHEDULER_ADDRESS]      (or DASK_SCHEDULER_ADDRESS)

Persists a small dataset, then runs a burst of GPU-sized tasks (each asks
for resources={"GPU": 1} when the workers offer GPUs) and reduces over the
dataset once the burst is done, printing progress as it goes.
"""
import os
import sys
import time

import distributed


def step(i):
    time.sleep(0.5)
    return i * i


def resources(dask_scheduler):
    return [dict(ws.resources) for ws in dask_scheduler.workers.values()]


def main():
    addr = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DASK_SCHEDULER_ADDRESS")
    if not addr:
        sys.exit("usage: burst.py SCHEDULER_ADDRESS (or set DASK_SCHEDULER_ADDRESS)")
    n = int(os.environ.get("BURST_TASKS", "120"))
    with distributed.Client(addr, timeout=30) as c:
        # asked of the scheduler: c.scheduler_info() is the client's cache,
        # which its own periodic refresh empties now and then
        info = c.run_on_scheduler(resources)
        gpu = any("GPU" in r for r in info)
        res = {"GPU": 1} if gpu else None
        print("burst: %d worker(s) at start; submitting %d tasks of 0.5 s%s"
              % (len(info), n, " (GPU)" if gpu else ""), flush=True)
        t0 = time.time()
        futs = c.map(step, range(n), resources=res, pure=False)
        done = 0
        for _ in distributed.as_completed(futs):
            done += 1
            if done % (n // 6 or 1) == 0 or done == n:
                print("burst: %3d/%d done, %d worker(s), %.1fs"
                      % (done, n, len(c.nthreads()),
                         time.time() - t0), flush=True)
        total = sum(c.gather(futs))
        assert total == sum(i * i for i in range(n))
        print("burst: finished in %.1fs (result %d)" % (time.time() - t0, total),
              flush=True)


if __name__ == "__main__":
    main()
