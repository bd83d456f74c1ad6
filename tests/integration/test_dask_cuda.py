"""dask-cuda workers (`workers.type`), on GPUs that edask and dask-cuda both
see through the tests' NVML double (no CUDA driver here: dask-cuda logs
that it cannot create a CUDA context and goes on).  Each worker is
`python -m dask_cuda.cli` with one GPU in CUDA_VISIBLE_DEVICES and its own
nanny; edask retires it through the scheduler, then stops the nanny, and
re-adopts it after a restart."""
import os
import time

import pytest

from conftest import (PYTHON, client, counted, executions, new_counter_dir,
                      spec, wait_for, workers_of)
from test_nvml import nvml_env

try:
    import dask_cuda  # noqa: F401
    HAVE_DASK_CUDA = True
except ImportError:
    HAVE_DASK_CUDA = False

# plain: under ASan the cost is dask-cuda's nanny and CUDA set-up, while
# the daemon runs the launch, retire and adopt code the other tests run
pytestmark = [
    pytest.mark.skipif(not HAVE_DASK_CUDA, reason="dask-cuda is not "
                       "installed for %s (the compatibility lane's Debian "
                       "Python has none)" % PYTHON),
    pytest.mark.plain]


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().split(b"\0")


def worker_view(c, inst):
    """Each worker process as it sees itself: its parent (the nanny, the
    pid edask holds) and its CUDA_VISIBLE_DEVICES, checked against the
    slot edask gave it."""
    seen = c.run(lambda: (os.getppid(),
                          os.environ.get("CUDA_VISIBLE_DEVICES")))
    by_pid = {w["pid"]: w for w in inst["workers"]}
    devs = {}
    for addr, (ppid, dev) in seen.items():
        w = by_pid[ppid]
        assert w["address"] == addr, (w, addr)
        assert dev == str(w["gpu"]), (w, dev)
        devs[addr] = dev
    return devs


def test_dask_cuda_workers_retired_then_stopped_and_readopted(edask, tmp_path):
    _, env = nvml_env(tmp_path, [0, 0])
    e = edask(specs=[spec(min=1, max=2, gpus=1, idle="3s", delay="1s",
                          interval="300ms",
                          workers="device_memory_limit: '0.8'")], env=env)
    inst = e.wait_started()
    assert inst["engine"]["worker_type"] == "dask-cuda", inst["engine"]
    assert inst["engine"]["dask_cuda"]
    inst = e.wait_running(1)
    first = inst["workers"][0]
    argv = cmdline(first["pid"])
    assert argv[1:3] == [b"-m", b"dask_cuda.cli"], argv
    assert b"--no-nanny" not in argv
    i = argv.index(b"--device-memory-limit")
    assert argv[i + 1] == b"0.8"
    i = argv.index(b"--resources")
    assert argv[i + 1] == b"GPU=1"
    counter = new_counter_dir(tmp_path)
    c = client(e.scheduler_address())
    try:
        info = workers_of(c)
        assert [w["resources"] for w in info.values()] == [{"GPU": 1}]
        assert all(w["nanny"] for w in info.values()), info
        assert set(worker_view(c, inst).values()) == {"0"}

        # a burst of GPU tasks brings the second GPU's worker
        task = counted(counter, lambda i: time.sleep(0.3) or i)
        futs = c.map(task, ["t-%d" % i for i in range(24)], range(24),
                     resources={"GPU": 1}, pure=False)
        inst = e.wait_running(2, timeout=90)
        assert sorted(worker_view(c, inst).values()) == ["0", "1"]
        assert sorted(c.gather(futs)) == list(range(24))
        # data spread over both, kept through the shrink
        kept = c.map(lambda i: bytes(1000) + bytes([i]), range(8),
                     pure=False, resources={"GPU": 1})
        c.gather(kept)
        holders = {w for ws in c.who_has(kept).values() for w in ws}

        # idle: one retired through the scheduler, then its nanny stopped
        inst = e.wait_running(1, timeout=90)
        gone = [r for r in e.events(kind="retired")]
        assert len(gone) == 1, gone
        left = inst["workers"][0]
        stopped = [p for p in (first["pid"],) if p != left["pid"]]
        wait_for(lambda: len(workers_of(c)) == 1,
                 what="one worker left on the scheduler")
        # never restarted behind edask's back: the scheduler keeps one
        # worker, and no process of the retired one is left
        time.sleep(4)
        assert len(workers_of(c)) == 1
        for p in stopped:
            assert not os.path.exists("/proc/%d" % p), p
        assert [bytes(1000) + bytes([i]) for i in range(8)] == \
            c.gather(kept)
        assert len(holders) == 2, holders

        # kill -9 of the controller: the worker (nanny and all) adopted
        pids = sorted(w["pid"] for w in inst["workers"])
        e.proc.kill()
        e.proc.wait()
        e.start()
        after = e.wait_started()
        assert sorted(w["pid"] for w in after["workers"]) == pids
        assert after["engine"]["worker_type"] == "dask-cuda"
        assert "1 worker(s) re-adopted" in \
            e.events(kind="restored")[-1]["message"]
        assert len(workers_of(c)) == 1
    finally:
        c.close()
    runs = executions(counter)
    assert len(runs) == 24 and all(n == 1 for n in runs.values()), runs


def test_dask_cuda_worker_without_its_gpu_fails_and_backs_off(edask,
                                                              tmp_path):
    _, env = nvml_env(tmp_path, [0])
    # the daemon sees the GPU; the worker's NVML cannot load
    e = edask(specs=[spec(min=1, max=1, gpus=1, extra="env: "
                          "{FAKE_NVML_FILE: /nonexistent/gpus}\n")],
              env=env)
    e.wait_started()
    evs = wait_for(lambda: len(e.events(kind="worker_failed")) >= 2 and
                   e.events(kind="worker_failed"), timeout=90,
                   what="two failed starts")
    msg = evs[0]["message"]
    assert "before registering" in msg, msg
    assert "NVML" in msg, msg          # the worker log's last line
    assert "failure 1, next launch in 1s" in msg, msg
    assert "failure 2, next launch in 2s" in evs[1]["message"]
    assert not e.running()


def test_dask_cuda_refused_where_not_installed(edask, tmp_path):
    """workers.type dask-cuda with a Python that has no dask-cuda is
    refused at deploy, naming the Python."""
    e = edask(serve=True)
    body = ("name: c\nworkers: {type: dask-cuda}\npython: /usr/bin/python3\n"
            ).encode()
    st, r = e.request("POST", "/v1/instances", body)
    if os.system("/usr/bin/python3 -c 'import dask_cuda' 2>/dev/null") == 0:
        pytest.skip("Debian's Python has dask-cuda here")
    assert st == 400, r
    assert "no dask-cuda installed" in r["error"], r
    assert "/usr/bin/python3" in r["error"], r
