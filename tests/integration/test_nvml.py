"""GPUs through NVML: the real dlopen path loads the tests' NVML double
(build/fakenvml/libnvidia-ml.so.1, first on LD_LIBRARY_PATH); one worker
per GPU with CUDA_VISIBLE_DEVICES; a busy GPU keeps its worker."""
import os
import time

from conftest import FAKENVML_DIR, client, spec, wait_for


def write_gpus(path, utils):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for i, u in enumerate(utils):
            f.write("Fake H100 %d %d %d %d\n" % (i, u, 1 << 30, 80 << 30))
    os.rename(tmp, path)


def nvml_env(tmp_path, utils):
    gpus = str(tmp_path / "gpus.txt")
    write_gpus(gpus, utils)
    return gpus, {
        "LD_LIBRARY_PATH": FAKENVML_DIR,
        "FAKE_NVML_FILE": gpus,
        "FAKE_NVML_LOG": str(tmp_path / "nvml-calls.log"),
    }


def visible_devices(c, inst):
    """CUDA_VISIBLE_DEVICES as each worker process itself sees it (a forked
    worker's /proc/PID/environ still shows its forker's environment), and
    checks it is its own slot's GPU."""
    seen = c.run(lambda: (os.getpid(),
                          os.environ.get("CUDA_VISIBLE_DEVICES")))
    by_pid = {w["pid"]: w for w in inst["workers"]}
    devs = set()
    for addr, (pid, dev) in seen.items():
        w = by_pid[pid]
        assert w["address"] == addr, (w, addr)
        assert dev == str(w["gpu"]), (w, dev)
        devs.add(dev)
    return devs


def test_no_nvml_library_means_cpu_slots(edask):
    e = edask(specs=[spec(min=1, max=1)],
              env={"LD_LIBRARY_PATH": "/nonexistent"})
    e.wait_started()
    pool = e.get("/v1/pool")
    assert pool["kind"] == "cpu"
    assert pool["size"] == os.cpu_count()
    msg = e.events(kind="pool")[0]["message"]
    assert "no GPU found" in msg and "one per core" in msg, msg
    assert "libnvidia-ml.so.1" in msg, msg


def test_nvml_gpus_one_worker_each_busy_gpu_blocks_scale_down(edask, tmp_path):
    gpus, env = nvml_env(tmp_path, [0, 0])
    # distributed's own workers, forked (type auto would pick dask-cuda
    # where it is installed: test_dask_cuda.py)
    e = edask(specs=[spec(min=1, max=2, gpus=1, idle="2s", delay="1s",
                          interval="300ms", workers="type: dask")], env=env)
    e.wait_started()
    pool = e.get("/v1/pool")
    assert pool["kind"] == "gpu" and pool["size"] == 2, pool
    assert pool["slots"][0]["name"] == "Fake H100 0"
    assert "2 GPUs found through NVML" in e.events(kind="pool")[0]["message"]
    with open(env["FAKE_NVML_LOG"]) as f:
        assert "nvmlInit_v2" in f.read()

    inst = e.wait_running(1)
    c = client(e.scheduler_address())
    try:
        assert visible_devices(c, inst) == {"0"}
        futs = c.map(lambda i: time.sleep(0.5) or i, range(20), pure=False)
        inst = e.wait_running(2)
        assert visible_devices(c, inst) == {"0", "1"}
        # Both GPUs report heavy use: idle workers must stay.
        write_gpus(gpus, [90, 90])
        c.gather(futs)
        wait_for(lambda: all(w["gpu_util"] == 90
                             for w in e.instance()["workers"]),
                 what="utilization seen")
        t0 = time.monotonic()
        wait_for(lambda: "GPU busy" in e.instance()["hold"], timeout=30,
                 what="hold reason naming the GPU")
        while time.monotonic() - t0 < 5:     # idle_timeout 2s, well past
            assert len(e.instance()["workers"]) == 2
            time.sleep(0.2)
        assert not e.events(kind="retire")
        # GPUs fall idle: retired down to min.
        write_gpus(gpus, [0, 0])
        e.wait_running(1, timeout=60)
        assert len(e.events(kind="retired")) == 1
    finally:
        c.close()
