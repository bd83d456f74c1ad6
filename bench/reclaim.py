#!/usr/bin/env python3
"""Two-tenant reclaim benchmark: edask sharing vs two static halves.

Run it with the project's ``.venv/bin/python`` (``make bench`` does); edask
gets ``EDASK_PYTHON`` set to the same interpreter.

Method
------
One run plays the same mixed two-tenant trace on two systems, one after the
other, each on a pool of 4 (simulated) GPU slots:

1. ``edask``: ``build/edask up --gpus 4`` in a temporary state folder with
   two instances, ``a`` and ``b``, each ``workers: {min: 0, max: 4, gpus: 1,
   threads: 1}``, ``scaling: {interval: 500ms, idle_timeout: 5s,
   scale_down_delay: 2s}``, ``sharing: {owned: 2, share: 1, reclaim_grace:
   30s}``. Each tenant is guaranteed 2 slots when it has work, may borrow
   the other's idle slots, and takes its owned slots back (``reclaim``)
   when the other holds them. Workers advertise the resource ``GPU=1``;
   the tasks ask for no resource;
2. ``static-halves``: two ``LocalCluster(n_workers=2, threads_per_worker=1,
   processes=True)``, one per tenant, no adapt: each tenant owns half of
   the pool for good.

The trace (``--trace``, default ``a:0:120,b:12:60,a:30:60,b:36:120``):
tenant A submits burst A1 (120 tasks) at t = 0 s, tenant B burst B1 (60
tasks) at t = 12 s, A burst A2 (60 tasks) at t = 30 s, B burst B2 (120
tasks) at t = 36 s. Every task logs its key to a shared execution log (one
``O_APPEND`` write) and then sleeps ``--task-s`` (0.5 s). Each tenant has its
own ``Client``; a submitter thread submits every burst at its offset,
whether or not the earlier bursts are done, and the run ends once all the
bursts are done. t = 0 is when both tenants are connected and show their
starting workers (0 for edask, 2 each for static-halves).

Measured, the same client-side way for both systems:

* **A1..B2 (s)**: seconds from submitting a burst until its last task is
  done (a done-callback on every future); **A total / B total**: the sum of
  the tenant's bursts; **makespan**: t = 0 to the last task done;
* **util**: pool utilization, (lines in the execution log x task seconds) /
  (4 slots x makespan);
* **worker-s A / B**: the tenant's registered workers
  (``len(client.nthreads())``), sampled every ~0.2 s and
  integrated (step function) over [0, makespan]. A draining worker still
  counts for its tenant until it leaves the scheduler;
* **to owned (s)**: per burst, seconds from its submission until the
  submitting tenant shows at least its owned count (2) of workers ("-" when
  never during the trace; 0.0 when it already had them);
* **restarted**: keys with more than one line in the execution log (a task
  executed twice: recomputed or restarted). A key with no line is an error;
* edask only, from ``GET /v1/events?limit=10000`` read before edask stops:
  **reclaims**, the ``reclaim`` events on a recipient (``taking slot S back
  from ...``); the **reclaim latency** of each is the seconds until the
  recipient's next ``registered`` event for a worker on slot S (worker name
  ``NAME-S``), else its next not yet matched ``registered`` event; count,
  median and max. Also the ``forced_reclaim`` (goal 0), ``reclaim_cancelled``
  and ``lend`` counts. The events are listed in the report's appendix.

Ratios edask / static-halves are given for each tenant's total, the
makespan and the utilization. Targets (recorded, not tuned for): edask
makespan <= static-halves', edask utilization >= static-halves', 0
restarted tasks, 0 forced reclaims, median reclaim latency <=
``reclaim_grace``. Each prints PASS or MISS.

Outputs: tables on stdout, and under ``bench/results/``
``reclaim-YYYYmmdd-HHMMSS.{md,png}`` plus copies ``reclaim-latest.{md,png}``
(not with ``--no-write``). The PNG shows, per system, the workers of each
tenant over time (stacked), the burst submissions and when each burst ran.

The machines this runs on are small and noisy: compare ratios within one
run, not raw seconds across runs. Exit status 0 when every measurement
completed (whatever PASS/MISS says), 1 with ``FAILED:`` otherwise. Every
process started here is stopped by PID; temporary folders are removed.
"""

import collections
import functools
import os
import re
import shutil
import statistics
import tempfile
import threading
import time

from harness import (NOISY_NOTE, ROOT, BenchError, NewChildren, Targets,
                     bench_parser, check_all_logged, check_edask_alive,
                     close_edask, edask_client, exec_counts, finish_run,
                     http_json, log, logging_task, md_table, n_workers,
                     observe_instance, parse_bench_args, plot_rows,
                     print_targets, ratio, run_chosen, run_line, run_main,
                     save_plot, stack_line, start_edask, step_integral,
                     targets_lines, text_table, throttled, wait_api_url,
                     wait_instance_started, wait_until)

POOL = 4
TENANTS = ["a", "b"]
OWNED = 2
SHARE = 1
RECLAIM_GRACE_S = 30
INTERVAL = "500ms"
IDLE_TIMEOUT_S = 5
SCALE_DOWN_DELAY_S = 2
SAMPLE_S = 0.2
START_DEADLINE_S = 180.0     # startup waits
TRACE_DEADLINE_S = 300.0     # after the last submission
DEFAULT_TRACE = "a:0:120,b:12:60,a:30:60,b:36:120"

SPEC = f"""\
name: {{name}}
workers: {{{{min: 0, max: {POOL}, gpus: 1, threads: 1}}}}
scaling: {{{{interval: {INTERVAL}, idle_timeout: {IDLE_TIMEOUT_S}s, \
scale_down_delay: {SCALE_DOWN_DELAY_S}s}}}}
sharing: {{{{owned: {OWNED}, share: {SHARE}, \
reclaim_grace: {RECLAIM_GRACE_S}s}}}}
"""

SYSTEMS = ["edask", "static-halves"]
COLORS = {"a": "tab:blue", "b": "tab:orange"}


def parse_trace(text):
    """'a:0:120,b:12:60' -> [{name, tenant, at, tasks}], sorted by offset."""
    bursts, per = [], collections.Counter()
    for part in text.split(","):
        try:
            tenant, at, tasks = part.strip().split(":")
            at, tasks = float(at), int(tasks)
        except ValueError:
            raise ValueError(f"bad burst {part!r}: want TENANT:OFFSET_S:TASKS")
        if tenant not in TENANTS or at < 0 or tasks < 1:
            raise ValueError(f"bad burst {part!r}: tenant a or b, offset "
                             f">= 0, tasks >= 1")
        per[tenant] += 1
        bursts.append({"name": f"{tenant.upper()}{per[tenant]}",
                       "tenant": tenant, "at": at, "tasks": tasks})
    return sorted(bursts, key=lambda b: b["at"])


# The task: train_step(log_path, line, seconds) logs line, sleeps, returns
# line (shipped by value: see logging_task).
train_step = logging_task()


def run_trace(clients, args, start_workers, on_sample=None):
    """Play the trace on one connected client per tenant."""
    wait_until(f"{start_workers} worker(s) registered per tenant",
               lambda: all(n_workers(c) == start_workers
                           for c in clients.values()))
    tmp = tempfile.mkdtemp(prefix="edask-reclaim-exec-")
    exec_log = os.path.join(tmp, "executions.log")
    bursts = [dict(b, ts=None, td=None, left=b["tasks"], futures=None,
                   lines=[f"{b['tenant']}-{b['name']}-{i:03d}"
                          for i in range(b["tasks"])])
              for b in parse_trace(args.trace)]
    samples = []                 # (t, {tenant: workers})
    lock = threading.Lock()
    stop = threading.Event()
    errors = []
    t0 = time.monotonic()
    t0_wall = time.time()

    def on_done(b, _future):
        now = time.monotonic() - t0
        with lock:
            b["left"] -= 1
            if b["left"] == 0:
                b["td"] = now

    def submitter():
        try:
            for b in bursts:
                delay = t0 + b["at"] - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    return
                client = clients[b["tenant"]]
                keys = [line.split("-", 1)[1] for line in b["lines"]]
                b["ts"] = time.monotonic() - t0
                futs = client.map(train_step, [exec_log] * len(keys),
                                  b["lines"], [args.task_s] * len(keys),
                                  key=keys, pure=False)
                b["futures"] = futs
                for f in futs:
                    f.add_done_callback(functools.partial(on_done, b))
                log(f"  t={b['ts']:5.1f} s: {b['name']} submitted "
                    f"({b['tasks']} tasks) by tenant {b['tenant']}")
        except Exception as e:          # surfaced by the main loop
            errors.append(e)

    def sample():
        n = {t: n_workers(c) for t, c in clients.items()}
        samples.append((time.monotonic() - t0, n))
        if on_sample:
            on_sample()

    thread = threading.Thread(target=submitter, name="reclaim-submitter",
                              daemon=True)
    thread.start()
    try:
        deadline = t0 + bursts[-1]["at"] + TRACE_DEADLINE_S
        while True:
            sample()
            if errors:
                raise BenchError(f"submitting a burst failed: "
                                 f"{errors[0]!r}")
            with lock:
                if all(b["td"] is not None for b in bursts):
                    break
            if time.monotonic() > deadline:
                state = ", ".join(
                    f"{b['name']} {b['tasks'] - b['left']}/{b['tasks']}"
                    for b in bursts)
                raise BenchError(f"trace not done {TRACE_DEADLINE_S:.0f} s "
                                 f"after its last submission ({state}; "
                                 f"workers {samples[-1][1]})")
            time.sleep(SAMPLE_S)
        for b in bursts:
            log(f"  {b['name']}: {b['td'] - b['ts']:.2f} s "
                f"(t={b['ts']:.1f}..{b['td']:.1f})")
            bad = [f for f in b["futures"] if f.status != "finished"]
            if bad:
                raise BenchError(f"{len(bad)} task(s) of {b['name']} did "
                                 f"not finish: {bad[0].status}")
            b["futures"] = None  # release the results
        sample()
        counts = exec_counts(exec_log)
    finally:
        stop.set()
        thread.join(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    lines_all = [ln for b in bursts for ln in b["lines"]]
    check_all_logged(counts, lines_all)
    makespan = max(b["td"] for b in bursts)
    worker_s = {tenant: step_integral(samples, makespan,
                                      lambda n, tenant=tenant: n[tenant])
                for tenant in clients}
    for b in bursts:
        before = [n for t, n in samples if t <= b["ts"]]
        if before and before[-1][b["tenant"]] >= OWNED:
            b["to_owned"] = 0.0          # it had them when it submitted
        else:
            b["to_owned"] = next((t - b["ts"] for t, n in samples
                                  if t >= b["ts"]
                                  and n[b["tenant"]] >= OWNED), None)
        del b["futures"], b["left"], b["lines"]
    executions = sum(counts[ln] for ln in lines_all)
    return {"bursts": bursts, "samples": samples, "t0_wall": t0_wall,
            "makespan": makespan, "worker_s": worker_s,
            "util": executions * args.task_s / (POOL * makespan),
            "executions": executions,
            "restarted": sum(1 for ln in lines_all if counts[ln] > 1),
            "total": {t: sum(b["td"] - b["ts"] for b in bursts
                             if b["tenant"] == t) for t in TENANTS}}


# ----------------------------------------------------------------- edask ---

def procs_naming(text):
    """PIDs of processes whose command line contains text (our temp
    folder): the schedulers and workers edask started for this run."""
    pids = set()
    needle = text.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle in f.read():
                    pids.add(int(entry))
        except OSError:
            pass
    return pids


def analyse_events(events, t0_wall, grace_s):
    """Reclaim figures from edask's event list (times relative to t0)."""
    evs = sorted(events, key=lambda e: e["seq"])
    for e in evs:
        e["t"] = e["ts_ms"] / 1000.0 - t0_wall
    registered = collections.defaultdict(list)
    for e in evs:
        if e["kind"] == "registered":
            m = re.search(r"\((\S+)-(\d+)\) registered", e["message"])
            registered[e["instance"]].append(
                (e, int(m.group(2)) if m else None))
    used = set()
    reclaims = []
    for e in evs:
        if e["kind"] != "reclaim" or not e["message"].startswith(
                "taking slot"):
            continue
        m = re.match(r"taking slot (\d+) back from (\S+) \((\w+)",
                     e["message"])
        slot = int(m.group(1)) if m else None
        after = [(r, s) for r, s in registered[e["instance"]]
                 if r["seq"] > e["seq"] and r["seq"] not in used]
        hit = next(((r, s) for r, s in after if s == slot), None)
        if hit is None and after:
            hit = after[0]
        rec = {"t": e["t"], "to": e["instance"], "slot": slot,
               "from": m.group(2) if m else "?",
               "why": m.group(3) if m else "?", "latency": None}
        if hit is not None:
            used.add(hit[0]["seq"])
            rec["latency"] = hit[0]["t"] - e["t"]
        reclaims.append(rec)
    lat = [r["latency"] for r in reclaims if r["latency"] is not None]
    kinds = collections.Counter(e["kind"] for e in evs)
    return {"events": evs, "reclaims": reclaims,
            "lat_median": statistics.median(lat) if lat else None,
            "lat_max": max(lat) if lat else None,
            "unmatched": sum(1 for r in reclaims if r["latency"] is None),
            "forced": kinds["forced_reclaim"],
            "cancelled": kinds["reclaim_cancelled"],
            "lend": kinds["lend"], "grace_s": grace_s}


def bench_edask(args):
    if not os.access(args.edask, os.X_OK):
        raise BenchError(f"{args.edask} not found or not executable: run "
                         f"`make` first, or pass --edask PATH")
    from distributed import Client

    tmp = tempfile.TemporaryDirectory(prefix="edask-reclaim-")
    state = os.path.join(tmp.name, "state")
    specs = []
    for name in TENANTS:
        path = os.path.join(tmp.name, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(SPEC.format(name=name))
        specs.append(path)
    log_path = os.path.join(tmp.name, "edask.log")
    proc, log_file = start_edask(args.edask, POOL, state, specs, log_path)
    # edask starts its schedulers and workers in sessions of their own: keep
    # their PIDs (from the API, and any process naming our temp folder) so
    # that none can outlive the benchmark.
    dask_pids = set()
    clients = {}
    api = None

    def observe(name):
        return observe_instance(proc, log_path, api, name, dask_pids)

    def observe_all():
        for name in TENANTS:
            observe(name)
        dask_pids.update(procs_naming(tmp.name) - {proc.pid})

    try:
        api = wait_api_url(proc, state, log_path)
        for name in TENANTS:
            inst = wait_instance_started(lambda: observe(name),
                                         label=f"instance {name}")
            address = inst["outputs"]["dask_scheduler_address"]
            log(f"edask: instance {name} started, scheduler {address}")
            clients[name] = edask_client(inst, timeout=30)
        # during the trace: once a second
        res = run_trace(clients, args, 0, throttled(observe_all))
        check_edask_alive(proc, log_path)
        events = http_json(f"{api}/v1/events?limit=10000")["events"]
        res["sharing"] = analyse_events(events, res["t0_wall"],
                                        RECLAIM_GRACE_S)
        return res
    finally:
        for c in clients.values():
            c.close()
        dask_pids.update(procs_naming(tmp.name) - {proc.pid})
        dask_pids.discard(proc.pid)
        close_edask(proc, log_path, dask_pids, log_file, tmp)


# ------------------------------------------------------- LocalCluster(s) ---

def bench_static_halves(args):
    from distributed import Client, LocalCluster

    children = NewChildren()
    clusters, clients = {}, {}
    half = POOL // len(TENANTS)
    try:
        for name in TENANTS:
            clusters[name] = LocalCluster(
                n_workers=half, threads_per_worker=1, processes=True,
                dashboard_address=None)
            clients[name] = Client(clusters[name])
            children.note()
            log(f"static-halves: tenant {name}: LocalCluster of {half}, "
                f"scheduler {clusters[name].scheduler_address}")
        return run_trace(clients, args, half, children.note)
    finally:
        for c in clients.values():
            c.close()
        children.close(clusters.values(), "static-halves: clusters")


RUNNERS = {"edask": bench_edask, "static-halves": bench_static_halves}


def summary(r):
    """What the log says of a system's result r."""
    return (f"makespan {r['makespan']:.2f} s, util {100 * r['util']:.1f}%, "
            f"restarted {r['restarted']}")


# ---------------------------------------------------------------- report ---

def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def build_table(res, args):
    names = [b["name"] for b in parse_trace(args.trace)]
    rows = [["system"] + [f"{n} (s)" for n in names]
            + ["A total (s)", "B total (s)", "makespan (s)", "util",
               "worker-s A", "worker-s B", "to owned (s)", "restarted"]]
    for sys_name in SYSTEMS:
        r = res.get(sys_name)
        if r is None:
            continue
        by = {b["name"]: b for b in r["bursts"]}
        rows.append([sys_name]
                    + [f"{by[n]['td'] - by[n]['ts']:.2f}" for n in names]
                    + [f"{r['total']['a']:.2f}", f"{r['total']['b']:.2f}",
                       f"{r['makespan']:.2f}", f"{100 * r['util']:.1f}%",
                       f"{r['worker_s']['a']:.1f}",
                       f"{r['worker_s']['b']:.1f}",
                       " / ".join(fmt(by[n]["to_owned"]) for n in names),
                       str(r["restarted"])])
    e, s = res.get("edask"), res.get("static-halves")
    if e and s:
        rows.append(["edask / static-halves"] + [""] * len(names)
                    + [f"{ratio(e['total']['a'], s['total']['a']):.2f}",
                       f"{ratio(e['total']['b'], s['total']['b']):.2f}",
                       f"{ratio(e['makespan'], s['makespan']):.2f}",
                       f"{ratio(e['util'], s['util']):.2f}",
                       "", "", "", ""])
    return rows


def sharing_table(res):
    e = res.get("edask")
    if not e:
        return None
    sh = e["sharing"]
    rows = [["recipient", "reclaims", "latency median (s)",
             "latency max (s)", "no registered after", "forced_reclaim",
             "reclaim_cancelled", "lend"]]
    for who in TENANTS + ["all"]:
        recs = [r for r in sh["reclaims"] if who in ("all", r["to"])]
        lat = [r["latency"] for r in recs if r["latency"] is not None]
        kinds = collections.Counter(
            ev["kind"] for ev in sh["events"]
            if who in ("all", ev["instance"]))
        rows.append([who, str(len(recs)),
                     fmt(statistics.median(lat) if lat else None, ".2f"),
                     fmt(max(lat) if lat else None, ".2f"),
                     str(len(recs) - len(lat)), str(kinds["forced_reclaim"]),
                     str(kinds["reclaim_cancelled"]), str(kinds["lend"])])
    return rows


def targets(res):
    """[(PASS|MISS, text)] for the recorded targets."""
    e, s = res.get("edask"), res.get("static-halves")
    out = Targets()
    if not e:
        return out
    if s:
        out.add(e["makespan"] <= s["makespan"],
                f"edask makespan <= static-halves: {e['makespan']:.2f} s "
                f"vs {s['makespan']:.2f} s "
                f"({ratio(e['makespan'], s['makespan']):.2f}x)")
        out.add(e["util"] >= s["util"],
                f"edask utilization >= static-halves: "
                f"{100 * e['util']:.1f}% vs {100 * s['util']:.1f}%")
    out.add(e["restarted"] == 0,
            f"edask restarted tasks == 0: {e['restarted']}")
    sh = e["sharing"]
    out.add(sh["forced"] == 0, f"edask forced reclaims == 0: {sh['forced']}")
    if sh["lat_median"] is None:
        out.add(False, f"edask median reclaim latency <= reclaim_grace "
                       f"({sh['grace_s']} s): no reclaim followed by a "
                       f"registration ({len(sh['reclaims'])} reclaim(s))")
    else:
        out.add(sh["lat_median"] <= sh["grace_s"],
                f"edask median reclaim latency <= reclaim_grace: "
                f"{sh['lat_median']:.2f} s <= {sh['grace_s']} s "
                f"({len(sh['reclaims'])} reclaim(s), max "
                f"{sh['lat_max']:.2f} s)")
    return out


def plot(res, args, path):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    names = [n for n in SYSTEMS if n in res]
    fig, axes = plot_rows(len(names), 11, 2.9)
    xmax = max(res[n]["makespan"] for n in names) + 2
    for ax, name in zip(axes, names):
        r = res[name]
        ts = [t for t, _ in r["samples"]]
        na = [n["a"] for _, n in r["samples"]]
        nab = [n["a"] + n["b"] for _, n in r["samples"]]
        ax.fill_between(ts, 0, na, step="post", color=COLORS["a"],
                        alpha=0.75, lw=0)
        ax.fill_between(ts, na, nab, step="post", color=COLORS["b"],
                        alpha=0.75, lw=0)
        ax.step(ts, nab, where="post", color="0.25", lw=0.8)
        ax.axhline(POOL, color="0.3", lw=0.8, ls=":")
        # When each burst ran: one bar per burst above the pool line.
        for b in r["bursts"]:
            y = POOL + (0.45 if b["tenant"] == "a" else 0.9)
            ax.plot([b["ts"], b["td"]], [y, y], color=COLORS[b["tenant"]],
                    lw=5, solid_capstyle="butt")
            ax.text((b["ts"] + b["td"]) / 2, y, b["name"], fontsize=7,
                    ha="center", va="center",
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white",
                          "ec": "none"})
            ax.axvline(b["ts"], color=COLORS[b["tenant"]], lw=1.0, ls="--")
        if "sharing" in r:
            for rec in r["sharing"]["reclaims"]:
                ax.plot(rec["t"], POOL + 0.15, marker="v", ms=6,
                        color=COLORS.get(rec["to"], "k"),
                        markeredgecolor="k", markeredgewidth=0.5)
        ax.set_xlim(0, xmax)
        ax.set_ylim(0, POOL + 1.3)
        ax.set_yticks(range(0, POOL + 1))
        ax.set_ylabel("workers")
        ax.grid(axis="y", alpha=0.3)
        extra = ""
        if "sharing" in r:
            sh = r["sharing"]
            extra = (f", {len(sh['reclaims'])} reclaims (median "
                     f"{fmt(sh['lat_median'], '.1f')} s to register), "
                     f"forced {sh['forced']}")
        ax.set_title(f"{name}: makespan {r['makespan']:.1f} s, util "
                     f"{100 * r['util']:.0f}%, worker-s A "
                     f"{r['worker_s']['a']:.0f} / B {r['worker_s']['b']:.0f}"
                     f", restarted {r['restarted']}{extra}",
                     fontsize=10, loc="left")
    axes[-1].set_xlabel("seconds since A1 was submitted (t = 0)")
    handles = [Patch(color=COLORS["a"], alpha=0.75, label="tenant A workers"),
               Patch(color=COLORS["b"], alpha=0.75, label="tenant B workers"),
               Line2D([], [], color="0.4", ls="--",
                      label="burst submitted (tenant's color)"),
               Line2D([], [], color="0.4", lw=5,
                      label="burst running (bar)"),
               Line2D([], [], color="0.3", ls=":", label=f"pool: {POOL}"),
               Line2D([], [], ls="", marker="v", color="0.5",
                      markeredgecolor="k", label="reclaim (for color)")]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=8,
               frameon=False)
    save_plot(fig, path, f"Two tenants on {POOL} GPU slots, trace "
              f"{args.trace} (tenant:t_s:tasks), {args.task_s} s tasks; edask "
              f"owned {OWNED} each, share {SHARE}", rect=(0, 0.05, 1, 1))


def events_appendix(sh):
    keep = {"lend", "reclaim", "reclaim_cancelled", "forced_reclaim",
            "pending", "scale_up", "registered", "retire", "retired",
            "held", "worker_gone", "worker_failed", "worker_lost",
            "start_timeout", "kill", "error"}
    lines = []
    for e in sh["events"]:
        if e["kind"] in keep:
            lines.append(f"{e['t']:7.2f}  [{e['instance'] or '-'}] "
                         f"{e['kind']}: {e['message']}")
    return lines


def write_report(res, args, rows, srows, tgts, png_name, started, wall_s):
    lines = [
        "# Two tenants, one pool: edask sharing vs static halves",
        "",
        run_line(started, args.argv, wall_s) + ".",
        "",
        f"Stack: {stack_line()}.",
        "",
        f"Trace `{args.trace}` (tenant:submit offset s:tasks), tasks of "
        f"{args.task_s} s (`time.sleep`), each burst submitted at its offset "
        f"whatever the others' progress. Pool of {POOL} slots, workers of 1 "
        f"thread.",
        "",
        f"- edask (`{os.path.relpath(args.edask, ROOT)}`): `up --gpus "
        f"{POOL}`, instances a and b, each `workers: {{min: 0, max: {POOL}, "
        f"gpus: 1, threads: 1}}`, `scaling: {{interval: {INTERVAL}, "
        f"idle_timeout: {IDLE_TIMEOUT_S}s, scale_down_delay: "
        f"{SCALE_DOWN_DELAY_S}s}}`, `sharing: {{owned: {OWNED}, share: "
        f"{SHARE}, reclaim_grace: {RECLAIM_GRACE_S}s}}`.",
        f"- static-halves: one `LocalCluster(n_workers={POOL // 2}, "
        f"threads_per_worker=1)` per tenant, no adapt.",
        "",
        md_table(rows),
        "",
        "Burst columns: seconds from submission to its last task done. "
        "A/B total: sum of the tenant's bursts. makespan: t = 0 (A1 "
        "submitted) to the last task done. util: executions x task s / "
        f"({POOL} x makespan). worker-s: registered workers per tenant "
        "(`client.nthreads()`, every 0.2 s) integrated over "
        "[0, makespan]. to owned: per burst, seconds until the tenant had "
        f"{OWNED} workers. restarted: keys executed more than once.",
        "",
    ]
    if srows:
        lines += [
            "## edask reclaims",
            "",
            md_table(srows),
            "",
            "A reclaim is a `reclaim` event on the recipient (`taking slot "
            "S back from ...`); its latency runs to the recipient's next "
            "`registered` event for a worker on slot S (else its next "
            "unmatched `registered` event).",
            "",
        ]
    lines += targets_lines(tgts) + [
        "",
        f"![workers per tenant over time]({png_name})",
        "",
        NOISY_NOTE,
        "",
    ]
    e = res.get("edask")
    if e:
        sh = e["sharing"]
        lines += ["## Appendix: edask reclaims and events", "",
                  "| t (s) | recipient | slot | from | why | to registered "
                  "(s) |", "|---:|---|---:|---|---|---:|"]
        lines += [f"| {r['t']:.2f} | {r['to']} | {fmt(r['slot'], 'd')} | "
                  f"{r['from']} | {r['why']} | {fmt(r['latency'], '.2f')} |"
                  for r in sh["reclaims"]]
        lines += ["", "Scaling and sharing events (t in s since A1 was "
                  "submitted; `observe`, `deployed`, `started` and the like "
                  "left out):", "", "```"]
        lines += events_appendix(sh)
        lines += ["```", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------ main ---

def main():
    ap = bench_parser(__doc__, systems=SYSTEMS, note=False, no_write=True)
    ap.add_argument("--trace", default=DEFAULT_TRACE,
                    help=f"bursts as TENANT:OFFSET_S:TASKS,... with tenant "
                         f"a or b (default {DEFAULT_TRACE})")
    ap.add_argument("--task-s", type=float, default=0.5,
                    help="seconds per task (default 0.5)")
    args = parse_bench_args(ap, SYSTEMS)
    try:
        parse_trace(args.trace)
    except ValueError as e:
        ap.error(f"--trace: {e}")
    if args.task_s <= 0:
        ap.error("--task-s must be > 0")

    res, started, wall_s, _ = run_chosen(args, RUNNERS, summary)

    rows = build_table(res, args)
    srows = sharing_table(res)
    tgts = targets(res)
    print(f"\nTwo tenants on {POOL} slots, trace {args.trace} "
          f"(tenant:t_s:tasks), {args.task_s} s tasks ({wall_s:.0f} s "
          f"wall)\n")
    print(text_table(rows))
    if srows:
        print("\nedask reclaims (latency: reclaim event to the recipient's "
              "worker registered)\n")
        print(text_table(srows))
    print_targets(tgts)

    return finish_run(args, "reclaim", started,
                      lambda png, when: write_report(res, args, rows, srows,
                                                     tgts, png, when, wall_s),
                      lambda path: plot(res, args, path))


if __name__ == "__main__":
    run_main(main)
