"""Pieces the benchmarks share: logging, the daemon's API, and stopping
`edask up` so that no process it started outlives the benchmark."""
import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
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


def wait_pids_gone(pids, seconds=5.0):
    """Waits up to seconds for every process in pids to be gone."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and any(pid_alive(p) for p in pids):
        time.sleep(0.1)


def kill_leftover_children(pids):
    """After a LocalCluster closed: waits up to 5 s for pids to go, then
    SIGKILLs (and reaps) those still this process's children running
    Python/Dask. Returns the PIDs killed, sorted."""
    wait_pids_gone(pids)
    left = [p for p in sorted(pids)
            if p in own_children() and pid_is_dask(p)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    return left


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
    wait_pids_gone(dask_pids)
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


def interrupt_on_signals():
    """Makes SIGTERM and SIGINT raise BenchError, so that the benchmark's
    `finally` cleanups still run and it exits 1 with FAILED:."""
    def on_signal(signum, _frame):
        raise BenchError(f"interrupted by signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def begin_run():
    """The start of a run: makes SIGTERM and SIGINT interrupt it
    (interrupt_on_signals) and returns (started, a datetime; t_start,
    time.monotonic(); loads, [load_line()], for the report's load line)."""
    interrupt_on_signals()
    return datetime.datetime.now(), time.monotonic(), [load_line()]


def bench_parser(doc, systems=None, repeat=None, note=True, no_write=False,
                 latest=None):
    """The argparse.ArgumentParser of a benchmark (described by the first
    line of doc) with the options the benchmarks share: --edask PATH;
    --systems, a comma-separated subset of systems, when systems are
    given; --repeat N (default repeat) when repeat is given; --note unless
    note is false; --no-write with no_write; --write (also write
    bench/results/LATEST-latest.md) with latest.  parse_bench_args reads
    them."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--edask", default=None, metavar="PATH",
                    help="the edask binary (default build/edask)")
    if systems is not None:
        ap.add_argument("--systems", default=",".join(systems),
                        help="comma-separated subset of " + ",".join(systems))
    if repeat is not None:
        ap.add_argument("--repeat", type=int, default=repeat, metavar="N",
                        help=f"rounds of every system, order alternating "
                             f"(default {repeat}); the tables show medians")
    if note:
        ap.add_argument("--note", default="",
                        help="a line for the results file (e.g. what else "
                             "ran)")
    if no_write:
        ap.add_argument("--no-write", action="store_true",
                        help="print only; write nothing under "
                             "bench/results/")
    if latest:
        ap.add_argument("--write", action="store_true",
                        help=f"also write bench/results/{latest}-latest.md")
    return ap


def parse_bench_args(ap, systems=None):
    """ap.parse_args() (ap from bench_parser), with args.argv the
    arguments as a results file quotes them (shown_argv), args.edask an
    absolute path (build/edask by default) and, when systems are given,
    args.chosen the --systems in the order of systems.  ap.error when
    --repeat is below 1 or a system unknown."""
    args = ap.parse_args()
    args.argv = shown_argv(sys.argv[1:])
    args.edask = os.path.abspath(args.edask) if args.edask else BUILT_EDASK
    if getattr(args, "repeat", 1) < 1:
        ap.error("--repeat must be at least 1")
    if systems is not None:
        chosen = chosen_systems(ap, args.systems, systems)
        args.chosen = [s for s in systems if s in chosen]
    return args


def run_systems(names, run, summary):
    """{name: run(name)} for each of names, one after the other, each
    logged as it starts ("NAME: starting") and as it ends ("NAME: " +
    summary(its result))."""
    res = {}
    for name in names:
        log(f"{name}: starting")
        res[name] = run(name)
        log(f"{name}: {summary(res[name])}")
    return res


def run_chosen(args, runners, summary):
    """The measuring part of a benchmark's main: begin_run, check_python,
    then run_systems over args.chosen, system NAME run by
    runners[NAME](args).  Returns (res, started, wall_s, loads), loads the
    load_line()s at the start and at the end.  Raises BenchError, or
    ImportError when not under the project's interpreter (failed says
    which)."""
    started, t_start, loads = begin_run()
    check_python()
    res = run_systems(args.chosen, lambda name: runners[name](args),
                      summary)
    wall_s = time.monotonic() - t_start
    loads.append(load_line())
    return res, started, wall_s, loads


def chosen_systems(ap, text, systems):
    """The systems named in text (--systems: comma-separated), through
    ap.error unless each is one of systems and there is at least one."""
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in chosen if s not in systems]
    if bad or not chosen:
        ap.error(f"unknown system(s) {bad}; choose from {systems}")
    return chosen


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


# ------------------------------------------------------------ edask up ---

def start_edask(edask, gpus, state, spec_paths, log_path):
    """Starts `EDASK up --gpus GPUS --listen 127.0.0.1:0 --state-dir STATE
    -f SPEC...` in a session of its own, in edask_env(), stdout and stderr
    to log_path. Returns (proc, log_file), for close_edask."""
    specs = []
    for path in spec_paths:
        specs += ["-f", path]
    log_file = open(log_path, "w")
    proc = subprocess.Popen(
        [edask, "up", "--gpus", str(gpus), "--listen", "127.0.0.1:0",
         "--state-dir", state] + specs,
        stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        env=edask_env())
    return proc, log_file


def close_edask(proc, log_path, dask_pids, log_file, tmp):
    """stop_edask, then, whatever it raised, closes edask's log_file and
    removes tmp, the run's tempfile.TemporaryDirectory."""
    try:
        stop_edask(proc, log_path, dask_pids)
    finally:
        log_file.close()
        tmp.cleanup()


def check_edask_alive(proc, log_path):
    """BenchError, with the end of edask's log, once edask has exited."""
    if proc.poll() is not None:
        raise BenchError(f"edask exited early (status {proc.returncode})"
                         f"; log: {tail(log_path)}")


def wait_api_url(proc, state, log_path, deadline_s=180.0):
    """Waits for edask to write STATE/api.url and returns the URL in it;
    BenchError when edask exits first or after deadline_s."""
    url_file = os.path.join(state, "api.url")

    def read_url():
        check_edask_alive(proc, log_path)
        try:
            with open(url_file) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None
    return wait_until("edask to write api.url", read_url, deadline_s)


def observe_instance(proc, log_path, api, name, dask_pids,
                     pid_keys=("scheduler",)):
    """GET API/v1/instances/NAME: the instance's JSON, or None while the
    API does not answer. Adds the PIDs of its workers and of its
    pid_keys entries (the scheduler; "forker" too if asked) to dask_pids,
    so that stop_edask can make sure none outlives edask. BenchError once
    edask has exited."""
    check_edask_alive(proc, log_path)
    try:
        inst = http_json(f"{api}/v1/instances/{name}")
    except OSError:
        return None
    for key in pid_keys:
        pid = (inst.get(key) or {}).get("pid")
        if pid:
            dask_pids.add(pid)
    dask_pids.update(w["pid"] for w in inst.get("workers", [])
                     if w.get("pid"))
    return inst


def wait_instance_started(observe, min_workers=0, label="instance",
                          deadline_s=180.0):
    """Calls observe() (an instance's JSON or None) until the instance is
    in state started with at least min_workers workers running, and
    returns that JSON. BenchError at once when it is in state error
    ("LABEL in state error: ..."), or after deadline_s."""
    def ready():
        inst = observe()
        if inst and inst.get("state") == "error":
            raise BenchError(f"{label} in state error: "
                             f"{inst.get('error')}")
        if (inst and inst.get("state") == "started"
                and inst.get("workers_running", 0) >= min_workers):
            return inst
        return None
    what = f"{label} started"
    if min_workers:
        what += (f" with {min_workers} worker"
                 f"{'s' if min_workers > 1 else ''} running")
    return wait_until(what, ready, deadline_s)


def throttled(fn, seconds=1.0):
    """A function that calls fn() when `seconds` have passed since it last
    did (the first call always does), and does nothing otherwise: for
    observing edask now and then from a polling loop."""
    last = [0.0]

    def maybe():
        now = time.monotonic()
        if now - last[0] >= seconds:
            last[0] = now
            fn()
    return maybe


class NewChildren:
    """The LocalCluster worker processes (own_children) this process
    starts from now on: note() notes those alive now, close() closes the
    clusters and kills any noted one they left behind."""

    def __init__(self):
        self.before = own_children()
        self.seen = set()

    def note(self):
        self.seen.update(own_children() - self.before)

    def close(self, clusters, what):
        """Notes the processes, closes each of clusters (timeout 60 s),
        kills (kill_leftover_children) those noted still alive and logs
        "WHAT closed" and what it killed."""
        self.note()
        for cluster in clusters:
            cluster.close(timeout=60)
        left = kill_leftover_children(self.seen)
        log(f"{what} closed" + (f"; killed leftover {left}" if left else ""))


def logging_task():
    """The benchmarks' task, task(log_path, line, seconds): appends line to
    log_path (exec_counts reads it), sleeps seconds, returns line.  Made
    nested here so that cloudpickle ships it by value: the workers need
    not import harness."""
    def train_step(log_path, line, seconds):
        import os as _os
        import time as _time
        data = (line + "\n").encode()
        fd = _os.open(log_path, _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT,
                      0o644)
        try:
            _os.write(fd, data)      # one small O_APPEND write: atomic
        finally:
            _os.close(fd)
        _time.sleep(seconds)
        return line
    return train_step


def exec_counts(exec_log):
    """How many times each line stands in exec_log, where tasks log their
    executions: {line: count} (a collections.Counter)."""
    import collections
    with open(exec_log) as f:
        return collections.Counter(line.strip() for line in f)


def check_all_logged(counts, lines):
    """BenchError unless each of lines has a count in counts
    (exec_counts): a task that never logged an execution."""
    missing = [ln for ln in lines if counts[ln] == 0]
    if missing:
        raise BenchError(f"{len(missing)} task(s) never logged an "
                         f"execution, e.g. {missing[0]}")


def step_integral(samples, t_end, value=lambda x: x):
    """The integral of value(x) over time, from the first sample to t_end,
    of samples [(t, x)], each holding until the next (a step function)."""
    total = 0.0
    for (t, x), (t2, _) in zip(samples, samples[1:]):
        if t >= t_end:
            break
        total += value(x) * (min(t2, t_end) - t)
    return total


def n_workers(client):
    return len(client.nthreads())


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
BUILT_EDASK = os.path.join(ROOT, "build", "edask")    # what `make` builds
RESULTS = os.path.join(ROOT, "bench", "results")


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


def edask_client(inst, **kwargs):
    """A distributed.Client of an edask instance (its JSON), with the TLS
    credentials of its outputs (none with security.tls off)."""
    from distributed import Client, Security
    out = inst["outputs"]
    tls = out.get("dask_tls")
    sec = None
    if tls:
        sec = Security(tls_ca_file=tls["ca_file"], tls_client_cert=tls["cert"],
                       tls_client_key=tls["key"], require_encryption=True)
    return Client(out["dask_scheduler_address"], security=sec, **kwargs)


@contextlib.contextmanager
def edask_instance(edask, gpus, spec_text, name, min_workers=1,
                   deadline_s=180.0):
    """`edask up --gpus GPUS` with one spec (its text; the instance is
    NAME) in a temporary state folder: waits for it to be started with
    min_workers running and yields (instance JSON, client, observe).
    observe() reads the instance again (and notes its PIDs);
    observe.events(kind=None) reads its events.  Afterwards
    the client is closed and edask stopped (close_edask), whatever
    happened."""
    tmp = tempfile.TemporaryDirectory(prefix="edask-bench-")
    state = os.path.join(tmp.name, "state")
    spec_path = os.path.join(tmp.name, name + ".yaml")
    with open(spec_path, "w") as f:
        f.write(spec_text)
    log_path = os.path.join(tmp.name, "edask.log")
    proc, log_file = start_edask(edask, gpus, state, [spec_path], log_path)
    # edask starts its scheduler and workers in sessions of their own, so
    # its process group does not cover them: remember their PIDs.
    dask_pids = set()
    where = {}
    client = None

    def observe():
        return observe_instance(proc, log_path, where["api"], name,
                                dask_pids)

    def events(kind=None):
        """The instance's events (GET /v1/events), oldest first."""
        evs = http_json(f"{where['api']}/v1/events?instance={name}"
                        f"&limit=10000")["events"]
        return [e for e in evs if kind is None or e["kind"] == kind]
    observe.events = events
    try:
        where["api"] = wait_api_url(proc, state, log_path, deadline_s)
        inst = wait_instance_started(observe, min_workers,
                                     deadline_s=deadline_s)
        client = edask_client(inst, timeout=30)
        yield inst, client, observe
    finally:
        if client is not None:
            client.close()
        close_edask(proc, log_path, dask_pids, log_file, tmp)


def failed(e):
    """Says why the benchmark failed (a BenchError, or an ImportError: not
    the project's interpreter); returns the exit status, 1."""
    hint = ""
    if isinstance(e, ImportError):
        hint = " (run with the project's .venv/bin/python: make deps)"
    print(f"bench/{os.path.basename(sys.argv[0])}: FAILED: {e}{hint}",
          file=sys.stderr)
    return 1


def run_main(main):
    """Exits with main()'s status; a BenchError or ImportError out of it
    is said by failed, status 1."""
    try:
        status = main()
    except (BenchError, ImportError) as e:
        status = failed(e)
    sys.exit(status)


def rounds(repeat, order, label=str):
    """(round from 1, name) for `repeat` rounds of every name in order, the
    order reversed every other round so that no system always goes first;
    logs each as it starts."""
    for r in range(repeat):
        for name in (order if r % 2 == 0 else order[::-1]):
            log(f"round {r + 1}/{repeat}: {label(name)}")
            yield r + 1, name


def run_line(started, argv, wall_s):
    """A report's "Run <when> on `<host>` (N cores), `<python> bench/<x>.py
    <argv>`, W s wall" (no closing punctuation); started is text."""
    import platform
    command = " ".join([f"{shown_python()} bench/"
                        f"{os.path.basename(sys.argv[0])}"] + list(argv))
    return (f"Run {started} on `{platform.node()}` ({os.cpu_count()} "
            f"cores), `{command}`, {wall_s:.0f} s wall")


def same_python_lines(loads, note):
    """A report's lines on the stack (edask's processes run this
    interpreter, which check_same_python checked), the machine load at the
    start and end (load_line()s) and the --note, if any."""
    lines = [
        f"Stack: {stack_line()}; edask's scheduler and workers run the "
        f"same interpreter (`EDASK_PYTHON`, checked through the client).",
        "",
        f"Machine load: {loads[0]} at the start, {loads[-1]} at the end.",
    ]
    if note:
        lines += ["", f"Note: {note}"]
    return lines


NOISY_NOTE = ("Shared, noisy machine: compare the ratios of one run, not "
              "raw seconds across runs.")


def noted_report(lines):
    """A report's Markdown: its lines, then, after a blank line, NOISY_NOTE
    (that only one run's ratios mean anything)."""
    return "\n".join(lines + ["", NOISY_NOTE, ""])


class Targets(list):
    """A benchmark's targets, [(PASS|MISS, text)], as targets_lines and
    print_targets take them."""

    def add(self, ok, text):
        self.append(("PASS" if ok else "MISS", text))


def targets_lines(tgts):
    """A report's section on its targets, [(PASS|MISS, text)]."""
    return (["## Targets (recorded, not tuned for)", ""]
            + [f"- **{s}** {t}" for s, t in tgts])


def print_targets(tgts):
    """The targets, [(PASS|MISS, text)], on stdout after a blank line."""
    print()
    for s, t in tgts:
        print(f"{s}  {t}")


def plot_rows(n, width, row_height):
    """A matplotlib figure (Agg) of n rows of axes sharing their x axis,
    row_height inches each plus an inch: (fig, [axes of each row])."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n, 1, sharex=True,
                             figsize=(width, row_height * n + 1.0),
                             squeeze=False)
    return fig, list(axes[:, 0])


def save_plot(fig, path, title, rect=None):
    """Titles fig (plot_rows), lays it out (within rect, default the whole
    figure), writes it to path as PNG and closes it."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(prefix, started, report, plot=None):
    """Writes bench/results/PREFIX-<stamp>.md and PREFIX-latest.md, with a
    plot beside them (.png) when plot is given.  report(png_name) is the
    Markdown, which names its plot; plot(path) draws it."""
    os.makedirs(RESULTS, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    written = [f"{prefix}-{stamp}", f"{prefix}-latest"]
    if plot is not None:
        plot(os.path.join(RESULTS, written[0] + ".png"))
        shutil.copyfile(os.path.join(RESULTS, written[0] + ".png"),
                        os.path.join(RESULTS, written[1] + ".png"))
    for base in written:
        with open(os.path.join(RESULTS, base + ".md"), "w") as f:
            f.write(report(base + ".png"))
    ext = "{md,png}" if plot is not None else "md"
    print(f"\nwrote bench/results/{written[0]}.{ext} and "
          f"bench/results/{written[1]}.{ext}")


def finish_run(args, prefix, started, report, plot):
    """The end of a benchmark's main: unless --no-write, write_results
    (prefix, started, ...), report(png_name, when) getting the start as
    text too.  Returns the exit status, 0."""
    if not args.no_write:
        when = started.strftime("%Y-%m-%d %H:%M:%S")
        write_results(prefix, started, lambda png: report(png, when), plot)
    return 0

