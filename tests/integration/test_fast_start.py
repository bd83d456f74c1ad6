"""Deciding on change, not on the poll: edask's scheduler preload answers
a long poll when work is submitted or a worker comes or goes, and edask
decides at once.  With a 10 s interval the only way to scale up within a
few seconds of a submission is that signal."""
import time

import pytest

from conftest import client, spec, wait_for


@pytest.mark.compat
def test_burst_is_seen_at_once_not_at_the_next_poll(edask):
    e = edask(args=["--gpus", "3"],
              specs=[spec(min=1, max=3, interval="10s", idle="60s")])
    e.wait_started()
    e.wait_running(1, timeout=90)
    c = client(e.scheduler_address())
    try:
        # the first ticks are behind us: the next poll is up to 10 s away
        time.sleep(1)
        before = len(e.events(kind="scale_up"))
        t0 = time.monotonic()
        futs = c.map(lambda i: time.sleep(1) or i, range(30), pure=False)
        wait_for(lambda: len(e.events(kind="scale_up")) > before,
                 timeout=60, what="the scale-up")
        took = time.monotonic() - t0
        assert took < 3, "scale-up %.1fs after the submission" % took
        # the new workers' registration is seen at once too
        t1 = time.monotonic()
        e.wait_running(3, timeout=60)
        assert time.monotonic() - t1 < 8
        assert sorted(c.gather(futs)) == list(range(30))
    finally:
        c.close()


@pytest.mark.compat
def test_workers_are_forked_warm_and_survive_the_forker(edask):
    """New workers come from the instance's forker (already imported,
    workers.imports too, own session each); a controller kill -9 keeps
    forker and workers; a dead forker means exec until a new one is up,
    and the burst still completes."""
    import os
    import signal
    import stat

    import sys

    e = edask(args=["--gpus", "3"], specs=[
        "name: dask\n"
        "workers: {min: 1, max: 3, gpus: 0, imports: \"xml.dom.minidom, "
        "wave\"}\n"
        "scaling: {interval: 300ms, idle_timeout: 2s, "
        "scale_down_delay: 1s}\n"])
    e.wait_started()
    inst = e.wait_running(1, timeout=90)
    fk = wait_for(lambda: e.instance()["forker"]["ready"] and
                  e.instance()["forker"], timeout=60, what="forker ready")
    c = client(e.scheduler_address())
    try:
        futs = c.map(lambda i: time.sleep(0.5) or i, range(40), pure=False)
        inst = e.wait_running(3, timeout=60)
        forked = [w for w in inst["workers"] if w["started_by"] == "fork"]
        assert len(forked) >= 2, inst["workers"]
        for w in forked:
            assert os.getsid(w["pid"]) == w["pid"]     # its own session
            # its log is its owner's alone, as an exec'd worker's
            assert stat.S_IMODE(os.stat(w["log"]).st_mode) == 0o600
        # workers.imports: loaded in the forker, so in every forked worker
        # (and not by Dask itself: the exec'd first worker lacks them)
        loaded = c.run(lambda: (__import__("os").getpid(),
                                "xml.dom.minidom" in sys.modules and
                                "wave" in sys.modules))
        by_pid = {w["pid"]: w["started_by"] for w in inst["workers"]}
        for pid, has in loaded.values():
            assert has == (by_pid[pid] == "fork"), (by_pid, loaded)
        assert sorted(c.gather(futs)) == list(range(40))

        # kill -9 of the controller: the same forker is taken over
        e.proc.kill()
        e.proc.wait()
        e.start()
        e.wait_started()
        fk2 = wait_for(lambda: e.instance()["forker"]["ready"] and
                       e.instance()["forker"], timeout=60,
                       what="forker ready after the restart")
        assert fk2["pid"] == fk["pid"]
        assert not e.events(kind="orphan")

        # the forker dies: workers start by exec, nothing else changes
        e.wait_running(1, timeout=60)
        os.kill(fk["pid"], signal.SIGKILL)
        wait_for(lambda: any("worker forker exited" in ev["message"]
                             for ev in e.events(kind="forker")),
                 timeout=30, what="the forker's exit seen")
        futs = c.map(lambda i: time.sleep(0.5) or i, range(40), pure=False)
        inst = e.wait_running(3, timeout=60)
        assert any(w["started_by"] == "exec" for w in inst["workers"])
        assert sorted(c.gather(futs)) == list(range(40))
        # and it is started again
        fk3 = wait_for(lambda: e.instance()["forker"]["ready"] and
                       e.instance()["forker"], timeout=60,
                       what="a new forker")
        assert fk3["pid"] not in (0, fk["pid"])
    finally:
        c.close()
