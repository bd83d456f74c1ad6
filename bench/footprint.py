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
4. CPU of the idle scheduler: user+system ticks of the scheduler process
   over ``--idle`` seconds (default 30) while edask watches it (its
   interval poll plus the open change-signal long poll), against a plain
   ``dask_scheduler`` with nobody watching, measured for the same time in
   the same run.

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

from harness import (BUILT_EDASK, BenchError, check_python, edask_env,
                     http_json, log, stop_edask, tail, wait_until)

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


def idle_cpu(pid, seconds):
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(seconds)
    return (cpu_ticks(pid) - c0) / TICK / (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edask", default=BUILT_EDASK)
    ap.add_argument("--idle", type=float, default=30.0,
                    help="seconds of idle CPU measured (default 30)")
    args = ap.parse_args()
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
        ex = subprocess.Popen([PY, "-m", "distributed.cli.dask_worker",
                               inst["outputs"]["dask_scheduler_address"],
                               "--nthreads", "1", "--no-nanny", "--name",
                               "exec-baseline", "--local-directory",
                               tmp.name], stdout=wlog,
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
        log(f"idle CPU of the watched scheduler for {args.idle:.0f} s")
        watched = idle_cpu(sched, args.idle)
        # the baseline: a scheduler nobody watches
        sf = os.path.join(tmp.name, "plain.json")
        plain = subprocess.Popen([PY, "-m", "distributed.cli.dask_scheduler",
                                  "--host", "127.0.0.1", "--port", "0",
                                  "--dashboard-address", "127.0.0.1:0",
                                  "--scheduler-file", sf],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        extra.append(plain)
        wait_until("the plain scheduler", lambda: os.path.exists(sf))
        time.sleep(3)
        log(f"idle CPU of a plain scheduler for {args.idle:.0f} s")
        alone = idle_cpu(plain.pid, args.idle)
        plain.terminate()
        plain.wait(timeout=30)
        extra.clear()
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

    print("\nMemory (RSS counts shared pages in full, PSS shares them out)\n")
    print(f"{'process':<22}{'RSS':>12}{'PSS':>12}")
    print(f"{'forker':<22}{mib(fk['rss']):>12}{mib(fk['pss']):>12}")
    for i, w in enumerate(fw):
        print(f"{'forked worker ' + str(i + 1):<22}{mib(w['rss']):>12}"
              f"{mib(w['pss']):>12}")
    print(f"{'exec worker':<22}{mib(ew['rss']):>12}{mib(ew['pss']):>12}")
    print(f"\nPSS saved per forked worker: {mib(pss_saving)} "
          f"({pss_saving / ew['pss'] * 100:.0f}% of an exec'd worker's)")
    print(f"\nIdle scheduler CPU: watched by edask {watched * 100:.2f}%, "
          f"alone {alone * 100:.2f}% (ratio "
          f"{watched / alone if alone else float('nan'):.2f})")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    sys.exit(main())
