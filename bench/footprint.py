#!/usr/bin/env python3
"""Footprint of fast starts: memory of forked workers, CPU of watching.

Run it with the project's ``.venv/bin/python`` (``make bench`` does); edask
gets ``EDASK_PYTHON`` set to the same interpreter.

Method
------
1. ``build/edask up --gpus 4`` with one instance (min 4, max 4, ``gpus: 0``,
   default ``interval: 1s``) in a temporary state folder. Its four workers
   come from the instance's worker forker.
2. Beside them, one worker started by exec (``python -m
   distributed.cli.dask_worker``, ``--no-nanny``, one thread) against the
   same scheduler: the baseline of a worker that shares nothing.
3. Memory, read from ``/proc/PID/smaps_rollup``: RSS (every resident page,
   shared ones included) and PSS (each shared page divided among the
   processes sharing it) of the forker, of each forked worker and of the
   exec'd one. The saving per worker is the exec'd worker's PSS minus a
   forked worker's (median).
4. Idle CPU: user+system ticks of the instance's scheduler and of the
   edask daemon over ``--idle`` seconds (default 30) while edask watches
   the scheduler (its polls plus the open change-signal long poll); then
   the same scheduler, with the same four idle workers, for the same time
   with edask stopped (SIGSTOP, then SIGCONT): what watching adds is the
   difference.  The daemon's memory at the end of the first window: RSS
   (VmRSS, and the peak VmHWM), PSS (shared library pages divided among
   the processes that map them) and its anonymous memory (RssAnon: heap,
   stacks, what is edask's own).

Exit status 0 when every measurement completed, 1 with ``FAILED:``
otherwise; every process started here is stopped by PID.
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from harness import (BUILT_EDASK, BenchError, begin_run, check_python,
                     edask_env, http_json, log, md_table, run_line,
                     stop_edask, tail, text_table, wait_until,
                     write_results)

PY = sys.executable          # the exec'd baseline runs what edask runs
TICK = os.sysconf("SC_CLK_TCK")


def smaps(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
                out[parts[0][:-1].lower()] = int(parts[1]) * 1024
    return out


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])     # utime + stime


def mib(b):
    return f"{b / (1 << 20):.1f} MiB"


def pct(x):
    return f"{x * 100:.2f}%"


def idle_cpu(pids, seconds):
    """The share of a core each of pids used over the next seconds."""
    t0, c0 = time.monotonic(), [cpu_ticks(p) for p in pids]
    time.sleep(seconds)
    dt = time.monotonic() - t0
    return [(cpu_ticks(p) - c) / TICK / dt for p, c in zip(pids, c0)]


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {key} in /proc/{pid}/status")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edask", default=BUILT_EDASK)
    ap.add_argument("--idle", type=float, default=30.0,
                    help="seconds of idle CPU measured (default 30)")
    ap.add_argument("--write", action="store_true",
                    help="write bench/results/footprint-*.md")
    args = ap.parse_args()
    started, t_start, _ = begin_run()
    check_python()
    tmp = tempfile.TemporaryDirectory(prefix="edask-footprint-")
    state = os.path.join(tmp.name, "state")
    spec = os.path.join(tmp.name, "fp.yaml")
    with open(spec, "w") as f:
        f.write("name: fp\nworkers: {min: 4, max: 4, gpus: 0}\n")
    logp = os.path.join(tmp.name, "edask.log")
    logf = open(logp, "w")
    proc = subprocess.Popen([args.edask, "up", "--gpus", "4", "--listen",
                             "127.0.0.1:0", "--state-dir", state, "-f",
                             spec], stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True, env=edask_env())
    pids, extra = set(), []
    try:
        url = wait_until("api.url", lambda: os.path.exists(
            os.path.join(state, "api.url")) and open(
                os.path.join(state, "api.url")).read().strip())

        def four_forked():
            inst = http_json(url + "/v1/instances/fp")
            pids.update(w["pid"] for w in inst["workers"])
            if inst["scheduler"]["pid"]:
                pids.add(inst["scheduler"]["pid"])
            run = [w for w in inst["workers"] if w["state"] == "running"]
            return inst if len(run) == 4 else None
        inst = wait_until("4 running workers", four_forked)
        forker = inst["forker"]["pid"]
        forked = [w["pid"] for w in inst["workers"]
                  if w["started_by"] == "fork"]
        if not forker or len(forked) < 2:
            raise BenchError(f"expected forked workers: {inst['workers']}")
        wlog = open(os.path.join(tmp.name, "exec-worker.log"), "w")
        tls = inst["outputs"].get("dask_tls") or {}
        creds = ["--tls-ca-file", tls["ca_file"], "--tls-cert", tls["cert"],
                 "--tls-key", tls["key"]] if tls else []
        ex = subprocess.Popen([PY, "-m", "distributed.cli.dask_worker",
                               inst["outputs"]["dask_scheduler_address"],
                               "--nthreads", "1", "--no-nanny", "--name",
                               "exec-baseline", "--local-directory",
                               tmp.name] + creds, stdout=wlog,
                              stderr=subprocess.STDOUT)
        extra.append(ex)
        wait_until("the exec'd worker",
                   lambda: "Registered to" in open(wlog.name).read())
        time.sleep(2)
        fk = smaps(forker)
        fw = [smaps(p) for p in forked]
        ew = smaps(ex.pid)
        pss_saving = ew["pss"] - statistics.median(w["pss"] for w in fw)
        ex.terminate()
        ex.wait(timeout=30)
        extra.clear()

        sched = inst["scheduler"]["pid"]
        log(f"idle CPU of the scheduler and of edask for {args.idle:.0f} s, "
            f"edask watching")
        watched, own = idle_cpu([sched, proc.pid], args.idle)
        rss = status_kib(proc.pid, "VmRSS") * 1024
        hwm = status_kib(proc.pid, "VmHWM") * 1024
        own_mem = smaps(proc.pid)
        own_anon = status_kib(proc.pid, "RssAnon") * 1024
        # the baseline: the same scheduler and workers, edask stopped
        # (SIGSTOP: nobody asks the scheduler anything, its change-signal
        # request stays open)
        log(f"idle CPU of the same scheduler for {args.idle:.0f} s, edask "
            f"stopped")
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            (alone,) = idle_cpu([sched], args.idle)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
    except BenchError as e:
        print(f"bench/footprint.py: FAILED: {e}{tail(logp)}",
              file=sys.stderr)
        return 1
    finally:
        for p in extra:
            p.kill()
            p.wait()
        try:
            stop_edask(proc, logp, pids)
        except BenchError as e:
            print(f"bench/footprint.py: FAILED: {e}", file=sys.stderr)
            return 1
        finally:
            logf.close()
            tmp.cleanup()

    mem_table = [["process", "RSS", "PSS"],
                 ["forker", mib(fk["rss"]), mib(fk["pss"])]]
    mem_table += [[f"forked worker {i + 1}", mib(w["rss"]), mib(w["pss"])]
                  for i, w in enumerate(fw)]
    mem_table.append(["exec worker", mib(ew["rss"]), mib(ew["pss"])])
    print("\nMemory (RSS counts shared pages in full, PSS shares them out)\n")
    print(text_table(mem_table))
    print(f"\nPSS saved per forked worker: {mib(pss_saving)} "
          f"({pss_saving / ew['pss'] * 100:.0f}% of an exec'd worker's)")
    watch = watched - alone
    cpu_rows = [
        ["", "share of a core", "target"],
        ["edask daemon (one instance, 4 idle workers)", pct(own),
         "<= 0.50%"],
        ["its scheduler, watched by edask", pct(watched), ""],
        ["the same scheduler, edask stopped", pct(alone), ""],
        ["watching adds to the scheduler", pct(watch), "<= 0.50%"],
    ]
    mem_rows = [["edask daemon", "RSS now", "RSS peak", "PSS",
                 "anonymous (heap, stacks)", "target"],
                ["", mib(rss), mib(hwm), mib(own_mem["pss"]),
                 mib(own_anon), "<= 10 MiB"]]
    print("\nIdle CPU over %.0f s each\n" % args.idle)
    print(text_table(cpu_rows))
    print()
    print(text_table(mem_rows))
    if args.write:
        def report(_png):
            return "\n".join([
                "# Footprint: edask idle, forked workers' memory", "",
                run_line(f"{started:%Y-%m-%d %H:%M:%S}", sys.argv[1:],
                         time.monotonic() - t_start) + ".", "",
                "Method: bench/footprint.py's docstring. One instance, min "
                "4, max 4, `interval: 1s`, four forked idle workers.", "",
                md_table(cpu_rows), "", md_table(mem_rows), "",
                "Memory of the forker and its workers (RSS counts shared "
                "pages in full, PSS shares them out):", "",
                md_table(mem_table), "",
                f"PSS saved per forked worker: {mib(pss_saving)}.", ""])
        write_results("footprint", started, report)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    sys.exit(main())
