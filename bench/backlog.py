#!/usr/bin/env python3
"""Backlog benchmark: the burst after a scale-up, edask versus Dask's Adaptive.

Run it with the project's ``.venv/bin/python`` (``make bench`` does).

The question
------------
Tasks with a resource restriction (``resources={"GPU": 1}``) are never
queued on Dask's scheduler: when a burst arrives, every task is assigned at
once to the one worker there is, and workers that join later get tasks only
through work stealing, whose periodic ``balance()`` runs every second (since
Dask 2025.2). edask's scheduler preload calls that same ``balance()`` when a
worker joins and again 0.05, 0.25, 0.6 and 1.0 s later. This measures what a
new worker waits between registering and starting its first task.

Method
------
Every system starts with one registered worker of 1 thread offering
``GPU=1``, may grow to four, and gets the same burst: 160 tasks of
``time.sleep(0.5)`` submitted with ``client.map(..., pure=False,
resources={"GPU": 1})``. Each task records ``time.time()`` and
``get_worker().address`` when it starts and when it ends; a scheduler
plugin, installed through ``client.run_on_scheduler`` before the burst,
records ``time.time()`` when each worker registers (``add_worker``); the
scheduler's ``stealing`` event log gives the time of every steal request
and its thief. All clocks are this machine's.

Per new worker (by order of registration): **registered**, **first steal**
(the first ``balance()`` that asked for a task for it), **first task** (its
first task's start) and the **gap** between registering and its first task,
all in seconds from the submission. Per run: **to 4 registered**, **to 4
busy** (the last of the four workers to start its first task) and **burst
done** (the last task's end).

The systems:

1. ``edask``: ``build/edask up --gpus 4`` (simulated slots) with a spec of
   min 1, max 4, ``gpus: 1``, ``threads: 1``, ``interval: 1s`` and an
   ``idle_timeout`` longer than the run, in a temporary state folder;
2. ``edask-norebalance``: the same, with the preload's extra
   ``balance()`` calls switched off (below). Stealing itself stays on, at
   Dask's 1 s interval, as in ``adaptive``;
3. ``adaptive``: ``LocalCluster(n_workers=1, threads_per_worker=1,
   processes=True, resources={"GPU": 1})`` with ``.adapt(minimum=1,
   maximum=4)`` (Dask's defaults: 1 s interval). LocalCluster's worker spec
   carries ``resources``, so the workers adapt adds offer GPU=1 too; the
   benchmark checks every worker's resources and fails otherwise.

How the rebalance is switched off without changing edask: both edask runs
give the scheduler (spec ``env``) a ``PYTHONPATH`` with a ``sitecustomize``
written by this script. It acts only on the import of ``edask_preload``:
with ``EDASK_BENCH_REBALANCE=off`` it replaces the preload's
``rebalance_soon`` with a no-op; with ``on`` it leaves it and only wraps
``rebalance`` to count the steal requests each of its calls makes. The
benchmark fails if the hook did not find those two functions.

``--repeat N`` runs every system N times, the order alternating from round
to round, and reports medians.

The machines this runs on are small and noisy (shared, 2 cores): compare
the ratios of one run, never raw seconds across runs.

Outputs: a table on stdout and, unless ``--no-write``,
``bench/results/backlog-YYYYmmdd-HHMMSS.md`` and ``backlog-latest.md``.
Exit status 0 when every measurement completed, 1 with ``FAILED:``
otherwise. Every process started here is stopped; temporary folders are
removed.
"""

import os
import statistics
import sys
import tempfile
import time

from harness import (BUILT_EDASK, BenchError, NewChildren, begin_run,
                     bench_parser, check_python, check_same_python,
                     close_edask, edask_client, failed, load_line, log,
                     md_table, noted_report, observe_instance,
                     parse_bench_args, rounds, run_line, same_python_lines,
                     start_edask, text_table, throttled, wait_api_url,
                     wait_instance_started, wait_until, write_results)

EDASK = BUILT_EDASK

N_TASKS = 160
TASK_S = 0.5
MIN_WORKERS = 1
MAX_WORKERS = 4
IDLE_TIMEOUT_S = 600          # no scale-down during a run
PHASE_DEADLINE_S = 120.0      # each phase: startup, burst
RECORDER = "bench-backlog-recorder"

SYSTEMS = ["edask", "edask-norebalance", "adaptive"]

SPEC = """\
name: backlog
workers: {{min: {min}, max: {max}, gpus: 1, threads: 1}}
scaling: {{interval: 1s, idle_timeout: {idle}s, scale_down_delay: 10s}}
env:
  PYTHONPATH: "{pythonpath}"
  EDASK_BENCH_REBALANCE: "{mode}"
  EDASK_BENCH_HOOK_LOG: "{hook_log}"
"""

# Written as sitecustomize.py into a folder on the scheduler's PYTHONPATH
# (and the workers': it does nothing there). See the module docstring.
HOOK = r'''"""bench/backlog.py's hook: switches edask's preload rebalance off
(EDASK_BENCH_REBALANCE=off), or counts what it moves (on)."""
import os
import sys
import time

_MODE = os.environ.get("EDASK_BENCH_REBALANCE")
_LOG = os.environ.get("EDASK_BENCH_HOOK_LOG")


def _write(line):
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(line + "\n")


def _patch(module):
    if not (callable(getattr(module, "rebalance_soon", None))
            and callable(getattr(module, "rebalance", None))):
        _write("missing %d" % os.getpid())
        return
    if _MODE == "off":
        module.rebalance_soon = lambda scheduler: None
        _write("patched off %d" % os.getpid())
        return
    real = module.rebalance

    def rebalance(scheduler):
        st = scheduler.extensions.get("stealing")

        def count():
            if st is None:
                return 0
            return sum(st.metrics["request_count_total"].values())
        t, before = time.time(), count()
        real(scheduler)
        _write("call %.6f %d" % (t, count() - before))
    module.rebalance = rebalance
    _write("patched on %d" % os.getpid())


if _MODE in ("on", "off"):
    import importlib.machinery

    class _PreloadFinder:
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name != "edask_preload":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            real_exec = spec.loader.exec_module

            def exec_module(module):
                real_exec(module)
                _patch(module)
            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _PreloadFinder)
'''


# The task and the scheduler-side functions are defined in __main__, so
# cloudpickle ships them by value.
def gpu_task(seconds):
    t0 = time.time()
    from distributed import get_worker
    address = get_worker().address
    time.sleep(seconds)
    return address, t0, time.time()


def install_recorder(dask_scheduler=None):
    import time as _time
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Recorder(SchedulerPlugin):
        def __init__(self):
            self.added = {}          # address -> time.time() of add_worker
            self.resources = {}

        def add_worker(self, scheduler=None, worker=None, **kwargs):
            self.added.setdefault(worker, _time.time())
            ws = scheduler.workers.get(worker)
            self.resources[worker] = dict(ws.resources or {}) if ws else {}

    rec = Recorder()
    dask_scheduler.add_plugin(rec, name=RECORDER_NAME)
    return {a: dict(ws.resources or {})
            for a, ws in dask_scheduler.workers.items()}


def read_recorder(dask_scheduler=None):
    rec = dask_scheduler.plugins[RECORDER_NAME]
    return {"added": dict(rec.added), "resources": dict(rec.resources)}


RECORDER_NAME = RECORDER


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def run_burst(client, on_poll=None):
    """Submit the burst on a cluster of one worker; return a result dict."""
    def workers():
        return client.nthreads()

    wait_until(f"{MIN_WORKERS} worker registered",
               lambda: len(workers()) >= MIN_WORKERS, PHASE_DEADLINE_S)
    if len(workers()) != MIN_WORKERS:
        raise BenchError(f"expected {MIN_WORKERS} worker before the burst, "
                         f"the scheduler has {len(workers())}")
    check_same_python(client)
    initial = client.run_on_scheduler(install_recorder)
    (first_worker, first_res), = initial.items()
    if first_res.get("GPU", 0) < 1:
        raise BenchError(f"the first worker offers {first_res}, not GPU=1")

    t_sub = time.time()
    futures = client.map(gpu_task, [TASK_S] * N_TASKS, pure=False,
                         resources={"GPU": 1})
    end = time.monotonic() + PHASE_DEADLINE_S
    while not all(f.done() for f in futures):
        if on_poll:
            on_poll()
        if time.monotonic() > end:
            raise BenchError(
                f"burst not done after {PHASE_DEADLINE_S:.0f} s "
                f"(workers={len(workers())}, done="
                f"{sum(f.done() for f in futures)}/{N_TASKS})")
        time.sleep(0.2)
    bad = [f for f in futures if f.status != "finished"]
    if bad:
        raise BenchError(f"{len(bad)} task(s) did not finish: "
                         f"{bad[0].status}")
    runs = client.gather(futures)
    del futures
    rec = client.run_on_scheduler(read_recorder)
    events = client.get_events("stealing")

    added = {a: t for a, t in rec["added"].items() if a != first_worker}
    no_gpu = {a: r for a, r in rec["resources"].items()
              if r.get("GPU", 0) < 1}
    if no_gpu:
        raise BenchError(f"worker(s) registered without GPU=1: {no_gpu}")
    if len(added) < MAX_WORKERS - MIN_WORKERS:
        raise BenchError(f"only {len(added) + MIN_WORKERS} of {MAX_WORKERS} "
                         f"workers ever registered during the burst")

    first_start, n_tasks = {}, {}
    for address, t0, _t1 in runs:
        first_start[address] = min(t0, first_start.get(address, t0))
        n_tasks[address] = n_tasks.get(address, 0) + 1
    steal_times = {}              # thief -> first request, balance() start
    n_steals = 0
    for _stamp, msg in events:
        if not (isinstance(msg, (tuple, list)) and msg
                and msg[0] == "request"):
            continue
        for entry in msg[1]:
            start, thief = entry[0], entry[6]
            if start < t_sub:
                continue
            n_steals += 1
            steal_times[thief] = min(start, steal_times.get(thief, start))

    def rel(t):
        return None if t is None else t - t_sub

    new = []
    joined = sorted(added.items(), key=lambda kv: kv[1])
    for address, t_reg in joined[:MAX_WORKERS - MIN_WORKERS]:
        t_first = first_start.get(address)
        new.append({
            "address": address,
            "registered": rel(t_reg),
            "first_steal": rel(steal_times.get(address)),
            "first_task": rel(t_first),
            "gap": None if t_first is None else t_first - t_reg,
            "tasks": n_tasks.get(address, 0),
        })
    busy = [first_start.get(a) for a in [first_worker]
            + [w["address"] for w in new]]
    gaps = [w["gap"] for w in new]
    return {
        "new": new,
        "first_worker_tasks": n_tasks.get(first_worker, 0),
        "to_registered": max(w["registered"] for w in new),
        "to_busy": None if None in busy else rel(max(busy)),
        "joined": len(joined) + MIN_WORKERS,
        "gap_median": median_or_none(gaps),
        "gap_max": None if None in gaps else max(gaps),
        "done": max(t1 for _a, _t0, t1 in runs) - t_sub,
        "steals": n_steals,
        "t_sub": t_sub,
    }


# ----------------------------------------------------------------- edask ---

def bench_edask(rebalance):
    if not os.access(EDASK, os.X_OK):
        raise BenchError(f"{EDASK} not found or not executable: run `make` "
                         f"first")
    from distributed import Client

    name = "edask" if rebalance else "edask-norebalance"
    mode = "on" if rebalance else "off"
    tmp = tempfile.TemporaryDirectory(prefix="edask-backlog-")
    state = os.path.join(tmp.name, "state")
    hook_dir = os.path.join(tmp.name, "hook")
    os.makedirs(hook_dir)
    with open(os.path.join(hook_dir, "sitecustomize.py"), "w") as f:
        f.write(HOOK)
    hook_log = os.path.join(tmp.name, "hook.log")
    pythonpath = hook_dir
    if os.environ.get("PYTHONPATH"):
        pythonpath += os.pathsep + os.environ["PYTHONPATH"]
    spec_path = os.path.join(tmp.name, "backlog.yaml")
    with open(spec_path, "w") as f:
        f.write(SPEC.format(min=MIN_WORKERS, max=MAX_WORKERS,
                            idle=IDLE_TIMEOUT_S, pythonpath=pythonpath,
                            mode=mode, hook_log=hook_log))
    log_path = os.path.join(tmp.name, "edask.log")
    proc, log_file = start_edask(EDASK, MAX_WORKERS, state, [spec_path],
                                 log_path)
    # edask starts its scheduler and workers in sessions of their own, so
    # its process group does not cover them: remember their PIDs.
    dask_pids = set()
    client = None
    api = None

    def observe():
        return observe_instance(proc, log_path, api, "backlog", dask_pids,
                                ("scheduler", "forker"))

    def read_hook():
        try:
            with open(hook_log) as f:
                return f.read().split("\n")
        except FileNotFoundError:
            return []

    try:
        api = wait_api_url(proc, state, log_path, PHASE_DEADLINE_S)
        inst = wait_instance_started(observe, MIN_WORKERS,
                                     deadline_s=PHASE_DEADLINE_S)
        lines = read_hook()
        if any(l.startswith("missing") for l in lines):
            raise BenchError("edask's preload has no rebalance_soon() and "
                             "rebalance() any more: the hook cannot switch "
                             "its rebalance; update HOOK, or run --systems "
                             "edask,adaptive")
        if not any(l.startswith(f"patched {mode}") for l in lines):
            raise BenchError(f"the hook never saw the scheduler import "
                             f"edask_preload (hook log: {lines[-5:]})")
        address = inst["outputs"]["dask_scheduler_address"]
        log(f"{name}: instance started, scheduler {address}")
        client = edask_client(inst, timeout=30)
        result = run_burst(client, throttled(observe))
        observe()                  # the PIDs of the new workers
        calls = [l.split() for l in read_hook() if l.startswith("call ")]
        calls = [(float(t), int(n)) for _c, t, n in calls
                 if float(t) >= result["t_sub"]]
        result["preload_calls"] = len(calls) if rebalance else None
        result["preload_steals"] = (sum(n for _t, n in calls)
                                    if rebalance else None)
        return result
    finally:
        if client is not None:
            client.close()
        close_edask(proc, log_path, dask_pids, log_file, tmp)


# -------------------------------------------------------------- adaptive ---

def bench_adaptive():
    from distributed import Client, LocalCluster

    children = NewChildren()
    cluster = LocalCluster(n_workers=MIN_WORKERS, threads_per_worker=1,
                           processes=True, resources={"GPU": 1},
                           host="127.0.0.1", dashboard_address=None)
    try:
        cluster.adapt(minimum=MIN_WORKERS, maximum=MAX_WORKERS)
        with Client(cluster) as client:
            log(f"adaptive: LocalCluster up, scheduler "
                f"{cluster.scheduler_address}")
            result = run_burst(client, children.note)
            result["preload_calls"] = result["preload_steals"] = None
            return result
    finally:
        children.close([cluster], "adaptive: cluster")


RUNNERS = {
    "edask": lambda: bench_edask(True),
    "edask-norebalance": lambda: bench_edask(False),
    "adaptive": bench_adaptive,
}


# ---------------------------------------------------------------- report ---

def f2(v):
    return "-" if v is None else f"{v:.2f}"


def rt(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}"


SUMMARY = [("to_registered", "to 4 registered (s)"),
           ("to_busy", "to 4 busy (s)"),
           ("gap_median", "gap, median new worker (s)"),
           ("gap_max", "gap, worst new worker (s)"),
           ("done", "burst done (s)")]


def medians(results):
    """{system: {column: median over runs}} (and per new-worker rank)."""
    out = {}
    for name, runs in results.items():
        if not runs:
            continue
        m = {k: median_or_none(r[k] for r in runs) for k, _ in SUMMARY}
        m["steals"] = median_or_none(r["steals"] for r in runs)
        m["preload_steals"] = median_or_none(r["preload_steals"]
                                             for r in runs)
        m["new"] = []
        for i in range(MAX_WORKERS - MIN_WORKERS):
            m["new"].append({k: median_or_none(r["new"][i][k] for r in runs)
                             for k in ("registered", "first_steal",
                                       "first_task", "gap", "tasks")})
        out[name] = m
    return out


def summary_rows(med):
    rows = [["system"] + [h for _, h in SUMMARY]
            + ["steal requests", "of them by the preload"]]
    for name in SYSTEMS:
        m = med.get(name)
        if m is None:
            continue
        rows.append([name] + [f2(m[k]) for k, _ in SUMMARY]
                    + ["-" if m["steals"] is None else f"{m['steals']:.0f}",
                       "-" if m["preload_steals"] is None
                       else f"{m['preload_steals']:.0f}"])
    for a, b in (("edask", "adaptive"), ("edask-norebalance", "adaptive"),
                 ("edask", "edask-norebalance")):
        if a in med and b in med:
            rows.append([f"{a} / {b}"]
                        + [rt(med[a][k], med[b][k]) for k, _ in SUMMARY]
                        + ["", ""])
    return rows


def worker_rows(med):
    rows = [["system", "new worker", "registered (s)", "first steal (s)",
             "first task (s)", "gap (s)", "tasks run"]]
    for name in SYSTEMS:
        m = med.get(name)
        if m is None:
            continue
        for i, w in enumerate(m["new"]):
            rows.append([name, f"#{i + 2}", f2(w["registered"]),
                         f2(w["first_steal"]), f2(w["first_task"]),
                         f2(w["gap"]), "-" if w["tasks"] is None
                         else f"{w['tasks']:.0f}"])
    return rows


def run_rows(results, order_log):
    rows = [["round", "system", "registered #2 / #3 / #4 (s)",
             "to 4 busy (s)", "gaps #2 / #3 / #4 (s)", "burst done (s)",
             "tasks #1..#4"]]
    for rnd, name, idx in order_log:
        r = results[name][idx]
        rows.append([str(rnd), name,
                     " / ".join(f2(w["registered"]) for w in r["new"]),
                     f2(r["to_busy"]),
                     " / ".join(f2(w["gap"]) for w in r["new"]),
                     f2(r["done"]),
                     " / ".join([str(r["first_worker_tasks"])]
                                + [str(w["tasks"]) for w in r["new"]])])
    return rows


def write_report(args, results, med, order_log, started, wall_s, loads):
    kind = (f"median of {args.repeat} runs" if args.repeat > 1
            else "1 run")
    lines = [
        "# Backlog: the burst after a scale-up (GPU-restricted tasks)",
        "",
        run_line(started, args.argv, wall_s) + f"; {kind}, the order of "
        f"the systems alternating from round to round.",
        "",
    ] + same_python_lines(loads, args.note) + [
        "",
        f"Burst: {N_TASKS} tasks of `time.sleep({TASK_S})`, `pure=False`, "
        f"`resources={{'GPU': 1}}`, submitted to 1 worker (1 thread, "
        f"GPU=1); the system grows to {MAX_WORKERS}.",
        "",
        f"- edask: `build/edask up --gpus {MAX_WORKERS}`, spec min "
        f"{MIN_WORKERS}, max {MAX_WORKERS}, `gpus: 1`, `threads: 1`, "
        f"`interval: 1s`, `idle_timeout: {IDLE_TIMEOUT_S}s`; the preload "
        f"calls stealing's `balance()` when a worker joins and 0.05, "
        f"0.25, 0.6, 1.0 s later.",
        "- edask-norebalance: the same, with the preload's "
        "`rebalance_soon` replaced by a no-op (a `sitecustomize` on the "
        "scheduler's `PYTHONPATH`, see bench/backlog.py); Dask's own "
        "stealing still runs every 1 s.",
        f"- adaptive: `LocalCluster(n_workers={MIN_WORKERS}, "
        f"threads_per_worker=1, resources={{'GPU': 1}}).adapt("
        f"minimum={MIN_WORKERS}, maximum={MAX_WORKERS})` (1 s interval); "
        f"the workers adapt adds offer GPU=1 too (checked).",
        "",
        "## Summary",
        "",
        md_table(summary_rows(med)),
        "",
        "Seconds from the submission. gap: from a worker's registration "
        "(scheduler plugin, `add_worker`) to the start of its first task "
        "(recorded by the task). to 4 busy: the last of the four workers "
        "starts its first task. burst done: the last task ends. steal "
        "requests: from the scheduler's `stealing` event log; of them by "
        "the preload: made by the preload's own `balance()` calls.",
        "",
        "## Per new worker (by order of registration)",
        "",
        md_table(worker_rows(med)),
        "",
        "first steal: the `balance()` that first asked for a task for "
        "that worker; the task then still goes victim -> scheduler -> "
        "thief (a steal is a request and a confirmation).",
        "",
        "## Every run",
        "",
        md_table(run_rows(results, order_log)),
    ]
    return noted_report(lines)


# ------------------------------------------------------------------ main ---

def main():
    global EDASK
    ap = bench_parser(__doc__, systems=SYSTEMS, repeat=1, no_write=True)
    args = parse_bench_args(ap, SYSTEMS)
    EDASK = args.edask

    started, t_start, loads = begin_run()
    order = args.chosen
    results = {name: [] for name in order}
    order_log = []
    try:
        check_python()
        for rnd, name in rounds(args.repeat, order):
            res = RUNNERS[name]()
            order_log.append((rnd, name, len(results[name])))
            results[name].append(res)
            log(f"{name}: 4 registered {f2(res['to_registered'])} s, "
                f"4 busy {f2(res['to_busy'])} s, gaps "
                + " / ".join(f2(w["gap"]) for w in res["new"])
                + f" s, done {f2(res['done'])} s, "
                f"{res['steals']} steal requests")
    except (BenchError, ImportError) as e:
        return failed(e)
    loads.append(load_line())
    wall_s = time.monotonic() - t_start

    med = medians(results)
    kind = (f"median of {args.repeat} runs" if args.repeat > 1
            else "1 run")
    print(f"\nBacklog: {N_TASKS} GPU tasks x {TASK_S} s, {MIN_WORKERS} -> "
          f"{MAX_WORKERS} workers ({kind}; seconds from submit)\n")
    print(text_table(summary_rows(med)))
    print()
    print(text_table(worker_rows(med)))
    print("\n(ratio < 1: the first system is faster. Only same-run ratios "
          "are meaningful; this machine is noisy.)")

    if not args.no_write:
        text = write_report(args, results, med, order_log,
                            started.strftime("%Y-%m-%d %H:%M:%S"), wall_s,
                            loads)
        write_results("backlog", started, lambda png: text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
