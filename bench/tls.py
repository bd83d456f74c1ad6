#!/usr/bin/env python3
"""What TLS costs: edask with security.tls on versus off, same run.

Run it with the project's ``.venv/bin/python`` (``make bench`` does); edask
gets ``EDASK_PYTHON`` set to the same interpreter.

Method
------
Each round starts ``build/edask up --gpus 4`` twice, one after the other
(the order alternating from round to round), with the same spec but for
``security: {tls: on}`` or ``{tls: off}``, and measures on each:

* **scale-up**: the burst of bench/scaleup.py (160 tasks of
  ``time.sleep(0.5)`` on one worker, growing to four): seconds from its
  submission until four workers are registered, and until it is done.
  TLS adds its handshakes to every worker's registration.
* **hand-off**: worker to worker bandwidth, the path a retirement moves
  data by: a task on one worker makes ``HANDOFF_MB`` MB of bytes, a task
  pinned to another worker takes it as its argument; the seconds from
  that task's submission to its result, ``HANDOFF_REPEAT`` times with
  fresh data, MB/s from the median.

The client connects with the instance's outputs (its TLS credentials when
on). ``--repeat N`` rounds, medians reported; the ratios on/off within one
run are what to read: these machines are small and noisy.

Exit status: 0 when every measurement completed, 1 with a message otherwise.
Every process this script starts is stopped before it exits.
"""

import os
import statistics
import sys
import time

from harness import (BUILT_EDASK, RESULTS, BenchError, begin_run,
                     bench_parser, check_python, edask_instance, failed,
                     load_line, log, md_table, n_workers, parse_bench_args,
                     rounds, stack_line, wait_until)
from scaleup import run_burst

EDASK = BUILT_EDASK
MAX_WORKERS = 4
HANDOFF_MB = 200
HANDOFF_REPEAT = 3
DEADLINE_S = 180.0

SPEC = """\
name: bench
workers: {{min: 1, max: {max}, gpus: 0, threads: 1}}
scaling: {{interval: 1s, idle_timeout: 600s, scale_down_delay: 10s}}
security: {{tls: {tls}}}
"""


def make_bytes(mb, salt):
    return bytes(mb << 20)[:-1] + bytes([salt % 256])


def handoff(client):
    """Seconds per hand-off of HANDOFF_MB MB between two workers (median)."""
    wait_until("2 workers", lambda: n_workers(client) >= 2, DEADLINE_S)
    a, b = sorted(client.nthreads())[:2]
    took = []
    for i in range(HANDOFF_REPEAT):
        src = client.submit(make_bytes, HANDOFF_MB, i, workers=[a],
                            pure=False)
        src.result()                   # made and held on a
        t0 = time.monotonic()
        n = client.submit(len, src, workers=[b], pure=False).result()
        took.append(time.monotonic() - t0)
        if n != HANDOFF_MB << 20:
            raise BenchError(f"hand-off moved {n} bytes")
        del src
    return statistics.median(took)


def one(tls):
    """(to 4 workers s, burst s, hand-off s) of edask with tls on/off."""
    spec = SPEC.format(max=MAX_WORKERS, tls=tls)
    with edask_instance(EDASK, MAX_WORKERS, spec, "bench", 1,
                        DEADLINE_S) as (inst, client, observe):
        addr = inst["outputs"]["dask_scheduler_address"]
        if not addr.startswith("tls://" if tls == "on" else "tcp://"):
            raise BenchError(f"tls {tls}: scheduler at {addr}")
        t_full, t_done = run_burst(client)
        t_hand = handoff(client)
        observe()                  # collect the PIDs of the new workers
        return t_full, t_done, t_hand


def main():
    global EDASK
    ap = bench_parser(__doc__, repeat=3, note=False, latest="tls")
    args = parse_bench_args(ap)
    EDASK = args.edask
    started, t_start, loads = begin_run()
    res = {"on": [], "off": []}
    try:
        check_python()
        for _, tls in rounds(args.repeat, ["on", "off"],
                             lambda t: f"tls {t}"):
            t = one(tls)
            log(f"tls {tls}: 4 workers after {t[0]:.2f} s, burst "
                f"{t[1]:.2f} s, hand-off of {HANDOFF_MB} MB {t[2]:.2f} s")
            res[tls].append(t)
    except BenchError as e:
        return failed(e)
    med = {k: [statistics.median(x[i] for x in v) for i in range(3)]
           for k, v in res.items()}
    rows = [["security.tls", "to 4 workers (s)", "burst done (s)",
             f"hand-off {HANDOFF_MB} MB (s)", "hand-off MB/s"]]
    for k in ("on", "off"):
        m = med[k]
        rows.append([k, f"{m[0]:.2f}", f"{m[1]:.2f}", f"{m[2]:.2f}",
                     f"{HANDOFF_MB / m[2]:.0f}"])
    on, off = med["on"], med["off"]
    rows.append(["**ratio on / off**", f"**{on[0] / off[0]:.2f}**",
                 f"**{on[1] / off[1]:.2f}**", f"**{on[2] / off[2]:.2f}**",
                 f"**{off[2] / on[2]:.2f}**"])
    table = md_table(rows)
    print("\n" + table)
    if args.write:
        loads.append(load_line())
        os.makedirs(RESULTS, exist_ok=True)
        path = os.path.join(RESULTS, "tls-latest.md")
        with open(path, "w") as f:
            f.write(f"# TLS cost: security.tls on vs off\n\n"
                    f"Run {started:%Y-%m-%d %H:%M:%S}, "
                    f"`bench/tls.py {' '.join(args.argv)}`, "
                    f"{time.monotonic() - t_start:.0f} s wall; median of "
                    f"{args.repeat} round(s), the order alternating.\n\n"
                    f"Stack: {stack_line()}\n\n"
                    f"Machine load: {loads[0]} at the start, {loads[1]} "
                    f"at the end.\n\n{table}\n\n"
                    f"to 4 workers, burst: bench/scaleup.py's burst. "
                    f"hand-off: {HANDOFF_MB} MB from one worker to a task "
                    f"on another, median of {HANDOFF_REPEAT}. "
                    f"Only the ratios of one run mean anything.\n")
        print(f"wrote bench/results/{os.path.basename(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
