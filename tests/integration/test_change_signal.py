"""Deciding on change, not on the poll: edask's scheduler preload answers
a long poll when work is submitted or a worker comes or goes, and edask
decides at once.  With a 10 s interval the only way to scale up within a
few seconds of a submission is that signal."""
import time

from conftest import client, spec, wait_for


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
