#!/usr/bin/env python3
"""Bursty-trace benchmark: edask, Dask Adaptive, static min, static max.

Run it with the project's ``.venv/bin/python`` (``make bench`` does); edask
gets ``EDASK_PYTHON`` set to the same interpreter.

Method
------
One run plays the same trace on four systems, one after the other:

1. ``edask``: ``build/edask up --gpus 4`` (four simulated slots) with a spec
   of min 1, max 4, ``gpus: 0``, ``threads: 1``, ``interval: 1s``,
   ``idle_timeout: auto`` (``--idle``: learned from what a new worker takes
   to start, about 1 s here), ``scale_down_delay: 2s``, in a temporary
   state folder;
2. ``adaptive``: ``LocalCluster(n_workers=1, threads_per_worker=1,
   processes=True).adapt(minimum=1, maximum=4)`` with Dask's defaults
   (``interval`` 1 s, ``wait_count`` 3, ``target_duration`` 5 s): an idle
   worker is retired after about 3 consecutive 1 s recommendations, ~3 s;
3. ``static-max``: ``LocalCluster`` of 4 workers, no adapt;
4. ``static-min``: ``LocalCluster`` of 1 worker, no adapt.

The trace: three bursts of 80 independent "training-like" tasks
(``time.sleep(0.5)``, each with its own key). Each burst is submitted once
the previous one is done and an idle gap has passed; the gap (10 s by
default) is longer than edask's and Adaptive's idle timeouts, so an
elastic system can shrink between bursts.

Measured, the same client-side way for every system:

* **burst N (s)**: seconds from submitting burst N until all its tasks are
  done; **total** is their sum (the idle gaps are not included);
* **worker-s**: the number of workers registered with the scheduler
  (``len(client.nthreads())``), sampled every ~0.2 s and
  integrated over time (step function) from the submission of burst 1 to the
  end of burst 3, idle gaps included. The trailing scale-down after the last
  burst is not in the window;
* **to max (s)**: for each burst, seconds from its submission until 4
  workers are registered ("-" when never reached);
* **recomputed**: every task appends its key to a log file in a temporary
  folder when it starts executing; a key with more than one line was
  executed more than once. A key with no line is an error.

Targets (recorded, not tuned for): edask total <= 1.03x static-max's
(issue 17), edask worker-s <= 0.6x static-max's, edask better than
adaptive on both, zero recomputed tasks. Each prints PASS or MISS.

Outputs: a table on stdout, and under ``bench/results/``
``bursty-YYYYmmdd-HHMMSS.{md,png}`` plus copies ``bursty-latest.{md,png}``.

The machines this runs on are small and noisy: compare ratios within one
run, not raw seconds across runs. Exit status 0 when every measurement
completed (whatever PASS/MISS says), 1 with ``FAILED:`` otherwise. Every
process started here is stopped by PID; temporary folders are removed.
"""

import os
import shutil
import tempfile
import time

from harness import (BenchError, NewChildren, Targets, bench_parser,
                     check_all_logged, check_same_python, edask_instance,
                     exec_counts, finish_run, log, logging_task, md_table,
                     n_workers, noted_report, parse_bench_args, plot_rows,
                     print_targets, ratio, run_chosen, run_line, run_main,
                     same_python_lines, save_plot, step_integral,
                     targets_lines, text_table, throttled, wait_until)

MIN_WORKERS = 1
MAX_WORKERS = 4
IDLE_TIMEOUT = "auto"         # --idle: learned from the start cost
SCALE_DOWN_DELAY_S = 2
GAP_S = 10
SAMPLE_S = 0.2
PHASE_DEADLINE_S = 180.0     # each wait: startup, one burst



def spec(idle):
    return f"""\
name: bursty
workers: {{min: {MIN_WORKERS}, max: {MAX_WORKERS}, gpus: 0, threads: 1}}
scaling: {{interval: 1s, idle_timeout: {idle}, \
scale_down_delay: {SCALE_DOWN_DELAY_S}s}}
"""

SYSTEMS = ["edask", "adaptive", "static-max", "static-min"]


# The task: train_step(log_path, key, seconds) logs key, sleeps, returns
# key (shipped by value: see logging_task).
train_step = logging_task()


def run_trace(client, args, start_workers, on_sample=None):
    """Play the trace on a connected client. Returns a result dict."""
    wait_until(f"{start_workers} worker(s) registered",
               lambda: n_workers(client) == start_workers)
    check_same_python(client)
    tmp = tempfile.mkdtemp(prefix="edask-bursty-exec-")
    exec_log = os.path.join(tmp, "executions.log")
    samples = []                 # (t, workers)
    bursts = []                  # (t_submit, t_done) relative to t0
    to_max = []
    t0 = time.monotonic()

    def sample():
        n = n_workers(client)
        samples.append((time.monotonic() - t0, n))
        if on_sample:
            on_sample()
        return n

    try:
        keys_all = []
        for b in range(args.bursts):
            if b > 0:            # idle gap, still sampled
                end = time.monotonic() + args.gap
                while time.monotonic() < end:
                    sample()
                    time.sleep(SAMPLE_S)
            keys = [f"bursty-b{b + 1}-{i:03d}" for i in range(args.tasks)]
            keys_all += keys
            ts = time.monotonic() - t0
            futures = [client.submit(train_step, exec_log, k, args.task_s,
                                     key=k, pure=False) for k in keys]
            t_max = None
            deadline = time.monotonic() + PHASE_DEADLINE_S
            while True:
                n = sample()
                now = time.monotonic() - t0
                if t_max is None and n >= MAX_WORKERS:
                    t_max = now - ts
                if all(f.done() for f in futures):
                    break
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"burst {b + 1} not done after "
                        f"{PHASE_DEADLINE_S:.0f} s (workers={n}, done="
                        f"{sum(f.done() for f in futures)}/{args.tasks})")
                time.sleep(SAMPLE_S)
            td = time.monotonic() - t0
            bad = [f for f in futures if f.status != "finished"]
            if bad:
                raise BenchError(f"{len(bad)} task(s) of burst {b + 1} did "
                                 f"not finish: {bad[0].status}")
            client.gather(futures)
            del futures
            bursts.append((ts, td))
            to_max.append(t_max)
            log(f"  burst {b + 1}: {td - ts:.2f} s, max reached "
                f"{'-' if t_max is None else f'{t_max:.2f} s'}")
        sample()
        t_end = bursts[-1][1]
        counts = exec_counts(exec_log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check_all_logged(counts, keys_all)
    recomputed = sum(1 for k in keys_all if counts[k] > 1)
    # Integrate workers over [0, t_end]: each sample holds until the next.
    ws = step_integral(samples, t_end)
    return {"bursts": bursts, "to_max": to_max, "samples": samples,
            "worker_s": ws, "recomputed": recomputed,
            "executions": sum(counts.values()),
            "total": sum(td - ts for ts, td in bursts)}


# ----------------------------------------------------------------- edask ---

def bench_edask(args):
    if not os.access(args.edask, os.X_OK):
        raise BenchError(f"{args.edask} not found or not executable: run "
                         f"`make` first")
    # edask_instance keeps the PIDs of edask's scheduler and workers (in
    # sessions of their own) so that none can outlive the benchmark.
    with edask_instance(args.edask, MAX_WORKERS, spec(args.idle), "bursty",
                        MIN_WORKERS) as (inst, client, observe):
        address = inst["outputs"]["dask_scheduler_address"]
        log(f"edask: instance started, scheduler {address}")
        # during the trace: once a second
        return run_trace(client, args, MIN_WORKERS, throttled(observe))


# ------------------------------------------------------- LocalCluster(s) ---

def bench_local(args, n_start, adapt):
    from distributed import Client, LocalCluster

    children = NewChildren()
    name = "adaptive" if adapt else f"static-{n_start}"
    cluster = LocalCluster(n_workers=n_start, threads_per_worker=1,
                           processes=True, dashboard_address=None)
    try:
        if adapt:
            # Dask's defaults, spelled out: interval 1 s, wait_count 3,
            # target_duration 5 s.
            cluster.adapt(minimum=MIN_WORKERS, maximum=MAX_WORKERS,
                          interval="1s", wait_count=3, target_duration="5s")
        with Client(cluster) as client:
            log(f"{name}: LocalCluster up, scheduler "
                f"{cluster.scheduler_address}")
            return run_trace(client, args, n_start, children.note)
    finally:
        children.close([cluster], f"{name}: cluster")


RUNNERS = {
    "edask": bench_edask,
    "adaptive": lambda a: bench_local(a, MIN_WORKERS, True),
    "static-max": lambda a: bench_local(a, MAX_WORKERS, False),
    "static-min": lambda a: bench_local(a, MIN_WORKERS, False),
}


def summary(r):
    """What the log says of a system's result r."""
    return (f"total {r['total']:.2f} s, {r['worker_s']:.1f} worker-s, "
            f"recomputed {r['recomputed']}")


# ---------------------------------------------------------------- report ---

def fmt_max(v):
    return "-" if v is None else f"{v:.1f}"


def build_table(res, args):
    """Rows of the result table, as lists of strings (header first)."""
    head = ([f"burst {i + 1} (s)" for i in range(args.bursts)]
            + ["total (s)", "worker-s", "to max (s)", "recomputed",
               "total / static-max", "worker-s / static-max",
               "total / adaptive", "worker-s / adaptive"])
    rows = [["system"] + head]
    smax, adap = res.get("static-max"), res.get("adaptive")
    for name in SYSTEMS:
        r = res.get(name)
        if r is None:
            continue
        row = [name] + [f"{td - ts:.2f}" for ts, td in r["bursts"]]
        row += [f"{r['total']:.2f}", f"{r['worker_s']:.1f}",
                " / ".join(fmt_max(v) for v in r["to_max"]),
                str(r["recomputed"])]
        for ref in (smax, adap):
            if ref:
                row += [f"{ratio(r['total'], ref['total']):.2f}",
                        f"{ratio(r['worker_s'], ref['worker_s']):.2f}"]
            else:
                row += ["n/a", "n/a"]
        rows.append(row)
    return rows


def targets(res):
    """[(PASS|MISS, text)] for the recorded targets."""
    e, m, a = res.get("edask"), res.get("static-max"), res.get("adaptive")
    out = Targets()
    if not e:
        return out
    if m:
        rt = ratio(e["total"], m["total"])
        rw = ratio(e["worker_s"], m["worker_s"])
        out.add(rt <= 1.03, f"edask completion <= 1.03x static-max: "
                            f"{e['total']:.2f} s / {m['total']:.2f} s = "
                            f"{rt:.2f}x")
        out.add(rw <= 0.6, f"edask worker-s <= 0.6x static-max: "
                           f"{e['worker_s']:.1f} / {m['worker_s']:.1f} = "
                           f"{rw:.2f}x")
    if a:
        out.add(e["total"] < a["total"],
                f"edask completion better than adaptive: {e['total']:.2f} "
                f"s vs {a['total']:.2f} s")
        out.add(e["worker_s"] < a["worker_s"],
                f"edask worker-s better than adaptive: {e['worker_s']:.1f} "
                f"vs {a['worker_s']:.1f}")
    out.add(e["recomputed"] == 0,
            f"edask recomputed tasks == 0: {e['recomputed']}")
    return out


def plot(res, args, path):
    names = [n for n in SYSTEMS if n in res]
    fig, axes = plot_rows(len(names), 10, 1.9)
    colors = {"edask": "tab:blue", "adaptive": "tab:orange",
              "static-max": "tab:red", "static-min": "tab:green"}
    for ax, name in zip(axes, names):
        r = res[name]
        ts = [t for t, _ in r["samples"]]
        ns = [n for _, n in r["samples"]]
        for i, (b0, b1) in enumerate(r["bursts"]):
            ax.axvspan(b0, b1, color="0.88", lw=0,
                       label="burst running" if i == 0 else None)
            ax.axvline(b0, color="0.4", lw=0.8, ls="--")
            ax.text(b0 + 0.3, MAX_WORKERS + 0.25, f"burst {i + 1}",
                    fontsize=8, color="0.3", va="bottom")
        ax.step(ts, ns, where="post", color=colors[name], lw=2)
        ax.set_ylim(0, MAX_WORKERS + 1)
        ax.set_yticks(range(0, MAX_WORKERS + 1))
        ax.set_ylabel("workers")
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(f"{name}: total {r['total']:.1f} s, "
                     f"{r['worker_s']:.0f} worker-s, "
                     f"recomputed {r['recomputed']}",
                     fontsize=10, loc="left")
    axes[-1].set_xlabel("seconds since burst 1 was submitted")
    axes[0].legend(loc="upper right", fontsize=8)
    save_plot(fig, path, f"Registered workers over a bursty trace "
              f"({args.bursts} x {args.tasks} tasks of {args.task_s} s, gaps "
              f"{args.gap} s; min {MIN_WORKERS}, max {MAX_WORKERS})")


def write_report(res, args, rows, tgts, png_name, started, wall_s):
    lines = [
        "# Bursty trace: edask vs Dask Adaptive vs static clusters",
        "",
        run_line(started, args.argv, wall_s) + ".",
        "",
    ] + same_python_lines(args.loads, args.note) + [
        "",
        f"Trace: {args.bursts} bursts of {args.tasks} tasks x {args.task_s} s "
        f"(`time.sleep`), each submitted {args.gap} s after the previous "
        f"burst finished. Workers: 1 thread each, min {MIN_WORKERS}, max "
        f"{MAX_WORKERS}.",
        "",
        f"- edask: `build/edask up --gpus {MAX_WORKERS}`, spec "
        f"`interval: 1s, idle_timeout: {args.idle}, scale_down_delay: "
        f"{SCALE_DOWN_DELAY_S}s`, `gpus: 0`.",
        f"- adaptive: `LocalCluster(n_workers={MIN_WORKERS}).adapt("
        f"minimum={MIN_WORKERS}, maximum={MAX_WORKERS}, interval='1s', "
        f"wait_count=3, target_duration='5s')` (Dask's defaults; an idle "
        f"worker goes after ~3 s).",
        f"- static-max / static-min: `LocalCluster(n_workers="
        f"{MAX_WORKERS} / {MIN_WORKERS})`, no adapt.",
        "",
        md_table(rows),
        "",
        "burst N: seconds from submitting the burst to its last result. "
        "total: their sum (gaps excluded). worker-s: registered workers "
        "(`client.nthreads()`, sampled every 0.2 s) integrated from "
        "burst 1's submission to burst 3's end, gaps included. to max: per "
        "burst, seconds until 4 workers were registered. recomputed: keys "
        "whose task logged more than one execution start.",
        "",
    ] + targets_lines(tgts) + [
        "",
        f"![workers over time]({png_name})",
    ]
    return noted_report(lines)


# ------------------------------------------------------------------ main ---

def main():
    ap = bench_parser(__doc__, systems=SYSTEMS, no_write=True)
    ap.add_argument("--tasks", type=int, default=80,
                    help="tasks per burst (default 80)")
    ap.add_argument("--task-s", type=float, default=0.5,
                    help="seconds per task (default 0.5)")
    ap.add_argument("--bursts", type=int, default=3,
                    help="number of bursts (default 3)")
    ap.add_argument("--gap", type=float, default=GAP_S,
                    help=f"idle seconds between bursts (default {GAP_S})")
    ap.add_argument("--idle", default=IDLE_TIMEOUT,
                    help=f"edask's idle_timeout (default {IDLE_TIMEOUT}: "
                         f"learned from what a worker takes to start; "
                         f"e.g. 5s)")
    args = parse_bench_args(ap, SYSTEMS)
    if args.tasks < 1 or args.bursts < 1 or args.gap < 0:
        ap.error("--tasks and --bursts must be >= 1, --gap >= 0")

    res, started, wall_s, args.loads = run_chosen(args, RUNNERS, summary)

    rows = build_table(res, args)
    tgts = targets(res)
    print(f"\nBursty trace: {args.bursts} x {args.tasks} tasks of "
          f"{args.task_s} s, gaps {args.gap} s, workers {MIN_WORKERS}.."
          f"{MAX_WORKERS} ({wall_s:.0f} s wall)\n")
    print(text_table(rows))
    print_targets(tgts)

    return finish_run(args, "bursty", started,
                      lambda png, when: write_report(res, args, rows, tgts,
                                                     png, when, wall_s),
                      lambda path: plot(res, args, path))


if __name__ == "__main__":
    run_main(main)
