"""Demand from tasks that need a GPU: adaptive_target ignores them once a
worker exists (they sit in no-worker), so edask counts them itself — but
only where a new worker would offer a GPU."""
import time

import pytest

from conftest import up_with_client, wait_for, workers_of


def gpu_task(i):
    import time
    time.sleep(0.5)
    return i


def gpu_tasks(c, n):
    """n tasks of 0.5 s that each need a GPU: futures of gpu_task(0..n-1)."""
    return [c.submit(gpu_task, i, resources={"GPU": 1}, pure=False)
            for i in range(n)]


def observed_ticks(e, n):
    """Waits until the daemon has observed the scheduler n more times."""
    seen = set()

    def more():
        seen.add(e.instance()["scheduler"]["observed_at_ms"])
        return len(seen) > n
    wait_for(more, timeout=30, interval=0.1, what="%d observations" % n)


@pytest.mark.compat
def test_gpu_tasks_do_not_scale_a_cpu_only_instance(edask):
    e, c = up_with_client(edask, 3, min=1, max=3, gpus=0, interval="300ms")
    try:
        futs = gpu_tasks(c, 12)
        wait_for(lambda: e.instance()["scheduler"]["no_worker"] == 12,
                 what="12 no-worker tasks")
        observed_ticks(e, 8)
        inst = e.instance()
        assert len(inst["workers"]) == 1, inst["workers"]
        assert inst["desired"] == 1
        assert "no_worker=12" in inst["reason"]
        assert "lack" in inst["reason"]
        assert len(e.events(kind="scale_up")) == 1     # the initial +1 only
        assert all(not f.done() for f in futs)
    finally:
        c.close()


@pytest.mark.compat
def test_gpu_tasks_scale_a_gpu_instance(edask):
    e, c = up_with_client(edask, 3, min=1, max=3, gpus=1, interval="300ms")
    try:
        futs = gpu_tasks(c, 30)
        e.wait_running(3, timeout=60)
        assert sorted(c.gather(futs)) == list(range(30))
        ups = e.events(kind="scale_up")
        assert len(ups) >= 2
        # each worker offers one GPU, and runs without a nanny (asked of
        # the worker itself: a forked worker's command line is its
        # forker's)
        info = workers_of(c)
        assert len(info) == 3
        assert all(w["resources"] == {"GPU": 1} for w in info.values()), info
        assert all(w["nanny"] is None for w in info.values()), info
    finally:
        c.close()
