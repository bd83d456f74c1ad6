"""The web console in a real browser (Debian's chromium, driven by
playwright-core from tests/browser/check_console.js), against a live
daemon with a real scheduler and real workers.

The page must show the instance, its state, outputs (with copy buttons)
and workers, then follow a burst of work started here, without a reload,
as the workers grow; the instance page must show the workers, the chart,
the decisions, and links to Dask's own dashboard where the scheduler has
bokeh (the instance's engine.dashboard) or else the note that it has
none; scaling from the page asks for the token, shows the API's refusal
in place, and changes max.  With a dashboard, Dask's own /workers page (in
a second tab) must show the one worker before the burst and as many as
the API once grown, and its /status page must draw its plots.
Screenshots go to build/artifacts/: console.png (overview),
console-instance.png (instance page) and, with a dashboard,
dask-workers-1.png (Dask's /workers, one worker), dask-workers.png (it,
grown) and dask-status.png (Dask's /status, grown); console-failure.png
and dask-failure.png when the check fails.

A missing browser, node or playwright-core fails the test: scripts/deps.sh
installs them.
"""
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import ROOT, client, spec, wait_for

# the browser's CPU, not the daemon's code, is what this costs under ASan
pytestmark = pytest.mark.plain

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
ARTIFACTS = os.path.join(ROOT, "build", "artifacts")
CHROMIUM = "/usr/bin/chromium"
LIMIT_S = 150          # the node script's own steps time out well before
SHOTS = ("console.png", "console-instance.png")
DASK_SHOTS = ("dask-workers-1.png", "dask-workers.png", "dask-status.png")


def browser_tools():
    """node's path, or fail saying what is missing and how to get it."""
    missing = []
    node = shutil.which("node")
    if not os.path.exists(CHROMIUM):
        missing.append("%s (Debian package chromium)" % CHROMIUM)
    if node is None:
        missing.append("node (Debian package nodejs)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules",
                                      "playwright-core")):
        missing.append("playwright-core in tests/browser/node_modules "
                       "(npm ci in tests/browser)")
    if missing:
        pytest.fail("the console's browser test needs %s: run "
                    "scripts/deps.sh" % "; ".join(missing), pytrace=False)
    return node


def test_console_in_a_browser(edask):
    node = browser_tools()
    e = edask(args=["--gpus", "4"],
              specs=[spec(min=1, max=4, idle="20s", delay="2s")])
    e.wait_started()
    e.wait_running(1)
    engine = wait_for(lambda: e.instance().get("engine"),
                      what="the instance's engine")
    dashboard = bool(engine.get("dashboard"))
    for name in SHOTS + DASK_SHOTS + ("console-failure.png",
                                      "dask-failure.png"):
        if os.path.exists(os.path.join(ARTIFACTS, name)):
            os.unlink(os.path.join(ARTIFACTS, name))

    proc = subprocess.Popen(
        [node, "check_console.js", "--url", e.url, "--instance", "dask",
         "--out", ARTIFACTS, "--grow", "--actions"],
        cwd=BROWSER_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=dict(os.environ, EDASK_TOKEN=e.token()))
    watchdog = threading.Timer(LIMIT_S, proc.kill)
    watchdog.start()
    steps, c, burst, t0 = [], None, None, time.monotonic()
    try:
        for line in proc.stdout:
            try:
                step = json.loads(line)
            except ValueError:
                continue
            steps.append(step)
            if step.get("step") == "ready":
                # the page shows one worker: now give it work
                c = client(e.scheduler_address())
                burst = c.map(lambda i: time.sleep(0.5) or i, range(120),
                              pure=False)
        rc = proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if c is not None:
            c.close()
    took = time.monotonic() - t0
    failed = [s for s in steps if "error" in s]
    assert rc == 0 and not failed, (
        "the browser check failed (rc %s): %s\nsteps: %s\nstderr: %s\n"
        "screenshots: build/artifacts/console-failure.png, "
        "dask-failure.png" % (rc, failed, steps, err[-3000:]))
    names = [s.get("step") for s in steps]
    if dashboard:
        assert names == ["overview", "dask-workers-1", "ready", "grown",
                         "dask-workers", "dask-status", "instance",
                         "actions", "done"], steps
    else:
        assert names == ["overview", "ready", "grown", "instance",
                         "actions", "done"], steps
    by = {s["step"]: s for s in steps}
    grown = by["grown"]["running"]
    assert grown > by["ready"]["running"], steps
    assert burst is not None
    if dashboard:
        # Dask's own /workers saw the one worker, then more
        assert by["dask-workers-1"]["workers"] == by["ready"]["running"]
        assert by["dask-workers"]["workers"] > by["ready"]["running"]
    else:
        for name in DASK_SHOTS:
            assert not os.path.exists(os.path.join(ARTIFACTS, name)), name
    for name in SHOTS + (DASK_SHOTS if dashboard else ()):
        p = os.path.join(ARTIFACTS, name)
        assert os.path.getsize(p) > 20000, p
    assert e.instance()["max"] == 3
    assert took < LIMIT_S
