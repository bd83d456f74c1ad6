#!/usr/bin/env python3
"""edask against dask-jobqueue on a multi-node Slurm cluster.

Run it as root with the project's ``.venv/bin/python`` (``make bench``
does): it needs slurmctld and slurmd (``make deps`` installs them) and
network namespaces.

Method
------
The cluster is the integration tests' (``tests/integration/
slurm_cluster.py``): three node hosts in network namespaces on a bridge,
each with its own slurmd and two GPUs as GRES, slurmctld on the host; a
worker's job runs in its node's namespace and reaches the scheduler over
the bridge.  One run plays the same trace on two systems, one after the
other, on the same cluster:

1. ``edask``: ``build/edask serve`` with a slurm pool of 6 slots
   (``scheduler_host`` the bridge address) and an instance of min 1, max 6,
   ``gpus: 1``, ``interval: 1s``, ``idle_timeout: 5s``,
   ``scale_down_delay: 2s`` (TLS on, edask's default);
2. ``jobqueue``: ``dask_jobqueue.SLURMCluster(cores=1, processes=1,
   job_extra_directives=["--gres=gpu:1"], worker_extra_args=["--resources",
   "GPU=1"])`` with its scheduler on the bridge address,
   ``.adapt(minimum_jobs=1, maximum_jobs=6)`` with Dask's Adaptive defaults
   (interval 1 s, wait_count 3, target_duration 5 s); plain TCP, its
   default.

The trace: three bursts of 120 tasks of 0.5 s, each with
``resources={"GPU": 1}``, a gap of 15 s after each.  Measured the same way
for both, from the client and from ``squeue --json`` every 0.5 s:

* **burst N (s)**: from submitting burst N until its last result;
* **to 6 (s)**: per burst, from its submission until 6 workers are
  registered with the scheduler (``len(client.nthreads())``);
* **GPU-s**: GPUs held in Slurm (jobs of the system in state RUNNING,
  one GPU each) integrated over the run, from burst 1's submission to the
  end of the last gap;
* **jobs** submitted (distinct job ids seen), of which **never ran**
  (seen only pending, then gone: submitted and cancelled, a flap);
* **recomputed**: tasks log each execution; a key with two lines ran twice;
* **keys lost**: each burst's results are held through the gap that
  follows it, while the system shrinks; a key no worker holds after the
  gap (``client.who_has``) was lost.

The machine is small and noisy: compare the ratios of one run.  Exit
status 0 when every measurement completed, 1 with ``FAILED:`` otherwise.
Every process started here is stopped by PID; the namespaces, links and
temporary folders are removed.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests",
                                "integration"))

from harness import (BUILT_EDASK, ROOT, BenchError, begin_run,  # noqa: E402
                     bench_parser, edask_client, exec_counts, log, md_table,
                     ratio, step_integral, text_table, wait_until,
                     write_results)
from slurm_cluster import (GPUS_PER_NODE, SlurmCluster,  # noqa: E402
                           free_port, netns_unavailable, unavailable)

NODES = 3
MAX = NODES * GPUS_PER_NODE
PYTHON = sys.executable


def gpu_task(key, log_path, s):
    with open(log_path, "a") as f:
        f.write(key + "\n")
    time.sleep(s)
    return 1


class Sampler(threading.Thread):
    """Every 0.5 s: registered workers (the client's view) and the jobs of
    one system in Slurm (name prefix), with each job's states seen."""

    def __init__(self, client, cluster, prefix):
        super().__init__(daemon=True)
        self.client, self.cluster, self.prefix = client, cluster, prefix
        self.workers, self.held, self.jobs = [], [], {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                self.workers.append((t, len(self.client.nthreads())))
            except Exception:
                pass
            r = subprocess.run(["squeue", "--json"], env=self.cluster.env,
                               capture_output=True, text=True)
            if r.returncode == 0:
                running = 0
                for j in json.loads(r.stdout)["jobs"]:
                    if not j["name"].startswith(self.prefix):
                        continue
                    st = j["job_state"]
                    st = st[0] if isinstance(st, list) else st
                    self.jobs.setdefault(j["job_id"], set()).add(st)
                    running += st == "RUNNING"
                self.held.append((t, running))
            self.stop.wait(0.5)


def play(client, cluster, prefix, args, exec_log):
    """The trace on one system, whose Slurm jobs' names start with
    prefix (sampled meanwhile); returns its measurements."""
    sampler = Sampler(client, cluster, prefix)
    sampler.start()
    bursts, to_max, lost = [], [], 0
    t_start = time.monotonic()
    try:
        for b in range(args.bursts):
            keys = ["b%d-%d" % (b, i) for i in range(args.tasks)]
            t0 = time.monotonic()
            futs = [client.submit(gpu_task, k, exec_log, args.task_s,
                                  key=k, resources={"GPU": 1}) for k in keys]
            reached = None
            while not all(f.done() for f in futs):
                if reached is None and len(client.nthreads()) >= MAX:
                    reached = time.monotonic() - t0
                time.sleep(0.05)
            client.gather(futs)
            bursts.append(time.monotonic() - t0)
            to_max.append(reached)
            # the burst's results stay held through the gap, while the
            # system shrinks: a key no worker holds after it was lost
            time.sleep(args.gap)
            lost += sum(1 for ws in client.who_has(futs).values() if not ws)
            del futs
        t_end = time.monotonic()
    finally:
        # stopped also when the trace fails: its thread polls Slurm
        sampler.stop.set()
        sampler.join()
    counts = exec_counts(exec_log)
    jobs = sampler.jobs
    return {
        "bursts": bursts,
        "to_max": to_max,
        "gpu_s": step_integral([s for s in sampler.held if s[0] >= t_start],
                               t_end),
        "jobs": len(jobs),
        "never_ran": sum(1 for sts in jobs.values() if not sts & {
            "RUNNING", "COMPLETING", "COMPLETED", "TIMEOUT", "FAILED"}),
        "recomputed": sum(1 for n in counts.values() if n > 1),
        "lost": lost,
        "samples": [(t - t_start, n) for t, n in sampler.workers],
    }


def run_edask(cluster, args, tmp):
    state = os.path.join(tmp, "edask-state")
    port = free_port()
    cfg = os.path.join(tmp, "edask.yaml")
    with open(cfg, "w") as f:
        f.write("listen: 127.0.0.1:%d\nstate_dir: %s\npools:\n%s"
                % (port, state, cluster.edask_pool(MAX)))
    spec = os.path.join(tmp, "bench.yaml")
    with open(spec, "w") as f:
        f.write("name: bench\npool: cluster\npython: %s\n"
                "workers: {min: 1, max: %d, gpus: 1, threads: 1}\n"
                "scaling: {interval: 1s, idle_timeout: 5s, "
                "scale_down_delay: 2s, start_timeout: 60s}\n"
                % (PYTHON, MAX))
    env = dict(cluster.env, EDASK_STATE_DIR=state)
    logf = open(os.path.join(tmp, "edask.log"), "w")
    proc = subprocess.Popen([args.edask, "serve", "-c", cfg], env=env,
                            stdout=logf, stderr=subprocess.STDOUT)
    try:
        def cli(*a):
            return subprocess.run([args.edask] + list(a) + [
                "--addr", "127.0.0.1:%d" % port], env=env,
                capture_output=True, text=True, timeout=60)
        wait_until("edask answers", lambda: cli("ls").returncode == 0, 60)
        r = cli("deploy", spec)
        if r.returncode != 0:
            raise BenchError("edask deploy: %s" % r.stderr.strip())

        def started():
            r = cli("show", "bench", "--json")
            if r.returncode != 0:
                return None
            inst = json.loads(r.stdout)
            return inst if inst["state"] == "started" and [
                w for w in inst["workers"] if w["state"] == "running"] \
                else None
        inst = wait_until("edask's instance with one worker", started, 120)
        client = edask_client(inst, timeout=60)
        try:
            return play(client, cluster, "edask.bench.", args,
                        os.path.join(tmp, "edask-exec.log"))
        finally:
            client.close()
            cli("undeploy", "bench")
            wait_until("edask's jobs gone", lambda: not [
                j for j in cluster.active()
                if j["name"].startswith("edask.bench.")], 120)
            # the undeploy goes on after the jobs (the scheduler stops
            # last), and `edask serve` leaves its instances running when
            # it is stopped: wait until the instance is gone
            wait_until("edask's instance removed", lambda: cli(
                "show", "bench").returncode != 0, 120)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()


def run_jobqueue(cluster, args, tmp):
    import distributed
    from dask_jobqueue import SLURMCluster
    os.environ["SLURM_CONF"] = cluster.conf
    jq = SLURMCluster(cores=1, processes=1, memory="1GB", queue="gpu",
                      walltime="00:30:00", python=PYTHON,
                      job_name="dask-worker-jq",
                      job_extra_directives=["--gres=gpu:1"],
                      worker_extra_args=["--resources", "GPU=1"],
                      scheduler_options={"host": cluster.host_addr,
                                         "dashboard_address": ":0"},
                      log_directory=os.path.join(tmp, "jq-logs"))
    try:
        jq.adapt(minimum_jobs=1, maximum_jobs=MAX)
        client = distributed.Client(jq, timeout=60)
        try:
            wait_until("jobqueue's first worker",
                       lambda: len(client.nthreads()) >= 1, 120)
            return play(client, cluster, "dask-worker-jq", args,
                        os.path.join(tmp, "jq-exec.log"))
        finally:
            client.close()
    finally:
        jq.close()
        cluster.cancel_all()
        del os.environ["SLURM_CONF"]


def fmt(v, digits=1):
    return "-" if v is None else "%.*f" % (digits, v)


def report_rows(res):
    e, j = res["edask"], res["jobqueue"]
    rows = [["", "edask", "jobqueue", "edask / jobqueue"]]
    for i in range(len(e["bursts"])):
        rows.append(["burst %d (s)" % (i + 1), fmt(e["bursts"][i]),
                     fmt(j["bursts"][i]),
                     fmt(ratio(e["bursts"][i], j["bursts"][i]), 2)])
    te, tj = sum(e["bursts"]), sum(j["bursts"])
    rows.append(["total (s)", fmt(te), fmt(tj), fmt(ratio(te, tj), 2)])
    for i in range(len(e["to_max"])):
        a, b = e["to_max"][i], j["to_max"][i]
        rows.append(["to %d, burst %d (s)" % (MAX, i + 1), fmt(a), fmt(b),
                     fmt(ratio(a, b), 2) if a and b else "-"])
    rows.append(["GPU-s held", fmt(e["gpu_s"], 0), fmt(j["gpu_s"], 0),
                 fmt(ratio(e["gpu_s"], j["gpu_s"]), 2)])
    for k in ("jobs", "never_ran", "recomputed", "lost"):
        rows.append([{"jobs": "jobs submitted",
                      "never_ran": "jobs cancelled before running",
                      "recomputed": "tasks recomputed",
                      "lost": "keys lost"}[k],
                     str(e[k]), str(j[k]), ""])
    return rows


def main():
    ap = bench_parser(__doc__, note=False, no_write=True)
    ap.add_argument("--tasks", type=int, default=120)
    ap.add_argument("--task-s", type=float, default=0.5)
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("--gap", type=float, default=15.0)
    args = ap.parse_args()
    args.edask = args.edask or BUILT_EDASK
    why = unavailable() or netns_unavailable()
    if why is not None:
        print("FAILED: %s" % why)
        return 1
    started, _, _ = begin_run()
    res = {}
    with tempfile.TemporaryDirectory(prefix="edask-bench-jq-") as tmp:
        cluster = SlurmCluster(os.path.join(tmp, "slurm"), nodes=NODES)
        try:
            os.makedirs(cluster.dir)
            cluster.start()
            log("cluster: %d nodes of %d GPUs, host %s" % (
                NODES, GPUS_PER_NODE, cluster.host_addr))
            for name, run in (("edask", run_edask),
                              ("jobqueue", run_jobqueue)):
                log("== %s" % name)
                d = os.path.join(tmp, name)
                os.makedirs(d)
                res[name] = run(cluster, args, d)
        except BenchError as e:
            print("FAILED: %s" % e)
            return 1
        finally:
            cluster.stop()
    rows = report_rows(res)
    print(text_table(rows))
    if args.no_write:
        return 0

    def plot(path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(9, 3.5))
        for name in ("edask", "jobqueue"):
            s = res[name]["samples"]
            ax.step([t for t, _ in s], [n for _, n in s], where="post",
                    label=name)
        ax.set_xlabel("s since burst 1")
        ax.set_ylabel("registered workers")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)

    def report(png):
        return ("# edask vs dask-jobqueue on Slurm, %d nodes x %d GPUs\n\n"
                "%s\n\n%d bursts of %d x %.1f s GPU tasks, %.0f s gaps. "
                "Method: bench/slurm_vs_jobqueue.py's docstring. Run %s "
                "on %s, %s.\n\n![workers](%s)\n" % (
                    NODES, GPUS_PER_NODE, md_table(rows), args.bursts,
                    args.tasks, args.task_s, args.gap,
                    started.strftime("%Y-%m-%d %H:%M"), os.uname().nodename,
                    "Python " + sys.version.split()[0], png))
    write_results("slurm_vs_jobqueue", started, report, plot)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
