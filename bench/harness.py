"""Pieces the benchmarks share: logging, the daemon's API, and stopping
`edask up` so that no process it started outlives the benchmark."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

STOP_GRACE_S = 30.0         # SIGTERM, then the process group gets SIGKILL


class BenchError(Exception):
    """A failure that ends the benchmark with exit status 1."""


def log(msg):
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    print(f"[{name} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr,
          flush=True)


def http_json(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_is_dask(pid):
    """True when pid still runs a Python/Dask process (guards PID reuse)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().decode(errors="replace")
    except OSError:
        return False
    return "python" in cmd or "dask" in cmd or "distributed" in cmd


def tail(path, n=15):
    try:
        with open(path) as f:
            return "\n" + "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


def stop_edask(proc, log_path, dask_pids):
    problems = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            problems.append(f"edask did not exit {STOP_GRACE_S:.0f} s after "
                            f"SIGTERM; killed its process group")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0 and not problems:
        problems.append(f"edask exited with status {proc.returncode}")
    # Give the Dask processes a moment to go, then remove any left behind.
    end = time.monotonic() + 5
    while time.monotonic() < end and any(pid_alive(p) for p in dask_pids):
        time.sleep(0.1)
    left = [p for p in sorted(dask_pids) if pid_alive(p) and pid_is_dask(p)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        problems.append(f"Dask process(es) {left} outlived edask; killed")
    if problems:
        raise BenchError("; ".join(problems) + f"; edask log: "
                         f"{tail(log_path)}")
    log("edask: stopped cleanly (exit 0, no Dask process left)")


def wait_until(what, predicate, deadline_s=180.0, every=0.1):
    """Calls predicate() until it returns a true value, and returns that;
    BenchError after deadline_s."""
    end = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise BenchError(f"timed out after {deadline_s:.0f} s waiting "
                             f"for {what}")
        time.sleep(every)


def n_workers(client):
    return len(client.scheduler_info()["workers"])


def own_children():
    """PIDs of this process's direct children that are LocalCluster worker
    processes (multiprocessing ``spawn_main``). multiprocessing's own
    resource tracker is left alone: it is shared and outlives a cluster."""
    pids = set()
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/children") as f:
                    pids.update(int(p) for p in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    workers = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    workers.add(pid)
        except OSError:
            pass
    return workers


def ratio(a, b):
    return a / b if b else float("nan")


def text_table(rows):
    """rows[0] is the header; the first column left-aligned, the others
    right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(rows):
    out = ["| " + " | ".join(rows[0]) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


# ------------------------------------------------------------ the stack ---

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PYTHON = os.path.join(ROOT, ".venv", "bin", "python")


def edask_env(extra=None):
    """The environment for `edask up`: ours, with EDASK_PYTHON set to the
    interpreter this benchmark runs under, so that `python: auto` gives
    the scheduler and the workers the same Python (and Dask) as the
    client and any LocalCluster of the same run."""
    env = dict(os.environ)
    env["EDASK_PYTHON"] = sys.executable
    if extra:
        env.update(extra)
    return env


def stack():
    """What this benchmark runs on: {"python": path, "python_version",
    "distributed", "dask"}. Raises ImportError without distributed."""
    import dask
    import distributed
    return {"python": sys.executable,
            "python_version": sys.version.split()[0],
            "distributed": distributed.__version__,
            "dask": dask.__version__}


def shown_python():
    """sys.executable, relative to the project when inside it."""
    py = sys.executable
    if py.startswith(ROOT + os.sep):
        py = os.path.relpath(py, ROOT)
    return py


def stack_line():
    s = stack()
    py = shown_python()
    return (f"Python {s['python_version']} (`{py}`), distributed "
            f"{s['distributed']}, dask {s['dask']}")


def check_python():
    """Logs the stack; warns when this is not the project's .venv (the
    interpreter the results are measured with)."""
    log(f"stack: {stack_line()}")
    if (os.path.exists(VENV_PYTHON)
            and os.path.abspath(sys.executable) != VENV_PYTHON):
        log(f"WARNING: running under {sys.executable}, not the project's "
            f"{os.path.relpath(VENV_PYTHON, ROOT)}: the results in "
            f"bench/results/ are measured with the latter")


def check_same_python(client):
    """BenchError unless the scheduler and every worker run the same
    Python environment (sys.prefix) and distributed as this process."""
    import distributed

    def _python_here():          # nested: cloudpickle ships it by value
        import sys as _sys
        import distributed as _d
        return (_sys.prefix, _d.__version__)
    mine = (sys.prefix, distributed.__version__)
    seen = {"scheduler": tuple(client.run_on_scheduler(_python_here))}
    seen.update({w: tuple(v) for w, v in client.run(_python_here).items()})
    bad = {k: v for k, v in seen.items() if v != mine}
    if bad:
        raise BenchError(f"client runs {mine}, but {bad}: the cluster must "
                         f"run the benchmark's Python")


def load_line():
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def shown_argv(argv):
    """The command-line arguments as a results file quotes them: without
    the text of --note, which the file prints on a line of its own."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--note":
            skip = True
            continue
        if a.startswith("--note="):
            continue
        out.append(a)
    return out
