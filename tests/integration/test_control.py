"""The control plane: durable state, the token, the full CLI and API, and a
controller that can be killed at any moment and loses nothing."""
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request

import distributed

import pytest

from conftest import (EDASK, assert_each_ran_once, client, counted_burst,
                      new_counter_dir, procs_under, spec, up_with_client,
                      wait_for, workers_of)


def test_cli_lifecycle_with_token(edask, tmp_path):
    e = edask(args=["--gpus", "2"], specs=[spec(min=1, max=2)])
    e.wait_started()
    e.wait_running(1)

    other = tmp_path / "xgb.yaml"
    other.write_text(spec(name="xgb", min=0, max=1))
    r = e.cli("deploy", str(other))
    assert "xgb: created" in r.stdout
    e.wait_started("xgb")
    r = e.cli("deploy", str(other))
    assert "xgb: unchanged" in r.stdout

    r = e.cli("scale", "xgb", "--min", "1")
    assert "xgb: scaled" in r.stdout
    e.wait_running(1, name="xgb")
    assert e.instance("xgb")["min"] == 1
    ev = e.events(instance="xgb", kind="scaled")
    assert ev and "min 0 -> 1" in ev[0]["message"]

    # a live update through deploy: max only
    other.write_text(spec(name="xgb", min=1, max=2))
    assert "xgb: updated" in e.cli("deploy", str(other)).stdout
    assert e.instance("xgb")["max"] == 2
    # a field that needs a restart is refused while it runs
    other.write_text(spec(name="xgb", min=1, max=2, threads=2))
    r = e.cli("deploy", str(other), check=False)
    assert r.returncode == 1 and "workers.threads" in r.stderr, r.stderr

    r = e.cli("stop", "xgb")
    wait_for(lambda: e.instance("xgb")["state"] == "stopped", what="stopped")
    assert not e.instance("xgb")["workers"]
    e.cli("stop", "xgb")                       # idempotent
    assert "xgb: updated" in e.cli("deploy", str(other)).stdout   # stopped
    e.cli("start", "xgb")
    e.wait_started("xgb")
    e.wait_running(1, name="xgb")
    # the worker itself runs 2 threads (a forked worker's command line is
    # its forker's, so ask the scheduler)
    c = client(e.scheduler_address("xgb"))
    try:
        ws = list(workers_of(c).values())
        assert [w["nthreads"] for w in ws] == [2], ws
    finally:
        c.close()

    r = e.cli("undeploy", "xgb")
    assert "xgb:" in r.stdout
    wait_for(lambda: e.request("GET", "/v1/instances/xgb")[0] == 404,
             what="gone")
    assert not os.path.exists(os.path.join(e.state, "instances", "xgb"))
    assert "already absent" in e.cli("undeploy", "xgb").stdout
    assert e.instance("dask")["state"] == "started"

    r = e.cli("ls", "--json")
    assert [i["name"] for i in json.loads(r.stdout)["instances"]] == ["dask"]


def test_auth_and_token_file(edask, tmp_path):
    e = edask(args=["--gpus", "1"], specs=[spec(min=0, max=1)])
    e.wait_started()
    token_file = os.path.join(e.state, "token")
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    assert len(e.token()) == 64

    for tok in (None, "wrong", "Bearer"):
        status, body = e.request("PATCH", "/v1/instances/dask",
                                 b'{"max": 1}', token=tok)
        assert status == 401 and "token" in body["error"]
        status, body = e.request("POST", "/v1/instances/dask/stop", token=tok)
        assert status == 401
    assert e.instance()["state"] == "started"
    status, _ = e.request("GET", "/v1/instances", token=None)
    assert status == 200                        # reads are open on loopback

    r = e.cli("stop", "dask", check=False,
              env={"EDASK_TOKEN": "0" * 64})
    assert r.returncode == 1 and "token" in r.stderr
    r = e.cli("stop", "dask", check=False,
              env={"EDASK_STATE_DIR": str(tmp_path / "nowhere")})
    assert r.returncode == 2 and "no API token" in r.stderr
    assert e.instance()["state"] == "started"

    # a token file others can read: the daemon refuses to start
    assert e.stop() == 0
    os.chmod(token_file, 0o644)
    r = subprocess.run([EDASK, "up", "--listen", "127.0.0.1:0", "--state-dir",
                        e.state], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "mode 0644" in r.stderr, r.stderr
    assert not procs_under(e.state)


def test_bad_requests_are_4xx_json(edask):
    e = edask(args=["--gpus", "1"], specs=[spec(min=0, max=1)])
    e.wait_started()
    cases = [
        ("POST", "/v1/instances", b"", 400, "expected an instance spec"),
        ("POST", "/v1/instances", b"{not json", 400, "request:"),
        ("POST", "/v1/instances", b'{"name": "x", "workers": {"min": "a"}}',
         400, "workers.min"),
        ("POST", "/v1/instances", b'{"name": "x", "pool": "gpu9"}', 400,
         'no pool named "gpu9"'),
        ("POST", "/v1/instances", b"x" * (2 << 20), 413, "larger"),
        ("PATCH", "/v1/instances/dask", b"[1]", 400, "JSON object"),
        ("PATCH", "/v1/instances/dask", b'{"min": "1"}', 400, "integer"),
        ("PATCH", "/v1/instances/dask", b'{"min": 3, "max": 2}', 400,
         "greater"),
        ("PATCH", "/v1/instances/dask", b'{"size": 3}', 400, "unknown key"),
        ("PATCH", "/v1/instances/dask", b'{"min": 5}', 400, "has 1 slots"),
        ("PATCH", "/v1/instances/nope", b'{"min": 1}', 404, "no instance"),
        ("POST", "/v1/instances/nope/start", None, 404, "no instance"),
        ("POST", "/v1/instances/dask/explode", None, 404, "no route"),
        ("PUT", "/v1/instances/dask", b"{}", 405, "not allowed"),
        ("GET", "/v1/events?wait=999", None, 400, "wait"),
        ("GET", "/v2/anything", None, 404, "no route"),
    ]
    for method, path, body, status, text in cases:
        got, doc = e.request(method, path, body)
        assert got == status, (method, path, got, doc)
        assert text in doc["error"], (method, path, doc)
    assert e.instance()["min"] == 0 and e.instance()["max"] == 1
    assert e.get("/healthz")["ok"]


def test_events_follow_streams(edask):
    e = edask(args=["--gpus", "2"], specs=[spec(min=0, max=2)])
    e.wait_started()
    env = dict(os.environ, EDASK_STATE_DIR=e.state)
    p = subprocess.Popen([EDASK, "events", "dask", "--follow", "--addr", e.url],
                         stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        reader = threading.Thread(
            target=lambda: [lines.append(x) for x in p.stdout], daemon=True)
        reader.start()
        wait_for(lambda: any("started" in x for x in lines), what="backlog")
        t0 = time.monotonic()
        e.cli("scale", "dask", "--min", "1")
        wait_for(lambda: any("scaled" in x for x in lines), timeout=10,
                 what="streamed event")
        assert time.monotonic() - t0 < 5
        wait_for(lambda: any("registered" in x for x in lines), timeout=60,
                 what="worker event streamed")
    finally:
        p.terminate()
        p.wait(10)


def test_fifty_clients_poll_while_scaling(edask):
    e = edask(args=["--gpus", "3"], specs=[spec(min=1, max=3, idle="60s")])
    e.wait_started()
    e.wait_running(1)
    stop = threading.Event()
    stats = {"ok": 0, "bad": []}
    lock = threading.Lock()

    def poll(i):
        path = ["/v1/instances", "/v1/pool", "/v1/events?limit=5",
                "/v1/instances/dask", "/healthz"][i % 5]
        while not stop.is_set():
            try:
                with urllib.request.urlopen(e.url + path, timeout=10) as r:
                    json.loads(r.read())
                with lock:
                    stats["ok"] += 1
            except Exception as exc:          # every failure is recorded
                with lock:
                    stats["bad"].append(repr(exc))

    threads = [threading.Thread(target=poll, args=(i,), daemon=True)
               for i in range(50)]
    for t in threads:
        t.start()
    c = client(e.scheduler_address())
    try:
        futs = c.map(lambda i: time.sleep(0.5) or i, range(40), pure=False)
        e.wait_running(3, timeout=90)
        assert sorted(c.gather(futs)) == list(range(40))
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        c.close()
    assert not stats["bad"], stats["bad"][:5]
    assert stats["ok"] > 200, stats


def test_corrupt_and_newer_database_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    db = state / "edask.db"
    db.write_bytes(os.urandom(8192))
    before = db.read_bytes()
    r = subprocess.run([EDASK, "up", "--listen", "127.0.0.1:0", "--state-dir",
                        str(state), "--gpus", "1"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "not a valid edask state database" in r.stderr
    assert db.read_bytes() == before

    db.unlink()
    con = sqlite3.connect(str(db))
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    con.commit()
    con.close()
    r = subprocess.run([EDASK, "up", "--listen", "127.0.0.1:0", "--state-dir",
                        str(state), "--gpus", "1"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "newer edask" in r.stderr, r.stderr
    assert not procs_under(str(state))


@pytest.mark.compat
def test_kill9_mid_burst_then_restart_adopts_everything(edask, tmp_path):
    e = edask(args=["--gpus", "3"],
              specs=[spec(min=1, max=3, idle="3s", delay="1s")])
    e.wait_started()
    e.wait_running(1)
    sched_pid = e.instance()["scheduler"]["pid"]
    counter = new_counter_dir(tmp_path)
    c = client(e.scheduler_address())
    try:
        futs = counted_burst(c, counter, 90, prefix="t")
        before = e.wait_running(3, timeout=60)
        pids = sorted(w["pid"] for w in before["workers"])
        e.proc.kill()                           # SIGKILL mid-burst
        e.proc.wait()
        time.sleep(1)
        assert all(os.path.exists("/proc/%d" % p) for p in pids + [sched_pid])
        e.start()                               # same state folder
        after = e.wait_started()
        assert after["scheduler"]["pid"] == sched_pid
        assert sorted(w["pid"] for w in after["workers"]) == pids
        restored = e.events(kind="restored")
        assert restored and "3 worker(s) re-adopted" in restored[-1]["message"]
        assert sorted(c.gather(futs)) == list(range(90))
        # scaling goes on: idle shrinks back to min
        e.wait_running(1, timeout=90)
    finally:
        c.close()
    assert_each_ran_once(counter, 90)


@pytest.mark.compat
def test_kill9_mid_retirement_then_restart(edask, tmp_path):
    e = edask(args=["--gpus", "2"],
              specs=[spec(min=1, max=2, idle="2s", delay="1s",
                          interval="200ms")])
    e.wait_started()
    c = client(e.scheduler_address())
    try:
        futs = c.map(lambda i: time.sleep(0.5) or i, range(12), pure=False)
        e.wait_running(2, timeout=60)
        c.gather(futs)
        import numpy as np
        workers = sorted(workers_of(c))
        data = [c.submit(lambda i: np.full(2_000_000, i, dtype="i8"), i,
                         workers=[workers[i % 2]], pure=False)
                for i in range(6)]
        distributed.wait(data)
        wait_for(lambda: e.events(kind="retire"), timeout=60,
                 what="a retirement")
        e.proc.kill()                           # SIGKILL mid-retirement
        e.proc.wait()
        e.start()
        e.wait_started()
        e.wait_running(1, timeout=90)
        total = c.submit(lambda *xs: int(sum(x.sum() for x in xs)), *data,
                         pure=False).result(timeout=60)
        assert total == sum(i * 2_000_000 for i in range(6))
        assert e.get("/v1/pool")["free"] == 1
    finally:
        c.close()


def test_kill9_while_a_loss_waits_then_restart_tells_it(edask, tmp_path):
    """A worker dies while its scheduler is stopped, so the scheduler's
    count of what it held cannot come yet: edask frees its slot and keeps
    the loss, waiting, in its store.  Killed then, edask tells the loss
    after its restart, once, with what the scheduler counted as it removed
    the worker (the results the client holds)."""
    e, c = up_with_client(edask, 2, min=1, max=1, idle="30s",
                          interval="200ms")
    try:
        held = c.map(lambda i: bytes(1000) * (i + 1), range(8), pure=False)
        distributed.wait(held)
        inst = e.wait_running(1)
        wpid = inst["workers"][0]["pid"]
        spid = inst["scheduler"]["pid"]
        os.kill(spid, signal.SIGSTOP)
        try:
            os.kill(wpid, signal.SIGKILL)
            wait_for(lambda: all(w["pid"] != wpid for w in
                                 e.instance("dask")["workers"]),
                     timeout=30, what="the dead worker to be gone")
            assert not e.events(kind="worker_lost")
            assert e.instance("dask")["losses_waiting"] == 1
            assert ("lost:       1 worker(s) lost; what they held is told"
                    in e.cli("show", "dask").stdout)
            e.proc.kill()
            e.proc.wait()
        finally:
            os.kill(spid, signal.SIGCONT)
        e.start()
        e.wait_started()
        lost = wait_for(lambda: e.events(kind="worker_lost"), timeout=60,
                        what="the loss told after the restart")
        assert len(lost) == 1, lost
        assert ("exited" in lost[0]["message"] and "as the scheduler "
                "removed it, it held 8 results (35.2 KiB), 8 of them "
                "nowhere else" in lost[0]["message"]), lost[0]["message"]
        e.wait_running(1, timeout=90)
        assert len(e.events(kind="worker_lost")) == 1
        assert e.instance("dask")["losses_waiting"] == 0
        assert "lost:" not in e.cli("show", "dask").stdout
    finally:
        c.close()


def test_a_worker_that_dies_while_edask_is_down_is_a_loss(edask, tmp_path):
    """kill -9 of edask, then of its running worker: after the restart the
    worker is told lost, with what the scheduler counted as it removed it
    (the results the client holds), and replaced."""
    e, c = up_with_client(edask, 2, min=1, max=1, idle="30s",
                          interval="200ms")
    try:
        held = c.map(lambda i: bytes(1000) * (i + 1), range(8), pure=False)
        distributed.wait(held)
        wpid = e.wait_running(1)["workers"][0]["pid"]
        e.proc.kill()
        e.proc.wait()
        os.kill(wpid, signal.SIGKILL)
        wait_for(lambda: not os.path.exists("/proc/%d" % wpid), timeout=30,
                 what="the worker to exit")
        e.start()
        e.wait_started()
        lost = wait_for(lambda: e.events(kind="worker_lost"), timeout=60,
                        what="the loss told after the restart")
        assert len(lost) == 1, lost
        msg = lost[0]["message"]
        assert ("pid %d) was running and exited while edask was down; as "
                "the scheduler removed it, it held 8 results (35.2 KiB), 8 "
                "of them nowhere else" % wpid) in msg, msg
        assert not [ev for ev in e.events(kind="worker_gone")
                    if "pid %d)" % wpid in ev["message"]]
        inst = e.wait_running(1, timeout=90)
        assert inst["workers"][0]["pid"] != wpid
        assert len(c.gather(held)) == 8       # recomputed
    finally:
        c.close()


def test_serve_detaches_on_sigterm_and_readopts(edask, tmp_path):
    e = edask(serve=True)
    sp = tmp_path / "s.yaml"
    sp.write_text(spec(name="svc", min=1, max=2))
    assert "svc: created" in e.cli("deploy", str(sp)).stdout
    e.wait_started("svc")
    inst = e.wait_running(1, name="svc")
    pids = [inst["scheduler"]["pid"], inst["workers"][0]["pid"]]
    assert e.stop(signal.SIGTERM) == 0
    assert all(os.path.exists("/proc/%d" % p) for p in pids)
    e.start()
    inst = e.wait_started("svc")
    assert [inst["scheduler"]["pid"], inst["workers"][0]["pid"]] == pids
    r = subprocess.run([EDASK, "check", "-c", os.path.join(
        os.path.dirname(e.state), "edask.yaml")], capture_output=True,
        text=True)
    assert r.returncode == 0 and "1 pool(s)" in r.stdout, r.stderr


def test_kill9_mid_launch_leaves_no_orphan(edask, tmp_path):
    e, c = up_with_client(edask, 3, min=1, max=3, idle="30s",
                          interval="200ms")
    try:
        futs = c.map(lambda i: time.sleep(0.5) or i, range(60), pure=False)
        wait_for(lambda: len(e.events(kind="scale_up")) >= 2, timeout=60,
                 what="the scale-up")
        e.proc.kill()                   # while the new workers launch
        e.proc.wait()
        e.start()
        e.wait_started()
        inst = e.wait_running(3, timeout=90)
        assert sorted(c.gather(futs)) == list(range(60))
        # exactly the scheduler, the worker forker and three workers:
        # nothing orphaned
        mine = ({inst["scheduler"]["pid"]} | {w["pid"] for w in inst["workers"]}
                | ({inst["forker"]["pid"]} if inst["forker"]["pid"] else set()))
        leaders = {p for p in procs_under(e.state) if os.getsid(p) == p}
        assert leaders == mine, (leaders, mine)
    finally:
        c.close()
