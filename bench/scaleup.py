#!/usr/bin/env python3
"""Scale-up benchmark: edask versus Dask's own Adaptive, same workload, one run.

Run it with the project's ``.venv/bin/python`` (``make bench`` does); edask
gets ``EDASK_PYTHON`` set to the same interpreter.

Method
------
Both systems start with one registered worker (1 thread, no GPU resource
needed) and may grow to four. A burst of 160 independent tasks of 0.5 s each
(``time.sleep(0.5)``, ``pure=False``) is then submitted from a
``distributed.Client``. From the moment of submission the client polls
``client.nthreads()`` every ~50 ms (the same client-side
method for both systems) and records:

* **to 4 workers**: seconds from submitting the burst until four workers are
  registered with the scheduler;
* **burst**: seconds from submitting the burst until all 160 tasks are done.

The two systems:

1. ``edask``: ``build/edask up --gpus 4`` (four simulated slots) with a spec
   of min 1, max 4, ``gpus: 0``, ``interval: 1s``, in a temporary state
   folder. The benchmark waits for the instance to be ``started`` with one
   worker running, connects to ``outputs.dask_scheduler_address``, runs the
   burst, then stops edask with SIGTERM and waits for it to exit.
2. ``adaptive``: ``LocalCluster(n_workers=1, threads_per_worker=1,
   processes=True)`` with ``.adapt(minimum=1, maximum=4)`` (default Adaptive
   interval, 1 s), same burst, then closed.

``--repeat N`` runs both systems N times, alternating which one goes first,
and reports the median of each column.

Reading the numbers
-------------------
The machines this runs on are small and noisy (shared, 2 cores): absolute
seconds drift from run to run and from machine to machine. Only the ratios
edask/adaptive measured within one run of this script mean anything; compare
ratios, not raw seconds across runs.

Exit status: 0 when every measurement completed, 1 with a message otherwise
(edask not built, a phase past its deadline, a process that would not stop).
Every process this script starts is stopped before it exits.
"""

import os
import statistics
import sys
import time

from harness import (BUILT_EDASK, RESULTS, BenchError, begin_run,
                     bench_parser, check_python, check_same_python,
                     edask_instance, failed, load_line, log, md_table,
                     n_workers, parse_bench_args, rounds, run_line,
                     same_python_lines, text_table, wait_until)

EDASK = BUILT_EDASK

N_TASKS = 160
TASK_S = 0.5
MIN_WORKERS = 1
MAX_WORKERS = 4
POLL_S = 0.05
PHASE_DEADLINE_S = 120.0     # each phase: startup, burst, shutdown

SPEC = f"""\
name: bench
workers: {{min: {MIN_WORKERS}, max: {MAX_WORKERS}, gpus: 0, threads: 1}}
scaling: {{interval: 1s, idle_timeout: 30s, scale_down_delay: 10s}}
"""


class Stages:
    """A scheduler plugin (registered from the client, so it runs in either
    system's scheduler): the wall-clock times of the graph's arrival and of
    each worker's registration."""
    name = "bench-stages"

    def __init__(self):
        self.graph = []
        self.joined = {}

    def update_graph(self, scheduler, *args, **kwargs):
        self.graph.append(time.time())

    def add_worker(self, scheduler=None, worker=None, **kwargs):
        self.joined.setdefault(worker, time.time())


def stage_plugin():
    """Stages as a SchedulerPlugin (whose other hooks do nothing); made
    here so that importing this file does not import distributed."""
    from distributed.diagnostics.plugin import SchedulerPlugin
    return type("BenchStages", (Stages, SchedulerPlugin), {})()


def register_stages(client):
    p = stage_plugin()
    if hasattr(client, "register_plugin"):
        client.register_plugin(p, name=Stages.name)
    else:
        client.register_scheduler_plugin(p, name=Stages.name)


def read_stages(client, t0, old):
    """Where the seconds to MAX_WORKERS went: the graph's arrival at the
    scheduler, and for each new worker (not in old) its process's start
    (from /proc: the fork, or the spawn) and its registration,
    all as seconds after the submission at t0 (wall clock)."""
    def on_scheduler(dask_scheduler):
        p = dask_scheduler.plugins["bench-stages"]
        return list(p.graph), dict(p.joined)

    def created():
        # the process's age from /proc (its start in clock ticks since
        # boot, against the uptime); psutil's create_time adds the boot
        # time, which /proc/stat gives in whole seconds
        import os
        import time
        with open("/proc/self/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
        now = time.time()
        return now - (up - start / os.sysconf("SC_CLK_TCK"))
    graph, joined = client.run_on_scheduler(on_scheduler)
    born = client.run(created)
    new = [a for a in born if a not in old]
    return {
        "t0": t0,
        "graph": (graph[0] - t0) if graph else None,
        "born": sorted(born[a] - t0 for a in new),
        "joined": sorted(joined[a] - t0 for a in new if a in joined),
    }


def run_burst(client):
    """Submit the burst; return (seconds to MAX_WORKERS, burst seconds,
    stages: read_stages' dict)."""
    # Start from exactly the minimum, so both systems face the same start.
    wait_until(f"{MIN_WORKERS} worker registered",
               lambda: n_workers(client) >= MIN_WORKERS, PHASE_DEADLINE_S)
    if n_workers(client) != MIN_WORKERS:
        raise BenchError(f"expected {MIN_WORKERS} worker before the burst, "
                         f"scheduler has {n_workers(client)}")
    check_same_python(client)
    register_stages(client)
    old = set(client.nthreads())

    t0_wall = time.time()
    t0 = time.monotonic()
    futures = client.map(time.sleep, [TASK_S] * N_TASKS, pure=False)
    t_full = t_done = None
    end = t0 + PHASE_DEADLINE_S
    while t_full is None or t_done is None:
        now = time.monotonic()
        if t_full is None and n_workers(client) >= MAX_WORKERS:
            t_full = time.monotonic() - t0
        if t_done is None and all(f.done() for f in futures):
            t_done = time.monotonic() - t0
            if t_full is None:
                raise BenchError(
                    f"burst finished in {t_done:.1f} s but only "
                    f"{n_workers(client)} of {MAX_WORKERS} workers ever "
                    f"registered")
        if now > end:
            raise BenchError(
                f"burst not done after {PHASE_DEADLINE_S:.0f} s "
                f"(workers={n_workers(client)}, "
                f"done={sum(f.done() for f in futures)}/{N_TASKS})")
        time.sleep(POLL_S)
    errors = [f for f in futures if f.status != "finished"]
    if errors:
        raise BenchError(f"{len(errors)} task(s) did not finish: "
                         f"{errors[0].status}")
    del futures
    stages = read_stages(client, t0_wall, old)
    stages["seen"] = t_full
    return t_full, t_done, stages


# ----------------------------------------------------------------- edask ---

def bench_edask():
    if not os.access(EDASK, os.X_OK):
        raise BenchError(f"{EDASK} not found or not executable: run `make` "
                         f"first")
    with edask_instance(EDASK, MAX_WORKERS, SPEC, "bench", MIN_WORKERS,
                        PHASE_DEADLINE_S) as (inst, client, observe):
        log(f"edask: instance started, scheduler "
            f"{inst['outputs']['dask_scheduler_address']}")
        t_full, t_done, stages = run_burst(client)
        observe()                  # collect the PIDs of the new workers
        ups = observe.events("scale_up")
        if ups:
            from datetime import datetime
            t = datetime.fromisoformat(ups[-1]["time"]).timestamp()
            stages["decided"] = t - stages["t0"]
        return t_full, t_done, stages


# -------------------------------------------------------------- adaptive ---

def bench_adaptive():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=MIN_WORKERS, threads_per_worker=1,
                           processes=True, dashboard_address=None)
    try:
        cluster.adapt(minimum=MIN_WORKERS, maximum=MAX_WORKERS)
        with Client(cluster) as client:
            log(f"adaptive: LocalCluster up, scheduler "
                f"{cluster.scheduler_address}")
            return run_burst(client)
    finally:
        cluster.close(timeout=PHASE_DEADLINE_S)
        log("adaptive: cluster closed")


# ------------------------------------------------------------------ main ---

SYSTEMS = {"edask": bench_edask, "adaptive": bench_adaptive}


def main():
    global EDASK
    ap = bench_parser(__doc__, repeat=1, latest="scaleup")
    args = parse_bench_args(ap)
    EDASK = args.edask

    # SIGTERM/SIGINT to the benchmark still run the cleanup in `finally`.
    started, t_start, loads = begin_run()
    results = {name: [] for name in SYSTEMS}
    stages = {name: [] for name in SYSTEMS}
    order = list(SYSTEMS)
    runs = []
    try:
        check_python()
        for rnd, name in rounds(args.repeat, order):
            t_full, t_done, st = SYSTEMS[name]()
            log(f"{name}: 4 workers after {t_full:.2f} s, burst done "
                f"after {t_done:.2f} s; stages {stage_times(st)}")
            results[name].append((t_full, t_done))
            stages[name].append(stage_times(st))
            runs.append((rnd, name, t_full, t_done))
    except (BenchError, ImportError) as e:
        return failed(e)

    med = {name: (statistics.median(x[0] for x in rs),
                  statistics.median(x[1] for x in rs))
           for name, rs in results.items()}
    kind = "median of %d runs" % args.repeat if args.repeat > 1 else "1 run"
    print(f"\nScale-up: {N_TASKS} tasks x {TASK_S} s, {MIN_WORKERS} -> "
          f"{MAX_WORKERS} workers ({kind}; seconds from submit)\n")
    print(f"{'system':<10} {'to 4 workers (s)':>17} {'burst done (s)':>15}")
    for name in SYSTEMS:
        print(f"{name:<10} {med[name][0]:>17.2f} {med[name][1]:>15.2f}")
    e, a = med["edask"], med["adaptive"]
    print(f"{'ratio e/a':<10} {e[0] / a[0]:>17.2f} {e[1] / a[1]:>15.2f}")
    print("\n(ratio < 1: edask faster. Only same-run ratios are meaningful; "
          "this machine is noisy.)")
    srows = stage_rows(stages)
    print("\nWhere the time to %d workers goes (s after the submission, "
          "median):\n" % MAX_WORKERS)
    print(text_table(srows))
    if args.write:
        loads.append(load_line())
        path = os.path.join(RESULTS, "scaleup-latest.md")
        os.makedirs(RESULTS, exist_ok=True)
        with open(path, "w") as f:
            f.write(report(args, med, runs, kind, started,
                           time.monotonic() - t_start, loads, srows))
        print(f"\nwrote bench/results/{os.path.basename(path)}")
    return 0


STAGES = [
    ("graph", "the graph reaches the scheduler"),
    ("decided", "edask's scale_up event (written once the forks are asked)"),
    ("born_first", "first new worker process started"),
    ("born_last", "last new worker process started"),
    ("joined_first", "first new worker registered"),
    ("joined_last", "last new worker registered"),
    ("seen", "the client sees %d workers" % MAX_WORKERS),
]


def stage_times(st):
    """read_stages' dict as the STAGES' times (None where not measured)."""
    return {
        "graph": st.get("graph"),
        "decided": st.get("decided"),
        "born_first": st["born"][0] if st["born"] else None,
        "born_last": st["born"][-1] if st["born"] else None,
        "joined_first": st["joined"][0] if st["joined"] else None,
        "joined_last": st["joined"][-1] if st["joined"] else None,
        "seen": st["seen"],
    }


def stage_rows(stages):
    """One row per stage: its median time after the submission in each
    system, and the step from the stage before (edask's)."""
    def med(name, key):
        xs = [t[key] for t in stages[name] if t.get(key) is not None]
        return statistics.median(xs) if xs else None
    rows = [["stage"] + [f"{n} (s)" for n in SYSTEMS] + ["edask step (s)"]]
    prev = 0.0
    for key, what in STAGES:
        vals = [med(n, key) for n in SYSTEMS]
        e = vals[0]
        step = "-" if e is None else f"{e - prev:.3f}"
        if e is not None:
            prev = e
        rows.append([what] + ["-" if v is None else f"{v:.3f}"
                              for v in vals] + [step])
    return rows


def report(args, med, runs, kind, started, wall_s, loads, srows):
    e, a = med["edask"], med["adaptive"]
    rows = [["system", "to 4 workers (s)", "burst done (s)"]]
    rows += [[name, f"{med[name][0]:.2f}", f"{med[name][1]:.2f}"]
             for name in SYSTEMS]
    rows.append(["**ratio edask / adaptive**", f"**{e[0] / a[0]:.2f}**",
                 f"**{e[1] / a[1]:.2f}**"])
    every = [["round", "system", "to 4 workers (s)", "burst done (s)"]]
    every += [[str(r), n, f"{tf:.2f}", f"{td:.2f}"]
              for r, n, tf, td in runs]
    lines = [
        "# Scale-up: edask vs Dask Adaptive",
        "",
        run_line(f"{started:%Y-%m-%d %H:%M:%S}", args.argv, wall_s)
        + f"; {kind}, the order alternating.",
        "",
    ] + same_python_lines(loads, args.note) + [
        "",
        f"{N_TASKS} tasks of `time.sleep({TASK_S})` (`pure=False`, no "
        f"resources) submitted to {MIN_WORKERS} worker; seconds from the "
        f"submission until {MAX_WORKERS} workers are registered "
        f"(`client.nthreads()`, polled every {POLL_S} s) and until "
        f"the burst is done. edask: `build/edask up --gpus {MAX_WORKERS}`, "
        f"min {MIN_WORKERS}, max {MAX_WORKERS}, `gpus: 0`, `interval: 1s`. "
        f"adaptive: `LocalCluster(n_workers={MIN_WORKERS}, "
        f"threads_per_worker=1).adapt(minimum={MIN_WORKERS}, "
        f"maximum={MAX_WORKERS})`.",
        "",
        md_table(rows),
        "",
        "Where the time to %d workers goes: seconds after the submission "
        "(wall clock: the client's submission, a scheduler plugin's "
        "`update_graph` and `add_worker` times, each new worker's process "
        "start time from /proc, edask's `scale_up` event), median of the "
        "runs. Adaptive has no decision event: its first new process "
        "follows its decision." % MAX_WORKERS,
        "",
        md_table(srows),
        "",
        "Every run:",
        "",
        md_table(every),
        "",
        "Earlier results, on Debian's Dask 2022.12.1 (before and after the "
        "change signal and the worker forker), are in this file's git "
        "history. Shared, noisy machine: compare the ratios of one run, "
        "not raw seconds across runs.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
